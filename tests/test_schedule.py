"""LightRNN's round schedule and the policies around a reallocation
(bench/train/schedule.py), the move penalty, and the oracle (true-class)
table held fixed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

import datasets
import models
from bench.cli import main
from bench.report import records
from bench.report.class_recovery import table_class_scores
from bench.train import schedule, trainer
from bench.train.config import TrainConfig
from models.bootstrap.passes import accumulate_losses
from models.bootstrap.round import reallocation_round
from models.bootstrap.rows_first import match_columns
from models.lightrnn import class_table

CPU = torch.device("cpu")


def scripted(monkeypatch, ppls: list[float]):
    """The trainer's validation perplexities, in order (one per valid point)."""
    it = iter(ppls)

    def evaluate(*a, per_token=False, **k):  # the final test/valid scoring gets a constant
        return (100.0, np.zeros(1, np.float32)) if per_token else next(it)

    monkeypatch.setattr(trainer, "evaluate", evaluate)


def tiny_light(table="random", **kw):
    torch.manual_seed(0)
    return models.build("lightrnn", 60, embedding_dim=8, hidden_dim=8, layers=1, dropout=0.0, table=table, **kw)


def corpus():
    return datasets.load("synthetic", vocab_size=60, classes=6, train_tokens=2000, valid_tokens=200,
                         test_tokens=200)


def fake_rounds(monkeypatch, model):
    """end_of_round without the work: each call logged, the table kept."""
    calls = []

    def end_of_round(*a, **k):
        calls.append(len(calls))
        return {"moved": 0}

    monkeypatch.setattr(model, "end_of_round", end_of_round)
    return calls


def test_plateau_reallocates_at_each_stall_and_stops_when_a_round_does_not_help(monkeypatch):
    # start, then epochs: 100 90 95(stall: round 1 ends at 90, move) | after 300, 80 85(stall: 80 < 90, move)
    # | after 300, 85 86(stall: 85 >= 80, no move: rounds over) 70 71 (no more moves)
    scripted(monkeypatch, [500, 100, 90, 95, 300, 80, 85, 300, 85, 86, 70, 71, 71])
    model = tiny_light()
    calls = fake_rounds(monkeypatch, model)
    cfg = TrainConfig(epochs=10, rounds=4, round_schedule="plateau", batch_size=8, bptt=10, lr_decay_start=100)
    res = trainer.train(model, corpus(), cfg, CPU, progress=False)
    assert len(calls) == 2  # 2 moves, though rounds=4 allowed 3
    assert [e["epoch"] for e in res.rounds[1:]] == [3, 5]
    assert [(e["valid_ppl_before"], e["valid_ppl_after"]) for e in res.rounds[1:]] == [(95, 300), (85, 300)]
    assert res.metrics["epochs"] == 10  # training went on after the rounds were over


@pytest.mark.parametrize("full_lr, moves", [(True, []), (False, [3, 5])])
def test_plateau_rounds_end_only_while_the_lr_is_at_its_start(monkeypatch, full_lr, moves):
    # the lr halves after every epoch; stalls at epochs 3 (89.5) and 5 (79.9 beats 89.5)
    scripted(monkeypatch, [500, 100, 90, 89.5, 300, 80, 79.9, 300, 70])
    model = tiny_light()
    calls = fake_rounds(monkeypatch, model)
    cfg = TrainConfig(epochs=6, rounds=4, round_schedule="plateau", batch_size=8, bptt=10, lr_decay_start=1,
                      lr_floor=0, round_full_lr=full_lr)
    res = trainer.train(model, corpus(), cfg, CPU, progress=False)
    assert [e["epoch"] for e in res.rounds[1:]] == moves and len(calls) == len(moves)
    assert res.metrics["epochs"] == 6


def test_plateau_stops_at_the_round_limit(monkeypatch):
    scripted(monkeypatch, [500, 100, 101, 300, 90, 91, 300, 80, 81, 79, 78])
    model = tiny_light()
    calls = fake_rounds(monkeypatch, model)
    cfg = TrainConfig(epochs=8, rounds=2, round_schedule="plateau", batch_size=8, bptt=10, lr_decay_start=100)
    trainer.train(model, corpus(), cfg, CPU, progress=False)
    assert len(calls) == 1


