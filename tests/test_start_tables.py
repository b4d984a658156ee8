"""LightRNN's start tables (models/bootstrap/start.py, bench/train/table_start.py)
and the fresh start after a move: every table a valid placement of the
shape `table_shape` gives, the balanced clustering within its capacities and
against an exact solver, the warm file checked, and the fresh policy keeping
the table while drawing every parameter again."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

import datasets
import models
from bench.train import trainer
from bench.train.config import TrainConfig
from models.bootstrap import start
from models.lightrnn import table_shape

CPU = torch.device("cpu")


def _valid(cell: np.ndarray, V: int) -> None:
    R, C = table_shape(V)
    assert cell.shape == (V,) and cell.dtype == np.int64
    assert len(np.unique(cell)) == V and cell.min() >= 0 and cell.max() < R * C
    assert np.bincount(cell // C, minlength=R).max() <= C


@pytest.mark.parametrize("V", [7, 50, 1000])
def test_frequency_table_fills_rows_by_falling_count(V):
    counts = np.random.default_rng(V).zipf(1.3, V).astype(np.int64)
    cell = start.frequency_table(counts)
    _valid(cell, V)
    R, C = table_shape(V)
    by_cell = counts[np.argsort(cell)]  # counts in cell order: non-increasing
    assert np.all(np.diff(by_cell) <= 0)
    # Empty cells only at the end of the last row; ties keep id order.
    assert set(cell.tolist()) == set(range(V))
    m = models.build("lightrnn", V)
    m.set_table(torch.from_numpy(cell))
    assert bool(m.filled.any(1).all())


@pytest.mark.parametrize("V, K, cap", [(300, 7, 50), (400, 20, 20), (101, 11, 10)])
def test_balanced_kmeans_respects_capacities_and_its_assignment_is_optimal(V, K, cap):
    X = np.random.default_rng(V).standard_normal((V, 6)).astype(np.float32)
    groups, mu = start.balanced_kmeans(X, K, cap, iters=4)
    assert groups.shape == (V,) and np.bincount(groups, minlength=K).max() <= cap
    # Its assignment step (the transport) against scipy, each group's `cap` slots as columns,
    # on the squared distances to the centroids it ended with.
    from models.realloc.scalable import transport

    cost = start._sq_dist(X, mu)
    _, ours, _ = transport(cost, cap)
    assert np.bincount(ours, minlength=K).max() <= cap
    c64 = cost.astype(np.float64)
    wi, slot = linear_sum_assignment(np.repeat(c64, cap, axis=1))
    best = c64[wi, slot // cap].sum()
    assert c64[np.arange(V), ours].sum() == pytest.approx(best, rel=1e-4)


def test_balanced_kmeans_refuses_too_little_room():
    with pytest.raises(ValueError, match="cannot hold"):
        start.balanced_kmeans(np.zeros((10, 2), np.float32), 3, 3)


def test_cluster_table_puts_planted_groups_in_rows_and_aligns_columns():
    # 10 rows x 10 columns of planted structure: vector = row direction + column direction.
    rng = np.random.default_rng(0)
    R = C = 10
    rdir, cdir = rng.standard_normal((R, 32)) * 3, rng.standard_normal((C, 32))
    true_r, true_c = np.divmod(rng.permutation(R * C), C)
    X = rdir[true_r] + cdir[true_c] + 0.05 * rng.standard_normal((R * C, 32))
    cell = start.cluster_table(X, R, C, seed=1)
    _valid(cell, R * C)
    got_r, got_c = np.divmod(cell, C)
    # Each found row is one planted row, and each found column one planted column.
    for got, true in ((got_r, true_r), (got_c, true_c)):
        for g in range(10):
            assert len(set(true[got == g].tolist())) == 1


def test_warm_table_reads_a_file_and_refuses_a_bad_one(tmp_path):
    V = 50
    R, C = table_shape(V)
    good = np.random.default_rng(0).permutation(R * C)[:V]
    np.save(tmp_path / "t.npy", good)
    assert np.array_equal(start.warm_table(tmp_path / "t.npy", V, R * C), good)
    np.save(tmp_path / "dup.npy", np.zeros(V, np.int64))
    with pytest.raises(ValueError, match="same cell"):
        start.warm_table(tmp_path / "dup.npy", V, R * C)
    np.save(tmp_path / "short.npy", good[:-1])
    with pytest.raises(ValueError, match="not a table"):
        start.warm_table(tmp_path / "short.npy", V, R * C)
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a .npy"):
        start.warm_table(tmp_path / "junk.npy", V, R * C)
    with pytest.raises(FileNotFoundError):
        start.warm_table(tmp_path / "none.npy", V, R * C)
    with pytest.raises(ValueError, match="table_file"):
        models.build("lightrnn", V, table="warm")


def test_fresh_start_keeps_the_table_and_draws_every_parameter_again(monkeypatch):
    corpus = datasets.load("synthetic", vocab_size=60, classes=6, train_tokens=2000, valid_tokens=200,
                           test_tokens=200)
    torch.manual_seed(0)
    model = models.build("lightrnn", 60, embedding_dim=8, hidden_dim=8, layers=1, dropout=0.0)
    seen = {}
    moved = torch.from_numpy(np.random.default_rng(3).permutation(model.rows * model.cols)[:60])

    def end_of_round(*a, **k):  # a move to a known table, the weights noted just before the fresh draw
        model.set_table(moved)
        seen["before"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        return {"moved": 60}

    monkeypatch.setattr(model, "end_of_round", end_of_round)
    real_reinit = model.reinit

    def reinit():
        real_reinit()
        seen["after"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        seen["table"] = model.word_table.clone()

    monkeypatch.setattr(model, "reinit", reinit)
    cfg = TrainConfig(epochs=3, rounds=2, batch_size=8, bptt=10, after_move="fresh", lr_decay_start=1)
    res = trainer.train(model, corpus, cfg, CPU, progress=False)
    assert len(res.rounds) == 2 and torch.equal(seen["table"], moved)
    for n, p in seen["after"].items():  # every parameter drawn again, from the constructor's range
        assert not torch.equal(p, seen["before"][n]) and float(p.abs().max()) <= 0.05
    assert res.metrics["final_lr"] == 0.5  # the lr restarted at the move (epoch 2), decayed once after epoch 3


def test_every_start_kind_is_a_valid_table_through_a_run(tmp_path):
    from bench.cli import main
    from bench.report import records

    tiny = ["--dataset-opt", "vocab_size=60", "--dataset-opt", "classes=6", "--dataset-opt", "train_tokens=2000",
            "--dataset-opt", "valid_tokens=200", "--dataset-opt", "test_tokens=200", "--set", "embedding_dim=8",
            "--set", "hidden_dim=8", "--set", "layers=1", "--bptt", "10", "--batch-size", "8", "--epochs", "1",
            "--models", "lightrnn", "--no-tables", "--results", str(tmp_path), "--max-time", "100"]
    assert main(["run", *tiny, "--preset", "cpu-fixed-clusters", "--set", "table_budget_s=2"]) == 0
    first = records.read(tmp_path / "records.jsonl")[-1]
    warm = tmp_path / first["table_file"]
    assert main(["run", *tiny, "--preset", "cpu-fixed-frequency"]) == 0
    assert main(["run", *tiny, "--preset", "cpu-no-move", "--set", "table='warm'", "--set", f"table_file='{warm}'"]) == 0
    recs = records.read(tmp_path / "records.jsonl")
    assert [r["table_start"]["kind"] if r["table_start"] else None for r in recs] == ["clusters", "frequency", "warm"]
    start_c = recs[0]["table_start"]
    assert start_c["source"] == "hsm" and 0 < start_c["cluster_s"] < start_c["seconds"]
    assert recs[0]["metrics"]["table_s"] == start_c["seconds"]
    for r in recs:
        _valid(np.load(tmp_path / r["table_file"]), 60)
    # held fixed (one round): the warm run ends on the table it read
    assert np.array_equal(np.load(tmp_path / recs[2]["table_file"]), np.load(warm))
