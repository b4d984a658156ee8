"""Readers: each turns source files into sentences (lists of words), lazily.

A reader returns a zero-argument callable so the builder can stream a split
twice (count, then encode) without holding it in memory.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .build import Sentences
from .paths import DatasetError


def check_text(path: Path) -> None:
    """Refuse an empty or binary file where text is expected, naming it."""
    if path.stat().st_size == 0:
        raise DatasetError(f"{path} is empty; expected text, one sentence per line")
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if b"\0" in head:
        raise DatasetError(f"{path} looks binary (NUL bytes); expected UTF-8 text, one sentence per line")


def _decoded(lines: Iterator[bytes], where: str) -> Iterator[list[str]]:
    for n, raw in enumerate(lines, start=1):
        try:
            yield raw.decode("utf-8").split()
        except UnicodeDecodeError as e:
            raise DatasetError(f"{where}: line {n} is not UTF-8 text ({e.reason}); expected text") from None


def lines(path: Path) -> Sentences:
    """One sentence per line, words split on whitespace (PTB, ACLW)."""
    path = Path(path)
    check_text(path)

    def sentences() -> Iterator[list[str]]:
        with open(path, "rb") as f:
            yield from _decoded(f, str(path))

    return sentences


# --- Brown (NLTK's brown.zip) ------------------------------------------------

BROWN_FILE = re.compile(r"(?:^|/)c[a-r]\d\d$")  # brown/ca01 ... brown/cr09: the 500 texts


def brown_split(names: list[str]) -> dict[str, list[str]]:
    """Deterministic split by file: of the sorted texts, every 10th (index 9,
    19, ...) goes to test and the one before it to valid: 400/50/50 files,
    each of the 15 genres represented in all three splits."""
    texts = sorted(n for n in names if BROWN_FILE.search(n))
    if len(texts) != 500:
        raise DatasetError(f"Brown zip should hold 500 texts brown/c[a-r]NN, found {len(texts)}")
    out: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for i, name in enumerate(texts):
        out["test" if i % 10 == 9 else "valid" if i % 10 == 8 else "train"].append(name)
    return out


def brown(zip_path: Path) -> dict[str, Sentences]:
    """Sentences of each split: `word/TAG` tokens with the tag stripped (split
    on the LAST '/', since words like 1/2 contain one), lower-cased."""
    with zipfile.ZipFile(zip_path) as z:
        split = brown_split(z.namelist())

    def reader(members: list[str]) -> Sentences:
        def sentences() -> Iterator[list[str]]:
            with zipfile.ZipFile(zip_path) as z:
                for m in members:
                    for words in _decoded(z.open(m), f"{zip_path}:{m}"):
                        if words:  # blank lines separate sentences
                            yield [w.rsplit("/", 1)[0].lower() for w in words]

        return sentences

    return {s: reader(ms) for s, ms in split.items()}


# --- One Billion Word (read straight from the release tarball) ---------------

BW_TRAIN = re.compile(r"training-monolingual\.tokenized\.shuffled/news\.en-000\d\d-of-00100$")
BW_TEST = re.compile(r"heldout-monolingual\.tokenized\.shuffled/news\.en\.heldout-00000-of-00050$")


def billionw(tar_path: Path) -> dict[str, Sentences]:
    """BillionW from its tar.gz, streamed (no extraction, no seeking).

    train = the 99 training shards in archive order; test = heldout-00000 (the
    standard test set). The release has no validation set: the common choice,
    used here, is heldout-00001 (also outside the training data).
    """
    valid_re = re.compile(r"heldout-monolingual\.tokenized\.shuffled/news\.en\.heldout-00001-of-00050$")
    pick = {"train": BW_TRAIN, "valid": valid_re, "test": BW_TEST}

    def reader(pattern: re.Pattern) -> Sentences:
        def sentences() -> Iterator[list[str]]:
            found = False
            try:
                with tarfile.open(tar_path, "r|*") as tf:  # stream mode: one sequential pass
                    for m in tf:
                        if m.isfile() and pattern.search(m.name):
                            found = True
                            yield from _decoded(tf.extractfile(m), f"{tar_path}:{m.name}")
            except (tarfile.TarError, EOFError) as e:
                raise DatasetError(f"{tar_path} is truncated or corrupt ({e}); delete it to download again") from None
            if not found:
                raise DatasetError(f"{tar_path} holds no member matching {pattern.pattern}")

        return sentences

    return {s: reader(p) for s, p in pick.items()}
