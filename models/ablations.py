"""Ablations that split LightRNN into its halves: NOT the paper's models, and
named so. Each is exactly normalised over V, runs on the same trainer and
writes the same records, so each half's share of LightRNN's perplexity can
be read off at equal time (results/suite-allocation-cpu/README.md).

- `ablation-table-input` (a): LightRNN's input (a word is its row vector, then
  its column vector: two LSTM steps) with a full-softmax output, scored after
  the column step. Only the output differs from LightRNN.
- `ablation-table-output` (b): LightRNN's factorised output P_row * P_col with
  the true row fed to the column step, as LightRNN, but each word's second
  input step is a full V-row word embedding in place of its column vector.
  Only the input differs from LightRNN.
- `ablation-argmax-row` (c): LightRNN with the column step fed the PREDICTED
  (argmax) row, as the paper's section 3.1 text and one public port do. The
  column softmax no longer depends on the word's own row, so the loss tables
  separate exactly in (row, column). P(w) = P_row(r) P_col(c) / Z, Z the mass
  of the filled cells (1 when no cell is empty).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import State
from .lightrnn import LightRNN


class TableInputSoftmax(LightRNN):
    """(a): LightRNN's two-step table input, a full softmax over V after each column step."""

    def __init__(self, vocab_size: int, embedding_dim=200, hidden_dim=200, layers=2, dropout=0.5,
                 init_range=0.05, table_seed=0):
        super().__init__(vocab_size, embedding_dim, hidden_dim, layers, dropout, init_range, table_seed)
        del self.out_row, self.out_col
        self.out = nn.Linear(hidden_dim, vocab_size)
        self.init_uniform(init_range)
        self.reallocates = False  # no row/column losses to match on

    def _logits(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        seq = torch.stack([self.in_row(self.word_row[x]), self.word_input(x)], dim=1)  # [T, 2, B, n]
        out, state = self.body(seq.flatten(0, 1), state)  # [2T, B, h]
        return self.out(out[1::2]), state  # [T, B, V]: after each column input

    def forward(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        nll, state = self.token_nll(x, y, state)
        return nll.sum(), state

    def token_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        logits, state = self._logits(x, state)
        return F.cross_entropy(logits.flatten(0, 1), y.reshape(-1), reduction="none").view_as(y), state

    def log_prob(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        logits, state = self._logits(x, state)
        return F.log_softmax(logits, dim=-1), state

    def sample(self, *args, **kwargs):
        raise NotImplementedError("ablation-table-input has no row/column sampler")

    def param_groups(self):
        return {"embedding": [self.in_row.weight, self.in_col.weight], "recurrent": list(self.body.parameters()),
                "output": list(self.out.parameters())}


class WordInputTableOutput(LightRNN):
    """(b): each word's second input step is its own V-row embedding, not its column vector."""

    def __init__(self, vocab_size: int, embedding_dim=200, hidden_dim=200, layers=2, dropout=0.5,
                 init_range=0.05, table_seed=0):
        super().__init__(vocab_size, embedding_dim, hidden_dim, layers, dropout, init_range, table_seed)
        del self.in_col
        self.in_word = nn.Embedding(vocab_size, embedding_dim)
        self.init_uniform(init_range)

    def word_input(self, words: Tensor) -> Tensor:
        return self.in_word(words)

    def param_groups(self):
        return {"embedding": [self.in_row.weight, self.in_word.weight], "recurrent": list(self.body.parameters()),
                "output": list(self.out_row.parameters()) + list(self.out_col.parameters())}


class ArgmaxRow(LightRNN):
    """(c): the column step is fed the predicted (argmax) row. Per word the
    inputs are [in_row(r_hat), in_col(c(w))], r_hat the argmax of the row
    softmax just computed, so the sequence is built one step at a time."""

    def _log_z(self, row_lp: Tensor, col_lp: Tensor) -> Tensor:
        """[..., R], [..., C] -> [...] log of the filled cells' mass: 1 minus the
        empty cells' (at most C - 1 of them when the table is full rows first)."""
        er, ec = (~self.filled).nonzero(as_tuple=True)
        if er.numel() == 0:
            return row_lp.new_zeros(row_lp.shape[:-1])
        empty = (row_lp[..., er] + col_lp[..., ec]).exp().sum(-1)
        return torch.log1p(-empty.clamp(max=1 - 1e-6))

    def _cell(self, x: Tensor, hc: list[list[Tensor]]) -> Tensor:
        """One step of the shared body on x [B, n], hc = [h per layer, c per layer]
        ([B, h] each, updated in place): nn.LSTM's function with its own weights
        (gates i, f, g, o; dropout between layers and around, as LSTMBody), but
        without oneDNN's per-call cost, which made one-step calls ~5x slower.
        Returns the top output [B, h]."""
        lstm, (h, c) = self.body.lstm, hc
        inp = self.body.drop_in(x)
        for k in range(lstm.num_layers):
            gates = (F.linear(inp, getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"bias_ih_l{k}"))
                     + F.linear(h[k], getattr(lstm, f"weight_hh_l{k}"), getattr(lstm, f"bias_hh_l{k}")))
            i, f, g, o = gates.chunk(4, 1)
            c[k] = torch.sigmoid(f) * c[k] + torch.sigmoid(i) * torch.tanh(g)
            h[k] = torch.sigmoid(o) * torch.tanh(c[k])
            last = k == lstm.num_layers - 1
            inp = h[k] if last else F.dropout(h[k], lstm.dropout, self.training)
        return self.body.drop(inp)

    def _steps(self, x: Tensor, state: State):
        """x [T, B] -> (row logits [T, B, R] predicting each y's row, outputs
        [T, B, h] predicting each y's column, new state). The first row input
        is predicted from the state's top output; the last column output
        comes from one extra step whose state is dropped, as in LightRNN."""
        hc = [list(state[0].unbind(0)), list(state[1].unbind(0))]
        top = state[0][-1]  # [B, h]: the output after the last consumed column input
        r_hat = self.out_row(top).argmax(-1)
        row_logits, col_out = [], []
        for t in range(x.size(0)):
            o = self._cell(self.in_row(r_hat), hc)  # predicts col(x[t])
            if t > 0:
                col_out.append(o)
            o = self._cell(self.word_input(x[t]), hc)  # predicts row(x[t+1])
            logits = self.out_row(o)  # [B, R]
            row_logits.append(logits)
            r_hat = logits.detach().argmax(-1)
        state = (torch.stack(hc[0]), torch.stack(hc[1]))
        col_out.append(self._cell(self.in_row(r_hat), [list(hc[0]), list(hc[1])]))  # its state dropped
        return torch.stack(row_logits), torch.stack(col_out), state

    def row_col_logprobs(self, x: Tensor, y: Tensor, state: State):
        """As LightRNN's, but col_lp [T, B, C] is one softmax over every column,
        the same whatever y's row, and -log Z is folded into row_lp, so that
        the current table's loss-table total is the stream's exact NLL."""
        row_logits, col_out, state = self._steps(x, state)
        row_lp = F.log_softmax(row_logits, dim=-1)
        col_lp = F.log_softmax(self.out_col(col_out), dim=-1)
        return row_lp - self._log_z(row_lp, col_lp).unsqueeze(-1), col_lp, state

    def log_prob(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """[T, B, V]: each cell's P_row(r) P_col(c) / Z, gathered by the table."""
        row_lp, col_lp, state = self.row_col_logprobs(x, x, state)  # x as y: the columns ignore y's rows
        cell_lp = (row_lp.unsqueeze(-1) + col_lp.unsqueeze(-2)).flatten(-2)  # [T, B, R*C]
        return cell_lp[..., self.word_table], state

    def sample(self, *args, **kwargs):
        raise NotImplementedError("ablation-argmax-row has no sampler")
