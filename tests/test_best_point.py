"""Best-validation testing (bench/train/best.py): the run's best validation
weights are the ones tested as test_ppl_best, the final weights stay in the
model and give test_ppl, and a run whose curve rises at the end shows both."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import datasets
import models
from bench.train import best
from bench.train.config import TrainConfig
from bench.train.evaluate import evaluate
from bench.train.trainer import train


def _corpus():
    return datasets.load("synthetic", vocab_size=60, classes=6, train_tokens=3000, valid_tokens=400,
                         test_tokens=400)


def test_best_point_is_kept_and_final_weights_stay():
    corpus = _corpus()
    torch.manual_seed(0)
    model = models.build("lstm", 60, embedding_dim=32, hidden_dim=32, layers=1, dropout=0.0)
    # lr 2 never decayed: the last epoch's validation rises above the one before, so best != final.
    cfg = TrainConfig(epochs=8, batch_size=8, bptt=10, lr=2.0, lr_decay=1.0, lr_floor=0.0)
    res = train(model, corpus, cfg, torch.device("cpu"), progress=False)
    m = res.metrics
    valids = [c[2] for c in res.curve]
    k = min(range(len(valids)), key=valids.__getitem__)
    assert m["best_step"] == res.curve[k][0] and m["best_valid_ppl"] == valids[k]
    # The model holds the final weights: test_ppl is theirs (the record's comes from per-token sums).
    assert evaluate(model, corpus.test, cfg, torch.device("cpu")) == pytest.approx(m["test_ppl"], rel=1e-6)
    assert k < len(valids) - 1, "this schedule is meant to overfit: pick a higher lr"
    assert m["test_ppl_best"] != m["test_ppl"]
    assert m["best_weights_mb"] > 0 and m["best_copy_s"] >= 0
    # The per-token file (the KN mixtures' input) is of the tested weights, the best point's.
    lp = res.token_logprobs
    assert m["token_weights"] == "best"
    assert math.exp(-lp["test"].astype("float64").mean()) == pytest.approx(m["test_ppl_best"], rel=1e-5)
    assert math.exp(-lp["valid"].astype("float64").mean()) == pytest.approx(m["best_valid_ppl"], rel=1e-5)


def test_test_at_best_evaluates_the_best_weights_and_restores():
    torch.manual_seed(1)
    model = models.build("lstm", 30, embedding_dim=8, hidden_dim=8, layers=1, dropout=0.0)
    st = {"step": 5, "epoch": 1, "curve": [[5, 1.0, 50.0]]}
    best.update(st, model, 50.0)
    kept = copy.deepcopy(model.state_dict())
    st["curve"].append([9, 2.0, 60.0])
    best.update(st, model, 60.0)  # worse: nothing copied
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    final = copy.deepcopy(model.state_dict())
    seen = {}

    def probe():  # what the evaluation sees: the best weights
        seen.update({k: v.clone() for k, v in model.state_dict().items()})
        return 42.0, "its per-token scores"

    out, extra = best.test_at_best(st, model, 99.0, probe)
    assert out["test_ppl_best"] == 42.0 and out["best_step"] == 5 and out["best_epoch"] == 1
    assert extra == "its per-token scores"
    assert all(torch.equal(seen[k], kept[k]) for k in kept)
    assert all(torch.equal(model.state_dict()[k], final[k]) for k in final)


def test_best_at_the_last_point_reuses_the_final_figure():
    model = models.build("lstm", 30, embedding_dim=8, hidden_dim=8, layers=1, dropout=0.0)
    st = {"step": 3, "epoch": 1, "curve": [[3, 1.0, 40.0]]}
    best.update(st, model, 40.0)
    out, extra = best.test_at_best(st, model, 41.5, lambda: 1 / 0)  # never called
    assert out["test_ppl_best"] == 41.5 and extra is None


def test_tables_read_the_best_point_and_suites_rerun_old_records_without_it():
    from bench.commands import suite
    from bench.report.records import best_test_ppl

    run = {"dataset": "ptb", "model": "adaptive", "seed": 0, "preset": "cpu"}
    new = {**run, "status": "ok", "curve": [[0, 0, 900.0], [9, 1, 300.0], [18, 2, 400.0]],
           "metrics": {"test_ppl": 390.0, "test_ppl_best": 290.0}}
    falling = {**run, "status": "ok", "curve": [[0, 0, 900.0], [9, 1, 300.0]], "metrics": {"test_ppl": 295.0}}
    rising = {**run, "status": "ok", "curve": [[0, 0, 900.0], [9, 1, 300.0], [18, 2, 400.0]],
              "metrics": {"test_ppl": 390.0}}
    kn = {**run, "model": "kn", "status": "ok", "curve": [], "metrics": {"test_ppl": 141.0}}
    assert [best_test_ppl(r) for r in (new, falling, rising, kn, None)] == [290.0, 295.0, None, 141.0, None]
    assert suite.done([new], run) and suite.done([falling], run) and not suite.done([rising], run)
