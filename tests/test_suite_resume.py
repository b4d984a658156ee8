"""The suite survives kill -9 between runs and in the middle of one: a
finished run is never run twice, a killed one resumes from its checkpoint, and
every run of the plan ends with exactly one final record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench.report import records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The smoke suite with many short epochs and the lr held: each run stops at its
# 6-second budget, so a checkpoint (written atomically at every epoch end) exists
# long before its record.
SCRIPT = """
import sys
from bench.cli import main
from bench.commands import suite
smoke = suite.SUITES["smoke"]
suite.SUITES["kill"] = dict(smoke, epochs=400, budget_s=6.0, args=[*smoke["args"], "--lr-decay-start", "400"])
suite.MIN_CPU_SHARE = 0.0  # a run beside other work is not queued again: this test counts runs, not cores
raise SystemExit(main(["suite", "kill", "--results", sys.argv[1]]))
"""


def _start(out):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_when(proc, cond, timeout=120.0):
    t0 = time.time()
    while not cond():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the suite and the run it started
    proc.wait(timeout=30)


def _rows(out):
    path = out / "records.jsonl"
    return records.read(path) if path.exists() else []


@pytest.mark.slow
def test_suite_resumes_after_kill_9_between_and_inside_runs(tmp_path):
    out = tmp_path / "s"
    ckpt = out / "checkpoints" / "synthetic-lightrnn-cpu-seed0.pt"  # the plan's second run
    _kill_when(_start(out), lambda: len(_rows(out)) == 1)  # between the first and the second run
    (first,) = _rows(out)
    assert (first["model"], first["seed"], first["status"]) == ("lstm", 0, "ok")
    proc = _start(out)
    _kill_when(proc, ckpt.exists)  # inside the second run, past its first epoch
    assert [r["run_id"] for r in _rows(out)] == [first["run_id"]]  # nothing lost, nothing written twice
    proc = _start(out)
    assert proc.wait(timeout=300) == 0, proc.stdout.read()
    rows = _rows(out)
    assert sorted((r["model"], r["seed"], r["status"]) for r in rows) == [
        ("lightrnn", 0, "ok"), ("lightrnn", 1, "ok"), ("lstm", 0, "ok"), ("lstm", 1, "ok")]
    assert rows[0]["run_id"] == first["run_id"]  # the finished run was not run again
    resumed = next(r for r in rows if (r["model"], r["seed"]) == ("lightrnn", 0))
    assert resumed["resumed"] and resumed["metrics"]["epochs"] > 1 and not ckpt.exists()
    assert (out / "suite.md").exists()
