"""bench.commands.regress: the `asv compare` table parser (on captured asv 0.6 output)
and the whole check on a throw-away git repo with two stored results."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from bench.commands import regress

FIXTURE = Path(__file__).parent / "fixtures" / "asv_compare_split.txt"
NAME = "bench_models.ParamCount.track_params"


def test_parse_captured_compare_output():
    rows = regress.parse_compare(FIXTURE.read_text())
    assert len(rows) == 16  # every parameter combination, across the three --split tables
    by_name = {r.name: r for r in rows}
    assert by_name[f"{NAME}('adaptive', 10000)"].mark == "-"  # improved: not a separator
    assert by_name[f"{NAME}('hsm', 10000)"].after == "failed"
    bad = regress.regressions(rows)
    assert [(r.mark, r.name, r.ratio) for r in bad] == [
        ("!", f"{NAME}('lightrnn', 10000)", "n/a"),
        ("+", f"{NAME}('lstm', 200000)", "1.50"),
    ]


def test_previous_commit_is_newest_stored_ancestor(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "machine.json").write_text("{}")
    for h in ("a" * 40, "c" * 40):
        (folder / f"{h[:8]}-env.json").write_text(json.dumps({"commit_hash": h}))
    history = ["d" * 40, "c" * 40, "b" * 40, "a" * 40]  # newest first
    assert regress.previous_commit(tmp_path, "m", "d" * 40, history) == "c" * 40
    assert regress.previous_commit(tmp_path, "m", "c" * 40, history[1:]) == "a" * 40
    assert regress.previous_commit(tmp_path, "absent", "d" * 40, history) is None


def _result(commit: str, values: list) -> dict:
    """One asv (v2 format) result file for a track benchmark with two params."""
    return {"commit_hash": commit, "env_name": "existing-py_x", "date": 0,
            "params": {"machine": "m", "python": "x"}, "python": "x", "requirements": {},
            "env_vars": {}, "result_columns": ["result", "params", "version"],
            "results": {NAME: [values, [["'a'", "'b'"]], "v1"]}, "durations": {}, "version": 2}


@pytest.mark.parametrize("after, code", [([100, 200], 0), ([100, 400], 1), ([100, None], 1)])
def test_regress_end_to_end(tmp_path, monkeypatch, after, code):
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    heads = []
    for msg in ("one", "two"):
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", msg], check=True)
        heads.append(subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                                    text=True).stdout.strip())
    (tmp_path / "asv.conf.json").write_text(json.dumps(
        {"version": 1, "project": "t", "repo": ".", "environment_type": "existing",
         "results_dir": ".asv/results", "html_dir": ".asv/html"}))
    results = tmp_path / ".asv" / "results"
    (results / "m").mkdir(parents=True)
    (results / "benchmarks.json").write_text(json.dumps({NAME: {
        "name": NAME, "type": "track", "unit": "parameters", "param_names": ["model"],
        "params": [["'a'", "'b'"]], "version": "v1"}, "version": 2}))
    (results / "m" / "machine.json").write_text(json.dumps({"machine": "m", "version": 1}))
    for head, values in zip(heads, ([100, 200], after), strict=True):
        (results / "m" / f"{head[:8]}-existing-py_x.json").write_text(json.dumps(_result(head, values)))
    monkeypatch.chdir(tmp_path)
    assert main(["regress", "--machine", "m", "--factor", "1.5"]) == code


def test_missing_config_is_one_line_error(tmp_path, capsys):
    assert main(["regress", "--config", str(tmp_path / "nope.json")]) == 2
    assert "nope.json not found" in capsys.readouterr().err
