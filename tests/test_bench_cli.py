"""The command line: bad input refused in one clear line before anything is
written, every tool a subcommand with --help, and the resumable suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.cli import main
from bench.report import records


@pytest.mark.parametrize("argv, needle", [
    (["--models", "lstm,nosuch"], "unknown model 'nosuch'"),
    (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["--set", "nosuch=1", "--models", "lstm"], "unknown config keys"),
])
def test_bad_input_is_one_line_naming_the_choices(tmp_path, capsys, argv, needle):
    assert main(["run", *argv, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and ("choose from" in err or "valid keys" in err)
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "records.jsonl").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--epochs", "-1"], "epochs=-1 (must be >= 1)"),
    (["--lr", "0"], "lr=0.0 (must be > 0)"),
    (["--lr-decay", "1.5"], "lr_decay=1.5 (must be in (0, 1])"),
    (["--lr-decay-rule", "never"], "choose from 'best', 'kim'"),
    (["--max-time", "-5"], "max_time > 0"),
])
def test_out_of_range_settings_are_refused_before_anything_is_written(tmp_path, capsys, argv, needle):
    (tmp_path / "tables.md").write_text("kept")
    assert main(["run", *argv, "--models", "lstm", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "records.jsonl").exists() and (tmp_path / "tables.md").read_text() == "kept"


@pytest.mark.parametrize("command", ["run", "suite", "info", "params", "tables", "realloc", "scaling", "kn", "gpu",
                                     "ddp-bytes", "regress"])
def test_every_tool_is_a_subcommand_with_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0 and "usage: python -m bench " + command in capsys.readouterr().out


def test_suite_skips_finished_runs_and_reruns_unfinished_ones(tmp_path, capsys, monkeypatch):
    from bench.commands import suite

    monkeypatch.setattr(suite, "MIN_CPU_SHARE", 0.0)  # a busy machine must not make a run "short of its core"
    out = tmp_path / "s"
    assert main(["suite", "smoke", "--results", str(out)]) == 0
    rows = records.read(out / "records.jsonl")
    assert sorted((r["model"], r["seed"], r["status"]) for r in rows) == [
        ("lightrnn", 0, "ok"), ("lightrnn", 1, "ok"), ("lstm", 0, "ok"), ("lstm", 1, "ok")]
    suite_md = (out / "suite.md").read_text()
    assert "LSTM (full softmax) | " in suite_md and "± " in suite_md and "(n=2)" in suite_md
    # A run that did not end for good is run again; the finished ones are not.
    kept = [r for r in rows if not (r["model"] == "lstm" and r["seed"] == 1)]
    (out / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    capsys.readouterr()
    assert main(["suite", "smoke", "--results", str(out), "--dry-run"]) == 0
    assert "3 done, 1 to go" in capsys.readouterr().out
    assert main(["suite", "smoke", "--results", str(out), "--models", "lightrnn", "--dry-run"]) == 0
    assert "2 runs, 2 done, 0 to go" in capsys.readouterr().out
    assert main(["suite", "smoke", "--results", str(out), "--models", "hsm"]) == 2
    assert "not in suite smoke" in capsys.readouterr().err
    assert main(["suite", "smoke", "--results", str(out)]) == 0
    again = records.read(out / "records.jsonl")
    assert len(again) == 4 and suite.done(again, {"dataset": "synthetic", "model": "lstm", "seed": 1, "preset": "cpu"})


def test_real_cpu_suite_trains_lightrnn_with_its_bootstrap():
    """LightRNN runs under the paper's plateau rounds with the cpu preset's lr
    schedule, from the clusters table (cpu-rounds-clusters), every other model
    under cpu: under cpu's even rounds the suite's 100 epochs put the only move
    at epoch 50. The paper's random start stays beside it (cpu-rounds)."""
    from bench.commands import suite
    from bench.presets import PRESETS

    runs = suite.plan("real-cpu")
    assert {r["preset"] for r in runs if r["model"] == "lightrnn"} == \
        {"cpu-rounds-clusters", "cpu-fixed-clusters", "cpu-rounds", "cpu-no-move", "cpu-bootstrap",
         "cpu-rounds-100", "cpu-rounds-400"}
    start = PRESETS["cpu-rounds-clusters"]  # the clusters start, the paper's rounds: only the table differs
    assert start.train == PRESETS["cpu-rounds"].train and start.models["lightrnn"]["config"] == \
        dict(PRESETS["cpu-rounds"].models["lightrnn"]["config"], table="clusters")
    assert PRESETS["cpu-fixed-clusters"].train == PRESETS["cpu-no-move"].train
    assert {r["preset"] for r in runs if r["model"] != "lightrnn"} == {"cpu"}
    rounds, cpu, fixed, late = (PRESETS[p].train for p in ("cpu-rounds", "cpu", "cpu-no-move", "cpu-bootstrap"))
    assert rounds["round_schedule"] == "plateau" and rounds["rounds"] >= 4
    assert {k: v for k, v in rounds.items() if k not in ("rounds", "round_schedule")} == \
        {k: v for k, v in cpu.items() if k != "rounds"}  # the same lr schedule as the baselines
    assert fixed == dict(cpu, rounds=1)  # the control: the same training, no move
    assert late == dict(rounds, round_full_lr=False)  # moves at any lr, as the first runs did
    for d in (100, 400):  # Table 2's sizes: only the LightRNN's size differs from cpu-rounds
        size = PRESETS[f"cpu-rounds-{d}"]
        assert size.train == rounds and size.models["lightrnn"]["config"] == \
            dict(PRESETS["cpu-rounds"].models["lightrnn"]["config"], embedding_dim=d, hidden_dim=d)
    # corpora x seeds x (KN + 7 neural models); the clusters table held fixed, the random start's rounds,
    # its control and cpu-bootstrap on both corpora; two sizes on PTB
    assert len(runs) == 2 * 2 * 8 + 2 * 2 * 4 + 2 * 2
    assert len({(r["dataset"], r["model"], r["preset"], r["seed"]) for r in runs}) == len(runs)


