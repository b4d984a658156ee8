"""Costs of tables and LP-duality lower bounds on the reallocation optimum.

The problem: place V words into R*C cells (one word per cell), word w in cell
(i, j) costing loss_row[w, i] + loss_col[w, j]. With D = R*C - V empty cells
acting as zero-cost dummy words, ANY cell prices pi give a lower bound
(weak duality):

    LB(pi) = sum_w min_cells (cost[w, cell] + pi[cell]) + D * min(pi) - sum(pi)

Separable prices pi[i, j] = a[i] + b[j] reduce it to the row-only plus the
column-only transportation bounds (~3% loose on realistic instances); the
prices of an auction on the joint problem make it tight.
"""

from __future__ import annotations

import numpy as np
import torch

from ._rowops import in_parallel, minima_prices, row_minima, scan_rows

# Pricing runs in float32; shaving this relative margin off each word's
# minimum keeps the bound valid despite float32 rounding (errors ~1e-7).
FP32_MARGIN = 1e-6


def as_f32(x) -> np.ndarray:
    """numpy or torch -> float32 numpy array on the host (no copy when possible)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def table_cost(loss_row: np.ndarray, loss_col: np.ndarray, cell_of_word: np.ndarray) -> float:
    """sum_w loss_row[w, row(w)] + loss_col[w, col(w)], accumulated in float64."""
    C = loss_col.shape[1]
    w = np.arange(len(cell_of_word))
    return float(
        loss_row[w, cell_of_word // C].astype(np.float64).sum()
        + loss_col[w, cell_of_word % C].astype(np.float64).sum()
    )


def check_table(cell_of_word: np.ndarray, n_cells: int) -> None:
    """Raise if the table is not a valid one-word-per-cell placement."""
    if cell_of_word.min(initial=0) < 0 or cell_of_word.max(initial=0) >= n_cells:
        raise ValueError(f"table has a cell outside [0, {n_cells})")
    if len(np.unique(cell_of_word)) != len(cell_of_word):
        raise ValueError("table puts two words in the same cell")


def transport_bound(loss: np.ndarray, cap: int, price: np.ndarray) -> float:
    """LB of the row-only (or column-only) problem, each of the K groups holding
    at most `cap` words, from group prices [K]: the formula above with one
    price per group and D = K*cap - V dummies."""
    V, K = loss.shape
    u = min_plus(loss, price)[0]
    return float(u.sum() + (K * cap - V) * price.min() - cap * price.sum())


def min_plus(loss: np.ndarray, price: np.ndarray, chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """min_k loss[w, k] + price[k] and its argmin, for every word. [V], [V]."""
    p = torch.from_numpy(price.astype(np.float32))
    val = np.empty(len(loss))
    arg = np.empty(len(loss), dtype=np.int64)
    for s in range(0, len(loss), chunk):
        m = (torch.from_numpy(loss[s : s + chunk]) + p).min(1)
        val[s : s + chunk] = m.values.numpy()
        arg[s : s + chunk] = m.indices.numpy()
    return val - FP32_MARGIN * np.abs(val), arg


def price_cells(
    loss_row: np.ndarray,
    loss_col: np.ndarray,
    pi: np.ndarray,
    ub: np.ndarray,
    keep_pairs: int | None = None,
    chunk: int = 4096,
) -> dict:
    """Price every cell for every word, exactly. Returns `lb` [V]: each
    word's min over all R*C cells of cost + pi (less the float32 margin);
    and the (word, row) pairs whose row beats the word's `ub` [V] (its best
    value so far): `pair_word`, `pair_cell` (that row's best cell),
    `pair_val`, only each word's `keep_pairs` best if given (column
    generation takes no more), and `scanned`, their number before that cut.

    The whole (min, +) product, V x R x C, by `row_minima`, in chunks of
    words split among threads. It replaced a soft-min screen (a bf16 matrix
    product of exponentials) plus exact scans of the rows it could not rule
    out: on contended tables at their optimal prices that screen could not
    rule out ~80% of the rows (its floor, a word's best column plus a row's
    cheapest cell, lies ~1e5 temperatures below the true minimum), and
    capping the scans left the bound 17% low at V = 100K (results/NOTES.md).
    pi: [R, C] prices (finite)."""
    V, R = loss_row.shape
    C = loss_col.shape[1]
    pi32 = np.ascontiguousarray(pi, dtype=np.float32)
    piT = minima_prices(pi32)
    lb = np.empty(V)

    def part(lo, hi):
        pw, pc, pv, scanned = [], [], [], 0
        for s in range(lo, hi, chunk):
            e = min(s + chunk, hi)
            val = np.empty((e - s, R))  # [n, R]: each row's best cell for each word, cost + price
            row_minima(loss_col[s:e], piT, loss_row[s:e], val)
            lb[s:e] = val.min(1)
            hit = val < ub[s:e, None]
            scanned += int(hit.sum())
            if keep_pairs is not None and scanned and int(hit.sum(1).max()) > keep_pairs:
                k = min(keep_pairs, R)
                top = np.argpartition(np.where(hit, val, np.inf), k - 1, axis=1)[:, :k]
                mine = np.zeros_like(hit)
                np.put_along_axis(mine, top, True, 1)
                hit &= mine
            wi, ri = np.nonzero(hit)
            col = scan_rows(loss_col[s:e], pi32, wi, ri)[1]  # the rows' argmin columns
            pw.append(wi + s)
            pc.append(ri * C + col)
            pv.append(val[wi, ri])
        return pw, pc, pv, scanned

    parts = in_parallel(part, V, min_rows=chunk)
    return {"lb": lb - FP32_MARGIN * np.abs(lb), "scanned": sum(p[3] for p in parts),
            **{k: np.concatenate([x for p in parts for x in p[i]]) for i, k in
               enumerate(("pair_word", "pair_cell", "pair_val"))}}


def cell_bound(lb_words: np.ndarray, pi: np.ndarray, n_cells: int) -> float:
    """LB(pi) from per-word minima (see module docstring)."""
    D = n_cells - len(lb_words)
    return float(lb_words.sum() + D * pi.min() - pi.sum())
