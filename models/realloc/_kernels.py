"""Compiled (numba) bidding loops of the auction in auction.py.

Gauss-Seidel bidding: one free word at a time bids against the latest
prices. A bid costs O(K) for K candidates: measured ~0.9 us compiled at V = 793K (random reads of the price
array) against ~20 us as a Python loop, and an auction there makes ~22M bids.

Shapes: cand / cost [V, K] (cell ids; float64 costs, inf = unused slot);
price [O] float64; slot [V] (index into cand[w], -1 = free).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._rowops import in_parallel

DUMMY = -2  # owner id of a cell held by a dummy word (unit capacity)
INF = np.inf


@njit(cache=True, nogil=True)
def _best_two(cand, cost, price, w):
    """(slot of the best candidate, its value, the second-best value)."""
    best, second, k1 = INF, INF, -1
    for k in range(cand.shape[1]):
        v = cost[w, k] + price[cand[w, k]]
        if v < best:
            second, best, k1 = best, v, k
        elif v < second:
            second = v
    return k1, best, second


@njit(cache=True, nogil=True)
def _best_values(cand, cost, price, best, second):
    """best / second [n]: each word's two smallest cost + price over its
    candidates (second is inf for a word with one finite candidate)."""
    for w in range(cand.shape[0]):
        _, best[w], second[w] = _best_two(cand, cost, price, w)


def best_values(cand, cost, price):
    """(best [V], second [V]) of cost + price over each word's candidates, split
    among threads: the numpy form ([V, K] gather, sum, partition) took 2 s a
    call at V = 793K, a tenth of the auction."""
    best, second = np.empty(len(cand)), np.empty(len(cand))
    in_parallel(lambda lo, hi: _best_values(cand[lo:hi], cost[lo:hi], price, best[lo:hi], second[lo:hi]), len(cand))
    return best, second


@njit(cache=True, nogil=True)
def _open_cells(price, owner):
    """Min-heap (keys hb, cells hw) of the cells no dummy holds, room for
    all. A sorted array is a valid heap."""
    cells = np.flatnonzero(owner != DUMMY)
    order = cells[np.argsort(price[cells])]
    hb, hw = np.empty(len(price)), np.empty(len(price), dtype=np.int64)
    hb[: len(order)], hw[: len(order)] = price[order], order
    return hb, hw, len(order)


@njit(cache=True, nogil=True)
def _fix_top(hb, hw, m, price):
    """Bring the heap's top up to date: prices only rise, so a key is at most
    its cell's price; raise a stale top key and sift it down until the top's
    key is its price, i.e. the top is the cheapest cell in the heap."""
    while m > 0 and hb[0] != price[hw[0]]:
        hb[0] = price[hw[0]]
        _sift_down(hb, hw, 0, m, 0)


@njit(cache=True, nogil=True)
def unit_phase(cand, cost, price, owner, slot, free_words, dummies_free, eps, max_bids):
    """Bid until every word and every dummy holds a cell (unit capacity).
    owner [O]: holder of each cell (-1 none, DUMMY). The D = O - V spare cells
    go to dummies of zero cost everywhere: a free dummy takes the cheapest
    cell not held by a dummy at the second-cheapest price + eps. Those come
    from a heap of the cells no dummy holds, one entry each, keyed lazily
    (a word's bid leaves its cell's key low; `_fix_top` raises keys only at
    the top), so a dummy bid costs O(log O) however many dummies there are:
    a scan over the cheapest D cells made a phase O(D^2), hours for 5K words
    in BillionW's 793K cells. Returns the bids, or -1 past max_bids."""
    stack = np.empty(len(slot) + 1, dtype=np.int64)  # free words; outbid ones are pushed back
    n = len(free_words)
    stack[:n] = free_words
    hb, hw, m = _open_cells(price, owner)
    bids = 0
    while n > 0 or dummies_free > 0:
        bids += 1
        if bids > max_bids:
            return -1
        if dummies_free > 0:
            _fix_top(hb, hw, m, price)
            o, b1 = hw[0], hb[0]
            m -= 1  # o leaves the heap: a dummy will hold it
            hb[0], hw[0] = hb[m], hw[m]
            _sift_down(hb, hw, 0, m, 0)
            _fix_top(hb, hw, m, price)
            bid = (hb[0] if m > 0 else b1) + eps
            who, k = DUMMY, -1
            dummies_free -= 1
        else:
            n -= 1
            who = stack[n]
            k, best, second = _best_two(cand, cost, price, who)
            o = cand[who, k]
            bid = price[o] + ((second - best) if second < INF else 0.0) + eps
        prev = owner[o]
        if prev >= 0:  # the outbid word bids again
            slot[prev] = -1
            stack[n] = prev
            n += 1
        elif prev == DUMMY:  # o comes back into the heap
            dummies_free += 1
            _push(hb, hw, 0, m, bid, o)
            m += 1
        owner[o], price[o] = who, bid
        if who >= 0:
            slot[who] = k
    return bids


@njit(cache=True, nogil=True)
def _swap(hb, hw, a, b):
    hb[a], hb[b] = hb[b], hb[a]
    hw[a], hw[b] = hw[b], hw[a]


@njit(cache=True, nogil=True)
def _sift_down(hb, hw, s, m, i):
    """Restore the min-heap hb[s:s+m] (bids) / hw (words) below position i."""
    while 2 * i + 1 < m:
        c = 2 * i + 1
        if c + 1 < m and hb[s + c + 1] < hb[s + c]:
            c += 1
        if hb[s + i] <= hb[s + c]:
            return
        _swap(hb, hw, s + i, s + c)
        i = c


@njit(cache=True, nogil=True)
def _push(hb, hw, s, m, b, w):
    """Add (b, w) to the heap hb[s:s+m]; the caller counts it (m + 1)."""
    i = m
    hb[s + i], hw[s + i] = b, w
    while i > 0 and hb[s + (i - 1) // 2] > hb[s + i]:
        _swap(hb, hw, s + i, s + (i - 1) // 2)
        i = (i - 1) // 2


@njit(cache=True, nogil=True)
def _slack_violators(cand, cost, price, slot, eps):
    """Held words more than eps above their best candidate. [n] word ids."""
    bad = np.zeros(len(slot), dtype=np.bool_)
    for w in range(len(slot)):
        if slot[w] >= 0:
            best = _best_two(cand, cost, price, w)[1]
            bad[w] = cost[w, slot[w]] + price[cand[w, slot[w]]] > best + eps
    return np.flatnonzero(bad)


def slack_violators(cand, cost, price, slot, eps):
    """_slack_violators over the words, split among threads."""
    return np.concatenate(in_parallel(
        lambda lo, hi: lo + _slack_violators(cand[lo:hi], cost[lo:hi], price, slot[lo:hi], eps), len(slot)))
