"""Vocabulary: built from the training split only, sorted by frequency.

Frequency order matters: adaptive softmax assigns clusters by id, and the
tables report OOV rates against exactly this list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np


class Vocab:
    """Word <-> id map. Ids are in decreasing training frequency (ties by string)."""

    def __init__(self, words: list[str], counts: list[int] | None = None, unk: str | None = None):
        if len(set(words)) != len(words):
            raise ValueError("vocabulary words must be unique")
        self.words = list(words)
        self.counts = list(counts) if counts is not None else [0] * len(words)
        self.stoi = {w: i for i, w in enumerate(self.words)}
        if unk is not None and unk not in self.stoi:
            raise ValueError(f"unknown token {unk!r} is not in the vocabulary")
        self.unk = unk

    @classmethod
    def from_counts(
        cls,
        counts: Counter,
        min_count: int = 1,
        specials: Iterable[str] = (),
        unk: str | None = None,
    ) -> Vocab:
        """Words with count >= min_count, sorted by (-count, word); specials appended if absent."""
        kept = sorted(((c, w) for w, c in counts.items() if c >= min_count), key=lambda t: (-t[0], t[1]))
        words = [w for _, w in kept]
        freq = [c for c, _ in kept]
        for s in specials:
            if s not in counts or counts[s] < min_count:
                words.append(s)
                freq.append(counts.get(s, 0))
        return cls(words, freq, unk=unk)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """int32 ids; words outside the vocabulary map to `unk` (error if there is none)."""
        stoi, unk_id = self.stoi, (self.stoi[self.unk] if self.unk is not None else -1)
        ids = np.fromiter((stoi.get(t, unk_id) for t in tokens), dtype=np.int32)
        if unk_id < 0 and (ids < 0).any():
            bad = next(t for t in tokens if t not in stoi) if isinstance(tokens, list) else "?"
            raise KeyError(f"word {bad!r} is not in the vocabulary and it has no unknown token")
        return ids

    def save(self, path: Path) -> None:
        """One `word<TAB>count` per line; first line names the unknown token."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"#unk\t{self.unk or ''}\n")
            for w, c in zip(self.words, self.counts, strict=True):
                f.write(f"{w}\t{c}\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Vocab:
        with open(path, encoding="utf-8") as f:
            head = f.readline().rstrip("\n").split("\t")
            rows = [line.rstrip("\n").rsplit("\t", 1) for line in f]
        unk = head[1] if len(head) > 1 and head[1] else None
        return cls([w for w, _ in rows], [int(c) for _, c in rows], unk=unk)
