"""The auction's candidate graph (scalable.py): each word's candidate cells,
the edges of the feasible tables that keep a complete matching, the cells
that column generation adds, and the pruning that keeps each round's graph
as small as the first."""

from __future__ import annotations

import numpy as np

from .auction import Auction


def set_feasible(cand: np.ndarray, cost: np.ndarray, col: int, obj: np.ndarray, obj_cost: np.ndarray) -> None:
    """Put a feasible table's edges [V] in column `col` of cand / cost [V, K]
    (left free for them), inf cost where they duplicate an earlier candidate."""
    dup = (cand[:, :col] == obj[:, None]).any(1)
    cand[:, col], cost[:, col] = obj, np.where(dup, np.inf, obj_cost)


def violators(res: dict, ub: np.ndarray, price: np.ndarray, eps: float, cell_cost) -> tuple[np.ndarray, ...]:
    """The priced (word, cell) pairs of `res` (bounds.price_cells) whose cell
    beats the word's candidates, valued `ub` [V], by > eps at `price` [O]
    (checked again in float64: float32 pricing is only a filter). Returns
    (words, cells, gains), each [n]."""
    w, cell = res["pair_word"], res["pair_cell"]
    gain = ub[w] - (cell_cost(w, cell) + price[cell])
    hit = gain > eps
    return w[hit], cell[hit], gain[hit]


def add_columns(A: Auction, w: np.ndarray, cell: np.ndarray, gain: np.ndarray, per_word: int, cell_cost) -> None:
    """Give each word its `per_word` largest-gain cells of the pairs
    (w, cell, gain) [n] as new candidate slots."""
    order = np.lexsort((-gain, w))
    w, cell = w[order], cell[order]
    rank = np.arange(len(w)) - np.searchsorted(w, w)
    for k in range(per_word):
        pick = rank == k
        if not pick.any():
            break
        obj = np.full(len(A.cand), -1)
        obj[w[pick]] = cell[pick]
        A.add_column(obj, np.where(obj >= 0, cell_cost(np.arange(len(A.cand)), np.maximum(obj, 0)), np.inf))


def prune(A: Auction, keep: int, anchors: slice, chunk: int = 65536) -> slice:
    """Keep each word's `keep` best candidates under the current prices plus
    the anchor columns (the feasible tables: a complete matching must stay);
    returns where the anchors now are. Every column generation round appends
    per_word columns, and a bid scans them all. In chunks of words: at V =
    793K whole-array temporaries ([V, K] values, ranks, indices) added 3.4 GB
    to the solve's peak."""
    K = A.cand.shape[1]
    if K - (anchors.stop - anchors.start) <= keep:
        return anchors
    free = np.r_[0:anchors.start, anchors.stop:K]
    fixed = np.arange(anchors.start, anchors.stop)
    V = len(A.cand)
    cand = np.empty((V, keep + len(fixed)), dtype=A.cand.dtype)
    cost = np.empty((V, keep + len(fixed)), dtype=A.cost.dtype)
    for s in range(0, V, chunk):
        e = min(V, s + chunk)
        val = A.cost[s:e, free] + A.price[A.cand[s:e, free]]  # [n, K - anchors]
        top = free[np.argpartition(val, keep - 1, axis=1)[:, :keep]]  # [n, keep] columns
        cols = np.column_stack([top, np.broadcast_to(fixed, (e - s, len(fixed)))])
        cand[s:e], cost[s:e] = np.take_along_axis(A.cand[s:e], cols, 1), np.take_along_axis(A.cost[s:e], cols, 1)
    A.cand, A.cost = cand, cost
    return slice(keep, keep + len(fixed))
