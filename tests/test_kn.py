"""Interpolated modified Kneser-Ney: normalisation, a textbook reference
implementation (dicts of tuples), discounts, and bad input."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from models.kn import FALLBACK_DISCOUNTS, KneserNey, discounts


def _stream(n, V, seed=0, a=1.2):
    """Zipfian ids with some repeated phrases, so every order has counts of 1-4+."""
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(a, size=n) - 1) % V
    phrase = ids[:7].copy()
    for p in rng.integers(0, n - 7, size=n // 50):
        ids[p:p + 7] = phrase
    return ids.astype(np.int32)


class Reference:
    """Chen and Goodman's interpolated modified KN written from the formulas,
    with the same conventions (BOS before the stream; continuation counts below
    the top order, raw counts for n-grams starting at BOS; uniform at the bottom)."""

    def __init__(self, train, V, N):
        self.V, self.N, BOS = V, N, -1
        s = [BOS, *map(int, train)]
        raw = [Counter(tuple(s[i:i + n]) for i in range(len(s) - n + 1)) for n in range(N + 1)]
        self.c = [None]
        for n in range(1, N + 1):
            if n == N:
                c = Counter(raw[n])
            else:
                c = Counter(g[1:] for g in raw[n + 1])  # distinct left extensions
                c.update({g: k for g, k in raw[n].items() if g[0] == BOS})
            c.pop((BOS,), None)
            self.c.append(c)
        self.D = [None] + [discounts(np.array(list(c.values())))[0] for c in self.c[1:]]
        self.ctx = [None]
        for n in range(1, N + 1):
            tot, dm = defaultdict(float), defaultdict(float)
            d1, d2, d3 = self.D[n]
            for g, k in self.c[n].items():
                tot[g[:-1]] += k
                dm[g[:-1]] += d1 if k == 1 else d2 if k == 2 else d3
            self.ctx.append((tot, dm))

    def p(self, w, hist):
        hist = (-1, *hist)
        p = 1.0 / self.V
        for n in range(1, self.N + 1):
            if n - 1 > len(hist):
                break
            h = hist[len(hist) - (n - 1):] if n > 1 else ()
            tot, dm = self.ctx[n]
            if tot.get(h, 0) == 0:
                continue
            k = self.c[n].get((*h, w), 0)
            d1, d2, d3 = self.D[n]
            d = 0 if k == 0 else d1 if k == 1 else d2 if k == 2 else d3
            p = (k - d) / tot[h] + dm[h] / tot[h] * p
        return p


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_matches_textbook_reference(order):
    V = 60
    train, test = _stream(4000, V, 0), _stream(600, V, 1)
    kn = KneserNey.fit(train, V, order)
    ref = Reference(train, V, order)
    for n in range(1, kn.order + 1):
        assert kn.orders[n - 1].discounts == pytest.approx(ref.D[n], abs=0)
    want = [math.log(ref.p(int(test[t]), tuple(map(int, test[:t])))) for t in range(1, len(test))]
    np.testing.assert_allclose(kn.logprobs(test), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 4, 5])
def test_every_context_sums_to_one(order):
    V = 80
    train = _stream(3000, V, 2) % 70  # words 70..79 never occur in training
    kn = KneserNey.fit(train, V, order)
    rng = np.random.default_rng(3)
    contexts = [[], [75], [79, 78, 77, 76], list(train[100:104]), list(train[-4:]),
                *(list(rng.integers(0, V, size=rng.integers(1, 6))) for _ in range(20))]
    for h in contexts:
        for start in (True, False):
            d = kn.distribution(h, from_start=start)
            assert d.shape == (V,) and (d > 0).all()
            assert d.sum() == pytest.approx(1.0, abs=1e-12)


def test_logprobs_are_the_distributions_at_each_position():
    V = 50
    kn = KneserNey.fit(_stream(2000, V, 4), V, 4)
    test = _stream(200, V, 5)
    lp = kn.logprobs(test)
    assert lp.shape == (len(test) - 1,)
    for t in range(1, len(test)):
        assert lp[t - 1] == pytest.approx(math.log(kn.distribution(list(test[:t]))[test[t]]), abs=1e-12)


def test_discounts_from_count_of_counts():
    counts = np.array([1] * 40 + [2] * 15 + [3] * 8 + [4] * 5 + [9] * 3)
    y = 40 / (40 + 2 * 15)
    want = (1 - 2 * y * 15 / 40, 2 - 3 * y * 8 / 15, 3 - 4 * y * 5 / 8)
    d, fallback = discounts(counts)
    assert d == pytest.approx(want) and not fallback
    assert discounts(np.array([1, 1, 2, 2]))  == (FALLBACK_DISCOUNTS, True)  # no n3, n4


def test_stored_ngrams_counted():
    train = np.array([0, 1, 0, 1, 2], dtype=np.int32)
    kn = KneserNey.fit(train, 3, 2)
    # unigrams 0, 1, 2 (+ BOS, not counted); bigrams BOS0, 01, 10, 12
    assert kn.n_ngrams == 3 + 4


@pytest.mark.parametrize("order", [0, -1, 2.5, "5"])
def test_bad_order_refused(order):
    with pytest.raises(ValueError, match="order"):
        KneserNey.fit(np.array([0, 1, 2]), 3, order)


def test_empty_stream_and_vocabulary_mismatch_refused():
    with pytest.raises(ValueError, match="empty"):
        KneserNey.fit(np.array([], dtype=np.int32), 10, 3)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        KneserNey.fit(np.array([0, 5, 10]), 10, 3)
    kn = KneserNey.fit(np.array([0, 1, 2, 3]), 4, 2)
    with pytest.raises(ValueError, match="different vocabularies"):
        kn.logprobs(np.array([0, 4]))


def test_memory_refused_before_counting():
    with pytest.raises(MemoryError, match="shards"):
        KneserNey.fit(np.zeros(1000, dtype=np.int32), 10, 5, memory_limit=1000)
