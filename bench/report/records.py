"""Run records: one JSON object per line, the source of every table and plot.

Appending is ONE `os.write` of the whole line on an O_APPEND descriptor,
under an exclusive `fcntl` lock: two runs writing the same file never
interleave lines, and a process killed mid-run leaves every earlier line
intact (at worst a torn last line, which `read` skips).
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path

import torch

SCHEMA = 1
STATUSES = ("ok", "oom", "diverged", "interrupted", "skipped")  # skipped: a measurement this device cannot take
# A run ends "for good" with these; any other (interrupted, or no record) is run again.
FINAL = ("ok", "oom", "diverged")


def recency(r: dict) -> tuple[bool, str]:
    """Sort key: oldest first, and an unfinished record (a rerun under way,
    interrupted part-way) before every finished one, so that keeping the last
    of a sort keeps the newest finished record where one exists."""
    return r["status"] in FINAL, r.get("time") or ""


REPO = Path(__file__).resolve().parents[1]


def append(path: str | os.PathLike, record: dict) -> None:
    """Append `record` as one line. Raises if the write came out short."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"record status {record.get('status')!r} is not one of {STATUSES}")
    line = (json.dumps(record, sort_keys=True, allow_nan=False) + "\n").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a writer was killed mid-line: keep ours whole
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write to {path}: {written} of {len(line)} bytes")
    finally:
        os.close(fd)  # closing releases the lock


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace a generated file (table, report) whole: a crash mid-write
    leaves the previous version, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read(path: str | os.PathLike) -> list[dict]:
    """All records in `path` ([] if it does not exist). A line that is not a
    JSON object (a torn line of a writer killed mid-write, garbage bytes, a
    JSON list) is skipped with a warning naming the file and line, wherever it
    is: the lines around it are still good records. A foreign schema is an error."""
    path = Path(path)
    if not path.exists():
        return []
    if not path.is_file():
        raise ValueError(f"{path} is not a file: records are one JSON object per line")
    out = []
    for i, raw in enumerate(path.read_bytes().split(b"\n")):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)  # bytes: bad UTF-8 raises UnicodeDecodeError, a ValueError
        except (ValueError, RecursionError):  # RecursionError: '[[[[...' nested past Python's limit
            rec = None
        if not isinstance(rec, dict):
            # Records start '{"' (sort_keys): a line that does is one cut short by a killed writer.
            why = "a torn (partial) record" if raw.startswith(b'{"') else "a line that is not a JSON object"
            warnings.warn(f"{path}:{i + 1}: skipping {why}", stacklevel=2)
            continue
        if rec.get("schema") != SCHEMA:
            raise ValueError(f"{path}:{i + 1}: schema {rec.get('schema')!r}, this code reads {SCHEMA}")
        out.append(rec)
    return out


def git_sha() -> str | None:
    """Commit of the code that ran, with '+dirty' when a tracked file outside
    results/ had changes (a suite appends to its committed records between runs:
    outputs, not code)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                                ":(top,exclude)results"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def environment(device: torch.device) -> dict:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": str(device),
        "device_name": name,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "host": platform.node(),
    }


def new_run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def best_test_ppl(r: dict | None) -> float | None:
    """A run's test perplexity at its best validation point, the figure every
    table shows (pytorch/examples' word_language_model and awd-lstm-lm test
    there too). Records from before the trainer kept that point
    (bench/train/best.py) have it only when their final validation point was
    their best, so the final weights were the best point's; otherwise None.
    A record with no training curve (Kneser-Ney, a derived mixture) gives its test PPL; no record, None."""
    if r is None:
        return None
    m = r.get("metrics") or {}
    if "test_ppl_best" in m:
        return m["test_ppl_best"]
    valid = [c[2] for c in r.get("curve") or [] if c[2] is not None]
    if not valid or valid[-1] <= min(valid):
        return m.get("test_ppl")
    return None
