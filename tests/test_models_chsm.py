"""The character-aware models (C-HSM and CharCNN): spelling, truncation
reported, bad input refused, and training through the shared trainer.
Normalisation, forward == gathered log_prob and carried state are checked
with every model in tests/test_models.py."""

from __future__ import annotations

import warnings

import pytest
import torch

import models
from bench.train.config import TrainConfig
from bench.train.trainer import train
from models.chars import BOW, EOW, PAD, SPECIALS, char_vocab, spell
from tests.test_bench import tiny_corpus
from tests.test_models import CHAR_SMALL, words

CHAR = ["chsm", "charcnn"]

def test_words_are_spelled_with_markers_and_padding():
    sp, cut = spell(["ab", "c", "abcd"], 5)
    a, b, c, d = (SPECIALS + k for k in range(4))  # sorted characters: a b c d
    assert sp.tolist() == [[BOW, a, b, EOW, PAD], [BOW, c, EOW, PAD, PAD], [BOW, a, b, c, EOW]]
    assert cut == 1
    assert char_vocab(["ba", "ab"]) == ["a", "b"]


def test_words_sharing_spelling_share_inputs():
    """Same characters, same input vector: the input is a function of the spelling."""
    ws = ["cat", "cats", "dog", "cat"[::-1]]
    m = models.build("charcnn", 4, **CHAR_SMALL, words=ws).eval()
    emb = m.embed(torch.tensor([[0, 1, 2, 3, 0]]))  # [1, 5, F]
    assert torch.equal(emb[0, 0], emb[0, 4]) and not torch.equal(emb[0, 0], emb[0, 3])


def test_truncation_is_reported_not_silent():
    ws = ["short", "muchlongerword", "x"]
    with pytest.warns(UserWarning, match="1 of 3 words .* truncated"):
        m = models.build("chsm", 3, **CHAR_SMALL, words=ws, max_word_len=7)
    assert m.truncated_words == 1 and m.embed.spelled.shape == (3, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no truncation, no warning
        assert models.build("chsm", 3, **CHAR_SMALL, words=ws).truncated_words == 0


def test_bad_input_refused():
    with pytest.raises(ValueError, match="empty character vocabulary"):
        models.build("chsm", 2, **CHAR_SMALL, words=["", ""])
    with pytest.raises(ValueError, match="3 words given for a vocabulary of 4"):
        models.build("charcnn", 4, **CHAR_SMALL, words=["a", "b", "c"])
    with pytest.raises(ValueError, match="widest kernel"):
        models.build("chsm", 2, **CHAR_SMALL, words=["a", "b"], max_word_len=2)
    with pytest.raises(ValueError, match="one feature-map count per kernel"):
        models.build("chsm", 2, **{**CHAR_SMALL, "feature_maps": (3,)}, words=["a", "b"])


def test_highway_gates_start_closed_and_padding_is_zero():
    m = models.build("chsm", 10, **CHAR_SMALL, words=words(10))  # init_range 0.05
    assert torch.all((m.embed.highways[0].gate.bias + 2.0).abs() <= 0.05)
    assert torch.all(m.embed.embed.weight[PAD] == 0)


@pytest.mark.parametrize("name", CHAR)
def test_trains_through_the_shared_trainer(name):
    corpus = tiny_corpus()
    torch.manual_seed(0)
    m = models.build(name, len(corpus.vocab), **CHAR_SMALL, words=corpus.vocab.words)
    res = train(m, corpus, TrainConfig(epochs=2, batch_size=8, bptt=10), torch.device("cpu"), progress=False)
    assert res.status == "ok"
    first, last = res.curve[0][2], res.curve[-1][2]
    assert last < first < 60 * 1.5  # learns from about uniform over 60 words
