"""Compiled (numba) row operations of the pricing and the candidate lists,
split among threads: the kernels release the GIL (nogil), so plain threads
run them side by side without numba's own threading layer (which could clash
with torch's OpenMP runtime).

Shapes: loss [n, K] float32 per word; pairs (words [P], rows [P]).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from numba import njit


def in_parallel(fn, n: int, min_rows: int = 2048) -> list:
    """[fn(lo, hi) for the slices of range(n)], one slice per thread (torch's
    intra-op count, i.e. OMP_NUM_THREADS): the kernels and scipy's LSA
    release the GIL, so threads run them side by side."""
    k = max(1, min(torch.get_num_threads(), n // min_rows))
    if k == 1:
        return [fn(0, n)]
    edges = np.linspace(0, n, k + 1).astype(np.int64)
    with ThreadPoolExecutor(k) as ex:
        return list(ex.map(fn, edges[:-1], edges[1:]))


# Reassociation lets a min reduction vectorise (min is exact, so the order
# cannot change the value); no nnan/ninf flags, as values may be inf.
_REDUCE = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(cache=True, nogil=True, fastmath=_REDUCE)
def min_sum(row, add, lo, hi, best):
    """min(best, min over j in [lo, hi) of row[j] + add[j])."""
    for j in range(lo, hi):
        best = min(best, row[j] + add[j])
    return best


@njit(cache=True, nogil=True, fastmath=_REDUCE)
def _min_of(row, lo, hi, best):
    for j in range(lo, hi):
        best = min(best, row[j])
    return best


@njit(cache=True, nogil=True)
def _two_smallest(loss):
    """Each row's smallest value, its first index and its second smallest (the
    smallest at any other index): three vectorised passes, where np.partition
    copied the table and sorted within it. loss [n, K] float32, K >= 2 ->
    (best [n] float32, arg [n] int64, second [n] float32)."""
    n, K = loss.shape
    best, second = np.empty(n, np.float32), np.empty(n, np.float32)
    arg = np.empty(n, np.int64)
    for w in range(n):
        row = loss[w]
        b = _min_of(row, 0, K, np.float32(np.inf))
        j = 0
        while row[j] != b:
            j += 1
        best[w], arg[w], second[w] = b, j, _min_of(row, j + 1, K, _min_of(row, 0, j, np.float32(np.inf)))
    return best, arg, second


def two_smallest(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_two_smallest over the rows, split among threads."""
    parts = in_parallel(lambda lo, hi: _two_smallest(loss[lo:hi]), len(loss))
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


@njit(cache=True, nogil=True, fastmath=True)
def scan_rows(lc, pi, words, rows):
    """Exact row scans: for each pair p, min_j lc[words[p], j] + pi[rows[p], j]
    and its argmin j (the best cells of the pricing's violating rows; one
    thread). lc [n, C], pi [R, C] float32 (finite); pairs [P]. Returns
    (val [P] float64, col [P] int64)."""
    val = np.empty(len(words))
    col = np.empty(len(words), dtype=np.int64)
    for p in range(len(words)):
        a, b = lc[words[p]], pi[rows[p]]
        best = np.float32(np.inf)
        for j in range(len(a)):  # a plain min reduction vectorises
            best = min(best, a[j] + b[j])
        for j in range(len(a)):
            if a[j] + b[j] == best:
                col[p] = j
                break
        val[p] = best
    return val, col


def minima_prices(pi: np.ndarray) -> np.ndarray:
    """pi [R, C] -> [C2, R8] float32, row_minima's layout: a column's prices
    contiguous over rows; C2 = C rounded up to even (an odd C repeats its
    last column), R8 = R rounded up to a multiple of 8 (the last row
    repeated). Padding by repetition leaves every minimum unchanged. Built
    once per pricing: it is the same for every chunk of words."""
    R, C = pi.shape
    C2, R8 = C + C % 2, -(-R // 8) * 8
    piT = np.empty((C2, R8), np.float32)
    piT[:C, :R] = pi.T
    piT[:C, R:] = pi[-1][:, None]
    piT[C:] = piT[C - 1]
    return piT


def row_minima(lc: np.ndarray, piT: np.ndarray, lr: np.ndarray, out: np.ndarray) -> None:
    """out[w, r] = lr[w, r] + min_c lc[w, c] + pi[r, c]: the (min, +)
    product, each row's best cell for each word, plus the word's row loss.
    lc [n, C], lr [n, R] float32, all finite; piT = minima_prices(pi) for
    pi [R, C]; out [n, R] float64 (the padded rows are not written)."""
    n, C = lc.shape
    lcT = np.empty((piT.shape[0], n), np.float32)  # [C2, n]: a column's losses contiguous over words
    lcT[:C] = lc.T
    lcT[C:] = lc[:, -1]  # an odd C repeats its last column, as minima_prices does
    _row_minima(lcT, piT, lr, out)


@njit(cache=True, nogil=True, fastmath=True)  # all finite: no-NaN min is 2.3x faster
def _row_minima(lcT, piT, lr, out):
    """row_minima's kernel. lcT [C2, n], piT [C2, R8] float32 (C2 even, R8 a
    multiple of 8); lr [n, R], out [n, R]. Accumulators start at float32's
    max, not inf (all finite).
    Outer-product order, register-blocked: for a tile of 128 words and 8
    rows, a step takes two columns; each of their 16 prices is a scalar and
    each word's two losses are loaded once for all 8 rows, so the inner
    loop over words vectorises (16 lanes) with 8 accumulator rows in L1 and
    no per-row loop overhead. 30-46G (word, row, column) triples a second
    on one thread here at R = C = 891, 2-2.5x the one-row-a-step loop and
    ~10x the dot-product order of scan_rows."""
    C2, n = lcT.shape
    R8 = piT.shape[1]
    R = lr.shape[1]
    acc = np.empty((8, 128), np.float32)
    big = np.float32(3.4028235e38)
    for w0 in range(0, n, 128):
        nw = min(128, n - w0)
        for r0 in range(0, R8, 8):
            acc[:] = big
            a0, a1, a2, a3, a4, a5, a6, a7 = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]
            for c in range(0, C2, 2):
                x, y = lcT[c, w0 : w0 + nw], lcT[c + 1, w0 : w0 + nw]
                p, q = piT[c, r0 : r0 + 8], piT[c + 1, r0 : r0 + 8]
                p0, p1, p2, p3, p4, p5, p6, p7 = p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
                q0, q1, q2, q3, q4, q5, q6, q7 = q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]
                for j in range(nw):
                    xj, yj = x[j], y[j]
                    a0[j] = min(a0[j], min(xj + p0, yj + q0))
                    a1[j] = min(a1[j], min(xj + p1, yj + q1))
                    a2[j] = min(a2[j], min(xj + p2, yj + q2))
                    a3[j] = min(a3[j], min(xj + p3, yj + q3))
                    a4[j] = min(a4[j], min(xj + p4, yj + q4))
                    a5[j] = min(a5[j], min(xj + p5, yj + q5))
                    a6[j] = min(a6[j], min(xj + p6, yj + q6))
                    a7[j] = min(a7[j], min(xj + p7, yj + q7))
            for j in range(nw):
                for k in range(min(8, R - r0)):
                    out[w0 + j, r0 + k] = np.float64(lr[w0 + j, r0 + k]) + acc[k, j]


