"""Adaptive softmax LSTM (Grave et al. 2017) via torch's
`nn.AdaptiveLogSoftmaxWithLoss`. Word ids must be frequency-sorted (the
vocabulary is): the head holds the most frequent words, the tail clusters the
rest with smaller projections (div_value 4: cluster i gets h / 4**i dims).
"""

from __future__ import annotations

from torch import Tensor, nn

from .base import LanguageModel, LSTMBody, State


def default_cutoffs(vocab_size: int) -> list[int]:
    """Head = the ~V/20 most frequent words, cluster 1 up to ~V/4, cluster 2
    the rest (roughly Grave et al.'s proportions: 2K/10K of ~33K for text8,
    scaled to V). Tiny V: each cutoff is clipped into [1, V-1] and duplicates
    dropped, so V = 7 gives [1, 2] and V = 2 gives [1]."""
    if vocab_size < 2:
        raise ValueError(f"adaptive softmax needs vocab_size >= 2, got {vocab_size}")
    cuts = []
    for c in (max(1, vocab_size // 20), max(2, vocab_size // 4)):
        c = min(c, vocab_size - 1)
        if not cuts or c > cuts[-1]:
            cuts.append(c)
    return cuts


class AdaptiveLM(LanguageModel):
    def __init__(self, vocab_size: int, embedding_dim=200, hidden_dim=200, layers=2, dropout=0.5,
                 init_range=0.05, cutoffs=None, div_value=4.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.cutoffs = list(cutoffs) if cutoffs is not None else default_cutoffs(vocab_size)
        if hidden_dim // div_value ** len(self.cutoffs) < 1:
            raise ValueError(f"hidden_dim {hidden_dim} leaves the last of {len(self.cutoffs)} tail "
                             f"clusters a 0-dim projection at div_value {div_value}; use "
                             f"hidden_dim >= {div_value ** len(self.cutoffs):g}")
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.body = LSTMBody(embedding_dim, hidden_dim, layers, dropout)
        self.out = nn.AdaptiveLogSoftmaxWithLoss(hidden_dim, vocab_size, self.cutoffs,
                                                 div_value=div_value)
        self.init_uniform(init_range)

    def _hidden(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self.body(self.embed(x), state)
        return h.reshape(-1, h.shape[-1]), state  # [T*B, h]

    def forward(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        nll, state = self.token_nll(x, y, state)
        return nll.sum(), state

    def token_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self._hidden(x, state)
        # .output: log-probability of each target, [T*B]; .loss is its mean.
        return -self.out(h, y.reshape(-1)).output.view(y.shape), state

    def log_prob(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self._hidden(x, state)
        return self.out.log_prob(h).view(*x.shape, self.vocab_size), state

    def param_groups(self):
        return {
            "embedding": list(self.embed.parameters()),
            "recurrent": list(self.body.parameters()),
            "output": list(self.out.parameters()),
        }