def test_suite_tables_average_over_seeds():
    from bench.report import suite_tables

    def rec(model, seed, ppl, status="ok", t="2026", preset="cpu", dim=200):
        return {"dataset": "ptb", "model": model, "seed": seed, "status": status, "time": t, "preset": preset,
                "run_id": f"{model}{seed}{preset}", "git_sha": "abc", "env": {"device": "cpu", "device_name": "x"},
                "config": {"model": {"embedding_dim": dim}},
                "metrics": {"test_ppl": ppl, "valid_ppl": ppl + 5, "params_total": 1000 * dim, "realloc_ratio": 0.02,
                            "tokens_per_s": 1000.0 + seed, "cpu_share": 0.9 + seed / 20, "host_busy_cores": 1.0 + seed,
                            "gemm_gflops_start": 80.0},
                "curve": [[0, 0.0, 900.0], [10, 50.0, ppl + 30], [20, 100.0, ppl + 5]]}

    recs = [rec("hsm", 0, 100.0), rec("hsm", 1, 110.0), rec("lightrnn", 0, 120.0), rec("lightrnn", 1, 1e9, "oom"),
            rec("hsm", 1, 999.0, t="2025"),  # an older record of seed 1: the newest wins
            rec("lightrnn", 0, 130.0, preset="no-move"), rec("lightrnn", 1, 140.0, preset="no-move"),
            rec("lightrnn", 0, 150.0, preset="small", dim=100)]
    text = suite_tables.table5(recs)
    assert "| HSM | cpu | 105.0 ± 7.1 (n=2) |" in text and "| LightRNN | cpu | 120.0 (n=1) |" in text
    assert "| LightRNN | no-move | 135.0 ± 7.1 (n=2) |" in text and "oom" in text  # a preset is a row of its own
    t3 = suite_tables.table3(recs)
    # target: the HSM's mean final valid ppl, (105 + 115) / 2; only its seed 0 gets there (at 100 s)
    assert "target 110.0" in t3 and "| 100.0 (n=1); 1 of 2 reached |" in t3 and "| cpu | 125.0 (n=1) | -; 0 of 1" in t3
    assert "| 2.00 (n=1) | 1000 (n=1) | 0.90 (n=1) | 1.00 (n=1) | 80 (n=1) | oom |" in t3  # a failed run is a status, not a missing row
    # throughput, the run's own share of a core, and how busy the machine was
    assert "| 1000 ± 1 (n=2) | 0.93 ± 0.04 (n=2) | 1.50 ± 0.71 (n=2) | 80 ± 0 (n=2) | - |" in t3
    t2 = suite_tables.table2(recs, ["small", "cpu", "absent"])
    assert "| 100 | small | 150.0 (n=1) | 100.0K | - |" in t2 and "| 200 | cpu | 120.0 (n=1) | 200.0K | oom |" in t2
    assert "absent" not in t2 and "no-move" not in t2