def test_even_schedule_splits_the_epochs(monkeypatch):
    scripted(monkeypatch, [500] + [100.0] * 12)
    model = tiny_light()
    calls = fake_rounds(monkeypatch, model)
    res = trainer.train(model, corpus(), TrainConfig(epochs=6, rounds=3, batch_size=8, bptt=10), CPU, progress=False)
    assert len(calls) == 2 and [e["epoch"] for e in res.rounds[1:]] == [2, 4]


@pytest.mark.parametrize("policy", ["keep", "restart"])
def test_after_move_keeps_or_restarts_the_lr_schedule(monkeypatch, policy):
    # lr halves every epoch from the 2nd; one move after epoch 2 (even split of 4 epochs)
    scripted(monkeypatch, [500, 100, 90, 300, 80, 70])
    model = tiny_light()
    fake_rounds(monkeypatch, model)
    cfg = TrainConfig(epochs=4, rounds=2, batch_size=8, bptt=10, lr_decay_start=2, after_move=policy, lr_floor=0)
    res = trainer.train(model, corpus(), cfg, CPU, progress=False)
    # keep: decays after epochs 2, 3, 4; restart: lr back to 1 after the move at epoch 2, then
    # epochs count from there (decay at round epoch >= 2: only after epoch 4)
    assert res.metrics["final_lr"] == (0.125 if policy == "keep" else 0.5)


def test_a_gain_below_round_min_gain_is_a_stall():
    cfg = TrainConfig(epochs=10, rounds=3, round_schedule="plateau", round_min_gain=0.01)
    st = schedule.start({"rounds": [{}], "epoch": 1, "lr": cfg.lr})
    assert not schedule.reallocate_now(cfg, st, 100.0)
    st["epoch"] = 2
    assert not schedule.reallocate_now(cfg, st, 98.0)  # 2% better: the round goes on
    st["epoch"] = 3
    assert schedule.reallocate_now(cfg, st, 97.5)  # 0.5% better: a stall, at the round's best 97.5
    assert st["round_ends"] == [97.5]
    with pytest.raises(ValueError, match="round_min_gain"):
        TrainConfig(round_min_gain=1.0)


def test_schedule_state_survives_an_older_checkpoint():
    st = schedule.start({"rounds": [{}], "epoch": 3})
    assert st["round_best"] == math.inf and st["round_ends"] == [] and not st["rounds_over"]


def test_bad_schedule_names_fail_early():
    with pytest.raises(ValueError, match="round_schedule"):
        TrainConfig(round_schedule="often")
    with pytest.raises(ValueError, match="after_move"):
        TrainConfig(after_move="forget")
    with pytest.raises(ValueError, match="table"):
        tiny_light(table="best")
    with pytest.raises(ValueError, match="move_penalty"):
        tiny_light(move_penalty=-1)


def round_on(model, ids, penalty):
    return reallocation_round(model, ids, 8, 10, move_penalty=penalty)


