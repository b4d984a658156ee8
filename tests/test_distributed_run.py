"""`torchrun -m bench run` end to end with 2 gloo processes on 127.0.0.1:
the same perplexities as one process on the same global batch, records from
rank 0 only, and a killed rank ending the run with a clear error while the
records file stays intact. Every launch has a timeout; gloo collectives too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from bench import cli
from bench.train import distributed as D

REPO = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--dataset-opt", "vocab_size=300", "--dataset-opt", "train_tokens=6000",
        "--dataset-opt", "valid_tokens=1500", "--dataset-opt", "test_tokens=1500", "--set", "hidden_dim=16",
        "--set", "embedding_dim=16", "--batch-size", "4", "--no-tables"]


def torchrun(*args: str, **popen) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", **{D.TIMEOUT_ENV: "30"})
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           "--max-restarts=0", "-m", "bench", "run", *args]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_two_ranks_train_like_one_process(tmp_path):
    # 2 epochs in 2 rounds: LightRNN reallocates once, across the ranks
    args = [*TINY, "--models", "lstm,lightrnn", "--set", "dropout=0.0", "--epochs", "2", "--rounds", "2"]
    proc = torchrun(*args, "--results", str(tmp_path / "two"))
    assert cli.main(["run", *args, "--results", str(tmp_path / "one")]) == 0
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    one, two = read(tmp_path / "one" / "records.jsonl"), read(tmp_path / "two" / "records.jsonl")
    assert [r["model"] for r in two] == [r["model"] for r in one] == ["lstm", "lightrnn"]  # rank 0 only
    for a, b in zip(one, two, strict=True):
        assert (a["world_size"], b["world_size"]) == (1, 2) and b["metrics"]["world_size"] == 2
        assert a["metrics"]["grad_bytes_per_step"] == b["metrics"]["grad_bytes_per_step"] > 0
        assert [c[0] for c in a["curve"]] == [c[0] for c in b["curve"]]  # same steps per epoch
        assert a["curve"][0][2] != a["curve"][-1][2]  # it trained
    # lstm: the same perplexities all along
    np.testing.assert_allclose([c[2] for c in two[0]["curve"]], [c[2] for c in one[0]["curve"]], rtol=1e-5)
    np.testing.assert_allclose(two[0]["metrics"]["test_ppl"], one[0]["metrics"]["test_ppl"], rtol=1e-5)
    # rank 0 keeps and tests the best validation point as one process does
    assert two[0]["metrics"]["best_step"] == one[0]["metrics"]["best_step"]
    np.testing.assert_allclose(two[0]["metrics"]["test_ppl_best"], one[0]["metrics"]["test_ppl_best"], rtol=1e-5)
    # lightrnn: the same up to the reallocation, whose summed loss tables reach the same
    # optimum; words with tied costs (e.g. unseen in training) may land in other cells
    (r1,), (r2,) = (r["rounds"][1:] for r in (one[1], two[1]))
    upto = [c[2] for c in one[1]["curve"] if c[0] <= r1["step"]][:-1]  # before the post-round point
    np.testing.assert_allclose([c[2] for c in two[1]["curve"]][: len(upto)], upto, rtol=1e-5)
    assert r2["world_size"] == 2 and r2["seconds_reduce"] >= 0 and r2["seconds_broadcast"] >= 0
    np.testing.assert_allclose([r2["pass_nll"], r2["cost"]], [r1["pass_nll"], r1["cost"]], rtol=1e-5)


@pytest.mark.slow
def test_two_ranks_share_rank_zeros_start_table(tmp_path):
    # the clusters table: its HSM trains under DDP on both ranks, rank 0 writes it once
    args = [*TINY, "--models", "lightrnn", "--set", "table=clusters", "--set", "table_budget_s=2", "--epochs", "1",
            "--rounds", "1", "--results", str(tmp_path)]
    proc = torchrun(*args)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    (rec,) = read(tmp_path / "records.jsonl")
    assert rec["world_size"] == 2 and rec["table_start"]["kind"] == "clusters"
    about, start = sorted((tmp_path / "tables").glob("*-start.*"))  # .json, .npy
    assert json.loads(about.read_text())["seconds"] == rec["table_start"]["seconds"]
    np.testing.assert_array_equal(np.load(start), np.load(tmp_path / rec["table_file"]))  # never moved


def _rank_process(parent: psutil.Process, rank: str) -> psutil.Process | None:
    for child in parent.children(recursive=True):
        try:
            if child.environ().get("RANK") == rank and child.environ().get("LOCAL_RANK") is not None:
                return child
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


@pytest.mark.slow
def test_killed_rank_ends_the_run_with_a_clear_error_and_intact_records(tmp_path):
    records = tmp_path / "records.jsonl"
    earlier = json.dumps({"schema": 1, "run_id": "earlier", "status": "ok", "model": "lstm"}) + "\n"
    records.write_text(earlier)
    proc = torchrun(*TINY, "--models", "lstm", "--epochs", "1000", "--results", str(tmp_path))
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("checkpoints/*.pt")):  # rank 0 writes one after epoch 1: mid-run
        assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.2)
    victim = _rank_process(psutil.Process(proc.pid), "1")
    assert victim is not None
    victim.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)  # gloo's timeout bounds any hung collective
    assert proc.returncode != 0
    assert "rank      : 1" in err and "SIGKILL" in err, err[-3000:]
    text = records.read_text()
    assert text.startswith(earlier)
    for rec in read(records)[1:]:  # rank 0 may record the cut-short run, never as a finished one
        assert rec["status"] == "interrupted" and rec["world_size"] == 2
