"""The compiled row kernels of the matcher against plain numpy, on tables
with ties everywhere (small integer losses) and on continuous ones: each
row's two smallest losses, the candidate grid, and the two-stage columns."""

from __future__ import annotations

import numpy as np
import pytest

from models.realloc import _rowops
from models.realloc._evict import _best_other


def _tables(kind, n=500, K=37, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 3, (n, K)) if kind == "ties" else rng.random((n, K)) * 50).astype(np.float32)


@pytest.mark.parametrize("kind", ["ties", "continuous"])
def test_two_smallest_is_partition(kind):
    loss = _tables(kind)
    best, arg, second = _rowops.two_smallest(loss)
    part = np.partition(loss, 1, axis=1)
    assert np.array_equal(best, part[:, 0]) and np.array_equal(second, part[:, 1])
    assert np.array_equal(arg, np.argmin(loss, 1))  # the first index of the minimum


@pytest.mark.parametrize("kind", ["ties", "continuous"])
def test_best_other_is_the_first_minimum_off_its_group(kind):
    loss = _tables(kind)
    price = np.random.default_rng(1).integers(0, 3, loss.shape[1]).astype(np.float64)
    for w, skip in enumerate(np.random.default_rng(2).integers(0, loss.shape[1], len(loss))):
        v = loss[w].astype(np.float64) + price
        v[skip] = np.inf
        assert _best_other(loss, price, w, skip) == (v.min(), int(np.argmin(v)))


def test_grid_is_the_cross_product_of_rows_and_columns():
    rng = np.random.default_rng(3)
    lr, lc = _tables("continuous", K=11), _tables("continuous", K=13, seed=4)
    tr, tc = rng.integers(0, 11, (500, 4)), rng.integers(0, 13, (500, 3))
    cand, cost = _rowops.grid(lr, lc, tr, tc, spare=2)
    want = (tr[:, :, None] * 13 + tc[:, None, :]).reshape(500, -1)
    want_cost = (np.take_along_axis(lr, tr, 1)[:, :, None].astype(np.float64) + np.take_along_axis(lc, tc, 1)[:, None, :]).reshape(500, -1)
    assert np.array_equal(cand[:, :12], want) and np.array_equal(cost[:, :12], want_cost)
    assert (cand[:, 12:] == -1).all() and np.isinf(cost[:, 12:]).all()


@pytest.mark.parametrize("kind", ["ties", "continuous"])
def test_fill_columns_gives_each_word_its_first_cheapest_free_column(kind):
    lc = _tables(kind, n=120, K=10)
    rows = np.repeat(np.arange(12), 10)[np.random.default_rng(5).permutation(120)]  # 12 full rows
    order = np.random.default_rng(6).permutation(120)
    cell = _rowops.fill_columns(lc, rows, order, 10)
    taken = np.zeros((12, 10), bool)
    for w in order:  # the plain greedy, word by word
        free = np.where(taken[rows[w]], np.inf, lc[w])
        j = int(np.argmin(free))
        assert cell[w] == rows[w] * 10 + j
        taken[rows[w], j] = True
