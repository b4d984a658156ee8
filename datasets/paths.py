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
