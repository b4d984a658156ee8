"""End-to-end: `python -m bench run` on a tiny synthetic corpus, resume,
fault statuses (OOM, NaN, SIGTERM, kill -9)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import datasets
import models
from bench.cli import main
from bench.report import records
from bench.train.config import TrainConfig
from bench.train.trainer import train
from datasets.batching import batchify, num_batches

REPO = Path(__file__).resolve().parents[1]
TINY_DATA = ["--dataset-opt", "vocab_size=60", "--dataset-opt", "classes=6", "--dataset-opt", "train_tokens=3000",
             "--dataset-opt", "valid_tokens=400", "--dataset-opt", "test_tokens=400"]
TINY_MODEL = ["--set", "embedding_dim=16", "--set", "hidden_dim=16", "--set", "layers=1"]
TINY = [*TINY_DATA, *TINY_MODEL, "--bptt", "10", "--batch-size", "8"]


def tiny_corpus():
    return datasets.load("synthetic", vocab_size=60, classes=6, train_tokens=3000, valid_tokens=400,
                         test_tokens=400)


@pytest.mark.slow
def test_run_every_model_writes_records_tables_and_plots(tmp_path):
    rc = main(["run", *TINY, "--epochs", "2", "--rounds", "2", "--results", str(tmp_path)])
    assert rc == 0
    recs = records.read(tmp_path / "records.jsonl")
    assert [r["model"] for r in recs] == ["kn", "lstm", "hsm", "adaptive", "chsm", "charcnn", "blackout", "lightrnn"]
    tables_md = (tmp_path / "tables.md").read_text()
    for r in recs:
        m = r["metrics"]
        assert r["schema"] == records.SCHEMA and r["status"] == "ok" and r["preset"] == "cpu"
        assert r["vocab_size"] == 60 and r["token_logprobs"]
        # Bayes-optimal perplexity is a floor no tiny model gets under.
        assert m["oracle_ppl"] < m["test_ppl"] < 60 * 3
        assert m["train_s"] > 0 and m["tokens_per_s"] > 0 and m["cpu_peak_rss_mb"] > 0
        # under 1 s of wall (10 ms CPU ticks) a run's shares are None; KN's counting may use 2 cores
        assert "cpu_share" in m and "host_busy_cores" in m
        if m["cpu_share"] is not None:
            assert 0 <= m["cpu_share"] <= os.cpu_count() + 0.05 and 0 <= m["host_busy_cores"] <= os.cpu_count() + 0.05
        if r["model"] == "kn":  # count-based: stored n-grams are its parameters
            assert r["config"]["model"] == {"order": 5} and m["params_total"] == sum(m["ngrams_per_order"]) - 1
        else:
            assert r["config"]["model"]["hidden_dim"] == 16
            assert m["params_total"] > m["params_embedding"] > 0
            assert m["gpu_peak_alloc_mb"] is None  # CPU run: not available, not a crash
        steps = [c[0] for c in r["curve"]]
        assert steps[0] == 0 and steps == sorted(steps) and r["curve"][-1][2] == m["valid_ppl"]
        assert f"{records.best_test_ppl(r):.1f}" in tables_md  # the tables show the best validation point's
        assert r["model"] == "kn" or m["test_ppl_best"] is not None
    light = next((r for r in recs if r["model"] == "lightrnn"), None)
    if light is not None:  # one reallocation between the two rounds, timed as training cost
        start, after = light["rounds"]
        assert (start["round"], after["round"], after["epoch"]) == (0, 1, 1)
        assert light["metrics"]["realloc_s"] == after["realloc_s"] > 0 and len(light["curve"]) == 4
        assert after["seconds"] == light["curve"][2][1] > after["realloc_s"]  # the post-reallocation point
        # valid ppl at the round's end and right after the new table, as on the curve
        assert (after["valid_ppl_before"], after["valid_ppl_after"]) == (light["curve"][1][2], light["curve"][2][2])
        assert "nll_per_token_predicted" in tables_md  # predicted against measured, in the rounds table
        for e in light["rounds"]:  # synthetic: the table scored against the true classes every round
            assert 0 < e["class_recovery"]["row_purity"] <= 1
        assert " ".join(light["case_study"][0][:12]) in tables_md and ":c" in light["case_study"][0][0]
    for png in (tmp_path / "plots").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "curve-synthetic-cpu.png").exists()
    assert light is None or (tmp_path / "plots" / "rounds-synthetic-cpu.png").exists()
    assert not list((tmp_path / "checkpoints").glob("*.pt"))  # finished runs leave no checkpoint


@pytest.mark.parametrize("name", ["lstm", "lightrnn"])
def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, name):
    if name not in models.REGISTRY:
        pytest.skip(f"{name} not registered yet")
    corpus = tiny_corpus()
    cfg = TrainConfig(epochs=3, rounds=2, batch_size=8, bptt=10, eval_batch_size=4)
    n = num_batches(batchify(corpus.train, cfg.batch_size), cfg.bptt)

    def run(seed, ckpt=None, resume=False, stop_after=None):
        torch.manual_seed(seed)
        model = models.build(name, len(corpus.vocab), embedding_dim=16, hidden_dim=16, layers=1, dropout=0.3)
        calls = iter(range(10**9))
        stop = (lambda: next(calls) >= stop_after) if stop_after else (lambda: False)
        return train(model, corpus, cfg, torch.device("cpu"), checkpoint=ckpt, resume=resume,
                     should_stop=stop, progress=False)

    whole = run(0)
    ckpt = tmp_path / "run.pt"
    cut = run(0, ckpt, stop_after=n + 3)  # interrupted a few batches into epoch 2
    assert cut.status == "interrupted" and cut.metrics["epochs"] == 1 and ckpt.exists()
    assert cut.metrics["test_ppl"] is None
    resumed = run(123, ckpt, resume=True)  # other init seed: the checkpoint must win
    assert resumed.status == "ok"
    assert [c[2] for c in resumed.curve] == [c[2] for c in whole.curve]
    assert resumed.metrics["test_ppl"] == whole.metrics["test_ppl"]
    assert resumed.metrics["steps"] == whole.metrics["steps"] == 3 * n


def test_resume_with_other_config_is_refused(tmp_path):
    corpus = tiny_corpus()
    ckpt = tmp_path / "run.pt"
    model = models.build("lstm", 60, embedding_dim=8, hidden_dim=8, layers=1)
    train(model, corpus, TrainConfig(epochs=1, batch_size=8, bptt=10), torch.device("cpu"), checkpoint=ckpt,
          progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train(model, corpus, TrainConfig(epochs=2, batch_size=8, bptt=5), torch.device("cpu"), checkpoint=ckpt,
              resume=True, progress=False)


def _fault_after(monkeypatch, cls, steps: int, exc: Exception | None):
    """Make `cls.forward` fail after `steps` training calls: raise `exc`, or return NaN."""
    orig, calls = cls.forward, {"n": 0}

    def forward(self, x, y, state):
        nll, state = orig(self, x, y, state)
        if self.training:
            calls["n"] += 1
            if calls["n"] > steps:
                if exc is not None:
                    raise exc
                return nll * float("nan"), state
        return nll, state

    monkeypatch.setattr(cls, "forward", forward)


def test_oom_becomes_a_record_and_the_suite_moves_on(tmp_path, monkeypatch):
    _fault_after(monkeypatch, models.REGISTRY["lstm"], 3, torch.OutOfMemoryError("CUDA out of memory (simulated)"))
    rc = main(["run", *TINY, "--models", "lstm,adaptive", "--epochs", "1", "--results", str(tmp_path)])
    recs = records.read(tmp_path / "records.jsonl")
    assert rc == 1 and [(r["model"], r["status"]) for r in recs] == [("lstm", "oom"), ("adaptive", "ok")]
    assert "out of memory" in recs[0]["error"] and recs[0]["metrics"]["test_ppl"] is None
    assert "| oom |" in (tmp_path / "tables.md").read_text()


def test_a_model_too_big_for_memory_is_refused_as_oom_before_it_is_built(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.meters.available_bytes", lambda: 10_000)  # less than any model's weights
    monkeypatch.setattr(models, "build", lambda *a, **k: pytest.fail("built a model that cannot fit"))
    rc = main(["run", *TINY, "--models", "lstm", "--epochs", "1", "--results", str(tmp_path)])
    (rec,) = records.read(tmp_path / "records.jsonl")
    assert rc == 1 and rec["status"] == "oom" and "refused before allocating" in rec["error"]
    assert rec["metrics"]["params_total"] > 0 and rec["metrics"]["test_ppl"] is None and rec["curve"] == []
    assert "| oom |" in (tmp_path / "tables.md").read_text()


def test_activations_past_free_memory_are_oom_not_the_oom_killer(tmp_path, monkeypatch):
    """The weights fit (the preflight passes) but a step then asks for more
    than was free: under the run's memory ceiling the allocation itself fails,
    and the run ends in an oom record; the limit is lifted afterwards."""
    import resource

    before = resource.getrlimit(resource.RLIMIT_DATA)
    monkeypatch.setattr("bench.meters.available_bytes", lambda: 256 * 2**20)
    cls = models.REGISTRY["lstm"]
    forward = cls.forward

    def greedy(self, x, y, state):
        torch.ones(2**30 // 4)  # 1 GiB of activations, touched
        return forward(self, x, y, state)

    monkeypatch.setattr(cls, "forward", greedy)
    rc = main(["run", *TINY, "--models", "lstm", "--epochs", "1", "--results", str(tmp_path), "--no-tables"])
    (rec,) = records.read(tmp_path / "records.jsonl")
    assert rc == 1 and rec["status"] == "oom" and "can't allocate memory" in rec["error"]
    assert resource.getrlimit(resource.RLIMIT_DATA) == before
    torch.ones(2**30 // 4)  # and the process may allocate again


@pytest.mark.parametrize("message, status", [
    ("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to allocate "
     "4000000000 bytes. Error code 12 (Cannot allocate memory)", "oom"),
    ("shape mismatch", None)])
def test_a_failed_cpu_allocation_is_oom_and_other_errors_are_not(message, status, monkeypatch):
    _fault_after(monkeypatch, models.REGISTRY["lstm"], 2, RuntimeError(message))
    model = models.build("lstm", 60, embedding_dim=8, hidden_dim=8, layers=1)
    run = lambda: train(model, tiny_corpus(), TrainConfig(epochs=1, batch_size=8, bptt=10),  # noqa: E731
                        torch.device("cpu"), progress=False)
    if status is None:
        with pytest.raises(RuntimeError, match="shape mismatch"):
            run()
    else:
        assert run().status == status


def test_nan_loss_is_diverged(tmp_path, monkeypatch):
    _fault_after(monkeypatch, models.REGISTRY["lstm"], 5, None)
    main(["run", *TINY, "--models", "lstm", "--epochs", "1", "--results", str(tmp_path)])
    (rec,) = records.read(tmp_path / "records.jsonl")
    assert rec["status"] == "diverged" and "nan" in rec["error"]


def test_infinite_validation_perplexity_is_diverged_and_recordable(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.train.trainer.evaluate", lambda *a: math.inf)
    main(["run", *TINY, "--models", "lstm", "--epochs", "1", "--results", str(tmp_path), "--no-tables"])
    (rec,) = records.read(tmp_path / "records.jsonl")  # written: no inf in the JSON
    assert rec["status"] == "diverged" and rec["curve"][0][2] is None and rec["metrics"]["valid_ppl"] is None


def test_exploding_learning_rate_is_diverged():
    corpus = tiny_corpus()
    torch.manual_seed(0)
    model = models.build("lstm", 60, embedding_dim=16, hidden_dim=16, layers=1, dropout=0.0)
    res = train(model, corpus, TrainConfig(epochs=1, batch_size=8, bptt=10, lr=1e4, log_every=1),
                torch.device("cpu"), progress=False)
    assert res.status == "diverged"


def test_fixed_schedule_and_lr_floor():
    corpus = tiny_corpus()
    model = models.build("lstm", 60, embedding_dim=8, hidden_dim=8, layers=1)
    cfg = TrainConfig(epochs=5, batch_size=8, bptt=10, lr=1.0, lr_decay=0.5, lr_decay_start=1, lr_floor=0.3)
    res = train(model, corpus, cfg, torch.device("cpu"), progress=False)
    # lr 1 (epoch 1) -> 0.5 (epoch 2) -> 0.25 < floor: stop after epoch 2.
    assert res.stop_reason == "lr_floor" and res.metrics["epochs"] == 2 and res.metrics["final_lr"] == 0.25


def test_max_time_stops_and_still_scores(tmp_path):
    corpus = tiny_corpus()
    model = models.build("lstm", 60, embedding_dim=8, hidden_dim=8, layers=1)
    res = train(model, corpus, TrainConfig(epochs=50, batch_size=8, bptt=10, max_time=0.5, log_every=1),
                torch.device("cpu"), progress=False)
    assert res.status == "ok" and res.stop_reason == "max_time" and res.metrics["epochs"] < 50
    assert math.isfinite(res.metrics["test_ppl"])


def _spawn(tmp_path, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "bench", "run", *TINY, "--no-tables", "--results", str(tmp_path), *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(cond, proc, timeout=60.0):
    t0 = time.time()
    while not cond():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_writes_interrupted_and_keeps_the_checkpoint(tmp_path):
    proc = _spawn(tmp_path, "--models", "lstm", "--epochs", "1000")
    ckpt = tmp_path / "checkpoints" / "synthetic-lstm-cpu-seed0.pt"
    _wait_for(ckpt.exists, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    (rec,) = records.read(tmp_path / "records.jsonl")
    assert rec["status"] == "interrupted" and rec["metrics"]["epochs"] >= 1 and ckpt.exists()
    # --resume picks it up: a record saying so, continuing from the saved epoch.
    assert main(["run", *TINY, "--models", "lstm", "--epochs", str(rec["metrics"]["epochs"] + 1), "--resume",
                 "--results", str(tmp_path)]) == 0
    second = records.read(tmp_path / "records.jsonl")[1]
    assert second["resumed"] and second["status"] == "ok"
    assert second["curve"][:-1] == rec["curve"]  # the resumed run continued the saved curve


@pytest.mark.slow
def test_kill_9_leaves_earlier_records_readable(tmp_path):
    path = tmp_path / "records.jsonl"
    proc = _spawn(tmp_path, "--models", "lstm,hsm", "--epochs", "1000", "--max-time", "2")
    _wait_for(lambda: path.exists() and path.read_bytes().count(b"\n") >= 1, proc)
    proc.kill()
    proc.wait(timeout=30)
    first = records.read(path)
    assert len(first) == 1 and first[0]["status"] == "ok"
    with open(path, "ab") as f:  # what a writer killed mid-write would leave
        f.write(json.dumps(first[0]).encode()[:50])
    records.append(path, {**first[0], "run_id": "after-torn"})
    with pytest.warns(UserWarning, match="torn"):
        after = records.read(path)
    assert [r["run_id"] for r in after] == [first[0]["run_id"], "after-torn"]
