"""Jacobi auction with epsilon scaling on a sparse candidate graph (min cost).

Words bid for objects: cells (capacity 1) in the joint problem, rows or
columns (capacity C or R) in the transportation problems that give the
separable prices. Each unassigned word finds its best and second-best
candidate under the current prices and raises the best one's price by the
difference plus eps; an object keeps its `cap` highest bidders and, once
full, is priced at the lowest bid it kept. At the end of a phase every word
is within eps of its best candidate (eps-complementary slackness); eps then
shrinks by `theta` and words that violate the tighter condition bid again.

Vectorised over all bidders of a round (numpy), so each round costs
O(bidders * K) plus a sort over the cells touched. Phases end in long chains
of single outbids; those run one bid at a time in plain Python (~5 us a bid
against ~35 us for a numpy round). Groups with capacity keep a min-heap of
their holders' bids, so a bid costs O(log cap), not a scan of all words.
"""

from __future__ import annotations

import heapq

import numpy as np

DUMMY = -2  # owner id of a cell held by a dummy word


class Auction:
    """State of an auction over candidates `cand` [V, K] (object ids) with costs
    `cost` [V, K] float64 (inf = unused slot). `cap` [O]: object capacities;
    the graph must admit an assignment (callers add a feasible edge per word)."""

    def __init__(self, cand: np.ndarray, cost: np.ndarray, cap: np.ndarray, price: np.ndarray):
        self.cand, self.cost, self.cap = cand, cost, cap
        self.price = price.astype(np.float64).copy()  # [O]
        self.slot = np.full(len(cand), -1, dtype=np.int64)  # [V] index into cand[w], -1 = free
        self.paid = np.zeros(len(cand))  # [V] bid each holder paid
        self.count = np.zeros(len(cap), dtype=np.int64)  # [O] holders
        self.unit = bool((cap == 1).all())
        self.owner = np.full(len(cap), -1, dtype=np.int64)  # [O] holder when unit capacity
        # Unit capacity: the D = O - V spare cells go to D identical dummy
        # words of zero cost everywhere; they hold the cheapest cells, which
        # keeps every empty cell at the minimum price (the bound needs it).
        self.dummies_free = len(cap) - len(cand) if self.unit else 0
        self.rounds = 0

    def reset(self) -> None:
        """Back to zero prices and no assignment (keeping the candidates)."""
        self.price[:] = 0.0
        self.slot[:], self.owner[:], self.count[:] = -1, -1, 0
        self.dummies_free = len(self.cap) - len(self.cand) if self.unit else 0

    def add_column(self, obj: np.ndarray, cost: np.ndarray) -> None:
        """Append one candidate slot per word (obj < 0: none)."""
        self.cand = np.column_stack([self.cand, np.maximum(obj, 0)])
        self.cost = np.column_stack([self.cost, np.where(obj >= 0, cost, np.inf)])

    def replace_candidates(self, cand: np.ndarray, cost: np.ndarray) -> None:
        """New candidate lists; each word keeps what it holds (appended last
        unless already among them: a duplicate would make best == second
        and its owner bid only eps at a time)."""
        w = np.arange(len(cand))
        held = self.slot >= 0
        last_obj = np.where(held, self.cand[w, np.maximum(self.slot, 0)], 0)
        last_cost = np.where(held, self.cost[w, np.maximum(self.slot, 0)], np.inf)
        there = (cand == last_obj[:, None]) & held[:, None]  # [V, K]
        inside = there.any(1)
        self.cand = np.column_stack([cand, last_obj])
        self.cost = np.column_stack([cost, np.where(inside, np.inf, last_cost)])
        self.slot = np.where(held, np.where(inside, there.argmax(1), cand.shape[1]), -1)

    def values(self, words=None) -> np.ndarray:
        """[n, K] cost + price of each candidate."""
        w = slice(None) if words is None else words
        return self.cost[w] + self.price[self.cand[w]]

    def assignment(self) -> np.ndarray:
        return self.cand[np.arange(len(self.cand)), self.slot]

    def gap_median(self) -> float:
        """Median best-vs-second-best gap: the starting eps (the mean is
        dominated by frequent words and starts far too high)."""
        v = np.partition(self.values(), 1, axis=1)
        d = v[:, 1] - v[:, 0]
        d = d[np.isfinite(d)]
        return float(np.median(d)) if len(d) else 0.0

    def release_violators(self, eps: float) -> None:
        """Free every word (and dummy) more than eps above its best candidate."""
        if self.unit:
            dummy = self.owner == DUMMY
            bad = dummy & (self.price > self.price[~dummy].min(initial=np.inf) + eps)
            self.owner[bad] = -1
            self.count[bad] = 0
            self.dummies_free += int(bad.sum())
        held = np.flatnonzero(self.slot >= 0)
        v = self.values(held)
        bad = held[v[np.arange(len(held)), self.slot[held]] > v.min(1) + eps]
        self._free(bad)

    def _free(self, words: np.ndarray) -> None:
        obj = self.cand[words, self.slot[words]]
        np.subtract.at(self.count, obj, 1)
        if self.unit:
            self.owner[obj] = -1
        self.slot[words] = -1

    def _dummy_bids(self, eps: float) -> tuple[np.ndarray, np.ndarray]:
        """The m free dummies bid for the m cheapest cells not held by a dummy,
        each at the (m+1)-th cheapest price + eps (their best alternative)."""
        m = self.dummies_free
        p = np.where(self.owner == DUMMY, np.inf, self.price)
        part = np.argpartition(p, m)[: m + 1] if m < len(p) else np.argsort(p)
        part = part[np.argsort(p[part])]
        nxt = p[part[m]] if m < len(part) else p[part[-1]]
        return part[:m], np.full(m, nxt + eps)

    def run(self, eps: float, eps_min: float, theta: float = 4.0, max_rounds: int = 1_000_000) -> None:
        """Phases eps, eps/theta, ... down to eps_min; each ends when all are assigned."""
        eps_min = max(eps_min, 1e-9)  # > 0, or ties would be bid up forever
        eps = max(eps, eps_min)
        lowered = 0
        while True:
            self.release_violators(eps)
            self._phase(eps, max_rounds)
            if eps <= eps_min:
                if self.unit or lowered >= self.MAX_LOWER or not self._lower_slack(eps):
                    return
                lowered += 1
                continue
            eps = max(eps / theta, eps_min)

    MAX_LOWER = 5  # capacitated only: the transportation prices need not be exact

    def _lower_slack(self, eps: float) -> bool:
        """Groups with room left must be the cheapest, or the bound's
        D * min(price) - cap * sum(price) term loses their excess. Forward
        bidding only raises prices, so lower them to the cheapest full
        group's price; words may then move (and bid)."""
        held = np.flatnonzero(self.slot >= 0)
        count = np.bincount(self.cand[held, self.slot[held]], minlength=len(self.cap))
        slack = count < self.cap
        if not slack.any() or slack.all():
            return False
        floor = self.price[~slack].min()
        high = slack & (self.price > floor + eps)
        self.price[high] = floor
        return bool(high.any())

    def _phase(self, eps: float, max_rounds: int) -> None:
        bidders = np.flatnonzero(self.slot < 0)  # then carried: losers + outbid holders
        if not self.unit:
            self._build_heaps()
        for _ in range(max_rounds):
            if len(bidders) == 0 and self.dummies_free == 0:
                # Dummies are interchangeable, so their cells must share one
                # price (or the bound loses the spread): raise all to the
                # highest; that only makes other cells' rivals dearer.
                dummy = self.owner == DUMMY
                if dummy.any():
                    self.price[dummy] = self.price[dummy].max()
                return
            self.rounds += 1
            v = self.values(bidders)
            ar = np.arange(len(bidders))
            k1 = v.argmin(1)
            best = v[ar, k1]
            v[ar, k1] = np.inf
            second = v.min(1)
            second = np.where(np.isfinite(second), second, best + eps)
            obj = self.cand[bidders, k1]
            bid = self.price[obj] + (second - best) + eps
            if not self.unit:
                bidders = self._resolve_capacity(bidders, k1, obj, bid)
                continue
            if len(bidders) <= self.SEQUENTIAL and not self.dummies_free:
                bidders = self._sequential(bidders.tolist(), eps)
                continue
            if self.dummies_free:
                d_obj, d_bid = self._dummy_bids(eps)
                bidders, k1 = np.r_[bidders, np.full(len(d_obj), DUMMY)], np.r_[k1, d_obj * 0]
                obj, bid = np.r_[obj, d_obj], np.r_[bid, d_bid]
            bidders = self._resolve_unit(bidders, k1, obj, bid)
        raise RuntimeError(f"auction did not converge in {max_rounds} rounds at eps={eps:g}")

    SEQUENTIAL = 16  # fewer bidders than this: one at a time, without numpy's per-call overhead

    def _sequential(self, queue: list[int], eps: float) -> np.ndarray:
        """Gauss-Seidel bidding (each bid sees the latest prices) until no word
        is free or a dummy is; the long single-bidder chains at the end of
        a phase cost ~5x less this way than as vectorised rounds."""
        cost, cand, price, owner, slot, paid = self.cost, self.cand, self.price, self.owner, self.slot, self.paid
        while queue and not self.dummies_free:
            w = queue.pop()
            v = cost[w] + price[cand[w]]
            k = int(v.argmin())
            best = v[k]
            v[k] = np.inf
            second = v.min()
            o = int(cand[w, k])
            bid = price[o] + ((second - best) if second < np.inf else 0.0) + eps
            prev = int(owner[o])
            if prev >= 0:
                slot[prev] = -1
                queue.append(prev)
            elif prev == DUMMY:
                self.dummies_free += 1
            owner[o], slot[w], paid[w], price[o] = w, k, bid, bid
            self.count[o] = 1
            self.rounds += 1
        return np.array(queue, dtype=np.int64)

    def _resolve_unit(self, words, k1, obj, bid) -> np.ndarray:
        """Highest bid wins each cell. Returns the words that bid next round."""
        order = np.lexsort((-bid, obj))  # highest bid first within each cell
        first = np.r_[True, obj[order][1:] != obj[order][:-1]]
        win, lose = order[first], order[~first]
        o, ww = obj[win], words[win]
        prev = self.owner[o]
        out = prev[prev >= 0]
        self.slot[out] = -1  # outbid owners bid again next round
        self.dummies_free += int((prev == DUMMY).sum()) - int((ww == DUMMY).sum())
        self.owner[o] = ww
        self.count[o] = 1
        real = ww >= 0
        self.slot[ww[real]] = k1[win][real]
        self.paid[ww[real]] = bid[win][real]
        self.price[o] = bid[win]
        lost = words[lose]
        return np.r_[out, lost[lost >= 0]]

    def _resolve_capacity(self, words, k1, obj, bid) -> np.ndarray:
        """Bids in turn against each group's min-heap of (paid, word): a bid
        above the lowest paid replaces it. Returns the words that bid next."""
        heaps, cap, slot, paid, price = self.heaps, self.cap, self.slot, self.paid, self.price
        out = []
        for w, k, o, b in zip(words.tolist(), k1.tolist(), obj.tolist(), bid.tolist(), strict=True):
            h = heaps[o]
            if len(h) < cap[o]:
                heapq.heappush(h, (b, w))
            elif b > h[0][0]:
                out.append(heapq.heapreplace(h, (b, w))[1])
                slot[out[-1]] = -1
            else:
                out.append(w)
                continue
            slot[w], paid[w] = k, b
            if len(h) == cap[o]:
                price[o] = h[0][0]
        return np.array(out, dtype=np.int64)

    def _build_heaps(self) -> None:
        held = np.flatnonzero(self.slot >= 0)
        self.heaps = [[] for _ in range(len(self.cap))]
        for w, o, b in zip(held.tolist(), self.cand[held, self.slot[held]].tolist(), self.paid[held].tolist(), strict=True):
            self.heaps[o].append((b, w))
        for h in self.heaps:
            heapq.heapify(h)
