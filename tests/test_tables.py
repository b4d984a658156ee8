"""Tables are pure functions of the records: pinned by golden files.

tests/golden/records.jsonl holds hand-made records covering every case (a
superseded run, failed runs, missing models, two embedding sizes, LightRNN
rounds with class scores and a case study, BillionW with an OOM baseline).
Regenerate the golden markdown after an intended change with
`UPDATE_GOLDEN=1 pytest tests/test_tables.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.cli import main
from bench.report import records, tables

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def recs():
    return records.read(GOLDEN / "records.jsonl")


@pytest.mark.parametrize("name", ["table5", "table2", "table3", "table4", "lightrnn_rounds"])
def test_table_matches_golden(recs, name):
    got = getattr(tables, name)(recs)
    path = GOLDEN / f"{name}.md"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(got)
    assert got == path.read_text()


def test_render_is_every_table_in_order(recs):
    doc = tables.render(recs)
    heads = [line for line in doc.splitlines() if line.startswith("### ")]
    assert [h.split(":")[0] for h in heads] == ["### Table 5", "### Table 2", "### Table 3", "### Table 4",
                                                "### LightRNN bootstrap rounds and word table"]


def test_newest_record_wins_and_missing_cells_are_dashes(recs):
    t5 = tables.table5(recs)
    assert "40.2 / 804.0K" in t5 and "99.0" not in t5  # run s1 supersedes s-old
    ptb_row = next(line for line in t5.splitlines() if line.startswith("| ptb"))
    assert ptb_row.split(" | ")[3:5] == ["-", "-"]  # no HSM, no adaptive run on ptb


def test_a_rerun_under_way_does_not_hide_the_finished_run(recs):
    done = next(r for r in recs if r["run_id"] == "s1")
    rerun = {**done, "run_id": "s1-rerun", "status": "interrupted", "time": "2026-12-07T20:00:00"}
    assert "40.2 / 804.0K" in tables.table5([*recs, rerun])  # the finished run's figure, not "interrupted"
    assert "40.2 / 804.0K" in tables.table5([rerun, *recs])  # whatever the file order
    newer = {**rerun, "run_id": "s1-new", "status": "diverged", "time": "2026-12-07T21:00:00"}
    assert "diverged" in tables.table5([*recs, rerun, newer])  # a rerun that ended (failed) is news


def test_empty_records_give_dashes_not_errors():
    doc = tables.render([])
    assert "_From: no runs yet._" in doc and "| LightRNN | - | - |" in doc


def test_time_to_target_reads_the_curve_and_charges_the_start_table():
    curve = [[0, 0.0, 500.0], [10, 2.0, 150.0], [20, 4.0, 120.0], [30, 6.0, 110.0]]
    run = {"curve": curve, "metrics": {}}
    assert tables.time_to_target(run, 120.0) == 4.0  # first point at or below the target
    assert tables.time_to_target(run, 100.0) is None  # never reached
    assert tables.time_to_target(run, None) is None
    # a start table's seconds came off the run's budget before its curve began
    assert tables.time_to_target({"curve": curve, "metrics": {"table_s": 300.0}}, 120.0) == 304.0


def test_tables_command_regenerates_markdown_and_plots(tmp_path, recs):
    (tmp_path / "records.jsonl").write_bytes((GOLDEN / "records.jsonl").read_bytes())
    assert main(["tables", "--results", str(tmp_path)]) == 0
    assert (tmp_path / "tables.md").read_text() == tables.render(recs)
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == ["classes-synthetic-cpu.png", "curve-billionw-paper.png", "curve-ptb-paper.png",
                    "curve-synthetic-cpu.png"]


def test_tables_without_records_is_a_one_line_error(tmp_path, capsys):
    assert main(["tables", "--results", str(tmp_path)]) == 2
    assert "no records at" in capsys.readouterr().err
