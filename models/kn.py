"""Interpolated modified Kneser-Ney n-gram model (Chen and Goodman 1998), counted with numpy.

    kn = KneserNey.fit(corpus.train, len(corpus.vocab), order=5)
    logp = kn.logprobs(corpus.test)       # [len(test) - 1] natural-log p of test[1:]

It reads the same id streams and vocabulary as the neural models, so its
perplexities compare with theirs: every target of a stream but the first token
is scored, the first token is context only. One boundary token BOS = V stands
before the training stream and before every scored stream (KenLM's `<s>`); it is
never predicted.

For an n-gram `h w` at order n, with counts c (raw at the highest order N,
continuation counts N1+(. h w) below it, raw for n-grams that start at BOS, as
lmplz does):

    p_n(w | h) = (c(h w) - D_n(c(h w))) / c(h .) + gamma_n(h) * p_{n-1}(w | h')
    gamma_n(h) = (D_n1 N1(h .) + D_n2 N2(h .) + D_n3 N3+(h .)) / c(h .)
    p_0(w)     = 1 / V

with three discounts per order from the count-of-counts n1..n4 of that order's
counts. A context never seen at order n (c(h .) = 0) passes p_{n-1} through.
The distribution over the V words sums to 1 for every context.

Storage: a flattened trie. Order n keeps its distinct n-grams as sorted int64
keys `row(h) * (V + 1) + w`, row(h) being the context's index in order n-1's
sorted table; the packing fits int64 for any corpus (rows < tokens, V < 2^21).
Counting is np.unique over such keys, one order at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# lmplz's --discount_fallback values, used where the count-of-counts give no
# valid discounts (tiny corpora: some n_k = 0, or a D_k outside (0, k]).
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
# Peak bytes per training token per order: np.unique's key, sort order, inverse
# and first-index arrays (int64) plus the stored tables. Calibrated on PTB and a
# 20M-token stream (results/kn.md).
BYTES_PER_TOKEN_ORDER = 70


@dataclass
class _Order:
    keys: np.ndarray      # [G] int64, sorted: row of the (n-1)-gram prefix * (V+1) + last word
    suffix: np.ndarray    # [G] int64 row of the (n-1)-gram suffix in order n-1 (order 1: -1)
    count: np.ndarray     # [G] int64 counts this order uses (raw at the top, continuation below)
    numer: np.ndarray     # [G] float64 count - D(count)
    denom: np.ndarray     # [G_{n-1}] float64 c(h .) per context row (order 1: one empty context)
    gamma: np.ndarray     # [G_{n-1}] float64 backoff weight per context row (0 where denom = 0)
    discounts: tuple[float, float, float]
    fallback: bool        # discounts are FALLBACK_DISCOUNTS


def discounts(count: np.ndarray) -> tuple[tuple[float, float, float], bool]:
    """Chen and Goodman's D1, D2, D3+ from the count-of-counts n1..n4 of `count`."""
    n1, n2, n3, n4 = (int(np.count_nonzero(count == k)) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return FALLBACK_DISCOUNTS, True
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk <= k for k, dk in enumerate(d, start=1)):
        return FALLBACK_DISCOUNTS, True
    return d, False


def estimate_bytes(train_tokens: int, order: int) -> int:
    return BYTES_PER_TOKEN_ORDER * (train_tokens + 1) * order


