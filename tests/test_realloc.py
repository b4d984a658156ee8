"""Reallocation solvers: exact optimum, valid tables, valid lower bounds, the
certified method's margin, never worse than the previous table."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from bench.rigs.realloc_instances import make_instance
from models.realloc import METHODS, reallocate, table_cost

SOLVERS = [m for m in METHODS if m != "auto"]


def random_instance(rng, V, R, C, scale=10.0):
    return rng.random((V, R)).astype(np.float32) * scale, rng.random((V, C)).astype(np.float32) * scale


def brute_force(Lr, Lc):
    """Try every injective placement of the words into the cells."""
    V, C = len(Lr), Lc.shape[1]
    best = np.inf
    for cells in itertools.permutations(range(Lr.shape[1] * C), V):
        c = np.array(cells)
        best = min(best, table_cost(Lr, Lc, c))
    return best


def sparse_optimum(Lr, Lc):
    """An independent exact solver (scipy's LAPJVsp) on the dense graph, the
    empty cells as zero-cost dummy words."""
    V, R = Lr.shape
    C = Lc.shape[1]
    cost = (Lr.astype(np.float64)[:, :, None] + Lc[:, None, :]).reshape(V, R * C) + 1.0  # > 0: stored
    cost = np.vstack([cost, np.ones((R * C - V, R * C))])
    rows, cols = min_weight_full_bipartite_matching(csr_matrix(cost))
    return float(cost[rows, cols].sum() - R * C)


def check_valid(cell, V, R, C):
    assert cell.shape == (V,) and cell.dtype == np.int64
    assert cell.min() >= 0 and cell.max() < R * C
    assert len(np.unique(cell)) == V


@pytest.mark.parametrize("seed", range(3))
def test_exact_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    Lr, Lc = random_instance(rng, 5, 2, 3)
    res = reallocate(Lr, Lc, "exact")
    assert res.cost == pytest.approx(brute_force(Lr, Lc), rel=1e-9)
    assert res.gap == 0.0


@pytest.mark.parametrize("V,R,C", [(30, 6, 5), (40, 7, 7)])
def test_exact_matches_independent_solver(V, R, C):
    Lr, Lc = random_instance(np.random.default_rng(V), V, R, C)
    assert reallocate(Lr, Lc, "exact").cost == pytest.approx(sparse_optimum(Lr, Lc), rel=1e-9)


@pytest.mark.parametrize("method", SOLVERS)
@pytest.mark.parametrize("V,R,C", [(200, 15, 15), (190, 14, 15)])  # R*C > V: empty cells
def test_every_method_valid_and_deterministic(method, V, R, C):
    inst = make_instance(V, R, C, seed=1)
    a = reallocate(inst["loss_row"], inst["loss_col"], method, seed=3)
    b = reallocate(inst["loss_row"], inst["loss_col"], method, seed=3)
    check_valid(a.cell_of_word, V, R, C)
    np.testing.assert_array_equal(a.cell_of_word, b.cell_of_word)
    assert a.cost == pytest.approx(table_cost(inst["loss_row"], inst["loss_col"], a.cell_of_word))
    assert a.lower_bound <= a.cost


def structured(data, V, R, C):
    """Many words preferring the same few rows and columns (they compete)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    hot = data.draw(st.floats(0.0, 20.0))
    Lr, Lc = random_instance(rng, V, R, C)
    Lr[:, : max(1, R // 3)] -= hot * rng.random((V, 1)).astype(np.float32)
    Lc[:, :1] -= hot * rng.random((V, 1)).astype(np.float32)
    return Lr - Lr.min(), Lc - Lc.min()


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_lower_bound_never_exceeds_optimum(data):
    R, C = data.draw(st.integers(1, 5)), data.draw(st.integers(2, 5))
    V = data.draw(st.integers(1, R * C))
    if data.draw(st.booleans()):
        Lr, Lc = structured(data, V, R, C)
    else:
        Lr, Lc = random_instance(np.random.default_rng(data.draw(st.integers(0, 2**31))), V, R, C)
    opt = reallocate(Lr, Lc, "exact").cost
    for method in ("auction", "greedy-paper", "greedy-cntk"):
        res = reallocate(Lr, Lc, method)
        assert res.lower_bound <= opt + 1e-9 * abs(opt) + 1e-9
        assert res.cost >= opt - 1e-9 * abs(opt) - 1e-9


@pytest.mark.parametrize("V,R,C", [(400, 20, 20), (500, 23, 23)])
def test_auction_within_margin_of_exact(V, R, C):
    inst = make_instance(V, R, C, seed=V)
    opt = reallocate(inst["loss_row"], inst["loss_col"], "exact").cost
    res = reallocate(inst["loss_row"], inst["loss_col"], "auction", previous=inst["previous"])
    assert res.gap <= 1e-3  # the certified gap: stated margin 0.1%
    assert opt <= res.cost <= opt * (1 + res.gap) + 1e-6
    assert res.lower_bound <= opt
    assert res.separable_bound <= res.lower_bound  # the cell prices are the tighter bound


def test_auction_stops_at_target_gap_or_time_budget():
    """Column generation runs until the certified gap is under target_gap; a
    loose target or a spent time budget ends it after the first pricing, with
    a valid table and bound all the same."""
    from models.realloc import scalable

    inst = make_instance(600, 25, 25, seed=3)
    Lr, Lc = inst["loss_row"], inst["loss_col"]
    opt = reallocate(Lr, Lc, "exact").cost
    full = scalable.solve(Lr, Lc, inst["previous"], target_gap=1e-9)
    assert full["colgen"] > 1
    costs, bounds = np.array(full["trace"])[:, 1], np.array(full["trace"])[:, 2]
    assert (np.diff(costs) <= 0).all() and (np.diff(bounds) >= 0).all()  # the best of the rounds so far
    assert bounds[-1] <= opt <= costs[-1] == pytest.approx(table_cost(Lr, Lc, full["cell_of_word"]), rel=1e-12)
    # a round that does not shrink the gap by min_progress ends it
    assert scalable.solve(Lr, Lc, inst["previous"], target_gap=1e-9, min_progress=1.0)["colgen"] == 2
    for kw in ({"target_gap": 1.0}, {"max_seconds": 0.0}):
        out = scalable.solve(Lr, Lc, inst["previous"], target_gap=kw.get("target_gap", 1e-9),
                             max_seconds=kw.get("max_seconds"))
        assert out["colgen"] == 1
        assert out["lower_bound"] <= opt <= table_cost(Lr, Lc, out["cell_of_word"])


@pytest.mark.parametrize("method", SOLVERS)
def test_never_worse_than_previous(method):
    inst = make_instance(150, 13, 12, seed=7)
    Lr, Lc = inst["loss_row"], inst["loss_col"]
    best = reallocate(Lr, Lc, "exact").cell_of_word
    res = reallocate(Lr, Lc, method, previous=best)
    assert res.cost <= table_cost(Lr, Lc, best) + 1e-9
    assert res.previous_cost == pytest.approx(table_cost(Lr, Lc, best))
    assert res.moved == int((res.cell_of_word != best).sum())


def test_torch_input_and_bad_input():
    torch = pytest.importorskip("torch")
    Lr, Lc = random_instance(np.random.default_rng(0), 20, 5, 5)
    a = reallocate(torch.from_numpy(Lr), torch.from_numpy(Lc), "exact")
    assert a.cost == pytest.approx(reallocate(Lr, Lc, "exact").cost)
    with pytest.raises(ValueError, match="choose from"):
        reallocate(Lr, Lc, "hungarian")
    with pytest.raises(ValueError, match="fewer cells"):
        reallocate(Lr, Lc[:, :3], "exact")
    with pytest.raises(ValueError, match="same cell"):
        reallocate(Lr, Lc, "exact", previous=np.zeros(20, dtype=np.int64))


@pytest.mark.parametrize("method", ["exact", "auction", "greedy-cntk"])
def test_words_without_costs_are_left_out_and_keep_their_cells(method):
    """Tables from a slice of the stream: most words were never seen, their
    rows are all zero. The optimum (scipy on the full V x R*C matrix) is
    unchanged by setting them aside, the bound stays below it and >= 0, and an
    idle word keeps its previous cell unless a seen word took it."""
    from scipy.optimize import linear_sum_assignment

    inst = make_instance(600, 25, 25, seed=11)
    Lr, Lc, prev = inst["loss_row"].copy(), inst["loss_col"].copy(), inst["previous"]
    idle = np.random.default_rng(0).random(600) < 0.7
    Lr[idle], Lc[idle] = 0, 0
    full = (Lr[:, :, None].astype(np.float64) + Lc[:, None, :]).reshape(600, -1)  # [V, R*C]
    rows, cols = linear_sum_assignment(full)
    opt = full[rows, cols].sum()
    res = reallocate(Lr, Lc, method, previous=prev)
    assert 0 <= res.lower_bound <= opt * (1 + 1e-9) and res.cost >= opt * (1 - 1e-9)
    if method != "greedy-cntk":
        assert res.cost <= opt * (1 + 1e-3)
    cell = res.cell_of_word
    assert len(np.unique(cell)) == 600
    taken_by_seen = set(cell[~idle].tolist())
    free_home = idle & ~np.isin(prev, list(taken_by_seen))
    assert (cell[free_home] == prev[free_home]).all()
    nothing = reallocate(np.zeros_like(Lr), np.zeros_like(Lc), method, previous=prev)
    assert nothing.cost == nothing.lower_bound == 0 and nothing.moved == 0


def test_auto_counts_the_seen_words_times_the_cells():
    """auto's exact solver is for small dense costs: few seen words in a big
    table still make a V x R*C problem, so it is the seen words times the cells."""
    from models.lightrnn import table_shape

    V = 8000
    R, C = table_shape(V)
    inst = make_instance(V, R, C, seed=5)
    for seen, method in ((100, "exact"), (3300, "auction")):
        Lr, Lc = inst["loss_row"].copy(), inst["loss_col"].copy()
        Lr[seen:], Lc[seen:] = 0, 0
        res = reallocate(Lr, Lc, "auto", previous=inst["previous"])
        assert res.method == method and res.gap <= 1e-3
