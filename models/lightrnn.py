"""LightRNN (Li et al., NIPS 2016, section 3.1): words live in the cells of an
R x C table and share row and column vectors, so embedding and softmax cost
O(sqrt(V)) instead of O(V).

    P(w | history) = P_row(r(w) | history) * P_col(c(w) | history, r(w))

One LSTM takes two steps per word: the row vector of a word, then its column
vector. Rows are predicted from the output after the previous word's column
input, columns from the output after the word's TRUE row input (training and
evaluation alike, so P factorises exactly). For targets y given inputs x
(a stream: x[t+1] == y[t]) the fused sequence of length 2T is

    step:   0        1        2        3        ...  2T-1
    input:  row(x0)  col(x0)  row(y0)  col(x1)  ...  col(x[T-1])
    output:          ->row y0 ->col y0 ->row y1 ...  ->row y[T-1]

plus one extra step, row(y[T-1]) from the final state, whose output predicts
col(y[T-1]); that step is NOT kept in the returned state. So the state is
always "every input word fully consumed" (like every other model): the next
call starts with row(x'[0]) = row(y[T-1]) and carried state equals one long
call. A fresh (zero) state needs no start vector: x[0] is a real word.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import LOCAL, Collectives, LanguageModel, LSTMBody, State
from .bootstrap.start import KINDS as START_KINDS


def table_shape(vocab_size: int) -> tuple[int, int]:
    """(R, C) of the word table: C = ceil(sqrt V) columns and R = ceil(V / C)
    rows, so at most C - 1 cells are empty and no row is."""
    C = math.ceil(math.sqrt(vocab_size))
    return math.ceil(vocab_size / C), C


def class_table(word_class, vocab_size: int) -> Tensor:
    """The oracle allocation for a corpus with known classes: the words sorted
    by class (then id) fill the cells in order, so a class of C words fills
    one row, and with classes of C words each row holds one class. [V] cells."""
    cls = torch.as_tensor(word_class)
    if cls.shape != (vocab_size,):
        raise ValueError(f"table=classes needs a class for each of the {vocab_size} words "
                         "(the synthetic corpus has them; real corpora do not)")
    order = torch.as_tensor(sorted(range(vocab_size), key=lambda w: (int(cls[w]), w)))
    table = torch.empty(vocab_size, dtype=torch.long)
    table[order] = torch.arange(vocab_size)
    return table


class LightRNN(LanguageModel):
    def __init__(self, vocab_size: int, embedding_dim=200, hidden_dim=200, layers=2, dropout=0.5,
                 init_range=0.05, table_seed=0, table="random", move_penalty=0.0, reallocation="joint",
                 table_file=None, table_source="hsm", table_budget_s=300.0):
        """`table`: where the first table comes from (bootstrap/start.py): "random"
        (seeded by table_seed), "frequency", "clusters" (a balanced clustering of
        the `table_source` baseline's output vectors after `table_budget_s`
        seconds of training), "warm" (`table_file`, an earlier run's .npy), all
        set by the runner and bootstrapped from; or "classes" (the synthetic
        corpus's true classes, held fixed).
        `move_penalty`: nats per occurrence charged for leaving a word's row,
        and again for leaving its column (a trust region around the current
        table, a departure from the paper; 0 is the paper's matching).
        `reallocation`: "joint" (the paper's: rows and columns matched at once)
        or "rows-first" (bootstrap/rows_first.py: rows, then columns given them)."""
        super().__init__()
        if table not in START_KINDS:
            raise ValueError(f"table={table!r}: choose from {list(START_KINDS)}")
        if (table == "warm") != (table_file is not None):
            raise ValueError("table='warm' needs table_file (an earlier run's .npy table), and only it takes one")
        if table_source not in ("hsm", "lstm") or not table_budget_s > 0:
            raise ValueError(f"table_source={table_source!r} (choose 'hsm' or 'lstm'), "
                             f"table_budget_s={table_budget_s} (must be > 0)")
        if reallocation not in ("joint", "rows-first"):
            raise ValueError(f"reallocation={reallocation!r}: choose from 'joint', 'rows-first'")
        if not move_penalty >= 0:
            raise ValueError(f"move_penalty={move_penalty} must be >= 0")
        self.table, self.move_penalty, self.rows_first = table, float(move_penalty), reallocation == "rows-first"
        self.reallocates = table != "classes"
        self._tables = None  # (loss_row, loss_col, nll, targets) while collecting: see collect_tables
        self.vocab_size = V = vocab_size
        self.rows, self.cols = R, C = table_shape(V)
        self.in_row = nn.Embedding(R, embedding_dim)   # X^r
        self.in_col = nn.Embedding(C, embedding_dim)   # X^c
        self.body = LSTMBody(embedding_dim, hidden_dim, layers, dropout)
        self.out_row = nn.Linear(hidden_dim, R)        # Y^r (+ bias)
        self.out_col = nn.Linear(hidden_dim, C)        # Y^c (+ bias)
        self.init_uniform(init_range)
        # word -> cell (row*C + col): the allocation, saved in checkpoints.
        # Built on CPU explicitly so counting on the meta device still works.
        g = torch.Generator().manual_seed(table_seed)
        table = torch.randperm(R * C, generator=g, device="cpu")[:V]
        self.register_buffer("word_table", table.clone())
        # Derived maps, rebuilt whenever the table changes (and after loading).
        for name in ("word_row", "word_col", "cell_word", "filled"):
            self.register_buffer(name, torch.empty(0, dtype=torch.long), persistent=False)
        self._refresh()
        self.register_load_state_dict_post_hook(lambda module, keys: module._refresh())

    # ---- the word table -------------------------------------------------
    def _refresh(self) -> None:
        t, C, R = self.word_table, self.cols, self.rows
        self.word_row = t // C  # [V]
        self.word_col = t % C   # [V]
        cell_word = torch.full((R * C,), -1, dtype=torch.long, device=t.device)
        cell_word[t] = torch.arange(self.vocab_size, device=t.device)
        self.cell_word = cell_word             # [R*C], -1 = empty cell
        self.filled = (cell_word >= 0).view(R, C)  # [R, C] bool

    def set_table(self, cell_of_word: Tensor) -> None:
        """Install a new allocation: cell_of_word[w] = row*C + col, a
        one-to-one map of the V words into the R*C cells."""
        V, n_cells = self.vocab_size, self.rows * self.cols
        cell = torch.as_tensor(cell_of_word)
        if cell.shape != (V,) or cell.dtype.is_floating_point or cell.dtype == torch.bool:
            raise ValueError(f"word table must be an integer tensor of shape [{V}], "
                             f"got {cell.dtype} {tuple(cell.shape)}")
        cell = cell.to(torch.long)
        if int(cell.min()) < 0 or int(cell.max()) >= n_cells:
            raise ValueError(f"word table cells must lie in [0, {n_cells}) "
                             f"(R={self.rows} x C={self.cols})")
        if torch.unique(cell).numel() != V:
            raise ValueError("word table puts two words in one cell")
        self.word_table.copy_(cell.to(self.word_table.device))
        self._refresh()

    # ---- scoring ----------------------------------------------------------
    def word_input(self, words: Tensor) -> Tensor:
        """[...] word ids -> [..., n]: the input of a word's second step, its
        column vector (an ablation feeds a full V-row embedding here)."""
        return self.in_col(self.word_col[words])

    def _col_logsoftmax(self, h: Tensor, rows: Tensor) -> Tensor:
        """h [..., hid], rows [...] -> column log-softmax [..., C] given each
        row, with that row's empty cells at -inf so the V words sum to 1."""
        logits = self.out_col(h).masked_fill(~self.filled[rows], float("-inf"))
        return F.log_softmax(logits, dim=-1)

    def row_col_logprobs(self, x: Tensor, y: Tensor, state: State):
        """x, y [T, B] -> (row_lp [T, B, R]: full row log-softmax predicting
        y's row; col_lp [T, B, C]: column log-softmax given y's TRUE row, its
        empty cells -inf; new state). The reallocation pass builds its loss
        tables from these."""
        T, B = x.shape
        wr = self.word_row
        rows_in = self.in_row(torch.cat([wr[x[:1]], wr[y[:-1]]]))  # [T, B, n]
        cols_in = self.word_input(x)                                # [T, B, n]
        seq = torch.stack([rows_in, cols_in], dim=1).reshape(2 * T, B, -1)  # [2T, B, n]
        out, state = self.body(seq, state)                          # [2T, B, h]
        last, _ = self.body(self.in_row(wr[y[-1:]]), state)         # [1, B, h], state dropped
        row_lp = F.log_softmax(self.out_row(out[1::2]), dim=-1)     # [T, B, R]
        col_lp = self._col_logsoftmax(torch.cat([out[2::2], last]), wr[y])  # [T, B, C]
        return row_lp, col_lp, state

    def forward(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        row_lp, col_lp, state = self.row_col_logprobs(x, y, state)
        if self.training and self._tables is not None:  # the paper's tables, summed as training goes
            from .bootstrap.passes import add_scores

            loss_row, loss_col, nll, n = self._tables
            nll = nll + add_scores(self, loss_row, loss_col, row_lp.detach(), col_lp.detach(), y).double()  # no sync
            self._tables = (loss_row, loss_col, nll, n + y.numel())
        return self._target_nll(row_lp, col_lp, y).sum(), state

    def token_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        """[T, B] NLL of each target from its two factors: O(R + C) a token, as
        in training (log_prob's full [T, B, V] is for small V only)."""
        row_lp, col_lp, state = self.row_col_logprobs(x, y, state)
        return self._target_nll(row_lp, col_lp, y), state

    def _target_nll(self, row_lp: Tensor, col_lp: Tensor, y: Tensor) -> Tensor:
        """-log P_row(r(y)) - log P_col(c(y) | r(y)), [T, B]."""
        lp = (row_lp.gather(2, self.word_row[y].unsqueeze(2))
              + col_lp.gather(2, self.word_col[y].unsqueeze(2)))
        return -lp.squeeze(2)

    def log_prob(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """[T, B, V]: every row, then every column given each row. Runs one
        word at a time and branches over all R rows: for small V only."""
        T, B = x.shape
        R = self.rows
        all_rows = self.in_row.weight.unsqueeze(0).expand(B, R, -1).reshape(1, B * R, -1)
        out = []
        for t in range(T):
            w = x[t]
            seq = torch.stack([self.in_row(self.word_row[w]), self.word_input(w)])
            o, state = self.body(seq, state)                          # o [2, B, h]
            row_lp = F.log_softmax(self.out_row(o[1]), dim=-1)        # [B, R]
            h, c = (s.repeat_interleave(R, dim=1) for s in state)     # [L, B*R, h], b-major
            ob, _ = self.body(all_rows, (h, c))                       # [1, B*R, h]
            rows = torch.arange(R, device=x.device).repeat(B)         # [B*R]
            col_lp = self._col_logsoftmax(ob[0], rows).view(B, R, -1)  # [B, R, C]
            cell_lp = (row_lp.unsqueeze(2) + col_lp).view(B, -1)      # [B, R*C]
            out.append(cell_lp[:, self.word_table])                   # [B, V]
        return torch.stack(out), state

    @torch.no_grad()
    def sample(self, state: State, steps: int, greedy: bool = False,
               generator: torch.Generator | None = None) -> tuple[Tensor, State]:
        """Generate [steps, B] words: choose a row, feed it, choose a column
        given that row, feed it. Call in eval mode for the model's true
        distribution (dropout is the caller's business)."""
        def choose(lp: Tensor) -> Tensor:  # [B, K] log-probs -> [B]
            if greedy:
                return lp.argmax(-1)
            return torch.multinomial(lp.exp(), 1, generator=generator).squeeze(1)

        h_top = state[0][-1]  # [B, h]: the output after the last column input
        words = []
        for _ in range(steps):
            r = choose(F.log_softmax(self.out_row(h_top), dim=-1))
            o, after_row = self.body(self.in_row(r).unsqueeze(0), state)
            c = choose(self._col_logsoftmax(o[0], r))
            o, state = self.body(self.word_input(self.cell_word[r * self.cols + c]).unsqueeze(0), after_row)
            h_top = o[0]
            words.append(self.cell_word[r * self.cols + c])
        return torch.stack(words), state

    def collect_tables(self, on: bool) -> None:
        """From now on (`on`), every training forward adds its scores to fresh
        loss tables, which the next end_of_round uses instead of its own pass."""
        if on:
            from .bootstrap.passes import empty_tables

            self._tables = (*empty_tables(self), 0.0, 0)
        else:
            self._tables = None

    def collected_tables(self):
        return self._tables

    def restore_tables(self, tables) -> None:
        self._tables = None if tables is None else tuple(tables)

    def end_of_round(self, train_ids, batch_size: int, bptt: int, comm: Collectives = LOCAL) -> dict:
        from .bootstrap.round import reallocation_round  # lazy: the solvers pull in scipy

        tables, self._tables = self._tables, None
        if tables is not None:
            tables = (tables[0], tables[1], float(tables[2]), tables[3])
        return reallocation_round(self, train_ids, batch_size, bptt, comm, move_penalty=self.move_penalty,
                                  tables=tables, rows_first=self.rows_first)

    def param_groups(self):
        return {
            "embedding": [self.in_row.weight, self.in_col.weight],
            "recurrent": list(self.body.parameters()),
            "output": list(self.out_row.parameters()) + list(self.out_col.parameters()),
        }
