"""Compiled (numba) loops of the transports' group-level auction (scalable.transport).

Words -> K groups holding `cap` each. Where the word auction has each word
bid alone, here an overfull group prices itself: it finds every member's
exit margin (best other group's loss + price, minus its own), sends off its
m = count - cap members of smallest margin to their best other groups at
once, and raises its price by the (m+1)-th smallest margin plus eps. The
members it keeps then stay within eps of their best group. Near-identical
words of one semantic group all want the same rows; bidding one at a time
they raised those rows' prices an eps at a time (a bound of -1.8e8 at
V = 200K, results/NOTES.md), while a group's eviction moves its price to
its competitors' in one step.

The D = K * cap - V spare places go to dummy words of zero loss, ids V..V+D-1:
every group ends full, so a group with spare places is one holding dummies,
and eps-slackness for those keeps its price within eps of the cheapest, which
the bound's D * min(price) term needs.

Shapes: loss [V, K] float32; price [K] float64; grp [V + D] int64 (groups of
the words, then of the dummies).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import _push, _sift_down
from ._rowops import min_sum


@njit(cache=True, nogil=True)
def _best_other(loss, price, w, skip):
    """(min over groups j != skip of loss[w, j] + price[j], that j); a dummy's
    loss is 0. The min is two branch-free reductions around `skip` and the
    argmin a second pass to the first equal value: ~4x faster than one loop
    with the skip test and the argmin inside (at K = 448)."""
    if w >= loss.shape[0]:
        best, arg = np.inf, -1
        for j in range(len(price)):
            if j != skip and price[j] < best:
                best, arg = price[j], j
        return best, arg
    row = loss[w]
    best = min_sum(row, price, skip + 1, len(price), min_sum(row, price, 0, max(skip, 0), np.inf))
    for j in range(len(price)):
        if j != skip and row[j] + price[j] == best:
            return best, j
    return best, -1


@njit(cache=True, nogil=True)
def _own(loss, w, g):
    return loss[w, g] if w < loss.shape[0] else 0.0


@njit(cache=True, nogil=True)
def _move(nxt, prv, head, cnt, grp, w, g):
    """Take w out of its group's doubly linked member list and put it at g's head."""
    o = grp[w]
    if prv[w] >= 0:
        nxt[prv[w]] = nxt[w]
    else:
        head[o] = nxt[w]
    if nxt[w] >= 0:
        prv[nxt[w]] = prv[w]
    cnt[o] -= 1
    nxt[w], prv[w] = head[g], -1
    if head[g] >= 0:
        prv[head[g]] = w
    head[g] = w
    cnt[g] += 1
    grp[w] = g


@njit(cache=True, nogil=True)
def _smallest_margins(loss, price, i, mem, lower, n, keep, exit_val, exit_arg, hv, hx):
    """The `keep` smallest exit margins of group i's n members mem [n], whose
    lower bounds are lower [n]: a member's cached exit (exit_val, exit_arg)
    only rises while it stays (prices only rise), so members are taken in
    order of their bound, and only those whose cached group got dearer are
    scanned again (O(K)); the rest are skipped once the bound passes the
    keep-th margin. Leaves the auction's min-heap (_kernels) of (-margin hv,
    index into mem hx): its root is the keep-th smallest margin."""
    own_price = price[i]
    h = 0
    for x in np.argsort(lower[:n]):
        if h == keep and lower[x] >= -hv[0]:
            break
        w = mem[x]
        a = exit_arg[w]
        if a >= 0 and _own(loss, w, a) + price[a] == exit_val[w]:
            margin = lower[x]
        else:
            exit_val[w], exit_arg[w] = _best_other(loss, price, w, i)
            margin = exit_val[w] - (_own(loss, w, i) + own_price)
        if h < keep:
            _push(hv, hx, 0, h, -margin, x)
            h += 1
        elif margin < -hv[0]:
            hv[0], hx[0] = -margin, x
            _sift_down(hv, hx, 0, h, 0)


@njit(cache=True, nogil=True)
def evict_phase(loss, cap, price, grp, eps, movers, exit_val, exit_arg):
    """One eps phase: each word in `movers` goes to its cached best other
    group, then overfull groups evict (FIFO) until none is left. Prices only
    rise. exit_val / exit_arg [V + D]: each word's best other group and its
    loss + price when last scanned (-1: never). Returns the number of evictions."""
    n_all, K = len(grp), len(price)
    nxt = np.full(n_all, -1, np.int64)
    prv = np.full(n_all, -1, np.int64)
    head = np.full(K, -1, np.int64)
    cnt = np.zeros(K, np.int64)
    for w in range(n_all):
        g = grp[w]
        nxt[w] = head[g]
        if head[g] >= 0:
            prv[head[g]] = w
        head[g] = w
        cnt[g] += 1
    for w in movers:
        _move(nxt, prv, head, cnt, grp, w, exit_arg[w])
        exit_arg[w] = -1  # its exits now exclude its new group instead
    queue = np.empty(K, np.int64)  # ring of overfull groups, each once
    queued = cnt > cap
    n_q = 0
    for g in range(K):
        if queued[g]:
            queue[n_q] = g
            n_q += 1
    q_head = 0
    evictions = 0
    mem = np.empty(n_all, np.int64)
    lower = np.empty(n_all)
    hv = np.empty(n_all)
    hx = np.empty(n_all, np.int64)
    while n_q > 0:
        i = queue[q_head]
        q_head = (q_head + 1) % K
        n_q -= 1
        queued[i] = False
        n, m = cnt[i], cnt[i] - cap
        evictions += 1
        w = head[i]
        for k in range(n):
            mem[k] = w
            lower[k] = exit_val[w] - (_own(loss, w, i) + price[i]) if exit_arg[w] >= 0 else -np.inf
            w = nxt[w]
        _smallest_margins(loss, price, i, mem, lower, n, m + 1, exit_val, exit_arg, hv, hx)
        price[i] -= hv[0] - eps  # up by the kept members' smallest margin (-hv[0]) plus eps
        for q in range(1, m + 1):  # the heap's root stays; the other m leave
            w = mem[hx[q]]
            j = exit_arg[w]
            _move(nxt, prv, head, cnt, grp, w, j)
            exit_arg[w] = -1
            if cnt[j] > cap and not queued[j]:
                queued[j] = True
                queue[(q_head + n_q) % K] = j
                n_q += 1
    return evictions


@njit(cache=True, nogil=True)
def eps_violators(loss, price, grp, eps, exit_val, exit_arg, lo, hi):
    """The words and dummies [lo, hi) more than eps above their best group.
    [n] ids. A cached exit (exit_arg >= 0) is a lower bound on the word's
    best other group now (prices only rise, and a move clears it): a word
    within eps of it is within eps of the truth, so only the rest are
    scanned afresh (a full scan was a third of a transport)."""
    bad = np.zeros(hi - lo, np.bool_)
    for w in range(lo, hi):
        g = grp[w]
        own = _own(loss, w, g) + price[g]
        if exit_arg[w] >= 0 and own <= exit_val[w] + eps:
            continue
        exit_val[w], exit_arg[w] = _best_other(loss, price, w, g)
        bad[w - lo] = own > exit_val[w] + eps
    return lo + np.flatnonzero(bad)