@njit(cache=True, nogil=True)
def _topk_smallest(loss, shift, k):
    """Indices of the k smallest loss[w, :] + shift per row, ascending. loss
    [n, K] float32, shift [K] float32 -> [n, k] int64. An insertion into a
    sorted k-list, almost always rejected by one compare: ~8x faster than
    torch.topk here (k = 8 of 891)."""
    n, K = loss.shape
    out = np.empty((n, k), dtype=np.int64)
    val = np.empty(k, dtype=np.float32)
    for w in range(n):
        m = 0
        for j in range(K):
            v = loss[w, j] + shift[j]
            if m < k or v < val[m - 1]:
                i = m if m < k else k - 1
                while i > 0 and val[i - 1] > v:
                    val[i], out[w, i] = val[i - 1], out[w, i - 1]
                    i -= 1
                val[i], out[w, i] = v, j
                m = min(m + 1, k)
    return out


@njit(cache=True, nogil=True)
def fill_columns(loss_col, rows, order, C):
    """Each word in `order` takes the cheapest column still free in its row
    (rows [V] hold <= C words each, so one always is). loss_col [V, C]
    float32 -> cells [V] int64, row * C + column. A taken column costs inf
    more, so the search is a vectorised min and a pass to its first index."""
    taken = np.zeros((rows.max() + 1, C), dtype=np.float32)  # 0 free, inf taken
    cell = np.empty(len(rows), dtype=np.int64)
    for w in order:
        r, row = rows[w], loss_col[w]
        best = min_sum(row, taken[r], 0, C, np.float32(np.inf))
        j = 0
        while row[j] + taken[r, j] != best:
            j += 1
        taken[r, j] = np.inf
        cell[w] = r * C + j
    return cell


@njit(cache=True, nogil=True)
def _grid(lr, lc, tr, tc, C, cand, cost):
    """Each word's candidate cells: its rows tr [n, kr] x its columns tc
    [n, kc], row-major into cand / cost [n, >= kr * kc] (int64 cell ids,
    float64 lr + lc), in one pass without [n, kr, kc] temporaries; the
    columns after them get -1 / inf."""
    kr, kc = tr.shape[1], tc.shape[1]
    for w in range(len(tr)):
        cand[w, kr * kc :], cost[w, kr * kc :] = -1, np.inf
        for a in range(kr):
            r = tr[w, a]
            base = np.float64(lr[w, r])
            for b in range(kc):
                c = tc[w, b]
                cand[w, a * kc + b] = r * C + c
                cost[w, a * kc + b] = base + lc[w, c]


def grid(lr: np.ndarray, lc: np.ndarray, tr: np.ndarray, tc: np.ndarray, spare: int) -> tuple[np.ndarray, np.ndarray]:
    """_grid over the words, split among threads, with `spare` columns left
    for the feasible tables' edges (cand -1, cost inf until set)."""
    V, k = len(tr), tr.shape[1] * tc.shape[1]
    cand, cost = np.empty((V, k + spare), np.int64), np.empty((V, k + spare))  # np.full: 5x the kernel's time
    in_parallel(lambda lo, hi: _grid(lr[lo:hi], lc[lo:hi], tr[lo:hi], tc[lo:hi], lc.shape[1], cand[lo:hi], cost[lo:hi]), V)
    return cand, cost


def topk_smallest(loss: np.ndarray, shift: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest loss[w, :] + shift per word, ascending. [V, k] int64.
    _topk_smallest over the rows, split among threads."""
    shift = np.ascontiguousarray(shift, dtype=np.float32)
    return np.concatenate(in_parallel(lambda lo, hi: _topk_smallest(loss[lo:hi], shift, k), len(loss)))