def test_suite_figure_draws_one_band_per_model_and_preset(tmp_path):
    from bench.report import plots

    def rec(model, seed, preset, scale):
        return {"dataset": "ptb", "model": model, "seed": seed, "preset": preset, "status": "ok", "time": "2026",
                "metrics": {"valid_ppl": 100.0}, "rounds": [{"round": 0}, {"seconds": 40.0, "valid_ppl_after": 900.0}],
                "curve": [[0, 0.0, 1000.0 * scale], [5, 30.0, 300.0 * scale], [9, 60.0 + seed, 200.0 * scale]]}

    recs = [rec("lightrnn", s, p, k) for s in (0, 1) for k, p in ((1, "a"), (2, "b"))] + [rec("kn", 0, "cpu", 1)]
    recs.append({**rec("lstm", 0, "cpu", 1), "status": "oom", "curve": []})  # no point to draw: skipped
    (path,) = plots.suite_curves(recs, tmp_path / "a")
    assert path.name == "suite-ptb.png" and path.stat().st_size > 10_000
    assert plots.suite_curves(recs, tmp_path / "b")[0].read_bytes() == path.read_bytes()  # same records, same bytes
    assert plots.suite_curves(recs[:1], tmp_path / "c")[0].read_bytes() != path.read_bytes()


def test_a_renewed_model_counts_only_runs_from_its_commit_on():
    import subprocess

    from bench.commands import suite

    def sha(*rev):
        return subprocess.run(["git", "rev-parse", *rev], cwd=suite.REPO, capture_output=True, text=True,
                              check=True).stdout.split()[-1]

    head, parent = sha("HEAD"), sha("HEAD~1")
    run = {"dataset": "ptb", "model": "hsm", "seed": 0, "preset": "cpu"}

    def rec(git_sha):
        return {**run, "status": "ok", "git_sha": git_sha}

    assert suite.done([rec(parent)], run) and suite.done([rec(head)], run, {"hsm": parent})
    assert suite.done([rec(head + "+dirty")], run, {"hsm": head})
    assert not suite.done([rec(parent)], run, {"hsm": head})  # made before the renewal: run again
    assert not suite.done([rec(None)], run, {"hsm": head})
    assert suite.done([rec(parent)], run, {"lstm": head})  # another model's renewal
    # a renewal for one corpus: the other corpus's runs still count; both renewals apply
    assert not suite.done([rec(parent)], run, {"hsm@ptb": head}) and suite.done([rec(parent)], run, {"hsm@brown": head})
    assert not suite.done([rec(parent)], run, {"hsm": parent, "hsm@ptb": head})
    assert not suite.done([rec(parent)], run, {"hsm": head, "hsm@ptb": parent})


def test_a_run_short_of_its_core_is_run_again():
    from bench.commands import suite

    run = {"dataset": "ptb", "model": "hsm", "seed": 0, "preset": "cpu"}

    def rec(share, model="hsm"):
        return {**run, "model": model, "status": "ok", "metrics": {"cpu_share": share}}

    assert not suite.done([rec(0.75)], run)  # 3/4 of a core: a quarter of its budget lost
    assert suite.done([rec(suite.MIN_CPU_SHARE)], run) and suite.done([rec(1.0)], run)
    assert suite.done([rec(None)], run) and suite.done([{**run, "status": "ok"}], run)  # before the meter
    assert suite.done([rec(0.75), rec(0.98)], run)  # the rerun counts
    kn = {**run, "model": suite.KN}
    assert suite.done([rec(0.5, suite.KN)], kn)  # no budget: its share changes nothing


def test_a_reader_that_closes_stdout_early_ends_the_command_quietly():
    """`python -m bench ... | head` closes the pipe before the output ends:
    exit 141 (128 + SIGPIPE) with no traceback, as Unix tools do. The read end
    is closed before the command starts, so its first write meets a closed pipe."""
    r, w = os.pipe()
    os.close(r)
    try:
        done = subprocess.run([sys.executable, "-m", "bench", "params", "--model", "lstm", "--vocab", "1000"],
                              stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""
