"""B-RNN: an LSTM language model trained by sampling, evaluated exactly (the
paper's Table 4 row; Ji et al., "BlackOut", ICLR 2016).

Training draws K words from a proposal q ∝ unigram^alpha, ONE draw shared by
every position of the batch (as Ji et al. do), and scores each target against
those K alone, each term weighted by 1/q:

    p~(w | s) = exp(<theta_w, s> - log q_w) / sum_{v in {w} + S_K} exp(<theta_v, s> - log q_v)

- "blackout" (Ji et al.'s discriminative loss):
      -log p~(target) - sum_{j in S_K} log(1 - p~(j))
- "sampled-softmax" (Jean et al. 2015): -log p~(target).

A sample equal to a position's target is dropped from that position's terms
(S_K excludes the target), so with q uniform and S_K every other word once,
sampled softmax is the full softmax. A training step costs O(K h), not O(V h):
the output table is an embedding gathered at the target and sample rows (its
gradient sparse, like every large table's here). Evaluation (eval mode,
`token_nll`, `log_prob`) is the exact full softmax over V, so the perplexity is
comparable with every other row.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import LanguageModel, LSTMBody, State

OBJECTIVES = ("blackout", "sampled-softmax")


def proposal(vocab_size: int, unigram, alpha: float) -> Tensor:
    """q [V] float64 ∝ count^alpha (uniform without counts); a word never seen
    in training keeps a count of 1, so every word can be drawn."""
    if unigram is None:
        return torch.full((vocab_size,), 1.0 / vocab_size, dtype=torch.float64)
    counts = torch.as_tensor(unigram, dtype=torch.float64)
    if counts.shape != (vocab_size,):
        raise ValueError(f"unigram has {counts.numel()} counts for {vocab_size} words")
    q = counts.clamp(min=1.0) ** alpha
    return q / q.sum()


def sampled_loss(scores: Tensor, log_q: Tensor, hit: Tensor, objective: str) -> Tensor:
    """scores [N, 1 + K] (target first, then the samples), log_q [N, 1 + K],
    hit [N, K] (a sample equal to the row's target: dropped) -> loss [N]."""
    adj = scores - log_q  # the 1/q weights
    adj = torch.cat([adj[:, :1], adj[:, 1:].masked_fill(hit, float("-inf"))], dim=1)
    log_p = adj - torch.logsumexp(adj, dim=1, keepdim=True)  # log p~, [N, 1 + K]
    loss = -log_p[:, 0]
    if objective == "blackout":
        # log(1 - p~) of each sample; a dropped one has p~ = 0 and adds 0
        neg = torch.log1p(-log_p[:, 1:].exp().clamp(max=1 - 1e-7))
        loss = loss - neg.sum(1)
    return loss


class BlackOutLM(LanguageModel):
    def __init__(self, vocab_size: int, embedding_dim=200, hidden_dim=200, layers=2, dropout=0.5,
                 init_range=0.05, objective="blackout", samples=500, alpha=0.4, unigram=None):
        """`samples` K and `alpha` of the proposal; `unigram` [V] training counts
        (the runner passes the corpus's; None: uniform q, for counting and tests)."""
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective={objective!r}: choose from {list(OBJECTIVES)}")
        if not 1 <= samples or not 0 <= alpha <= 1:
            raise ValueError(f"samples={samples} (must be >= 1), alpha={alpha} (must be in [0, 1])")
        self.vocab_size, self.objective, self.samples = vocab_size, objective, int(samples)
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.body = LSTMBody(embedding_dim, hidden_dim, layers, dropout)
        # Output vectors and biases as tables: training gathers K + N rows of them.
        self.out_w = nn.Embedding(vocab_size, hidden_dim)
        self.out_b = nn.Embedding(vocab_size, 1)
        self.init_uniform(init_range)
        q = proposal(vocab_size, unigram, alpha)
        self.register_buffer("cdf", torch.cumsum(q, 0), persistent=False)  # [V] float64
        self.register_buffer("log_q", q.log().float(), persistent=False)  # [V]

    def draw(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        """[k] word ids from q, with replacement (inverse CDF: O(k log V))."""
        u = torch.rand(k, dtype=torch.float64, generator=generator, device=self.cdf.device)
        return torch.searchsorted(self.cdf, u * self.cdf[-1], right=True).clamp(max=self.vocab_size - 1)

    def _logits(self, h: Tensor) -> Tensor:
        return h @ self.out_w.weight.T + self.out_b.weight.T  # [..., V]: evaluation only

    def forward(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        if not self.training:  # exact: the full softmax
            nll, state = self.token_nll(x, y, state)
            return nll.sum(), state
        h, state = self.body(self.embed(x), state)  # [T, B, h]
        h, t = h.reshape(-1, h.size(-1)), y.reshape(-1)  # [N, h], [N]
        s = self.draw(self.samples)  # [K], shared by the batch
        w_t, w_s = self.out_w(t), self.out_w(s)  # [N, h], [K, h]
        scores = torch.cat([(h * w_t).sum(1, keepdim=True) + self.out_b(t), h @ w_s.T + self.out_b(s).T], 1)
        log_q = torch.cat([self.log_q[t, None], self.log_q[s].expand(len(t), -1)], 1)  # [N, 1 + K]
        return sampled_loss(scores, log_q, s[None, :] == t[:, None], self.objective).sum(), state

    def token_nll(self, x: Tensor, y: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self.body(self.embed(x), state)
        nll = F.cross_entropy(self._logits(h).flatten(0, 1), y.reshape(-1), reduction="none")
        return nll.view(y.shape), state

    def log_prob(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self.body(self.embed(x), state)
        return F.log_softmax(self._logits(h), dim=-1), state

    def param_groups(self):
        return {"embedding": list(self.embed.parameters()), "recurrent": list(self.body.parameters()),
                "output": [self.out_w.weight, self.out_b.weight]}
