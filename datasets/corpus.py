"""The Corpus every loader returns: a vocabulary and three id streams."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .vocab import Vocab

SPLITS = ("train", "valid", "test")


@dataclass
class Corpus:
    """Token-id streams for one dataset.

    Each split is a 1-D int32 array (possibly a read-only np.memmap for
    BillionW): one continuous stream, sentence ends already inserted as
    tokens, so token k is predicted from tokens [0, k). The first token of a
    stream is context only; every later token is a prediction target.
    """

    name: str
    vocab: Vocab
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    # JSON-ready facts for `bench info` and run records: checksums, oov rates,
    # for synthetic the oracle perplexity.
    info: dict = field(default_factory=dict)
    # Ground-truth class of each word id (synthetic only): what LightRNN's
    # word table is scored against.
    word_class: np.ndarray | None = None

    def split(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; choose from {SPLITS}")
        return getattr(self, name)

    def summary(self) -> dict:
        """What `python -m bench info` prints."""
        out = {
            "dataset": self.name,
            "vocab_size": len(self.vocab),
            "tokens": {s: int(len(self.split(s))) for s in SPLITS},
        }
        out.update(self.info)
        return out


def oov_rate(tokens: list[str], vocab: Vocab) -> float:
    """Fraction of running tokens not in the vocabulary (before mapping to unk)."""
    if not tokens:
        return 0.0
    stoi = vocab.stoi
    return sum(t not in stoi for t in tokens) / len(tokens)
