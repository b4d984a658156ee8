"""Issue 37: nothing a user ran is lost or silently repeated. An interrupted
run's checkpoint survives a rerun (refused until --resume or --fresh says
which); --resume skips a run that already ended for good; a checkpoint that
cannot be read is one clear error; garbage in records.jsonl is skipped with
a warning. Runs are tiny and a few steps long."""

from __future__ import annotations

import json

import pytest
from test_hostile_inputs import refused, snapshot

from bench.cli import main
from bench.commands import run as cmd_run
from bench.commands import suite
from bench.report import records

DATA = ["--dataset-opt", "vocab_size=60", "--dataset-opt", "classes=6", "--dataset-opt", "train_tokens=3000",
        "--dataset-opt", "valid_tokens=400", "--dataset-opt", "test_tokens=400", "--no-tables"]
TINY = [*DATA, "--set", "embedding_dim=16", "--set", "hidden_dim=16", "--set", "layers=1", "--bptt", "10",
        "--batch-size", "8", "--epochs", "1", "--max-steps", "5"]
CKPT = "checkpoints/synthetic-lstm-cpu-seed0.pt"


class _StopSoon:
    """Stands in for run's SIGINT handler: "interrupted" from the trainer's 4th look on."""

    def __init__(self):
        self.looks = 0

    @property
    def hit(self) -> bool:
        self.looks += 1
        return self.looks > 3

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def _lstm(out, *extra) -> int:
    return main(["run", *TINY, "--models", "lstm", "--results", str(out), *extra])


@pytest.fixture
def interrupted(tmp_path, monkeypatch, capsys):
    """A results folder whose lstm run was interrupted: its record and its checkpoint."""
    with monkeypatch.context() as m:
        m.setattr(cmd_run, "_Interrupt", _StopSoon)
        assert _lstm(tmp_path) == 130
    err = capsys.readouterr().err
    assert f"its checkpoint {tmp_path / CKPT} is kept" in err and "--resume to continue it" in err
    assert (tmp_path / CKPT).exists() and records.read(tmp_path / "records.jsonl")[0]["status"] == "interrupted"
    return tmp_path


@pytest.fixture(autouse=True)
def _full_core(monkeypatch):
    # suite.done reruns a run that had under 90% of its core: on a busy machine a tiny run may not.
    monkeypatch.setattr(suite, "MIN_CPU_SHARE", 0.0)


def test_a_rerun_without_resume_keeps_the_checkpoint_and_says_how(interrupted, capsys):
    err = refused(["run", *TINY, "--models", "lstm", "--results", str(interrupted)], interrupted, capsys)
    assert str(interrupted / CKPT) in err and "add --resume to continue it" in err and "--fresh" in err
    assert _lstm(interrupted, "--resume") == 0  # and the kept checkpoint is what the run continues
    last = records.read(interrupted / "records.jsonl")[-1]
    assert last["resumed"] and last["status"] == "ok" and not (interrupted / CKPT).exists()


def test_fresh_moves_the_checkpoint_aside_and_starts_over(interrupted, capsys):
    saved = (interrupted / CKPT).read_bytes()
    assert _lstm(interrupted, "--fresh") == 0
    assert "--fresh: moved" in capsys.readouterr().out
    (aside,) = (interrupted / "checkpoints").glob("synthetic-lstm-cpu-seed0-aside-*.pt")
    assert aside.read_bytes() == saved  # moved, never deleted
    last = records.read(interrupted / "records.jsonl")[-1]
    assert not last["resumed"] and last["status"] == "ok"


@pytest.mark.parametrize("models", ["lstm", "kn"])
def test_resume_skips_a_run_that_already_ended_ok(models, tmp_path, capsys):
    argv = ["run", *(DATA if models == "kn" else TINY), "--models", models, "--results", str(tmp_path)]
    assert main(argv) == 0
    before = snapshot(tmp_path)
    assert main([*argv, "--resume"]) == 0
    assert f"{models}: not run again" in capsys.readouterr().out and snapshot(tmp_path) == before
    # Other settings make another run; --rerun-finished (the suite's) runs it anyway.
    other = "--kn-order=3" if models == "kn" else "--max-steps=4"
    assert main([*argv, "--resume", other]) == 0 and main([*argv, "--resume", "--rerun-finished"]) == 0
    assert len(records.read(tmp_path / "records.jsonl")) == 3


@pytest.mark.parametrize("spoil", [lambda b: b"\x00garbage" * 100, lambda b: b[: len(b) // 2]],
                         ids=["garbage", "truncated"])
def test_an_unreadable_checkpoint_is_a_clear_error(spoil, interrupted, capsys):
    ckpt = interrupted / CKPT
    ckpt.write_bytes(spoil(ckpt.read_bytes()))
    err = refused(["run", *TINY, "--models", "lstm", "--resume", "--results", str(interrupted)], interrupted, capsys)
    assert f"checkpoint {ckpt} is unreadable" in err and "delete it or drop --resume" in err
    assert "weights_only" not in err  # never the advice to unpickle it unsafely


def test_a_checkpoint_of_other_settings_is_refused_before_training(interrupted, capsys):
    argv = ["run", *TINY, "--set", "dropout=0.3", "--models", "lstm", "--resume", "--results", str(interrupted)]
    assert "written by a different configuration" in refused(argv, interrupted, capsys)


def test_garbage_in_records_is_skipped_with_a_warning(tmp_path, capsys):
    log = tmp_path / "records.jsonl"
    argv = ["run", *DATA, "--models", "kn", "--results", str(tmp_path)]
    assert main(argv) == 0
    junk = b"\x8f\xfe\xff random bytes\n[1, 2, 3]\n"
    with open(log, "ab") as f:
        f.write(junk)
    kept = log.read_bytes()
    with pytest.warns(UserWarning) as seen:
        assert main(["tables", "--results", str(tmp_path)]) == 0
        assert main(argv) == 0  # checked before counting, appended after the garbage
    assert {f"{log}:2: skipping a line that is not a JSON object",
            f"{log}:3: skipping a line that is not a JSON object"} <= {str(w.message) for w in seen}
    assert log.read_bytes().startswith(kept)
    with pytest.warns(UserWarning):
        assert [r["status"] for r in records.read(log)] == ["ok", "ok"]
    assert json.loads(log.read_bytes().splitlines()[-1])["model"] == "kn"