def test_move_penalty_is_a_trust_region_and_its_prediction_is_the_unpenalised_cost():
    ids = corpus().train
    free, held = tiny_light(), tiny_light(move_penalty=1e6)
    old = held.word_table.clone()
    loss_row, loss_col, _ = accumulate_losses(held, ids, 8, 10)
    f = round_on(held, ids, 1e6)
    assert f["moved"] == 0 and f["penalty"] == 0.0 and torch.equal(held.word_table, old)
    g = round_on(free, ids, 0.0)
    assert g["moved"] > 0 and g["penalty"] == 0.0
    # a moderate penalty: fewer moves; the predicted NLL is the new table's cost on the plain tables
    mid = tiny_light(move_penalty=0.03)
    h = round_on(mid, ids, 0.03)
    assert 0 < h["moved"] < g["moved"]
    new = mid.word_table.numpy()
    plain = (loss_row.numpy()[np.arange(60), new // mid.cols].sum() + loss_col.numpy()[np.arange(60), new % mid.cols].sum())
    assert h["nll_per_token_predicted"] * h["pass_tokens"] == pytest.approx(plain, rel=1e-5)
    assert h["penalty"] > 0 and h["cost"] - h["penalty"] == pytest.approx(plain, rel=1e-5)
    # it is the exact optimum of the penalised problem
    charge = 0.03 * np.bincount(np.asarray(ids[: len(ids) // 8 * 8]).reshape(8, -1).T[1:].ravel(), minlength=60)
    lr, lc = loss_row.numpy() + charge[:, None], loss_col.numpy() + charge[:, None]
    lr[np.arange(60), old.numpy() // mid.cols] -= charge
    lc[np.arange(60), old.numpy() % mid.cols] -= charge
    full = (lr[:, :, None] + lc[:, None, :]).reshape(60, -1)  # [V, R*C], scipy's exact assignment
    words, cells = linear_sum_assignment(full)
    assert h["cost"] == pytest.approx(full[words, cells].sum(), rel=1e-5)


def test_class_table_puts_each_class_in_its_own_row():
    cls = np.random.default_rng(0).permutation(np.arange(2025) % 45)
    t = class_table(cls, 2025).numpy()
    assert np.unique(t).size == 2025
    assert all(np.unique(cls[t // 45 == r]).size == 1 for r in range(45))
    with pytest.raises(ValueError, match="class for each"):
        class_table(np.zeros(3), 10)


def test_oracle_table_run_holds_the_true_class_table_fixed(tmp_path):
    # V = 36 words in 6 classes of 6: a 6 x 6 table where each class can fill a row
    data = ["--dataset-opt", "vocab_size=36", "--dataset-opt", "classes=6", "--dataset-opt", "train_tokens=2000",
            "--dataset-opt", "valid_tokens=200", "--dataset-opt", "test_tokens=200"]
    rc = main(["run", *data, "--models", "lightrnn", "--set", "table=classes", "--set", "embedding_dim=8",
               "--set", "hidden_dim=8", "--set", "layers=1", "--epochs", "3", "--rounds", "3", "--bptt", "10",
               "--batch-size", "8", "--results", str(tmp_path), "--no-tables"])
    assert rc == 0
    (rec,) = records.read(tmp_path / "records.jsonl")
    assert len(rec["rounds"]) == 1 and rec["metrics"]["realloc_s"] == 0.0  # no reallocation at all
    assert rec["rounds"][0]["class_recovery"]["row_ami"] == pytest.approx(1.0)
    assert rec["rounds"][0]["class_recovery"]["row_purity"] == 1.0
    cls = datasets.load("synthetic", vocab_size=36, classes=6, train_tokens=2000, valid_tokens=200,
                        test_tokens=200).word_class
    first = [row.split(":c")[1] for row in rec["case_study"][0]]
    assert len(set(first)) == 1  # the final table's first row is one class
    scores = table_class_scores(class_table(cls, 36).numpy(), 6, cls)
    assert scores["row_ami"] == pytest.approx(1.0)


def test_bootstrap_tables_compare_variants_against_the_control_and_the_oracle(tmp_path):
    from bench.report import bootstrap

    def rec(preset, seed, test, valid, moves=(), t="2026"):
        rounds = [{"round": 0, "epoch": 0, "step": 0, "seconds": 0.0}]
        rounds += [{"round": k + 1, "epoch": 2 * k + 2, "step": 10, "seconds": 10.0 * (k + 1), "moved": m,
                    "valid_ppl_before": 200.0, "valid_ppl_after": 900.0, "nll_per_token_old": 5.0,
                    "nll_per_token_predicted": 4.0, "nll_per_token_after": 7.0} for k, m in enumerate(moves)]
        return {"dataset": "synthetic", "model": "lightrnn", "preset": preset, "seed": seed, "status": "ok",
                "time": t, "run_id": f"{preset}{seed}", "git_sha": "abc", "env": {"device": "cpu", "device_name": "x"},
                "metrics": {"test_ppl": test, "valid_ppl": valid, "realloc_ratio": 0.05 if moves else 0.0,
                            "oracle_ppl": 50.0},
                "curve": [[0, 0.0, 900.0], [10, 40.0, valid + 20], [20, 80.0, valid]], "rounds": rounds}

    recs = [rec("cpu-fixed", 0, 100.0, 110.0), rec("cpu-fixed", 1, 104.0, 114.0),
            rec("cpu-paper", 0, 90.0, 100.0, moves=(40, 5)), rec("cpu-paper", 1, 94.0, 104.0, moves=(30,)),
            rec("cpu-oracle", 0, 60.0, 70.0), rec("cpu-paper", 1, 999.0, 999.0, t="2025")]  # older: ignored
    text = bootstrap.variants(recs)
    # the control's mean final valid ppl is 112: cpu-paper's seeds reach it at 80 s (104 + 20 > 112 at 40 s)
    assert "control's final valid PPL 112.0" in text and "generator's floor 50.0" in text
    paper = next(line for line in text.splitlines() if line.startswith("| cpu-paper"))
    cells = [c.strip() for c in paper.strip("|").split("|")]
    # test PPL at the best validation point (here the final one: each curve falls) and at the final weights
    assert cells[1:6] == ["102.0 ± 2.8 (n=2)", "92.0 ± 2.8 (n=2)", "92.0 ± 2.8 (n=2)", "1.5 ± 0.7 (n=2)", "40 5; 30"]
    assert cells[7] == "80 ± 0 (n=2); 2 of 2" and cells[8] == "32.0 ± 2.8 (n=2)"  # regret: test - oracle's 60
    rounds = bootstrap.per_round(recs)
    assert rounds.count("| cpu-paper |") == 2  # seed 0's two moves
    assert bootstrap.render([r for r in recs if r["preset"] == "cpu-paper"]) == ""  # one preset: no study


def test_tables_summed_during_training_equal_the_evaluation_pass():
    # dropout 0 and a learning rate too small to move any fp32 weight: training's forward
    # passes score exactly what the evaluation pass scores, batch for batch
    c = corpus()
    figs = {}
    for how in ("pass", "train"):
        model = tiny_light()
        cfg = TrainConfig(epochs=2, rounds=2, batch_size=8, bptt=10, lr=1e-30, realloc_tables=how)
        res = trainer.train(model, c, cfg, CPU, progress=False)
        figs[how] = (res.rounds[1], model.word_table.clone())
    (p, tp), (t, tt) = figs["pass"], figs["train"]
    assert (p["tables"], t["tables"]) == ("pass", "train")
    assert t["pass_tokens"] == p["pass_tokens"]
    for key in ("pass_nll", "cost", "previous_cost", "row_cost", "nll_per_token_after"):
        assert t[key] == pytest.approx(p[key], rel=1e-5), key
    assert torch.equal(tp, tt)
    with pytest.raises(ValueError, match="realloc_tables"):
        TrainConfig(realloc_tables="free")


def test_match_columns_keeps_rows_and_is_each_rows_optimum():
    model = tiny_light()  # V = 60 in an 8 x 8 table
    rows_before = model.word_row.clone()
    loss_col = torch.rand(60, model.cols, generator=torch.Generator().manual_seed(3))
    cost = match_columns(model, loss_col)
    assert torch.equal(model.word_row, rows_before) and np.unique(model.word_table.numpy()).size == 60
    # scipy on the whole table, leaving a row priced far above any column saving
    R, C = model.rows, model.cols
    full = np.full((60, R, C), 1e6)
    full[np.arange(60), rows_before.numpy()] = 0.0
    full = (full + loss_col.numpy()[:, None, :]).reshape(60, -1)
    words, cells = linear_sum_assignment(full)
    assert cost == pytest.approx(full[words, cells].sum(), rel=1e-6)
    assert cost == pytest.approx(float(loss_col[torch.arange(60), model.word_col].sum()), rel=1e-6)


def test_rows_first_round_matches_rows_alone_then_columns_given_them():
    ids = corpus().train
    model = tiny_light(reallocation="rows-first")
    start = model.word_table.clone()
    loss_row, _, _ = accumulate_losses(model, ids, 8, 10)
    f = model.end_of_round(ids, 8, 10)
    # stage 1: the rows are an optimum of the row costs alone (row capacity C), by scipy
    C = model.cols
    rows_only = np.repeat(loss_row.numpy(), C, axis=1)  # [V, R*C]: every cell of a row costs the row's loss
    words, cells = linear_sum_assignment(rows_only)
    assert float(loss_row.numpy()[np.arange(60), model.word_row.numpy()].sum()) == pytest.approx(
        rows_only[words, cells].sum(), rel=1e-5)
    # stage 2's prediction: the second pass's row part plus the columns' cost
    assert f["cost"] == pytest.approx(f["mid_row_nll"] + f["col_cost"], rel=1e-9)
    assert f["nll_per_token_predicted"] == pytest.approx(f["cost"] / f["pass_tokens"])
    assert f["moved"] == int((model.word_table != start).sum()) > 0
    assert f["nll_per_token_mid"] > 0 and f["seconds_match2"] >= 0
    with pytest.raises(ValueError, match="reallocation"):
        tiny_light(reallocation="cols-first")
