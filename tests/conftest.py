"""Shared fixtures. Torch gets ONE thread: on a shared 2-core machine two
threads were measured 20-180x slower."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real corpora (PTB, ACLW-small, Brown), read through the project's
    data-dir option: $LIGHTRNN_DATA_DIR, else ../shared/data beside the repo."""
    env = os.environ.get("LIGHTRNN_DATA_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not (path / "ptb").is_dir():
        pytest.skip(f"real corpora not found at {path} (set LIGHTRNN_DATA_DIR)")
    return path


def pytest_addoption(parser):
    parser.addoption("--perf", action="store_true",
                     help="collect the tests/perf microbenchmarks (nox -s perf); skipped otherwise")


def pytest_ignore_collect(collection_path, config):
    # Microbenchmarks time big steps: only `nox -s perf` (--perf) collects them.
    if collection_path == Path(__file__).parent / "perf" and not config.getoption("--perf"):
        return True
    return None
