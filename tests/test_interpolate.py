"""KN through `bench run`, per-token files beside the records, and the
KN + neural mixture: EM weight, the derived table rows, refused mismatches."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import models
from bench.cli import main
from bench.report import interpolate, records, tokens
from bench.train.config import TrainConfig
from bench.train.evaluate import evaluate
from tests.test_bench import TINY, TINY_DATA, tiny_corpus


def test_em_weight_is_the_likelihood_maximum():
    rng = np.random.default_rng(0)
    a = np.log(rng.uniform(0.01, 0.5, 5000))
    b = np.log(rng.uniform(0.01, 0.5, 5000))
    lam = interpolate.fit_weight(a, b)
    grid = np.linspace(0.001, 0.999, 999)
    best = grid[np.argmax([interpolate.mix(a, b, g).sum() for g in grid])]
    assert abs(lam - best) < 2e-3
    # The mixture at the fitted weight is never worse than either component.
    assert interpolate.mix(a, b, lam).sum() >= max(a.sum(), b.sum())


def test_mix_is_the_log_of_the_linear_mixture():
    a, b = np.log(np.array([0.2, 0.01])), np.log(np.array([0.05, 0.3]))
    np.testing.assert_allclose(np.exp(interpolate.mix(a, b, 0.3)), 0.3 * np.exp(a) + 0.7 * np.exp(b))


def test_per_token_evaluation_is_in_stream_order_and_sums_to_the_perplexity():
    corpus = tiny_corpus()
    torch.manual_seed(0)
    model = models.build("lstm", len(corpus.vocab), embedding_dim=8, hidden_dim=8, layers=1, dropout=0.0)
    cfg = TrainConfig(eval_batch_size=3, bptt=7)
    ppl = evaluate(model, corpus.valid, cfg, torch.device("cpu"))
    ppl2, lp = evaluate(model, corpus.valid, cfg, torch.device("cpu"), per_token=True)
    assert lp.shape == (len(corpus.valid) - 1,) and lp.dtype == np.float32
    assert ppl2 == pytest.approx(ppl, rel=1e-6)  # float32 batch sums vs float64 terms
    assert math.exp(-lp.astype(np.float64).mean()) == pytest.approx(ppl, rel=1e-6)
    # Column b of the evaluation covers targets b*L .. b*L+L-1, each from a fresh state.
    L = (len(corpus.valid) - 1) // 3
    ids = torch.as_tensor(corpus.valid.astype(np.int64))
    with torch.no_grad():
        col = ids[L : 2 * L + 1, None]  # column 1: context token L, targets L+1 .. 2L
        want, _ = model.log_prob(col[:-1], model.init_state(1))
        want = want[:, 0].gather(1, col[1:]).squeeze(1).numpy()
    np.testing.assert_allclose(lp[L : 2 * L], want, atol=1e-5)
    # The default token_nll (gathered from log_prob) equals the LSTM's own.
    x, y = ids[:-1].view(-1, 1)[:20], ids[1:].view(-1, 1)[:20]
    own, _ = model.token_nll(x, y, model.init_state(1))
    default, _ = models.LanguageModel.token_nll(model, x, y, model.init_state(1))
    torch.testing.assert_close(own, default, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_kn_runs_through_the_same_command_and_mixes(tmp_path):
    rc = main(["run", *TINY, "--models", "kn,lstm", "--epochs", "2", "--results", str(tmp_path)])
    assert rc == 0
    kn, lstm = records.read(tmp_path / "records.jsonl")
    assert kn["model"] == "kn" and kn["status"] == "ok" and kn["config"]["model"] == {"order": 5}
    assert kn["metrics"]["params_total"] == sum(kn["metrics"]["ngrams_per_order"]) - 1
    assert kn["vocab_sha"] == lstm["vocab_sha"]
    for r in (kn, lstm):
        lp = tokens.read(tmp_path, r)
        assert math.exp(-lp["test"].mean()) == pytest.approx(records.best_test_ppl(r), rel=1e-5)
    (mixed,) = interpolate.derived([kn, lstm], tmp_path)
    m = mixed["metrics"]
    assert mixed["model"] == "kn+lstm" and 0 < m["weight"] < 1
    assert m["valid_ppl"] <= min(kn["metrics"]["valid_ppl"], lstm["metrics"]["valid_ppl"])
    table = (tmp_path / "tables.md").read_text()
    assert f"| {m['test_ppl']:.1f} (w {m['weight']:.2f})" in table
    # The records stay free of per-token arrays.
    assert all(len(line) < 20_000 for line in (tmp_path / "records.jsonl").read_text().splitlines())


def test_only_tokens_of_the_tested_weights_are_mixed(tmp_path):
    """A run tested at its best point mixes with KN only when its per-token file
    is of those weights (or its final weights were the best): an older record
    kept its final weights' tokens, which are not the model the tables test."""
    rng = np.random.default_rng(0)
    lp = {s: np.log(rng.uniform(0.01, 0.2, size=50)) for s in tokens.SPLITS}
    base = {"dataset": "ptb", "vocab_sha": "v", "status": "ok", "preset": "cpu", "seed": 0, "vocab_size": 10,
            "env": {}, "git_sha": "", "config": {}, "schema": 1, "curve": [[0, 0.0, 900.0], [5, 1.0, 300.0]]}
    recs = [{**base, "run_id": "kn", "model": "kn", "metrics": {"test_ppl": 150.0, "valid_ppl": 160.0}}]
    cases = {"old-rose": {"test_ppl": 140.0, "test_ppl_best": 120.0},  # final tokens, best elsewhere: out
             "new-best": {"test_ppl": 140.0, "test_ppl_best": 120.0, "token_weights": "best"},
             "best-is-final": {"test_ppl": 130.0, "test_ppl_best": 130.0, "token_weights": "final"}}
    for run_id, metrics in cases.items():
        recs.append({**base, "run_id": run_id, "model": "lstm", "metrics": metrics})
    for r in recs:
        r["token_logprobs"] = tokens.write(tmp_path, r["run_id"], lp)
    mixed = interpolate.derived(recs, tmp_path)
    assert sorted(m["run_id"] for m in mixed) == ["kn+best-is-final", "kn+new-best"]
    assert {m["metrics"]["components"]["lstm"] for m in mixed} == {120.0, 130.0}


