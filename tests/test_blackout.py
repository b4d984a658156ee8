"""B-RNN (models/blackout.py): sampled softmax is the full softmax when the
samples are every other word and q is uniform; the BlackOut loss and its
gradient equal a transcription of Ji et al.'s equations; evaluation is the
exact softmax over V; the sampler draws from q (chi-square)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chi2

import models
from models.blackout import proposal, sampled_loss


def test_sampled_softmax_with_every_word_and_uniform_q_is_the_full_softmax():
    torch.manual_seed(0)
    V, N = 40, 7
    logits = torch.randn(N, V, dtype=torch.float64)
    t = torch.randint(V, (N,))
    s = torch.arange(V)  # every word once; each row's own target is dropped as a hit
    scores = torch.cat([logits.gather(1, t[:, None]), logits], 1)
    log_q = torch.full((N, 1 + V), -math.log(V), dtype=torch.float64)
    got = sampled_loss(scores, log_q, s[None] == t[:, None], "sampled-softmax")
    assert torch.allclose(got, F.cross_entropy(logits, t, reduction="none"), atol=1e-12)


def _paper(theta: torch.Tensor, s: torch.Tensor, i: int, S: list[int], q: torch.Tensor) -> torch.Tensor:
    """Ji et al.'s eqs, one position, as written: p~_k = q_k^-1 exp(<theta_k, s>) /
    sum_{j in {i} + S_K} q_j^-1 exp(<theta_j, s>); J = log p~_i + sum_{j in S_K} log(1 - p~_j)."""
    def w(k):
        return torch.exp(theta[k] @ s) / q[k]

    z = w(i) + sum(w(j) for j in S)
    J = torch.log(w(i) / z)
    for j in S:
        J = J + torch.log(1 - w(j) / z)
    return -J


def test_blackout_loss_and_gradient_equal_the_papers_equations():
    torch.manual_seed(1)
    V, h, N = 12, 5, 4
    theta = torch.randn(V, h, dtype=torch.float64, requires_grad=True)
    hs = torch.randn(N, h, dtype=torch.float64, requires_grad=True)
    q = proposal(V, torch.randint(1, 50, (V,)).tolist(), 0.4)
    t = torch.tensor([3, 7, 7, 0])
    S = torch.tensor([1, 7, 4, 4, 9])  # shared by the batch; duplicates kept; 7 is a hit for rows 1, 2
    scores = torch.cat([(hs * theta[t]).sum(1, keepdim=True), hs @ theta[S].T], 1)
    log_q = torch.cat([q.log()[t, None], q.log()[S].expand(N, -1)], 1)
    ours = sampled_loss(scores, log_q, S[None] == t[:, None], "blackout")
    g_ours = torch.autograd.grad(ours.sum(), (theta, hs))
    ref = torch.stack([_paper(theta, hs[n], int(t[n]), [int(j) for j in S if j != t[n]], q) for n in range(N)])
    g_ref = torch.autograd.grad(ref.sum(), (theta, hs))
    assert torch.allclose(ours, ref, atol=1e-10)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(g_ours, g_ref, strict=True))


@pytest.mark.parametrize("objective", ["blackout", "sampled-softmax"])
def test_evaluation_is_the_exact_softmax_over_v(objective):
    torch.manual_seed(2)
    V = 30
    m = models.build("blackout", V, embedding_dim=8, hidden_dim=8, layers=1, dropout=0.0, objective=objective,
                     samples=5, unigram=list(range(V, 0, -1))).eval()
    s = torch.randint(V, (7, 3))
    x, y = s[:-1], s[1:]
    with torch.no_grad():
        lp, _ = m.log_prob(x, m.init_state(3))
        nll, _ = m(x, y, m.init_state(3))
        tok, _ = m.token_nll(x, y, m.init_state(3))
    assert torch.allclose(lp.exp().sum(-1), torch.ones(6, 3), atol=1e-5)
    gathered = -lp.gather(2, y.unsqueeze(2)).squeeze(2)
    assert torch.allclose(tok, gathered, atol=1e-5) and torch.allclose(nll, gathered.sum(), atol=1e-4)
    m.train()  # training is the sampled loss, not the NLL: it differs
    with torch.no_grad():
        sampled, _ = m(x, y, m.init_state(3))
    assert not torch.allclose(sampled, nll)


def test_the_sampler_draws_from_q():
    V, n = 50, 200_000
    counts = np.random.default_rng(0).zipf(1.5, V).clip(max=10_000)
    m = models.build("blackout", V, embedding_dim=4, hidden_dim=4, layers=1, alpha=0.5, unigram=counts.tolist())
    draws = m.draw(n, torch.Generator().manual_seed(3)).numpy()
    q = counts.astype(np.float64) ** 0.5
    expected = n * q / q.sum()
    observed = np.bincount(draws, minlength=V)
    stat = ((observed - expected) ** 2 / expected).sum()
    assert stat < chi2.ppf(0.999, V - 1)
    assert observed.sum() == n and draws.min() >= 0 and draws.max() < V


def test_a_training_step_touches_only_the_sampled_and_target_rows():
    torch.manual_seed(4)
    V = 500
    m = models.build("blackout", V, embedding_dim=8, hidden_dim=8, layers=1, dropout=0.0, samples=20)
    m.out_w.sparse = m.out_b.sparse = True  # as the trainer's sparse_rows makes them at this V
    s = torch.randint(V, (6, 2))
    nll, _ = m(s[:-1], s[1:], m.init_state(2))
    nll.backward()
    g = m.out_w.weight.grad.coalesce()
    assert g.is_sparse and g.indices().numel() <= 20 + 10


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="objective"):
        models.build("blackout", 10, objective="nce")
    with pytest.raises(ValueError, match="samples"):
        models.build("blackout", 10, samples=0)
    with pytest.raises(ValueError, match="counts"):
        models.build("blackout", 10, unigram=[1, 2])
