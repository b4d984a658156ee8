"""Character-aware LSTMs (Kim et al. 2016): the word input computed from its
characters (models/chars.py) feeds the shared LSTMBody.

- `chsm`: with the project's two-level hierarchical softmax (models/hsm.py),
  the paper's C-HSM baseline (its Tables 3 and 5, previous state of the art on ACLW);
- `charcnn`: with a full softmax, Kim et al.'s own PTB model (LSTM-CharCNN).

`words` (the vocabulary's strings, id order) is filled by the harness from
the corpus; without it the vocabulary is spelled synthetically over
chars.DEFAULT_CHARS characters (parameter counts, the scaling study).
Defaults are Kim et al.'s LSTM-CharCNN-Small (paper's Table 2; their
scripts: -char_vec_size 15 -rnn_size 300 -highway_layers 1
-kernels {1,2,3,4,5,6} -feature_maps {25,50,75,100,125,150}; main.lua's
max_word_l 65: longer words are truncated, and the count reported).
"""

from __future__ import annotations

from torch import nn

from .base import LSTMBody
from .chars import CharEncoder, synthetic_words
from .hsm import HSMLM
from .lstm import LSTMLM

KERNELS = (1, 2, 3, 4, 5, 6)
FEATURE_MAPS = (25, 50, 75, 100, 125, 150)  # 25 x width


def _encoder(vocab_size, words, char_dim, kernels, feature_maps, highway, max_word_len) -> CharEncoder:
    if words is None:
        words = synthetic_words(vocab_size)
    if len(words) != vocab_size:
        raise ValueError(f"{len(words)} words given for a vocabulary of {vocab_size}")
    return CharEncoder(list(words), char_dim, tuple(kernels), tuple(feature_maps), highway, max_word_len)


class CharHSM(HSMLM):
    def __init__(self, vocab_size: int, char_dim=15, kernels=KERNELS, feature_maps=FEATURE_MAPS, highway=1,
                 hidden_dim=300, layers=2, dropout=0.5, init_range=0.05, class_seed=0, class_mode="random",
                 max_word_len=65, words=None):
        nn.Module.__init__(self)  # HSMLM's own __init__ would build a word embedding table
        self.vocab_size = vocab_size
        self.embed = _encoder(vocab_size, words, char_dim, kernels, feature_maps, highway, max_word_len)
        self.body = LSTMBody(self.embed.out_dim, hidden_dim, layers, dropout)
        self._build_output(vocab_size, hidden_dim, class_seed, class_mode)
        self.init_uniform(init_range)
        self.embed.reset_special()
        self.truncated_words = self.embed.truncated_words


class CharCNN(LSTMLM):
    def __init__(self, vocab_size: int, char_dim=15, kernels=KERNELS, feature_maps=FEATURE_MAPS, highway=1,
                 hidden_dim=300, layers=2, dropout=0.5, init_range=0.05, max_word_len=65, words=None):
        nn.Module.__init__(self)  # LSTMLM's own __init__ would build a word embedding table
        self.vocab_size = vocab_size
        self.embed = _encoder(vocab_size, words, char_dim, kernels, feature_maps, highway, max_word_len)
        self.body = LSTMBody(self.embed.out_dim, hidden_dim, layers, dropout)
        self.out = nn.Linear(hidden_dim, vocab_size)
        self.init_uniform(init_range)
        self.embed.reset_special()
        self.truncated_words = self.embed.truncated_words
