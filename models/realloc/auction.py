"""Auction with epsilon scaling on a sparse candidate graph (min cost).

Words bid for objects: cells (capacity 1) in the joint problem, rows or
columns (capacity C or R) in the transportation problems that give the
separable prices. Each unassigned word finds its best and second-best
candidate under the current prices and raises the best one's price by the
difference plus eps; an object keeps its `cap` highest bidders and, once
full, is priced at the lowest bid it kept. At the end of a phase every word
is within eps of its best candidate (eps-complementary slackness); eps then
shrinks by `theta` and words that violate the tighter condition bid again.

The bidding itself runs compiled, one word at a time (Gauss-Seidel: each bid
sees the latest prices), in _kernels.py; this class holds the state and the
epsilon-scaling around it.
"""

from __future__ import annotations

import numpy as np

from ._kernels import DUMMY, capacity_phase, slack_violators, unit_phase


class AuctionStalled(RuntimeError):
    """The bidding passed its bid limit in a phase: the prices did not settle."""


class Auction:
    """State of an auction over candidates `cand` [V, K] (object ids) with costs
    `cost` [V, K] float64 (inf = unused slot). `cap` [O]: object capacities;
    the graph must admit an assignment (callers add a feasible edge per word)."""

    def __init__(self, cand: np.ndarray, cost: np.ndarray, cap: np.ndarray, price: np.ndarray):
        self.cand, self.cost, self.cap = cand, cost, cap
        self.price = price.astype(np.float64).copy()  # [O]
        self.slot = np.full(len(cand), -1, dtype=np.int64)  # [V] index into cand[w], -1 = free
        self.paid = np.zeros(len(cand))  # [V] bid each holder paid
        self.unit = bool((cap == 1).all())
        self.owner = np.full(len(cap), -1, dtype=np.int64)  # [O] holder when unit capacity
        # Unit capacity: the D = O - V spare cells go to D identical dummy
        # words of zero cost everywhere; they hold the cheapest cells, which
        # keeps every empty cell at the minimum price (the bound needs it).
        self.dummies_free = len(cap) - len(cand) if self.unit else 0
        self.bids = 0  # made, all phases

    def reset(self) -> None:
        """Back to zero prices and no assignment (keeping the candidates)."""
        self.price[:] = 0.0
        self.slot[:], self.owner[:] = -1, -1
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

    def gap_quantile(self, q: float = 0.5) -> float:
        """The q-quantile (default the median) of the words' best-vs-second-best
        gaps: the starting eps (the mean is dominated by frequent words and
        starts the joint auction far too high)."""
        v = np.partition(self.values(), 1, axis=1)
        d = v[:, 1] - v[:, 0]
        d = d[np.isfinite(d)]
        return float(np.quantile(d, q)) if len(d) else 0.0

    def release_violators(self, eps: float) -> None:
        """Free every word (and dummy) more than eps above its best candidate."""
        if self.unit:
            dummy = self.owner == DUMMY
            bad = dummy & (self.price > self.price[~dummy].min(initial=np.inf) + eps)
            self.owner[bad] = -1
            self.dummies_free += int(bad.sum())
        self._free(slack_violators(self.cand, self.cost, self.price, self.slot, eps))

    def _free(self, words: np.ndarray) -> None:
        obj = self.cand[words, self.slot[words]]
        if self.unit:
            self.owner[obj] = -1
        self.slot[words] = -1

    def run(self, eps: float, eps_min: float, theta: float = 4.0, max_bids: int = 2_000_000_000) -> None:
        """Phases eps, eps/theta, ... down to eps_min; each ends when all are assigned."""
        eps_min = max(eps_min, 1e-9)  # > 0, or ties would be bid up forever
        eps = max(eps, eps_min)
        lowered = 0
        while True:
            self.release_violators(eps)
            self._phase(eps, max_bids)
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

    def _phase(self, eps: float, max_bids: int) -> None:
        free = np.flatnonzero(self.slot < 0)
        if self.unit:
            bids = unit_phase(self.cand, self.cost, self.price, self.owner, self.slot, self.paid, free,
                              self.dummies_free, eps, max_bids)
            self.dummies_free = 0
            # Dummies are interchangeable, so their cells must share one price
            # (or the bound loses the spread): raise all to the highest; that
            # only makes other cells' rivals dearer.
            dummy = self.owner == DUMMY
            if dummy.any():
                self.price[dummy] = self.price[dummy].max()
        else:
            bids = capacity_phase(self.cand, self.cost, self.price, self.slot, self.paid, self.cap, free,
                                  eps, max_bids)
        if bids < 0:
            raise AuctionStalled(f"auction did not converge in {max_bids} bids at eps={eps:g}")
        self.bids += bids
