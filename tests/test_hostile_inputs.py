"""Issue 37: every bad input refused before any work starts. Each case is one
line naming the option, exit code 2, and a results folder holding earlier
records left byte for byte as it was (bench/checks.py)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import urllib.request
from pathlib import Path

import pytest
import torch

from bench import checks
from bench.cli import build_parser, main
from bench.commands import suite

SHORT = ["--max-steps", "5", "--no-tables"]  # the probes; refused before the corpus is made
EARLIER = {"schema": 1, "run_id": "earlier", "status": "ok", "dataset": "synthetic", "model": "lstm",
           "preset": "cpu", "seed": 0, "config": {}, "metrics": {}}


@pytest.fixture
def results(tmp_path) -> Path:
    """A results folder with an earlier record, a table and a checkpoint of another run."""
    out = tmp_path / "results"
    (out / "checkpoints").mkdir(parents=True)
    (out / "records.jsonl").write_text(json.dumps(EARLIER) + "\n")
    (out / "tables.md").write_text("earlier tables\n")
    (out / "checkpoints" / "ptb-hsm-cpu-seed0.pt").write_bytes(b"another run's")
    return out


def snapshot(folder: Path) -> dict:
    """Every file and folder under `folder` with its sha256 (None for folders)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def refused(argv: list[str], folder: Path, capsys) -> str:
    """Run `argv`; assert exit 2, one line on stderr and `folder` untouched; return the line."""
    before = snapshot(folder)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert snapshot(folder) == before
    return err


@pytest.mark.parametrize("argv, needles", [
    # the rows
    (["--models", "lstm", "--set", "embedding_dim=-5"], ["--set embedding_dim=-5", "integer >= 1"]),
    (["--models", "lstm", "--set", "dropout=1.5"], ["--set dropout=1.5", "in [0, 1)"]),
    (["--models", "lstm", "--set", "layers=0"], ["--set layers=0", "integer >= 1"]),
    (["--models", "lstm", "--set", "hidden_dim=0"], ["--set hidden_dim=0", "integer >= 1"]),
    (["--models", "kn,lstm", "--set", "layers=0"], ["--set layers=0"]),  # kn neither trains nor appends
    (["--models", "lstm", "--set", "dropout=nan"], ["--set dropout='nan'", "finite number in [0, 1)"]),
    (["--models", "lstm", "--set", "hidden_dim=abc"], ["--set hidden_dim='abc'", "integer >= 1"]),
    (["--models", "lstm", "--threads", "0"], ["--threads must be an integer >= 1"]),
    (["--models", "lstm", "--lr", "inf"], ["lr=inf (must be finite and > 0)"]),
    (["--models", ""], ["--models '' names an empty model", "'kn'"]),
    (["--models", "lstm,lstm"], ["lists 'lstm' twice"]),
    (["--models", "lstm", "--kn-order", "0"], ["--kn-order must be an integer >= 1"]),
    (["--models", "nosuch"], ["unknown model 'nosuch'", "choose from ['kn', 'lstm'"]),
    # our own: keys one model has, reached through its constructor on meta
    (["--models", "lightrnn", "--set", "table=nosuch"], ["--set (model lightrnn)", "table='nosuch'"]),
    (["--models", "blackout", "--set", "objective=x"], ["--set (model blackout)", "objective='x'"]),
    (["--models", "hsm", "--set", "class_mode=x"], ["--set (model hsm)", "class_mode 'x'"]),
    (["--models", "chsm", "--set", "kernels=[1,2]"], ["--set (model chsm)", "one feature-map count per kernel"]),
    (["--models", "blackout", "--set", "alpha=2"], ["--set alpha=2", "in [0, 1]"]),
    (["--models", "blackout", "--set", "unigram=[1]"], ["--set unigram", "fills unigram from the corpus"]),
    (["--models", "lightrnn", "--set", "table=classes", "--dataset", "ptb"], ["only the synthetic corpus"]),
    (["--models", "lightrnn", "--set", "table=warm", "--set", "table_file=none.npy"], ["table_file='none.npy'"]),
    (["--models", "lstm", "--set", "embedding_dim=True"], ["--set embedding_dim=True", "integer"]),
    (["--models", "lstm", "--max-time", "inf"], ["max_time=inf (must be finite and > 0)"]),
    (["--models", "lstm", "--lr-floor", "nan"], ["lr_floor=nan"]),
    (["--models", "lstm", "--dataset-opt", "vocab_size=abc"], ["--dataset-opt", "vocab_size='abc'"]),
    (["--models", "lstm", "--resume", "--fresh"], ["--resume", "--fresh", "choose one"]),
])
def test_run_refuses_before_any_work(argv, needles, results, capsys):
    err = refused(["run", *SHORT, *argv, "--results", str(results)], results, capsys)
    assert all(n in err for n in needles), err


@pytest.mark.parametrize("where, needle", [
    (lambda r: r / "tables.md", "is a file, not a folder"),
    (lambda r: "", "--results '' is empty"),
    (lambda r: r / "tables.md" / "sub", "cannot be made"),
])
def test_results_that_is_no_folder_is_refused(where, needle, results, capsys):
    err = refused(["run", *SHORT, "--models", "lstm", "--results", str(where(results))], results, capsys)
    assert "--results" in err and needle in err
    assert not (Path.cwd() / "records.jsonl").exists()  # "" never meant the repository root