def _lookup(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Row of each query key in sorted `keys`, -1 where absent. Negative queries stay absent."""
    idx = np.searchsorted(keys, query)
    idx = np.minimum(idx, len(keys) - 1)
    found = (query >= 0) & (keys[idx] == query) if len(keys) else np.zeros(len(query), bool)
    return np.where(found, idx, -1)


class KneserNey:
    def __init__(self, vocab_size: int, orders: list[_Order], order: int):
        self.vocab_size, self.orders, self.order = vocab_size, orders, order
        self.bos = vocab_size

    @property
    def n_ngrams(self) -> int:
        """Stored n-grams over all orders (its 'parameter' count), BOS unigram excluded."""
        return sum(len(o.keys) for o in self.orders) - 1

    @classmethod
    def fit(cls, train: np.ndarray, vocab_size: int, order: int = 5,
            memory_limit: int | None = None) -> KneserNey:
        """Count and discount `train` (ids in [0, vocab_size)). `memory_limit`
        (bytes): refuse before counting when the estimate exceeds it."""
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        if vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
        if len(train) == 0:
            raise ValueError("empty training stream: nothing to count")
        lo, hi = int(np.min(train)), int(np.max(train))
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"training ids span [{lo}, {hi}], outside the vocabulary [0, {vocab_size})")
        need = estimate_bytes(len(train), order)
        if memory_limit is not None and need > memory_limit:
            raise MemoryError(f"a {order}-gram count of {len(train):,} tokens needs about {need / 2**30:.1f} GiB "
                              f"in memory, more than the {memory_limit / 2**30:.1f} GiB available; "
                              "count in shards (sort each, merge the sorted runs on disk) instead")
        V1 = vocab_size + 1
        s = np.concatenate([[vocab_size], np.asarray(train, dtype=np.int64)])  # [M], BOS first
        keys, inv, raw = np.unique(s, return_inverse=True, return_counts=True)
        levels = [(keys, np.full(len(keys), -1, np.int64), raw)]
        start_rows = [int(inv[0])]  # the row of the n-gram that starts at BOS, per order
        rows = inv  # [M - n + 1] row of the n-gram starting at each position
        for n in range(2, order + 1):
            m = len(s) - n + 1
            if m <= 0:
                break  # stream shorter than the order: the model stops at the longest n-gram seen
            key = rows[:m] * V1 + s[n - 1:]
            keys, first, inv, raw = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
            levels.append((keys, rows[first + 1], raw))  # suffix of the n-gram at i = (n-1)-gram at i+1
            start_rows.append(int(inv[0]))
            rows = inv
        rows = key = inv = None  # free the per-position arrays before discounting
        top = len(levels)
        orders = []
        for n, (keys, suffix, raw) in enumerate(levels, start=1):
            if n == top:
                count = raw
            else:  # continuation count: distinct left extensions, from order n+1's suffixes
                count = np.bincount(levels[n][1], minlength=len(keys)).astype(np.int64)
                count[start_rows[n - 1]] = raw[start_rows[n - 1]]
            if n == 1:
                count = count.copy()
                count[_lookup(keys, np.array([vocab_size]))[0]] = 0  # BOS is never predicted
            orders.append(cls._discount(count, keys, suffix, n, V1, len(levels[n - 2][0]) if n > 1 else 1))
        return cls(vocab_size, orders, top)

    @staticmethod
    def _discount(count, keys, suffix, n, V1, n_contexts) -> _Order:
        (d1, d2, d3), fallback = discounts(count[count > 0])
        dc = np.select([count == 1, count == 2, count >= 3], [d1, d2, d3], 0.0)
        prefix = keys // V1 if n > 1 else np.zeros(len(keys), np.int64)
        denom = np.bincount(prefix, weights=count, minlength=n_contexts).astype(np.float64)
        mass = np.bincount(prefix, weights=dc, minlength=n_contexts)  # D1 N1 + D2 N2 + D3 N3+
        gamma = np.divide(mass, denom, out=np.zeros_like(mass), where=denom > 0)
        return _Order(keys, suffix, count, count - dc, denom, gamma, (d1, d2, d3), fallback)

    def _context_rows(self, s: np.ndarray) -> list[np.ndarray]:
        """rows[k][i] = row of the k-gram s[i:i+k] in order k (-1 absent), k = 1 .. order-1."""
        V1 = self.vocab_size + 1
        out = [None, _lookup(self.orders[0].keys, s)]
        for k in range(2, self.order):
            prev = out[-1][: len(s) - k + 1]
            q = np.where(prev >= 0, prev * V1 + s[k - 1:], -1)
            out.append(_lookup(self.orders[k - 1].keys, q))
        return out

    def _prob(self, ctx: list[np.ndarray | None], w: np.ndarray) -> np.ndarray:
        """p(w | context) for each query; ctx[k] = [Q] row of the length-k context (-1: none)."""
        V1, o1 = self.vocab_size + 1, self.orders[0]
        row = _lookup(o1.keys, w)
        p = np.where(row >= 0, o1.numer[row], 0.0) / o1.denom[0] + o1.gamma[0] / self.vocab_size
        for k in range(1, self.order):
            o, c = self.orders[k], ctx[k]
            live = c >= 0
            live[live] = o.denom[c[live]] > 0
            cl = c[live]
            g = _lookup(o.keys, cl * V1 + w[live])
            p[live] = np.where(g >= 0, o.numer[g], 0.0) / o.denom[cl] + o.gamma[cl] * p[live]
        return p

    def logprobs(self, ids: np.ndarray) -> np.ndarray:
        """Natural-log p(ids[t] | ids[:t]) for t = 1 .. len(ids)-1, context from BOS."""
        self._check_ids(ids)
        if len(ids) < 2:
            raise ValueError("stream needs at least two tokens to score one")
        s = np.concatenate([[self.bos], np.asarray(ids, dtype=np.int64)])
        rows = self._context_rows(s)
        j = np.arange(2, len(s))  # targets' positions in s
        ctx = [None]
        for k in range(1, self.order):
            start = j - k
            c = np.full(len(j), -1, np.int64)
            ok = start >= 0
            c[ok] = rows[k][start[ok]]
            ctx.append(c)
        return np.log(self._prob(ctx, s[2:]))

    def distribution(self, history: list[int], from_start: bool = True) -> np.ndarray:
        """[V] p(w | history) for every word; from_start puts BOS before the history."""
        self._check_ids(np.asarray(history, dtype=np.int64))
        s = np.asarray(([self.bos] if from_start else []) + list(history), dtype=np.int64)
        rows = self._context_rows(s) if len(s) else [None] + [np.empty(0, np.int64)] * self.order
        V = self.vocab_size
        ctx = [None] + [np.full(V, rows[k][len(s) - k] if len(s) >= k else -1, np.int64)
                        for k in range(1, self.order)]
        return self._prob(ctx, np.arange(V, dtype=np.int64))

    def _check_ids(self, ids: np.ndarray) -> None:
        if len(ids) and (int(np.min(ids)) < 0 or int(np.max(ids)) >= self.vocab_size):
            raise ValueError(f"ids outside the model's vocabulary [0, {self.vocab_size}): "
                             "the stream and the model come from different vocabularies")
