"""Per-token log-probabilities beside the run records.

A run that ends ok keeps the natural-log probability of every target of the
valid and test streams (ids[1:], stream order, float32) in
<results>/tokens/<run_id>.npz, not in the JSONL; its record names the file
and the vocabulary's fingerprint. Interpolation (bench/report/interpolate.py) mixes
two runs only when dataset, vocabulary and token counts agree.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

SPLITS = ("valid", "test")


def vocab_sha(vocab) -> str:
    """Fingerprint of a vocabulary: its words in id order and its unknown token."""
    h = hashlib.sha256(f"unk={vocab.unk}\n".encode())
    h.update("\n".join(vocab.words).encode())
    return h.hexdigest()[:16]


def write(results_dir: str | os.PathLike, run_id: str, logprobs: dict[str, np.ndarray]) -> str:
    """Write {'valid': [n], 'test': [n]} atomically; return the path relative to results_dir."""
    missing = [s for s in SPLITS if s not in logprobs]
    if missing:
        raise ValueError(f"per-token log-probabilities lack splits {missing}")
    rel = f"tokens/{run_id}.npz"
    path = Path(results_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **{s: np.asarray(logprobs[s], dtype=np.float32) for s in SPLITS})
    os.replace(tmp, path)  # a crash mid-write leaves no torn file under the final name
    return rel


def read(results_dir: str | os.PathLike, record: dict) -> dict[str, np.ndarray] | None:
    """The record's per-token arrays, or None when it kept none (or the file is gone)."""
    rel = record.get("token_logprobs")
    if not rel:
        return None
    path = Path(results_dir) / rel
    if not path.exists():
        return None
    with np.load(path) as z:
        return {s: z[s].astype(np.float64) for s in SPLITS}
