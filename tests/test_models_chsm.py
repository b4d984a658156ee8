"""The character-aware models (C-HSM and CharCNN): exact normalisation,
forward == gathered log_prob, carried state, spelling, truncation reported,
bad input refused, and training through the shared trainer."""

from __future__ import annotations

import warnings

import pytest
import torch

import models
from bench.trainer import TrainConfig, train
from models.chars import BOW, EOW, PAD, SPECIALS, char_vocab, spell
from tests.test_bench import tiny_corpus
from tests.test_models import stream

CHAR = ["chsm", "charcnn"]
SMALL = dict(char_dim=6, kernels=(1, 2, 3), feature_maps=(4, 5, 6), highway=1, hidden_dim=16, layers=2,
             dropout=0.0)


def words(V: int) -> list[str]:
    base = ["the", "a", "cat", "sat", "on", "mat", "<unk>", "<eos>", "dog", "ran"]
    return [base[i % len(base)] + str(i // len(base)) for i in range(V)]


def small(name: str, V: int, **kw):
    torch.manual_seed(0)
    return models.build(name, V, **{**SMALL, "init_range": 0.3, "words": words(V), **kw}).eval()


@pytest.mark.parametrize("V", [7, 37, 64])
@pytest.mark.parametrize("name", CHAR)
def test_exact_normalisation_and_forward_matches_log_prob(name, V):
    m = small(name, V)
    x, y = stream(V, 6, 3)
    with torch.no_grad():
        _, state = m(*stream(V, 4, 3, seed=1), m.init_state(3))
        lp, _ = m.log_prob(x, state)
        nll, _ = m(x, y, state)
        tok, _ = m.token_nll(x, y, state)
    assert lp.shape == (6, 3, V)
    assert torch.allclose(lp.logsumexp(-1), torch.zeros(6, 3), atol=1e-5)
    assert torch.allclose(nll, -lp.gather(2, y.unsqueeze(2)).sum(), rtol=1e-5)
    assert torch.allclose(tok.sum(), nll, rtol=1e-5)
    assert lp.exp().std() > 1e-3


@pytest.mark.parametrize("name", CHAR)
def test_state_carried_across_calls_equals_one_long_call(name):
    m = small(name, 37)
    x, y = stream(37, 9, 2)
    with torch.no_grad():
        whole, _ = m(x, y, m.init_state(2))
        a, s = m(x[:4], y[:4], m.init_state(2))
        b, _ = m(x[4:], y[4:], models.detach_state(s))
    assert torch.allclose(a + b, whole, rtol=1e-5)


def test_words_are_spelled_with_markers_and_padding():
    sp, cut = spell(["ab", "c", "abcd"], 5)
    a, b, c, d = (SPECIALS + k for k in range(4))  # sorted characters: a b c d
    assert sp.tolist() == [[BOW, a, b, EOW, PAD], [BOW, c, EOW, PAD, PAD], [BOW, a, b, c, EOW]]
    assert cut == 1
    assert char_vocab(["ba", "ab"]) == ["a", "b"]


def test_words_sharing_spelling_share_inputs():
    """Same characters, same input vector: the input is a function of the spelling."""
    ws = ["cat", "cats", "dog", "cat"[::-1]]
    m = models.build("charcnn", 4, **SMALL, words=ws).eval()
    emb = m.embed(torch.tensor([[0, 1, 2, 3, 0]]))  # [1, 5, F]
    assert torch.equal(emb[0, 0], emb[0, 4]) and not torch.equal(emb[0, 0], emb[0, 3])


def test_truncation_is_reported_not_silent():
    ws = ["short", "muchlongerword", "x"]
    with pytest.warns(UserWarning, match="1 of 3 words .* truncated"):
        m = models.build("chsm", 3, **SMALL, words=ws, max_word_len=7)
    assert m.truncated_words == 1 and m.embed.spelled.shape == (3, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no truncation, no warning
        assert models.build("chsm", 3, **SMALL, words=ws).truncated_words == 0


def test_bad_input_refused():
    with pytest.raises(ValueError, match="empty character vocabulary"):
        models.build("chsm", 2, **SMALL, words=["", ""])
    with pytest.raises(ValueError, match="3 words given for a vocabulary of 4"):
        models.build("charcnn", 4, **SMALL, words=["a", "b", "c"])
    with pytest.raises(ValueError, match="widest kernel"):
        models.build("chsm", 2, **SMALL, words=["a", "b"], max_word_len=2)
    with pytest.raises(ValueError, match="one feature-map count per kernel"):
        models.build("chsm", 2, **{**SMALL, "feature_maps": (3,)}, words=["a", "b"])


def test_highway_gates_start_closed_and_padding_is_zero():
    m = models.build("chsm", 10, **SMALL, words=words(10))  # init_range 0.05
    assert torch.all((m.embed.highways[0].gate.bias + 2.0).abs() <= 0.05)
    assert torch.all(m.embed.embed.weight[PAD] == 0)


@pytest.mark.parametrize("name", CHAR)
def test_trains_through_the_shared_trainer(name):
    corpus = tiny_corpus()
    torch.manual_seed(0)
    m = models.build(name, len(corpus.vocab), **SMALL, words=corpus.vocab.words)
    res = train(m, corpus, TrainConfig(epochs=2, batch_size=8, bptt=10), torch.device("cpu"), progress=False)
    assert res.status == "ok"
    first, last = res.curve[0][2], res.curve[-1][2]
    assert last < first < 60 * 1.5  # learns from about uniform over 60 words
