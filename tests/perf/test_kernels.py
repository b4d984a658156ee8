"""Microbenchmarks of the matcher's compiled kernels, which asv (end-to-end
matching time) does not separate: the per-word top-k candidate scan and the
auction's bidding."""

from __future__ import annotations

import numpy as np

from models.realloc._rowops import topk_smallest
from models.realloc.auction import Auction

RNG = np.random.default_rng(0)
LOSS = RNG.random((50_000, 224), dtype=np.float32)  # [V, R]: one loss table's rows at V = 50K
SHIFT = RNG.random(224, dtype=np.float32)  # [R] row prices


def test_topk_smallest(benchmark):
    idx = benchmark(topk_smallest, LOSS, SHIFT, 12)  # [V, 12]
    want = np.sort(LOSS + SHIFT, axis=1)[:, :12]
    np.testing.assert_array_equal(np.take_along_axis(LOSS + SHIFT, idx, 1), want)


def _problem(V: int = 20_000, K: int = 16):
    """A unit-capacity sparse assignment: K random cells a word plus cell w
    (so a complete matching exists). cand [V, K+1], cost [V, K+1] float64."""
    cand = np.concatenate([RNG.integers(0, V, (V, K)), np.arange(V)[:, None]], axis=1)
    cost = RNG.random(cand.shape) * 10
    return cand, cost


def test_auction_bidding(benchmark):
    cand, cost = _problem()

    def solve():
        a = Auction(cand, cost, np.ones(len(cand), dtype=np.int64), np.zeros(len(cand)))
        a.run(a.gap_quantile(), 1e-3)
        return a

    a = benchmark.pedantic(solve, rounds=3, iterations=1, warmup_rounds=1)  # warm-up compiles
    cells = cand[np.arange(len(cand)), a.slot]
    assert (a.slot >= 0).all() and len(np.unique(cells)) == len(cand)  # one word per cell
