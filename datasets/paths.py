"""Where datasets live, and the one error every dataset problem raises."""

from __future__ import annotations

import os
from pathlib import Path


class DatasetError(OSError):
    """Missing, corrupt or unusable data: the message says what and where."""


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """`data_dir`, else $LIGHTRNN_DATA_DIR, else ~/.cache/lightrnn-bench (XDG)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("LIGHTRNN_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lightrnn-bench"


def check_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data dir `default_data_dir` gives, refused when it is something other
    than a folder (a file, or ""): found before any download is tried."""
    if data_dir is not None and not str(data_dir).strip():
        raise DatasetError("--data-dir '' is empty: name a folder")
    root = default_data_dir(data_dir)
    if root.exists() and not root.is_dir():
        where = "--data-dir" if data_dir is not None else "$LIGHTRNN_DATA_DIR" \
            if os.environ.get("LIGHTRNN_DATA_DIR") else "the default data dir"
        raise DatasetError(f"{where} {root} is not a folder")
    return root
