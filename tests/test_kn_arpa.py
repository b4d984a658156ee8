"""The KN model written as ARPA and read back by an outside implementation:
KenLM's query module (the `kenlm` extra; skipped, saying why, without it)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.arpa import arpa_words, full_probs, write_arpa
from models.kn import KneserNey
from tests.test_kn import _stream

try:
    import kenlm
except ImportError as e:  # the sdist builds a C++ extension: needs a compiler
    kenlm = None
    WHY = f"kenlm is not installed ({e}); `pip install -e .[kenlm]` builds it (needs g++); see .nox/shared/kenlm-build.log"


def _kenlm_logprobs(model, words, ids) -> np.ndarray:
    """Natural-log p of ids[1:], state from <s>, as KenLM scores them."""
    a, b = kenlm.State(), kenlm.State()
    model.BeginSentenceWrite(a)
    out = []
    for k, i in enumerate(ids):
        lp = model.BaseScore(a, words[i], b)
        a, b = b, a
        if k:
            out.append(lp * math.log(10))
    return np.array(out)


def _arpa_counts(path):
    counts, seen = {}, {}
    order = 0
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("ngram "):
            n, c = line[6:].split("=")
            counts[int(n)] = int(c)
        elif line.endswith("-grams:"):
            order = int(line[1])
            seen[order] = 0
        elif line and order and not line.startswith("\\"):
            seen[order] += 1
    return counts, seen


def test_arpa_header_matches_its_sections(tmp_path):
    V = 40
    words = [f"w{i}" for i in range(V - 1)] + ["<unk>"]
    kn = KneserNey.fit(_stream(3000, V, 0), V, 4)
    counts, seen = _arpa_counts(write_arpa(kn, tmp_path / "m.arpa", words, "<unk>"))
    assert counts == seen
    assert counts[1] == V + 2  # every word, <s>, </s>
    assert [counts[n] for n in range(2, 5)] == [len(o.keys) for o in kn.orders[1:]]


def test_stored_probabilities_are_the_models():
    V = 30
    kn = KneserNey.fit(_stream(2000, V, 1), V, 3)
    probs = full_probs(kn)
    o3 = kn.orders[2]
    V1 = V + 1
    for g in range(0, len(o3.keys), 97):  # spot-check trigrams against distribution()
        ctx_row, w = o3.keys[g] // V1, o3.keys[g] % V1
        a, b = kn.orders[1].keys[ctx_row] // V1, kn.orders[1].keys[ctx_row] % V1
        hist = [int(kn.orders[0].keys[a]), int(b)]
        if hist[0] == V:  # a context that starts at BOS
            assert probs[2][g] == pytest.approx(kn.distribution(hist[1:])[w], rel=1e-12)
        else:
            assert probs[2][g] == pytest.approx(kn.distribution(hist, from_start=False)[w], rel=1e-12)


def test_reserved_tokens_refused():
    with pytest.raises(ValueError, match="reserved"):
        arpa_words(["a", "<s>", "b"], None)
    with pytest.raises(ValueError, match="whitespace"):
        arpa_words(["a b", "c"], None)


@pytest.mark.skipif(kenlm is None, reason=WHY if kenlm is None else "")
@pytest.mark.parametrize("order", [2, 3, 5])  # KenLM loads bigram models and up
def test_kenlm_scores_the_same_tokens(tmp_path, order):
    V = 200
    words = [f"w{i}" for i in range(V - 1)] + ["UNK"]
    train, test = _stream(20_000, V, 2), _stream(3000, V, 3)
    test[::37] = V - 1  # unknown tokens in the scored stream
    kn = KneserNey.fit(train, V, order)
    model = kenlm.Model(str(write_arpa(kn, tmp_path / "m.arpa", words, "UNK")))
    got = _kenlm_logprobs(model, arpa_words(words, "UNK"), test)
    np.testing.assert_allclose(got, kn.logprobs(test), rtol=0, atol=1e-4)


@pytest.mark.realdata
@pytest.mark.skipif(kenlm is None, reason=WHY if kenlm is None else "")
def test_kenlm_on_ptb(tmp_path, data_dir):
    import datasets

    c = datasets.load("ptb", data_dir=data_dir)
    kn = KneserNey.fit(c.train, len(c.vocab), 5)
    model = kenlm.Model(str(write_arpa(kn, tmp_path / "ptb.arpa", c.vocab.words, c.vocab.unk)))
    ids = c.test[:20_000]
    got = _kenlm_logprobs(model, arpa_words(c.vocab.words, c.vocab.unk), ids)
    np.testing.assert_allclose(got, kn.logprobs(ids), rtol=0, atol=1e-4)


@pytest.mark.realdata
@pytest.mark.parametrize("order, published", [(3, 148.3), (5, 141.2)])
def test_ptb_kn_against_the_published_figures(data_dir, order, published):
    """Mikolov's thesis (Statistical Language Models Based on Neural Networks,
    2012, Table 4.1; also Mikolov et al. 2011, "Empirical evaluation and
    combination of advanced language modeling techniques"): Kneser-Ney KN3
    148.3 and KN5 141.2, PTB test perplexity, no count cutoffs."""
    import datasets

    c = datasets.load("ptb", data_dir=data_dir)
    kn = KneserNey.fit(c.train, len(c.vocab), order)
    ppl = math.exp(-kn.logprobs(c.test).mean())
    assert abs(ppl - published) / published < 0.01, ppl
