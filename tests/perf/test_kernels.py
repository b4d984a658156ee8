"""Microbenchmarks of the matcher's compiled kernels, which asv (end-to-end
matching time) does not separate: the per-word top-k candidate scan, the
joint auction's bidding and the transports' group-level auction."""

from __future__ import annotations

import numpy as np

from bench.rigs.realloc_instances import make_instance
from models.realloc._rowops import topk_smallest
from models.realloc.auction import Auction
from models.realloc.scalable import transport

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
        a = Auction(cand, cost, np.zeros(len(cand)))
        a.run(a.gap_quantile(), 1e-3)
        return a

    a = benchmark.pedantic(solve, rounds=3, iterations=1, warmup_rounds=1)  # warm-up compiles
    cells = cand[np.arange(len(cand)), a.slot]
    assert (a.slot >= 0).all() and len(np.unique(cells)) == len(cand)  # one word per cell


def test_transport_grouped(benchmark):
    """The row-only transport on a contended table (grouped family, V = 20K:
    141 rows of 142), where the word-level auction it replaced fought price
    wars."""
    inst = make_instance(20_000, seed=0, family="grouped")
    loss, cap = inst["loss_row"], inst["loss_col"].shape[1]
    price, groups, bound = benchmark.pedantic(transport, (loss, cap), {"rel_tol": 1e-3}, rounds=3, iterations=1,
                                              warmup_rounds=1)  # warm-up compiles
    assert np.bincount(groups, minlength=len(price)).max() <= cap
    assert 0 < bound <= loss[np.arange(len(loss)), groups].sum(dtype=np.float64)
