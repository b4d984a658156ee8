"""Named datasets: download/verify, read, build the vocabulary, cache ids.

    corpus = datasets.load("ptb", data_dir="../shared/data")
    corpus.train  # int32 ids, one continuous stream

The data directory is `data_dir`, else $LIGHTRNN_DATA_DIR, else a user cache
folder (~/.cache/lightrnn-bench).
"""

from __future__ import annotations

import os
from pathlib import Path

from .corpus import SPLITS, Corpus
from .vocab import Vocab


class DatasetError(OSError):
    """Missing, corrupt or unusable data: the message says what and where."""


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("LIGHTRNN_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lightrnn-bench"


# Imported last: these modules use DatasetError and default_data_dir above.
from .registry import load, names  # noqa: E402

__all__ = ["SPLITS", "Corpus", "DatasetError", "Vocab", "default_data_dir", "load", "names"]