def test_kn_bad_order_is_refused_before_anything_is_written(tmp_path, capsys):
    assert main(["run", *TINY_DATA, "--models", "kn", "--kn-order", "0", "--results", str(tmp_path)]) == 2
    assert "--kn-order must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "records.jsonl").exists()


def test_mixing_runs_with_other_vocabularies_is_refused(tmp_path):
    lp = {"valid": np.log(np.full(10, 0.1)), "test": np.log(np.full(10, 0.1))}
    a = {"run_id": "a", "model": "kn", "dataset": "ptb", "vocab_sha": "x", "metrics": {}}
    b = {**a, "run_id": "b", "model": "lstm", "vocab_sha": "y"}
    with pytest.raises(ValueError, match="vocabulary mismatch"):
        interpolate.mix_runs(a, b, lp, lp)
    with pytest.raises(ValueError, match="scored"):
        interpolate.mix_runs(a, {**b, "vocab_sha": "x"}, lp, {"valid": lp["valid"][:5], "test": lp["test"]})


def test_kn_memory_refusal_is_an_oom_record(tmp_path, monkeypatch):
    import psutil

    class Tiny:
        available = 1000
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny())
    assert main(["run", *TINY_DATA, "--models", "kn", "--results", str(tmp_path), "--no-tables"]) == 1
    (rec,) = records.read(tmp_path / "records.jsonl")
    assert rec["status"] == "oom" and "shards" in rec["error"] and rec["token_logprobs"] is None
    json.dumps(rec, allow_nan=False)
