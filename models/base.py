"""The one interface every language model implements, and the shared LSTM body.

Every model (lstm, hsm, adaptive, lightrnn) embeds words, runs the SAME
`LSTMBody`, and differs only in its embedding and output layer, so
differences in results come from those alone.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

State = tuple[Tensor, Tensor]  # (h, c), each [layers, B, hidden]


class Collectives:
    """What work between training rounds needs from the process group, as
    identities for one process. The trainer passes bench's data-parallel ones
    (and its device-synchronised clock), so `end_of_round` has one code path
    for one process and for many."""

    world_size = 1
    is_main = True

    def clock(self) -> float:
        """Seconds; the trainer's version synchronises the device first."""
        return time.perf_counter()

    def reduce_sum_(self, t: Tensor, dst: int = 0) -> Tensor:
        """Sum `t` over ranks in place, onto rank `dst`."""
        return t

    def broadcast_(self, t: Tensor) -> Tensor:
        """Overwrite `t` on every rank with rank 0's copy."""
        return t

    def broadcast_object(self, obj):
        return obj

    def all_sum(self, values: list[float]) -> list[float]:
        return list(values)


LOCAL = Collectives()


class LSTMBody(nn.Module):
    """Dropout -> multi-layer LSTM -> dropout. [T, B, n] -> [T, B, h].

    `input_dropout` (default: `dropout`) is the rate on the embeddings; Kim et
    al.'s models use none there, Zaremba et al.'s the same rate as elsewhere.
    """

    def __init__(self, input_dim: int, hidden_dim: int, layers: int, dropout: float,
                 input_dropout: float | None = None):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.drop_in = nn.Dropout(dropout if input_dropout is None else input_dropout)
        # Inter-layer dropout inside nn.LSTM keeps the cuDNN fused path.
        self.lstm = nn.LSTM(input_dim, hidden_dim, layers, dropout=dropout if layers > 1 else 0.0)
        self.layers, self.hidden_dim = layers, hidden_dim

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        z = torch.zeros(self.layers, batch_size, self.hidden_dim, device=device, dtype=dtype)
        return (z, z.clone())

    def forward(self, emb: Tensor, state: State) -> tuple[Tensor, State]:
        out, state = self.lstm(self.drop_in(emb), state)
        return self.drop(out), state


class LanguageModel(nn.Module):
    """Base class. Subclasses set `self.body` (an LSTMBody) and implement
    `forward` and `log_prob`; they declare which parameters are embeddings
    and which are output layer through `param_groups`.
    """

    vocab_size: int
    body: LSTMBody

    def init_state(self, batch_size: int) -> State:
        p = next(self.parameters())  # state follows the model's device and dtype
        return self.body.init_state(batch_size, device=p.device, dtype=p.dtype)

    def forward(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        """x, y: [T, B] word ids. Returns (summed NLL in nats over y: scalar, new state)."""
        raise NotImplementedError

    def log_prob(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """[T, B, V] log-probabilities of every word given the history."""
        raise NotImplementedError

    def token_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        """[T, B] NLL in nats of each target (the per-token file evaluation
        keeps). This default gathers from `log_prob`, O(V) per token; models
        with a cheaper route override it."""
        lp, state = self.log_prob(x, state)  # [T, B, V]
        return -lp.gather(2, y.unsqueeze(2)).squeeze(2), state

    reallocates = False  # whether end_of_round does anything (LightRNN's bootstrap)

    def collect_tables(self, on: bool) -> None:
        """Models that reallocate: sum the next round's loss tables over the
        training passes from now on (`on`), instead of a pass of their own."""

    def collected_tables(self):
        """The tables summed so far (None when not collecting): a mid-epoch
        checkpoint saves them, `restore_tables` puts them back on resume."""
        return None

    def restore_tables(self, tables) -> None:
        pass

    def end_of_round(self, train_ids, batch_size: int, bptt: int, comm: Collectives = LOCAL) -> dict:
        """Called by the trainer between training rounds (LightRNN reallocates
        here) on this process's shard of the training stream; `comm` joins the
        ranks. Returns JSON-ready figures for the run record, the same on
        every rank."""
        return {}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{'embedding': [...], 'recurrent': [...], 'output': [...]}."""
        raise NotImplementedError

    def param_counts(self) -> dict[str, int]:
        groups = self.param_groups()
        counts = {k: sum(p.numel() for p in ps) for k, ps in groups.items()}
        counts["total"] = sum(p.numel() for p in self.parameters())
        assert counts["total"] == counts["embedding"] + counts["recurrent"] + counts["output"]
        return counts

    def init_uniform(self, init_range: float) -> None:
        self._init_range = init_range  # what reinit draws from again
        for p in self.parameters():
            nn.init.uniform_(p, -init_range, init_range)

    def reinit(self) -> None:
        """Draw every parameter afresh, as the constructor's init_uniform did;
        buffers (LightRNN's word table) are kept. The fresh start after a move."""
        if not hasattr(self, "_init_range"):
            raise NotImplementedError(f"{type(self).__name__} was not initialised by init_uniform")
        self.init_uniform(self._init_range)


def detach_state(state):
    """Cut the graph between BPTT windows (works for any nested tuple of tensors)."""
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(detach_state(s) for s in state)
