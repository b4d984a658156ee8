"""The synthetic corpus: determinism, ground-truth classes, and the oracle
perplexity checked against independent estimates."""

from __future__ import annotations

import numpy as np
import pytest

import datasets
from datasets.synthetic import DEFAULTS, generate_with_model, oracle_ppl

SMALL = dict(vocab_size=300, classes=12, train_tokens=60_000, valid_tokens=5_000, test_tokens=20_000)


@pytest.fixture(scope="module")
def small():
    return generate_with_model(**SMALL, seed=3)


def test_same_seed_same_bytes_other_seed_differs():
    a, b = datasets.load("synthetic", **SMALL, seed=7), datasets.load("synthetic", **SMALL, seed=7)
    c = datasets.load("synthetic", **SMALL, seed=8)
    for s in datasets.SPLITS:
        assert a.split(s).dtype == np.int32
        assert a.split(s).tobytes() == b.split(s).tobytes()
    assert a.vocab.words == b.vocab.words
    assert np.array_equal(a.word_class, b.word_class)
    assert a.info == b.info
    assert a.train.tobytes() != c.train.tobytes()


def test_default_sizes():
    corpus = datasets.load("synthetic")
    assert len(corpus.vocab) == DEFAULTS["vocab_size"]
    assert corpus.summary()["tokens"] == {s: DEFAULTS[f"{s}_tokens"] for s in datasets.SPLITS}
    assert 1 < corpus.info["oracle_ppl"] < len(corpus.vocab)


def test_vocabulary_sorted_by_training_frequency(small):
    corpus, _ = small
    counts = np.bincount(corpus.train, minlength=len(corpus.vocab))
    assert list(counts) == corpus.vocab.counts
    keys = [(-c, w) for c, w in zip(counts, corpus.vocab.words, strict=True)]
    assert keys == sorted(keys)


def test_word_class_is_the_ground_truth(small):
    """Class bigram frequencies of the training stream, read through
    corpus.word_class, recover the true transition matrix; a wrong or permuted
    word_class would not."""
    corpus, model = small
    K = model.trans.shape[0]
    assert np.bincount(corpus.word_class, minlength=K).tolist() == [SMALL["vocab_size"] // K] * K
    c = corpus.word_class[corpus.train]
    pair = np.zeros((K, K))
    np.add.at(pair, (c[:-1], c[1:]), 1)
    rows = pair.sum(1) > 2000  # rows seen often enough for a tight estimate
    assert rows.sum() >= K // 2
    emp = pair[rows] / pair[rows].sum(1, keepdims=True)
    assert np.abs(emp - model.trans[rows]).max() < 0.05


def test_oracle_is_the_exact_test_perplexity(small):
    corpus, model = small
    # Written out token by token, independently of the vectorised log_prob.
    nll = 0.0
    for a, b in zip(corpus.test[:-1].tolist(), corpus.test[1:].tolist(), strict=True):
        ca, cb = corpus.word_class[a], corpus.word_class[b]
        nll -= np.log(model.trans[ca, cb] * model.emit[b])
    assert corpus.info["oracle_ppl"] == pytest.approx(np.exp(nll / (len(corpus.test) - 1)), rel=1e-9)
    assert corpus.info["oracle_ppl_valid"] == pytest.approx(oracle_ppl(model, corpus.valid), rel=1e-12)


def test_oracle_matches_monte_carlo_entropy_rate(small):
    """Mean NLL over a long independent sample estimates the entropy rate; it
    must agree with the closed form (stationary distribution), and the exact
    test perplexity must agree with both within sampling error."""
    corpus, model = small
    sample = model.sample(1_000_000, np.random.default_rng(123))
    nll = -model.log_prob(sample)
    h_mc = nll.mean()
    h_exact = model.entropy_rate()
    # Tokens are correlated only through the class chain; 1M tokens put the
    # Monte Carlo standard error near 0.002 nats.
    assert h_mc == pytest.approx(h_exact, abs=0.01)
    # Test split: 20K tokens -> standard error about std/sqrt(n) ~= 0.01 nats.
    stderr = nll.std() / np.sqrt(len(corpus.test) - 1)
    assert abs(np.log(corpus.info["oracle_ppl"]) - h_mc) < 5 * stderr
    # The emission law as sampled matches the model's within each class.
    counts = np.bincount(sample, minlength=len(model.emit)).astype(float)
    class_total = np.bincount(model.word_class, counts)[model.word_class]
    assert np.abs(counts / class_total - model.emit).max() < 0.01


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="valid: .*vocab_size"):
        datasets.load("synthetic", vocab=10)
    with pytest.raises(ValueError, match="classes <= vocab_size"):
        datasets.load("synthetic", vocab_size=10, classes=20)
    with pytest.raises(ValueError, match="only 'synthetic'"):
        datasets.load("ptb", vocab_size=10)


def test_spelling_carries_the_class_in_its_suffix_and_nothing_in_its_stem():
    corpus = datasets.load("synthetic", vocab_size=600, classes=30, train_tokens=2000, valid_tokens=100,
                           test_tokens=100)
    words, cls = corpus.vocab.words, corpus.word_class
    assert len(set(words)) == 600
    by_suffix = {}
    for w, c in zip(words, cls.tolist(), strict=True):
        by_suffix.setdefault(w[-2:], set()).add(c)
    assert len(by_suffix) == 30 and all(len(c) == 1 for c in by_suffix.values())  # suffix -> class, one to one
    # Stems are drawn alike for every class: their first syllable's letter spreads the same way.
    first = np.array([ord(w[0]) for w in words])
    rates = [np.mean(first[cls == c] == ord("b")) for c in range(30)]
    assert max(rates) < 0.35  # 1/14 expected; no class owns a stem letter
    # The ids and the oracle are those of the unspelled model: spelling draws from its own stream.
    again = datasets.load("synthetic", vocab_size=600, classes=30, train_tokens=2000, valid_tokens=100,
                          test_tokens=100)
    assert again.vocab.words == words and np.array_equal(again.train, corpus.train)


def test_the_default_corpus_keeps_its_oracle_through_the_spelling():
    # 183.572: the oracle of every default-run record made before words were spelled
    # (results/records.jsonl): spelling renames words and draws nothing from the corpus's stream.
    assert datasets.load("synthetic").info["oracle_ppl"] == pytest.approx(183.5720002574046, rel=1e-12)
