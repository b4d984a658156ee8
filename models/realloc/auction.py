"""Auction with epsilon scaling on a sparse candidate graph (min cost):
words bid for cells, one word a cell (the joint problem; the transports'
capacitated groups have their own group-level auction in _evict.py).

Each unassigned word finds its best and second-best candidate under the
current prices and raises the best one's price by the difference plus eps;
the word it outbids bids again. At the end of a phase every word is within
eps of its best candidate (eps-complementary slackness); eps then shrinks by
`theta` and words that violate the tighter condition bid again.

The bidding itself runs compiled, one word at a time (Gauss-Seidel: each bid
sees the latest prices), in _kernels.py; this class holds the state and the
epsilon-scaling around it.
"""

from __future__ import annotations

import numpy as np

from ._kernels import DUMMY, best_values, slack_violators, unit_phase


class AuctionStalled(RuntimeError):
    """The bidding passed its bid limit in a phase: the prices did not settle."""


class Auction:
    """State of an auction over candidates `cand` [V, K] (cell ids) with costs
    `cost` [V, K] float64 (inf = unused slot) and starting prices `price` [O]
    of the O >= V cells; the graph must admit an assignment (callers add a
    feasible edge per word)."""

    def __init__(self, cand: np.ndarray, cost: np.ndarray, price: np.ndarray):
        self.cand, self.cost = cand, cost
        self.price = price.astype(np.float64).copy()  # [O]
        self.slot = np.full(len(cand), -1, dtype=np.int64)  # [V] index into cand[w], -1 = free
        self.owner = np.full(len(price), -1, dtype=np.int64)  # [O] holder of each cell
        # The D = O - V spare cells go to D identical dummy words of zero
        # cost everywhere; they hold the cheapest cells, which keeps every
        # empty cell at the minimum price (the bound needs it).
        self.dummies_free = len(price) - len(cand)
        self.bids = 0  # made, all phases

    def reset(self) -> None:
        """Back to zero prices and no assignment (keeping the candidates)."""
        self.price[:] = 0.0
        self.slot[:], self.owner[:] = -1, -1
        self.dummies_free = len(self.price) - len(self.cand)

    def add_column(self, obj: np.ndarray, cost: np.ndarray) -> None:
        """Append one candidate slot per word (obj < 0: none)."""
        self.cand = np.column_stack([self.cand, np.maximum(obj, 0)])
        self.cost = np.column_stack([self.cost, np.where(obj >= 0, cost, np.inf)])

    def best_values(self, price: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(best [V], second [V]): each word's two smallest cost + price, at
        the auction's prices or at `price` [O]."""
        return best_values(self.cand, self.cost, self.price if price is None else price)

    def assignment(self) -> np.ndarray:
        return self.cand[np.arange(len(self.cand)), self.slot]

    def gap_quantile(self, q: float = 0.5) -> float:
        """The q-quantile (default the median) of the words' best-vs-second-best
        gaps: the starting eps (the mean is dominated by frequent words and
        starts the joint auction far too high)."""
        best, second = self.best_values()
        d = second - best
        d = d[np.isfinite(d)]
        return float(np.quantile(d, q)) if len(d) else 0.0

    def release_violators(self, eps: float) -> None:
        """Free every word (and dummy) more than eps above its best candidate."""
        dummy = self.owner == DUMMY
        bad = dummy & (self.price > self.price[~dummy].min(initial=np.inf) + eps)
        self.owner[bad] = -1
        self.dummies_free += int(bad.sum())
        words = slack_violators(self.cand, self.cost, self.price, self.slot, eps)
        self.owner[self.cand[words, self.slot[words]]] = -1
        self.slot[words] = -1

    def run(self, eps: float, eps_min: float, theta: float = 4.0, max_bids: int = 2_000_000_000) -> None:
        """Phases eps, eps/theta, ... down to eps_min; each ends when all are assigned."""
        eps_min = max(eps_min, 1e-9)  # > 0, or ties would be bid up forever
        eps = max(eps, eps_min)
        while True:
            self.release_violators(eps)
            self._phase(eps, max_bids)
            if eps <= eps_min:
                return
            eps = max(eps / theta, eps_min)

    def _phase(self, eps: float, max_bids: int) -> None:
        free = np.flatnonzero(self.slot < 0)
        bids = unit_phase(self.cand, self.cost, self.price, self.owner, self.slot, free, self.dummies_free, eps, max_bids)
        self.dummies_free = 0
        # Dummies are interchangeable, so their cells must share one price
        # (or the bound loses the spread): raise all to the highest; that
        # only makes other cells' rivals dearer.
        dummy = self.owner == DUMMY
        if dummy.any():
            self.price[dummy] = self.price[dummy].max()
        if bids < 0:
            raise AuctionStalled(f"auction did not converge in {max_bids} bids at eps={eps:g}")
        self.bids += bids
