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

from ._rowops import scan_rows

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


# The soft-min's product in bfloat16 where the CPU has bf16 units: measured
# 100 against 24 GFLOPS for fp32 (one thread, [4096, 891] x [891, 891]), and it
# is most of a pricing. Every factor is a nonnegative exp rounded by at most
# 2^-9 relative, oneDNN accumulates in fp32 and rounds the sum once to bf16
# (2^-9 again), so a sum is at most ~0.6% low and 1e-2 T below the soft-min
# keeps the bound valid (fp32: 1e-3 T covers the rounding in exp and in the
# product, <= C * 6e-8).
_BF16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
MATMUL_DTYPE, MATMUL_SLACK = (torch.bfloat16, 1e-2) if _BF16 else (torch.float32, 1e-3)


def row_factors(pi_t: torch.Tensor, q_t: torch.Tensor, T: float) -> torch.Tensor:
    """exp(-(pi[i, j] - q[i]) / T), the rows' side of `row_bounds`. [R, C]."""
    return torch.exp(-(pi_t - q_t[:, None]) / T).to(MATMUL_DTYPE)


def row_bounds(lc: torch.Tensor, F: torch.Tensor, q_t: torch.Tensor, T: float) -> torch.Tensor:
    """Lower bounds on min_j lc[w, j] + pi[i, j] for every word and row, from
    the soft-min  -T log sum_j exp(-(lc[w, j] + pi[i, j]) / T)  <= the min,
    which is a matrix product of exponentials (BLAS, not a [n, R, C] scan)
    and at most T*log(C) below the min. Shifted by each word's and row's min
    so nothing overflows; a sum that underflows below 1e-30 (true sum < 1e-30
    too: flushed terms add < 1e-35) proves the min is >= shift + 69 T.
    lc [n, C] f32; F = row_factors(pi, q, T) [R, C]; q_t [R] f64. Returns [n, R] f64."""
    m = lc.min(1).values  # [n]
    # float32 is enough here: IEEE subtraction and division round to 2^-24
    # relative, so E is off by < 1e-5 relative (arguments that matter are < 70).
    E = torch.exp((m[:, None] - lc) / T).to(MATMUL_DTYPE)  # [n, C]
    S = (E @ F.T).double().clamp_min(1e-30)  # [n, R]
    return m.double()[:, None] + q_t[None, :] - T * torch.log(S) - MATMUL_SLACK * T


def price_cells(
    loss_row: np.ndarray,
    loss_col: np.ndarray,
    pi: np.ndarray,
    ub: np.ndarray,
    tol: np.ndarray | float = 0.0,
    tau: float = 1e-5,
    budget: float = float("inf"),
    chunk: int = 4096,
) -> dict:
    """Price every cell for every word. Returns `lb` [V] <= each word's true
    min over all R*C cells of cost + pi, and the (word, row) pairs scanned
    exactly: `pair_word`, `pair_cell` (that row's best cell), `pair_val`.

    Each row is first bounded by `row_bounds` with a temperature T ~ tau *
    ub[w] / log(C) (so the bound is within ~tau of the word's value); only
    rows whose bound is < ub - tol get the exact O(C) scan, at most `budget`
    pairs x C of them (the most promising first), so `lb` is always valid.
    pi: [R, C] float64 prices; ub [V]: each word's best value so far.
    """
    V, R = loss_row.shape
    C = loss_col.shape[1]
    pi_t = torch.from_numpy(pi)
    q_t = pi_t.min(1).values
    pi32 = np.ascontiguousarray(pi, dtype=np.float32)
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), (V,))
    # Temperatures on a power-of-two grid (one exp(-pi/T) table per level).
    level = np.floor(np.log2(np.maximum(tau * np.abs(ub) / np.log(max(C, 2)), 1e-12))).astype(np.int64)
    order = np.argsort(level, kind="stable")
    max_pairs = None if not np.isfinite(budget) else max(1, int(budget / C * chunk / V))
    lb = np.empty(V)
    pw, pc, pv = [], [], []
    starts = np.flatnonzero(np.r_[True, np.diff(level[order]) != 0, True])
    for lo, hi in zip(starts[:-1], starts[1:], strict=True):
        T = 2.0 ** level[order[lo]]
        F = row_factors(pi_t, q_t, T)
        for s in range(lo, hi, chunk):
            idx = order[s : min(s + chunk, hi)]
            lr, lc = torch.from_numpy(loss_row[idx]), torch.from_numpy(loss_col[idx])
            screen = lr.double() + row_bounds(lc, F, q_t, T)  # [n, R]
            margin = screen - torch.from_numpy(ub[idx] - tol[idx])[:, None]
            mask = margin < 0
            if max_pairs is not None and int(mask.sum()) > max_pairs:  # over budget: best first
                keep = torch.zeros(mask.numel(), dtype=torch.bool)
                keep[torch.topk(margin.flatten(), max_pairs, largest=False).indices] = True
                mask &= keep.view(mask.shape)
            wi, ri = mask.nonzero(as_tuple=True)
            val, col = scan_rows(lc.numpy(), pi32, wi.numpy(), ri.numpy())  # exact row scans
            ex = lr[wi, ri].double() + torch.from_numpy(val)
            col = torch.from_numpy(col)
            best = torch.full((len(idx),), float("inf"), dtype=torch.float64).scatter_reduce(0, wi, ex, "amin")
            rest = screen.masked_fill(mask, float("inf")).min(1).values
            lb[idx] = torch.minimum(best, rest).numpy()
            pw.append(idx[wi.numpy()])
            pc.append((ri * C + col).numpy())
            pv.append(ex.numpy())
    return {"lb": lb - FP32_MARGIN * np.abs(lb), "pair_word": np.concatenate(pw),
            "pair_cell": np.concatenate(pc), "pair_val": np.concatenate(pv)}


def cell_bound(lb_words: np.ndarray, pi: np.ndarray, n_cells: int) -> float:
    """LB(pi) from per-word minima (see module docstring)."""
    D = n_cells - len(lb_words)
    return float(lb_words.sum() + D * pi.min() - pi.sum())
