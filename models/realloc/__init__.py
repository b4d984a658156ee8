"""Word reallocation for LightRNN (paper section 3.2): after a training round,
re-place every word in the R x C table to minimise the total loss

    sum_w loss_row[w, row(w)] + loss_col[w, col(w)],    cell = row * C + col,

one word per cell. Every method returns a lower bound from LP duality, so each
table comes with a certified distance to the optimum.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from . import exact, greedy, scalable
from .auction import AuctionStalled
from .bounds import as_f32, check_table, table_cost

METHODS = ("auto", "exact", "auction", "greedy-paper", "greedy-cntk")
# auto's exact LSA: up to the dense cost of V = 5000 words in their 71 x 71 table
# (seconds); beyond, minutes and GBs. Counted on the words the solver sees, times
# the cells: 500 seen words of BillionW's 793K-cell table are far past it.
AUTO_EXACT_ENTRIES = 5000 * 71 * 71


@dataclass
class ReallocResult:
    cell_of_word: np.ndarray  # [V] int64, row * C + col
    cost: float
    lower_bound: float
    gap: float  # (cost - lower_bound) / lower_bound
    previous_cost: float | None
    moved: int  # words whose cell changed from `previous`
    seconds: float
    method: str
    separable_bound: float | None = None  # row-only + column-only bound, for comparison
    seconds_bound: float = 0.0  # part of `seconds` spent on the bound alone (greedy methods)
    trace: list | None = None  # auction: [seconds, cost, lower_bound] at each pricing
    phases: dict | None = None  # auction: seconds per phase (transports, candidates, auction, pricing)
    target_gap: float | None = None  # the certified gap asked for
    converged: bool = True  # gap <= target_gap: the table is certified as asked
    # Who made the table when the method did not: "previous" (kept: the method found
    # nothing better), "greedy-cntk" (the auction stalled), or both joined by "+".
    fallback: str | None = None

    def summary(self) -> dict:
        """JSON-ready figures (no table); an infinite gap (a bound of 0 below a
        positive cost certifies nothing) is None, as JSON has no inf."""
        out = {k: v for k, v in asdict(self).items() if k != "cell_of_word"}
        out["gap"] = self.gap if np.isfinite(self.gap) else None
        return out


def reallocate(loss_row, loss_col, method: str = "auto", previous=None, seed: int = 0,
               target_gap: float = 1e-4, max_seconds: float | None = None) -> ReallocResult:
    """Best table for loss_row [V, R] and loss_col [V, C] (numpy or torch).

    Never worse than `previous` (kept when the method finds nothing better).
    `seed` only breaks ties in the greedy methods; all are deterministic.
    auction only: stop improving once the certified gap is below `target_gap`,
    or when another round would end past `max_seconds` (scalable.solve).
    A result above `target_gap` has converged=False, and (certified methods)
    a RuntimeWarning names its gap.
    """
    if method not in METHODS:
        raise ValueError(f"unknown reallocation method {method!r}; choose from {list(METHODS)}")
    t0 = time.perf_counter()
    Lr, Lc = as_f32(loss_row), as_f32(loss_col)
    V, R = Lr.shape
    if Lc.shape[0] != V:
        raise ValueError(f"loss_row has {V} words but loss_col has {Lc.shape[0]}")
    C = Lc.shape[1]
    if R * C < V:
        raise ValueError(f"table {R}x{C} has fewer cells than the {V} words")
    prev = None
    if previous is not None:
        prev = np.asarray(previous.cpu() if hasattr(previous, "cpu") else previous, dtype=np.int64)
        check_table(prev, R * C)
    # Words with no cost anywhere (unseen by the pass that made the tables, e.g.
    # most of BillionW's words in a slice) are indifferent to their cell, like
    # the table's empty cells: the solver sees only the others, and every bound
    # of that smaller problem bounds this one (the idle words add 0 anywhere).
    busy = np.flatnonzero(Lr.any(1) | Lc.any(1))
    if method == "auto":
        method = "exact" if len(busy) * R * C <= AUTO_EXACT_ENTRIES else "auction"
    sep, seconds_bound, trace, phases, lb, fallback = None, 0.0, None, None, 0.0, None
    if len(busy) == 0:
        cell = prev.copy() if prev is not None else np.arange(V, dtype=np.int64)
    else:
        sub_r, sub_c = (Lr, Lc) if len(busy) == V else (Lr[busy], Lc[busy])
        sub_prev = prev if prev is None or len(busy) == V else prev[busy]
        if method == "exact":
            cell = exact.solve(sub_r, sub_c)
            lb = table_cost(sub_r, sub_c, cell)  # optimal, so its cost is the bound
        elif method == "auction":
            try:
                out = scalable.solve(sub_r, sub_c, sub_prev, target_gap=target_gap, max_seconds=max_seconds)
                cell, lb, sep, trace = out["cell_of_word"], out["lower_bound"], out["separable_bound"], out["trace"]
                phases = out["phases"]
            except AuctionStalled as e:  # a table still comes, from a method that always ends
                warnings.warn(f"reallocation (auction) fell back to greedy-cntk: {e}", RuntimeWarning, stacklevel=2)
                cell, fallback = greedy.cntk(sub_r, sub_c, seed), "greedy-cntk"
                # Each word's best row and best column, capacities ignored: valid, and
                # free of the auction that just stalled (the separable bound uses it).
                lb = float(sub_r.min(1).sum(dtype=np.float64) + sub_c.min(1).sum(dtype=np.float64))
        else:
            cell = (greedy.paper if method == "greedy-paper" else greedy.cntk)(sub_r, sub_c, seed)
            t_bound = time.perf_counter()
            lb = greedy.bound(sub_r, sub_c)
            seconds_bound = time.perf_counter() - t_bound
        if len(busy) < V:
            cell = _place_idle(cell, busy, V, R * C, prev)
    check_table(cell, R * C)
    cost = table_cost(Lr, Lc, cell)
    prev_cost = None if prev is None else table_cost(Lr, Lc, prev)
    if prev_cost is not None and prev_cost < cost:
        cell, cost, fallback = prev.copy(), prev_cost, "previous" if fallback is None else f"{fallback}+previous"
    if sep is not None:
        lb = max(lb, sep)  # separable prices are cell prices too: their bound is as valid
    if Lr.min(initial=0) >= 0 and Lc.min(initial=0) >= 0:
        lb = max(lb, 0.0)  # last safety net: no table costs less than 0
    lb = min(lb, cost)  # a bound above a feasible cost is rounding; clip it
    gap = (cost - lb) / abs(lb) if lb else (0.0 if cost == lb else float("inf"))
    converged = gap <= target_gap
    if not converged and method == "auction":
        warnings.warn(f"reallocation ({method}) stopped at a certified gap of {gap:.2e}, above the target "
                      f"{target_gap:.0e} (cost {cost:.6g}, lower bound {lb:.6g})", RuntimeWarning, stacklevel=2)
    moved = 0 if prev is None else int((cell != prev).sum())
    return ReallocResult(
        cell_of_word=cell,
        cost=cost,
        lower_bound=lb,
        gap=gap,
        previous_cost=prev_cost,
        moved=moved,
        seconds=time.perf_counter() - t0,
        method=method,
        separable_bound=sep,
        seconds_bound=seconds_bound,
        trace=trace,
        phases=phases,
        target_gap=target_gap,
        converged=converged,
        fallback=fallback,
    )


def _place_idle(cell_busy: np.ndarray, busy: np.ndarray, V: int, cells: int, prev: np.ndarray | None) -> np.ndarray:
    """The full table [V] from the busy words' cells: each idle word keeps its
    previous cell when no busy word took it (fewer moves), the rest fill the
    free cells in order."""
    out = np.empty(V, dtype=np.int64)
    out[busy] = cell_busy
    taken = np.zeros(cells, dtype=bool)
    taken[cell_busy] = True
    idle = np.setdiff1d(np.arange(V), busy, assume_unique=True)
    if prev is not None:
        stay = ~taken[prev[idle]]
        out[idle[stay]] = prev[idle[stay]]
        taken[prev[idle[stay]]] = True
        idle = idle[~stay]
    out[idle] = np.flatnonzero(~taken)[: len(idle)]
    return out


__all__ = ["METHODS", "ReallocResult", "reallocate", "table_cost"]
