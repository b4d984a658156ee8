"""Named datasets: download/verify, read, build the vocabulary, cache ids.

    corpus = datasets.load("ptb", data_dir="../shared/data")
    corpus.train  # int32 ids, one continuous stream

The data directory is `data_dir`, else $LIGHTRNN_DATA_DIR, else a user cache
folder (~/.cache/lightrnn-bench).
"""

from __future__ import annotations

from .corpus import SPLITS, Corpus
from .paths import DatasetError, default_data_dir
from .registry import check, load, names
from .vocab import Vocab

__all__ = ["SPLITS", "Corpus", "DatasetError", "Vocab", "check", "default_data_dir", "load", "names"]
