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


@njit(cache=True, nogil=True, fastmath=True)
def _scan_rows(lc, pi, words, rows):
    """Exact row scans of the pricing: for each pair p, min_j lc[words[p], j] +
    pi[rows[p], j] and its argmin j. lc [n, C], pi [R, C] float32 (finite);
    pairs [P]. Fused, so no [P, C] temporaries (the torch gather-add-min was
    most of a pricing). Returns (val [P] float64, col [P] int64)."""
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
    float32 -> cells [V] int64, row * C + column."""
    taken = np.zeros((rows.max() + 1, C), dtype=np.bool_)
    cell = np.empty(len(rows), dtype=np.int64)
    for w in order:
        r, best, j = rows[w], np.inf, -1
        for c in range(C):
            if not taken[r, c] and loss_col[w, c] < best:
                best, j = loss_col[w, c], c
        taken[r, j] = True
        cell[w] = r * C + j
    return cell


def scan_rows(lc, pi, words, rows):
    """_scan_rows over the pairs, split among threads."""
    parts = in_parallel(lambda lo, hi: _scan_rows(lc, pi, words[lo:hi], rows[lo:hi]), len(words))
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


def topk_smallest(loss: np.ndarray, shift: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest loss[w, :] + shift per word, ascending. [V, k] int64.
    _topk_smallest over the rows, split among threads."""
    shift = np.ascontiguousarray(shift, dtype=np.float32)
    return np.concatenate(in_parallel(lambda lo, hi: _topk_smallest(loss[lo:hi], shift, k), len(loss)))
