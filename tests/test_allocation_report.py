"""The allocation study's plan and tables (bench/suites.py's
allocation-cpu, bench/report/allocation.py): every cell's seed 0 first, the
argmax-row bootstrap's own epochs, and the regret and the halves computed
from the records' best-point test PPL."""

from __future__ import annotations

from bench.commands import suite
from bench.report import allocation, bootstrap


def rec(model, preset, seed, test, dataset="ptb", curve=None, **metrics):
    curve = curve or [[0, 0.0, 900.0], [10, 100.0, test + 5]]
    return {"dataset": dataset, "model": model, "preset": preset, "seed": seed, "status": "ok", "run_id": f"{preset}{seed}",
            "git_sha": "abc", "time": f"2026-12-07T0{seed}", "curve": curve, "rounds": [{"round": 0}],
            "env": {"device": "cpu", "device_name": "x86_64"},
            "metrics": {"test_ppl_best": test, "epochs": 1, **metrics}}


def test_plan_runs_every_cells_first_seed_first_and_the_argmax_bootstrap_for_two_epochs():
    runs = suite.plan("allocation-cpu")
    seeds = [r["seed"] for r in runs]
    assert seeds == sorted(seeds)  # all of seed 0 before any seed 1
    cells = {(r["dataset"], r["model"], r["preset"]) for r in runs}
    for m, p in [("lightrnn", "cpu-fixed-frequency"), ("lightrnn", "cpu-fixed-clusters"), ("lightrnn", "cpu-no-move"),
                 ("hsm", "cpu"), ("ablation-table-input", "cpu-ablations"), ("ablation-table-output", "cpu-ablations"),
                 ("ablation-argmax-row", "cpu-ablations"), ("lightrnn", "cpu-fresh"),
                 ("ablation-argmax-row", "cpu-rounds-argmax"), ("lightrnn", "cpu-rounds-clusters")]:
        assert {("ptb", m, p), ("brown", m, p)} <= cells
    assert all(r.get("epochs") == 2 for r in runs if r["preset"] == "cpu-rounds-argmax")
    assert len(runs) == len({tuple(sorted(r.items())) for r in runs}) == 2 * 2 * 10


def test_regret_and_halves_are_read_off_the_best_point_figures():
    recs = [rec("hsm", "cpu", s, 100.0 + s) for s in (0, 1)]  # mean 100.5
    recs += [rec("lightrnn", "cpu-no-move", s, 180.0 + 2 * s) for s in (0, 1)]  # mean 181
    recs += [rec("lightrnn", "cpu-fixed-clusters", s, 170.0) for s in (0, 1)]
    recs += [rec("lightrnn", "cpu-fixed-frequency", 0, 250.0)]
    recs += [rec("ablation-table-input", "cpu-ablations", 0, 120.5)]  # closes (181 - 120.5) / 80.5 of the gap
    text = allocation.render(recs)
    ptb = text.split("## ptb")[1]
    assert "Best: cpu-fixed-clusters. Regret (random - best): 11.0 PPL (6.5% of the best)." in ptb
    assert "| (a) table input, full-softmax output | 120.5 | 20.0 | 75% |" in ptb
    assert "| LightRNN, random table fixed | 181.0 | 80.5 | - |" in ptb
    assert "| (b) word input, factorised output | - | - | - |" in ptb


def test_fresh_start_is_compared_at_equal_seconds_since_its_move():
    fixed = rec("lightrnn", "cpu-no-move", 0, 180.0, curve=[[0, 0.0, 900.0], [1, 300.0, 400.0], [2, 600.0, 300.0]])
    fresh = rec("lightrnn", "cpu-fresh", 0, 190.0, curve=[[0, 0.0, 900.0], [1, 1000.0, 260.0], [2, 1001.0, 9000.0],
                                                           [3, 1400.0, 450.0], [4, 1610.0, 390.0]])
    fresh["rounds"] = [{"round": 0}, {"round": 1, "seconds": 1000.0, "valid_ppl_before": 260.0}]
    cut = {**fresh, "seed": 1, "status": "interrupted"}  # killed after its move: the move shows, its end does not
    text = allocation.render([fixed, fresh, cut])
    assert "| 0 | ok | 1000 s | 260.0 | 390.0 after 610 s | 300.0 |" in text
    assert "| 1 | interrupted | 1000 s | 260.0 | - | - |" in text


def test_each_moved_cell_is_set_against_its_table_held_fixed():
    recs = [rec("lightrnn", "cpu-fixed-clusters", s, 136.0 + 2 * s) for s in (0, 1)]  # 137 +- 1.4
    moved = rec("lightrnn", "cpu-rounds-clusters", 0, 150.0)
    moved["rounds"] = [{"round": 0}, {"round": 1, "seconds": 900.0}]
    recs += [moved, rec("lightrnn", "cpu-rounds-clusters", 1, 140.0)]  # seed 1 never moved
    recs += [rec("lightrnn", "cpu-no-move", 0, 180.0)]
    text = allocation.render(recs)
    assert "| clusters start, paper's rounds | 145.0 ± 7.1 (n=2) | 137.0 ± 1.4 (n=2) | +8.0 | 0.5 |" in text
    assert "| fresh start after each move | - | 180.0 (n=1) | - | - |" in text


def test_a_rerun_under_way_does_not_hide_the_finished_run():
    done = rec("ablation-table-output", "cpu-ablations", 0, 157.2)
    rerun = {**done, "status": "interrupted", "time": "2026-12-08T00", "metrics": {"epochs": 1}}  # killed part-way
    refs = [rec("hsm", "cpu", 0, 108.6), rec("lightrnn", "cpu-no-move", 0, 181.4)]
    ptb = allocation.render([*refs, done, rerun]).split("## ptb")[1]
    assert "| (b) word input, factorised output | 157.2 |" in ptb
    later = {**done, "time": "2026-12-09T00", "metrics": {"test_ppl_best": 150.0, "epochs": 1}}  # the rerun's end
    ptb = allocation.render([*refs, done, rerun, later]).split("## ptb")[1]
    assert "| (b) word input, factorised output | 150.0 |" in ptb


def test_the_bootstrap_tables_keep_the_finished_run_too():
    done = rec("lightrnn", "cpu-rounds-clusters", 0, 149.5)
    rerun = {**done, "status": "interrupted", "time": "2026-12-08T00"}
    got = bootstrap.runs([rec("lightrnn", "cpu-no-move", 0, 181.4), done, rerun])
    assert got["ptb"]["cpu-rounds-clusters"][0] is done
