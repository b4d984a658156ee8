"""Kim et al.'s character-aware word input (Character-Aware Neural Language
Models, AAAI 2016; yoonkim/lstm-char-cnn): each word is spelled as
[BOW, c1, ..., cn, EOW, PAD ...], its characters embedded, convolved at several
widths, tanh, max-pooled over time, then passed through highway layers.

    enc = CharEncoder(words, char_dim=15, kernels=(1, 2, 3), feature_maps=(25, 50, 75))
    enc(x)  # x [T, B] word ids -> [T, B, sum(feature_maps)]

Without the words (counting parameters, the scaling study) the vocabulary is
spelled over DEFAULT_CHARS synthetic characters (all of them once V >= 48):
PTB's training vocabulary has 48 distinct characters (Brown's 59), so counts
at V >= 48 match a PTB-like character set.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_CHARS = 48
PAD, BOW, EOW = 0, 1, 2  # reserved character ids; real characters start at 3
SPECIALS = 3


@lru_cache(maxsize=8)
def synthetic_words(vocab_size: int, n_chars: int = DEFAULT_CHARS) -> tuple[str, ...]:
    """V distinct words over an alphabet of n_chars symbols (word i = i in base n_chars)."""
    alphabet = [chr(0x4E00 + k) for k in range(n_chars)]
    out = []
    for i in range(vocab_size):
        s = alphabet[i % n_chars]
        i //= n_chars
        while i:
            s += alphabet[i % n_chars]
            i //= n_chars
        out.append(s)
    return tuple(out)


def spell(words, L: int) -> tuple[torch.Tensor, int]:
    """[V, L] character ids [BOW, c1 .. c_{L-2} at most, EOW, PAD ...] (ids from 3, in
    sorted character order) and the number of words truncated to fit L."""
    lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    codes = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    _, ids = np.unique(codes, return_inverse=True)  # rank among the distinct characters
    keep = np.minimum(lens, L - 2)
    row = np.repeat(np.arange(len(words)), lens)
    col = np.arange(len(codes)) - np.repeat(np.cumsum(lens) - lens, lens)  # position in its word
    out = np.full((len(words), L), PAD, dtype=np.int64)
    ok = col < L - 2
    out[row[ok], col[ok] + 1] = ids.reshape(-1)[ok] + SPECIALS
    out[:, 0] = BOW
    out[np.arange(len(words)), keep + 1] = EOW
    return torch.from_numpy(out), int((lens > L - 2).sum())


def char_vocab(words: list[str]) -> list[str]:
    """The sorted distinct characters of `words`; an empty set is refused."""
    chars = sorted(set("".join(words)))
    if not chars:
        raise ValueError("empty character vocabulary: the words have no characters to spell them with")
    return chars


class Highway(nn.Module):
    """y = t * relu(W_h x) + (1 - t) * x, t = sigmoid(W_t x + b_t) (Srivastava et al. 2015; Kim's f = ReLU)."""

    def __init__(self, size: int):
        super().__init__()
        self.transform, self.gate = nn.Linear(size, size), nn.Linear(size, size)

    def forward(self, x: Tensor) -> Tensor:
        t = torch.sigmoid(self.gate(x))
        return t * F.relu(self.transform(x)) + (1 - t) * x


class CharEncoder(nn.Module):
    def __init__(self, words: list[str], char_dim: int, kernels: tuple, feature_maps: tuple, highway: int,
                 max_word_len: int = 65):
        super().__init__()
        if len(kernels) != len(feature_maps) or not kernels:
            raise ValueError(f"need one feature-map count per kernel width, got {kernels} and {feature_maps}")
        chars = char_vocab(words)
        if max_word_len < max(max(kernels), 3):
            raise ValueError(f"max_word_len {max_word_len} is shorter than the widest kernel {max(kernels)} (or 3)")
        # The longest word with its markers, at least the widest kernel, at most max_word_len.
        L = min(max(max(len(w) for w in words) + 2, max(kernels)), max_word_len)
        spelled, self.truncated_words = spell(words, L)
        # Words longer than L - 2 characters lose their tail (EOW kept): counted and reported.
        if self.truncated_words:
            warnings.warn(f"{self.truncated_words} of {len(words)} words are longer than max_word_len={L} "
                          f"(with BOW/EOW) and were truncated", stacklevel=2)
        self.register_buffer("spelled", spelled.to("cpu"))  # [V, L] character ids per word
        self.embed = nn.Embedding(len(chars) + SPECIALS, char_dim, padding_idx=PAD)
        self.convs = nn.ModuleList(nn.Conv1d(char_dim, f, w) for w, f in zip(kernels, feature_maps, strict=True))
        self.out_dim = sum(feature_maps)
        self.highways = nn.ModuleList(Highway(self.out_dim) for _ in range(highway))

    def reset_special(self) -> None:
        """After the uniform init: PAD spells nothing, and each highway gate's bias
        is shifted by -2 (Kim et al. add a constant -2 to the gate; a learned bias
        shifted once is the same parametrisation), so layers start near identity."""
        with torch.no_grad():
            self.embed.weight[PAD].zero_()
            for h in self.highways:
                h.gate.bias.sub_(2.0)

    def forward(self, x: Tensor) -> Tensor:
        T, B = x.shape
        # Each distinct word of the batch is spelled once (about half the tokens of a
        # 20 x 35 PTB batch are repeats); its vector is then gathered per token.
        uniq, inv = torch.unique(x.reshape(-1), return_inverse=True)  # [U], [T*B]
        c = self.embed(self.spelled[uniq]).transpose(1, 2)  # [U, d, L]
        pooled = [torch.tanh(conv(c)).amax(dim=2) for conv in self.convs]  # each [U, f_w]
        h = torch.cat(pooled, dim=1)  # [U, sum f]
        for layer in self.highways:
            h = layer(h)
        return h[inv].view(T, B, self.out_dim)


def param_count(n_chars: int, char_dim: int, kernels, feature_maps, highway: int) -> int:
    """Closed form: character table + convolutions (weights and biases) + highway layers."""
    total = sum(feature_maps)
    conv = sum(char_dim * w * f + f for w, f in zip(kernels, feature_maps, strict=True))
    return (n_chars + SPECIALS) * char_dim + conv + highway * 2 * (total * total + total)