def test_records_that_are_a_folder_are_refused(tmp_path, capsys):
    (tmp_path / "records.jsonl").mkdir()
    assert "records.jsonl is not a file" in refused(["run", *SHORT, "--models", "kn", "--results", str(tmp_path)],
                                                    tmp_path, capsys)


def test_a_read_only_results_folder_is_refused_before_training(results, capsys, monkeypatch):
    if os.geteuid() == 0:  # root writes through chmod: make it a read-only mount's answer instead
        real = checks.tempfile.TemporaryFile

        def read_only(*args, dir=None, **kw):
            if dir is not None and Path(dir).resolve() == results.resolve():
                raise OSError(30, "Read-only file system")
            return real(*args, dir=dir, **kw)
        monkeypatch.setattr(checks.tempfile, "TemporaryFile", read_only)
    results.chmod(0o555)
    try:
        err = refused(["run", *SHORT, "--models", "lstm", "--results", str(results)], results, capsys)
    finally:
        results.chmod(0o755)
    assert f"--results {results} is not writable" in err


def test_a_file_as_data_dir_is_refused_without_a_download(tmp_path, capsys, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("tried the network")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for argv in (["info", "--dataset", "ptb"], ["run", "--dataset", "ptb", "--models", "kn", "--results",
                                                str(tmp_path / "r")],
                 ["suite", "real-cpu", "--models", "kn", "--results", str(tmp_path / "s")]):
        assert f"--data-dir {afile} is not a folder" in refused([*argv, "--data-dir", str(afile)], tmp_path, capsys)


@pytest.mark.parametrize("argv, needle", [
    (["scaling", "--threads", "0"], "--threads must be an integer >= 1"),
    (["scaling", "--models", "lstm", "lstm"], "lists a model twice"),
    (["scaling", "--time-budget", "inf"], "budgets finite and > 0"),
    (["suite", "smoke", "--models", ""], "--models '' names an empty model"),
    (["suite", "smoke", "--budget-s", "inf"], "--budget-s must be finite and > 0"),
    (["suite", "smoke", "--presets", "cpu-fresh"], "--presets: ['cpu-fresh'] not in suite smoke; its presets: ['cpu']"),
    (["suite", "smoke", "--presets", ","], "--presets: none given not in suite smoke"),
    (["params", "--model", "lstm", "--vocab", "100", "--set", "layers=0"], "--set layers=0"),
])
def test_other_commands_refuse_before_any_work(argv, needle, tmp_path, capsys):
    out = ["--out", str(tmp_path)] if argv[0] == "scaling" else ["--results", str(tmp_path)] \
        if argv[0] == "suite" else []
    assert needle in refused([*argv, *out], tmp_path, capsys)


def test_suite_stops_at_the_first_refused_run_with_the_hint(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(suite.subprocess, "call", lambda cmd: calls.append(cmd) or 2)  # as a missing corpus exits
    assert main(["suite", "smoke", "--results", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert len(calls) == 1 and "suite stopped: run 1 was refused" in err
    assert "python -m bench info --dataset synthetic --data-dir DIR" in err and "no records" not in err
    assert "--resume" in calls[0] and "--rerun-finished" in calls[0]


def test_suite_presets_runs_only_those_cells(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(suite.subprocess, "call", lambda cmd: calls.append(cmd) or 2)
    runs = [r for r in suite.plan("allocation-cpu") if r["preset"] == "cpu-rounds-clusters"]
    assert {(r["dataset"], r["seed"]) for r in runs} == {("ptb", 0), ("ptb", 1), ("brown", 0), ("brown", 1)}
    assert main(["suite", "smoke", "--presets", "cpu", "--models", "lightrnn", "--results", str(tmp_path / "s")]) == 2
    assert calls and all(c[c.index("--preset") + 1] == "cpu" and c[c.index("--models") + 1] == "lightrnn"
                         for c in calls)


@pytest.mark.parametrize("sets", [
    ["table=frequency"], ["table=warm", "table_file=__file__"], ["table=clusters", "table_source=lstm"],
    ["objective='sampled-softmax'", "samples=10", "alpha=0.5"], ["class_mode=frequency"],
    ["cutoffs=[10,30]", "div_value=2.0"], ["input_dropout=None", "dropout=0"], ["char_dim=8", "highway=0"],
])
def test_keys_that_are_not_plain_sizes_keep_working(sets, tmp_path):
    sets = [s.replace("__file__", str(tmp_path / "t.npy")) for s in sets]
    (tmp_path / "t.npy").write_bytes(b"")
    args = build_parser().parse_args(["run", "--dataset-opt", "vocab_size=60", "--dataset-opt", "classes=6",
                                      "--results", str(tmp_path / "r"), *(x for s in sets for x in ("--set", s))])
    plan = checks.run_plan(args, torch.device("cpu"))  # every model that has the keys: no error
    assert plan.names[0] == "kn" and not (tmp_path / "r").exists()


def test_every_option_has_help_showing_one_default():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        fmt = p._get_formatter()
        for a in p._actions:
            assert a.help, f"{name} {a.option_strings or a.dest} has no help"
            assert fmt._expand_help(a).lower().count("default") <= 1, f"{name} {a.option_strings}"
