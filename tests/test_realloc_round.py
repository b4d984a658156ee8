"""The reallocation round on a real LightRNN: loss tables against a direct
per-token computation, the current table's total against the model's NLL;
class-recovery scores; the `bench realloc` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import models
from bench.cli import main
from bench.report.class_recovery import adjusted_mutual_info, table_case_study, table_class_scores
from datasets.batching import batchify, bptt_batches
from models.bootstrap.passes import accumulate_losses, stream_nll
from models.bootstrap.round import reallocation_round
from models.realloc import table_cost

V, B, T = 23, 3, 4  # 5 x 5 table: two empty cells, so masking is exercised


@pytest.fixture
def model_and_ids():
    torch.manual_seed(0)
    model = models.build("lightrnn", V, embedding_dim=8, hidden_dim=8, layers=1, dropout=0.5)
    ids = np.random.default_rng(0).integers(0, V, B * 9 + 1)
    return model, ids


@torch.no_grad()
def direct_tables(model, ids):
    """Per token, from model.log_prob (the full [V] distribution, another code
    path): P_row(i) = sum of P over row i's words; P_col(j | r) = P(word at
    (r, j)) / P_row(r); an empty cell gets the worst finite column loss."""
    model.eval()
    R, C = model.rows, model.cols
    cell_word = model.cell_word.view(R, C)
    Lr, Lc = np.zeros((V, R)), np.zeros((V, C))
    state = model.init_state(B)
    for x, y in bptt_batches(batchify(ids, B), T):
        lp, state = model.log_prob(x, state)  # [T, B, V]
        for t in range(x.shape[0]):
            for b in range(B):
                w, p = int(y[t, b]), lp[t, b].double()
                row_lp = torch.stack([torch.logsumexp(p[cell_word[i][cell_word[i] >= 0]], 0) for i in range(R)])
                r = int(model.word_row[w])
                col_loss = torch.full((C,), float("nan"), dtype=torch.float64)
                filled = cell_word[r] >= 0
                col_loss[filled] = -(p[cell_word[r][filled]] - row_lp[r])
                col_loss[~filled] = col_loss[filled].max()
                Lr[w] -= row_lp.numpy()
                Lc[w] += col_loss.numpy()
    return Lr, Lc


def test_tables_match_direct_and_total_is_nll(model_and_ids):
    model, ids = model_and_ids
    model.train()
    loss_row, loss_col, nll = accumulate_losses(model, ids, B, T)
    assert model.training  # mode restored
    Lr, Lc = direct_tables(model, ids)
    np.testing.assert_allclose(loss_row.numpy(), Lr, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(loss_col.numpy(), Lc, rtol=1e-4, atol=1e-4)
    model.eval()
    with torch.no_grad():
        state, total = model.init_state(B), 0.0
        for x, y in bptt_batches(batchify(ids, B), T):
            out, state = model(x, y, state)
            total += float(out)
    table = model.word_table.numpy()
    assert table_cost(loss_row.numpy(), loss_col.numpy(), table) == pytest.approx(total, rel=1e-5)
    assert nll == pytest.approx(total, rel=1e-5)


def test_round_installs_a_better_table(model_and_ids):
    model, ids = model_and_ids
    before = model.word_table.clone()
    loss_row, _, _ = accumulate_losses(model, ids, B, T)
    _, row_before = stream_nll(model, ids, B, T)
    fig = reallocation_round(model, ids, B, T)
    assert fig["cost"] <= fig["previous_cost"] and fig["lower_bound"] <= fig["cost"]
    assert fig["moved"] == int((model.word_table != before).sum())
    assert set(fig) >= {"method", "gap", "seconds_accumulate", "seconds_match", "seconds", "pass_nll"}
    n = len(ids) // B
    assert fig["pass_tokens"] == (n - 1) * B  # every target of batchify's [n, B] once
    assert fig["nll_per_token_old"] == pytest.approx(fig["previous_cost"] / fig["pass_tokens"], rel=1e-5)
    assert fig["nll_per_token_predicted"] == pytest.approx(fig["cost"] / fig["pass_tokens"])
    assert fig["nll_per_token_predicted"] <= fig["nll_per_token_old"]
    # measured with the new table installed, by the same pass
    after, row_after = (v / fig["pass_tokens"] for v in stream_nll(model, ids, B, T))
    assert fig["nll_per_token_after"] == pytest.approx(after, rel=1e-6) and fig["seconds_measure"] >= 0
    # the row part: measured before and after, and the matching's row cost for the new table
    assert fig["row_nll_per_token_old"] == pytest.approx(row_before / fig["pass_tokens"], rel=1e-5)
    assert fig["row_nll_per_token_after"] == pytest.approx(row_after, rel=1e-6)
    new_rows = model.word_row.numpy()
    assert fig["row_cost"] == pytest.approx(float(loss_row.numpy()[np.arange(V), new_rows].sum()), rel=1e-5)
    json.dumps(fig)
    assert np.unique(model.word_table.numpy()).size == V


def test_stream_nll_is_the_accumulation_pass_nll(model_and_ids):
    model, ids = model_and_ids
    _, _, nll = accumulate_losses(model, ids, B, T)
    total, row = stream_nll(model, ids, B, T)
    assert total == pytest.approx(nll, rel=1e-5) and 0 < row < total


def test_ami_properties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 300)
    assert adjusted_mutual_info(a, a) == pytest.approx(1.0)
    assert adjusted_mutual_info(a, (a + 1) % 5) == pytest.approx(1.0)  # relabelling
    assert abs(adjusted_mutual_info(a, rng.integers(0, 5, 300))) < 0.05
    sk = pytest.importorskip("sklearn.metrics")
    b = np.where(rng.random(300) < 0.6, a, rng.integers(0, 7, 300))
    assert adjusted_mutual_info(a, b) == pytest.approx(sk.adjusted_mutual_info_score(a, b), abs=1e-9)


def test_class_scores_and_case_study():
    cols, classes = 4, np.repeat(np.arange(3), 4)  # 12 words, 3 classes of 4
    by_row = np.arange(12)  # class k fills row k exactly
    s = table_class_scores(by_row, cols, classes)
    assert s["row_ami"] == pytest.approx(1.0) and s["row_purity"] == 1.0
    assert s["col_ami"] < 0.1
    words = [f"w{i}" for i in range(12)]
    rows = table_case_study(by_row[::-1].copy(), cols, words, n_rows=2)
    assert rows == [["w3", "w2", "w1", "w0"], ["w7", "w6", "w5", "w4"]]


def test_bench_realloc_prints_json(capsys, tmp_path):
    assert main(["realloc", "--vocab", "150", "--method", "greedy-cntk"]) == 0
    out = json.loads(capsys.readouterr().out)
    light = models.build("lightrnn", 150)  # the instance has the model's table shape (12 x 13)
    assert out["V"] == 150 and (out["R"], out["C"]) == (light.rows, light.cols) == (12, 13)
    assert out["method"] == "greedy-cntk"
    assert out["lower_bound"] <= out["cost"] and out["peak_rss_mb"] > 0
    path = tmp_path / "inst.npz"
    rng = np.random.default_rng(0)
    np.savez(path, loss_row=rng.random((12, 4), dtype=np.float32), loss_col=rng.random((12, 3), dtype=np.float32))
    assert main(["realloc", "--load", str(path), "--method", "exact"]) == 0
    assert json.loads(capsys.readouterr().out)["gap"] == 0.0
    assert main(["realloc", "--vocab", "10", "--method", "nope"]) == 2
    assert "choose from" in capsys.readouterr().err
    np.savez(path, loss_row=rng.random((12, 4)))
    assert main(["realloc", "--load", str(path)]) == 2
    assert "lacks ['loss_col']" in capsys.readouterr().err


def test_bench_realloc_results_keep_records_and_a_table(capsys, tmp_path):
    """--results appends one record per run and renders the table from them:
    'vs exact' compares with the exact optimum of the same instance in the
    same R x C table, never across shapes."""
    from bench.report import realloc_report

    for method in ("exact", "auction", "greedy-paper"):
        assert main(["realloc", "--vocab", "300", "--method", method, "--results", str(tmp_path), "--quiet"]) == 0
    recs = [json.loads(line) for line in (tmp_path / "realloc.jsonl").read_text().splitlines()]
    assert [r["metrics"]["method"] for r in recs] == ["exact", "auction", "greedy-paper"]
    opt, auction, greedy = (r["metrics"] for r in recs)
    assert auction["trace"] and all(b <= opt["cost"] + 1e-6 for _, _, b in auction["trace"])
    # The method column names a fallback after "->" (the greedy may keep the previous table).
    rows = {line.split("|")[3].split(" -> ")[0].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in (tmp_path / "realloc.md").read_text().splitlines() if line.startswith("| 300")}
    assert rows["exact"][6] == "+0.00e+00" and rows["exact"][1] == f"{opt['R']} x {opt['C']}"
    assert rows["greedy-paper"][2] == "greedy-paper" + (f" -> {greedy['fallback']}" if greedy["fallback"] else "")
    assert float(rows["greedy-paper"][6]) == pytest.approx(greedy["cost"] / opt["cost"] - 1, rel=1e-2)
    other = json.loads(json.dumps(recs[1]))  # the auction's record, as if solved in a wider table
    other["metrics"].update(C=other["metrics"]["C"] + 1)
    wide = [line for line in realloc_report.render(recs + [other]).splitlines() if line.startswith("| 300")]
    assert len(wide) == 4 and sum(c.split("|")[7].strip() == "-" for c in wide) == 1
    assert realloc_report.first_under([[1.0, 110.0, 100.0], [2.0, 100.05, 100.0]], 1e-3) == 2.0
    # Where the auction's time went: its phases add up to its solve (the rest is the wrapper's checks).
    assert set(auction["phases"]) <= set(realloc_report.PHASES) and auction["phases"]["pricing"] > 0
    assert sum(auction["phases"].values()) <= auction["seconds"]
    assert rows["greedy-paper"][8] == "-" and len(rows["auction"][8].split(" / ")) == 5
