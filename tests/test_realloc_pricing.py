"""The pricing of the certified auction (models/realloc/bounds.price_cells):
every word's exact minimum over all R*C cells, by the (min, +) product of
_rowops.row_minima, and the violating pairs it hands to column generation."""

from __future__ import annotations

import numpy as np
import pytest

from bench.rigs.realloc_instances import make_instance
from models.realloc._rowops import minima_prices, row_minima
from models.realloc.bounds import FP32_MARGIN, price_cells


@pytest.mark.parametrize("n,R,C", [(1, 1, 1), (130, 7, 5), (300, 17, 23), (257, 4, 129), (129, 16, 2)])  # ragged tiles
def test_row_minima_is_the_min_plus_product(n, R, C):
    rng = np.random.default_rng(n + R + C)
    lc = (rng.gamma(2.0, 3.0, (n, C)) * rng.integers(1, 50, (n, 1))).astype(np.float32)
    pi = (rng.normal(0, 5, (R, C)) ** 2).astype(np.float32)
    lr = rng.gamma(2.0, 3.0, (n, R)).astype(np.float32)
    out = np.empty((n, R))
    row_minima(lc, minima_prices(pi), lr, out)
    best = (lc[:, None, :] + pi[None, :, :]).min(2)  # float32 sums, and min is exact
    assert np.array_equal(out, lr.astype(np.float64) + best)


@pytest.mark.parametrize("family", ["grouped", "giant"])
def test_pricing_is_exact_at_the_auctions_prices(family):
    """At the prices of a contended table's auction, each word's bound is its
    true minimum over all R*C cells (brute force), less only the float32
    margin, whatever the chunking; and each word's pairs are exactly its rows
    that beat its ub, with their best cells."""
    V, R, C = 1000, 32, 33
    inst = make_instance(V, R, C, seed=7, family=family)
    Lr, Lc = inst["loss_row"], inst["loss_col"]
    rng = np.random.default_rng(1)
    pi = rng.gamma(1.0, float(np.median(Lc)), (R, C))  # [R, C]
    full = (Lr[:, :, None].astype(np.float64) + (Lc[:, None, :] + pi.astype(np.float32)[None])).reshape(V, -1)
    exact = full.min(1)
    ub = exact + rng.gamma(1.0, 0.05 * exact)  # some rows beat it, most do not
    res = price_cells(Lr, Lc, pi, ub, chunk=96)
    assert np.all(res["lb"] <= exact) and np.allclose(res["lb"], exact, rtol=2 * FP32_MARGIN, atol=0)
    rowbest = full.reshape(V, R, C).min(2)
    want = np.argwhere(rowbest < ub[:, None])
    got = np.column_stack([res["pair_word"], res["pair_cell"] // C])
    assert np.array_equal(got[np.lexsort(got.T[::-1])], want) and res["scanned"] == len(want)
    assert np.allclose(full[res["pair_word"], res["pair_cell"]], res["pair_val"], rtol=1e-12)


def test_kept_pairs_are_each_words_best_and_the_bound_is_unchanged():
    rng = np.random.default_rng(5)
    V, R, C = 400, 20, 21
    Lr = rng.gamma(2.0, 2.0, (V, R)).astype(np.float32)
    Lc = rng.gamma(2.0, 2.0, (V, C)).astype(np.float32)
    pi = rng.gamma(1.0, 1.5, (R, C))
    exact = (Lr[:, :, None].astype(np.float64) + Lc[:, None, :] + pi[None]).reshape(V, -1).min(1)  # [V]
    ub = exact + rng.gamma(1.0, 3.0, V)  # many rows under it: many pairs a word
    full = price_cells(Lr, Lc, pi, ub, chunk=128)
    cut = price_cells(Lr, Lc, pi, ub, keep_pairs=3, chunk=128)
    assert np.array_equal(full["lb"], cut["lb"]) and full["scanned"] == cut["scanned"] == len(full["pair_word"])
    for w in range(V):
        mine = np.sort(full["pair_val"][full["pair_word"] == w])
        assert np.allclose(np.sort(cut["pair_val"][cut["pair_word"] == w]), mine[:3])
    assert np.bincount(full["pair_word"], minlength=V).max() > 3  # the cut did cut
