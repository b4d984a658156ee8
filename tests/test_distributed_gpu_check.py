"""The prepared GPU run (bench/commands/gpu.py): its refusal without CUDA, and a
dry run of all of its logic on the CPU at toy sizes (`--device cpu --tiny`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.presets import WORD_MODELS

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "bench", "gpu", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_refuses_without_cuda_in_one_line(tmp_path):
    res = run("--out", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "no CUDA device" in res.stderr
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_cpu_dry_run_writes_records_table_and_summary(tmp_path):
    res = run("--device", "cpu", "--tiny", "--budget-s", "200", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    recs = [json.loads(line) for line in (tmp_path / "checks.jsonl").read_text().splitlines()]
    by_kind: dict[str, list[dict]] = {}
    for r in recs:
        by_kind.setdefault(r["kind"], []).append(r)
    correct = by_kind["gpu_check/correctness"]
    words = sorted(WORD_MODELS)
    assert sorted(r["metrics"]["model"] for r in correct) == words
    assert all(r["metrics"]["passed"] and r["metrics"]["logsumexp_err"] < 1e-5 for r in correct)
    tput = {(r["metrics"]["model"], r["metrics"]["vocab_size"], r["metrics"]["amp"]): r["metrics"]
            for r in by_kind["gpu_check/throughput"] if r["status"] == "ok"}
    skipped = [r for r in by_kind["gpu_check/throughput"] if r["status"] == "skipped"]
    # models x vocabularies x {fp32, bf16}; bf16 is skipped, and says so, on a CPU without it
    bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert len(tput) == len(words) * 2 * (2 if bf16 else 1) and len(skipped) == (0 if bf16 else len(words) * 2)
    assert all(r["metrics"]["amp"] == "bf16" and "no bf16" in r["metrics"]["error"] for r in skipped)
    for m in tput.values():
        assert m["tokens_per_s"] > 0 and m["grad_bytes_per_step"] == 4 * m["params_total"]
    # the paper's argument, at toy size already: LightRNN exchanges less than full softmax
    assert tput[("lightrnn", 1000, "fp32")]["grad_bytes_per_step"] < tput[("lstm", 1000, "fp32")]["grad_bytes_per_step"]
    (realloc,) = by_kind["gpu_check/realloc"]
    assert realloc["status"] == "ok" and realloc["metrics"]["vocab_size"] == 400
    trained = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert sorted(r["model"] for r in trained) == words
    md = (tmp_path / "gpu_check.md").read_text()
    for section in ("## correctness", "## throughput", "## training", "## realloc"):
        assert section in md
    assert res.stdout.strip().splitlines()[-1].startswith("correctness: every model exactly normalised")
