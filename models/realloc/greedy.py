"""The two published heuristics, for comparison (neither is certified).

- `paper`: the paper's 1/2-approximation: candidate edges (each word's k best
  rows x k best columns) in increasing cost, an edge taken when both its word
  and its cell are free; words left without a cell repeat this over the
  free cells.
- `cntk`: the CNTK release's regret-ordered greedy: words in decreasing
  regret (second-best minus best row loss) each take their best row with
  room; then, row by row, words in decreasing column regret take their best
  free column.
"""

from __future__ import annotations

import numpy as np
import torch

from ._rowops import topk_smallest
from .scalable import transport


def _first_index(keys: np.ndarray, n: int) -> np.ndarray:
    """Smallest position of each key in `keys` (len(keys) where absent). [n]."""
    first = np.full(n, len(keys))
    # Fancy assignment writes in order, so writing reversed leaves the smallest.
    first[keys[::-1]] = np.arange(len(keys))[::-1]
    return first


def greedy_match(words, cells, cost, word_free, cell_free, rng) -> None:
    """Sequential greedy over edges in increasing cost (ties broken by rng),
    computed as rounds of locally dominant edges (each the cheapest left for
    its word and its cell), which picks the same edges. Writes matches into
    word_free (-1 = free, else cell) and marks cell_free."""
    order = np.lexsort((rng.random(len(cost)), cost))
    w, c = words[order], cells[order]
    while len(w):
        alive = (word_free[w] < 0) & cell_free[c]
        w, c = w[alive], c[alive]
        if not len(w):
            return
        pos = np.arange(len(w))
        take = (_first_index(w, len(word_free))[w] == pos) & (_first_index(c, len(cell_free))[c] == pos)
        word_free[w[take]] = c[take]
        cell_free[c[take]] = False


def paper(Lr: np.ndarray, Lc: np.ndarray, seed: int = 0, k: int = 8, k_fill: int = 32) -> np.ndarray:
    V, R = Lr.shape
    C = Lc.shape[1]
    rng = np.random.default_rng(seed)
    tr, tc = topk_smallest(Lr, np.zeros(R), min(k, R)), topk_smallest(Lc, np.zeros(C), min(k, C))
    cells = (tr[:, :, None] * C + tc[:, None, :]).reshape(V, -1)
    cost = (np.take_along_axis(Lr, tr, 1)[:, :, None] + np.take_along_axis(Lc, tc, 1)[:, None, :]).reshape(V, -1)
    cell_of = np.full(V, -1, dtype=np.int64)
    free = np.ones(R * C, dtype=bool)
    greedy_match(np.repeat(np.arange(V), cells.shape[1]), cells.ravel(), cost.ravel(), cell_of, free, rng)
    while (cell_of < 0).any():  # leftovers: their k_fill best FREE cells, greedily
        left, fc = np.flatnonzero(cell_of < 0), np.flatnonzero(free)
        k2 = min(k_fill, len(fc))
        fr_t, fcol_t = torch.from_numpy(fc // C), torch.from_numpy(fc % C)
        ws, cs, vs = [], [], []
        for s in range(0, len(left), 1024):
            ww = torch.from_numpy(left[s : s + 1024])
            full = torch.from_numpy(Lr)[ww][:, fr_t] + torch.from_numpy(Lc)[ww][:, fcol_t]  # [n, |F|]
            top = torch.topk(full, k2, dim=1, largest=False)
            ws.append(ww.repeat_interleave(k2).numpy())
            cs.append(fc[top.indices.numpy()].ravel())
            vs.append(top.values.numpy().ravel())
        greedy_match(np.concatenate(ws), np.concatenate(cs), np.concatenate(vs), cell_of, free, rng)
    return cell_of


def _regret_fill(loss: np.ndarray, cap: np.ndarray, rng, k: int = 16) -> np.ndarray:
    """Words in decreasing regret each take their best group with room left.
    loss [n, K]; cap [K] (modified). Returns group per word [n]."""
    n, K = loss.shape
    part = np.partition(loss, 1, axis=1) if K > 1 else np.concatenate([loss, loss], 1)
    regret = part[:, 1] - part[:, 0]
    order = np.lexsort((rng.random(n), -regret))
    prefs = np.argsort(loss, axis=1)[:, :k] if K <= 64 else topk_smallest(loss, np.zeros(K), min(k, K))
    out = np.empty(n, dtype=np.int64)
    cap_l, prefs_l = cap.tolist(), prefs.tolist()
    for w in order.tolist():
        for g in prefs_l[w]:
            if cap_l[g] > 0:
                break
        else:  # all k favourites full: scan every group with room
            g = int(np.argmin(np.where(np.asarray(cap_l) > 0, loss[w], np.inf)))
        cap_l[g] -= 1
        out[w] = g
    return out


def cntk(Lr: np.ndarray, Lc: np.ndarray, seed: int = 0) -> np.ndarray:
    V, R = Lr.shape
    C = Lc.shape[1]
    rng = np.random.default_rng(seed)
    rows = _regret_fill(Lr, np.full(R, C), rng)
    cell_of = np.empty(V, dtype=np.int64)
    by_row = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[by_row], np.arange(R + 1))
    for i in range(R):
        words = by_row[bounds[i] : bounds[i + 1]]
        if len(words):
            cell_of[words] = i * C + _regret_fill(Lc[words], np.ones(C, dtype=np.int64), rng)
    return cell_of


def bound(Lr: np.ndarray, Lc: np.ndarray) -> float:
    """The separable (row-only + column-only) bound: valid, ~3% loose."""
    R, C = Lr.shape[1], Lc.shape[1]
    return transport(Lr, C)[2] + transport(Lc, R)[2]
