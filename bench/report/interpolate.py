"""Linear interpolation of two runs' per-token probabilities (the paper's
"KN + LightRNN" rows):

    p(w_t) = lam * p_kn(w_t) + (1 - lam) * p_neural(w_t)

lam is fitted on the valid stream by EM (the mixture's likelihood is concave in
lam, so EM reaches the maximum), then the test perplexity is that of the
mixture at this lam. Runs mix only when they scored the same tokens: same
dataset, same vocabulary fingerprint, same stream lengths.
"""

from __future__ import annotations

import math

import numpy as np

from bench.report import tokens
from bench.report.records import best_test_ppl

COUNT_MODEL = "kn"


def fit_weight(lp_a: np.ndarray, lp_b: np.ndarray, tol: float = 1e-7, max_iter: int = 500) -> float:
    """EM for the weight of component a in a two-way mixture of log-probabilities [N]."""
    lam = 0.5
    diff = np.clip(lp_b - lp_a, -700, 700)
    for _ in range(max_iter):
        post = 1.0 / (1.0 + (1.0 - lam) / lam * np.exp(diff))  # [N] responsibility of a
        new = float(post.mean())
        if abs(new - lam) < tol:
            return new
        lam = min(max(new, 1e-12), 1 - 1e-12)
    return lam


def mix(lp_a: np.ndarray, lp_b: np.ndarray, lam: float) -> np.ndarray:
    """log(lam e^a + (1 - lam) e^b), elementwise."""
    return np.logaddexp(math.log(lam) + lp_a, math.log1p(-lam) + lp_b)


def ppl(lp: np.ndarray) -> float:
    return float(math.exp(-lp.mean()))


def check_compatible(a: dict, b: dict, lp_a: dict, lp_b: dict) -> None:
    """Refuse to mix runs that did not score the same tokens."""
    if a["dataset"] != b["dataset"]:
        raise ValueError(f"cannot mix runs on different datasets: {a['dataset']!r} and {b['dataset']!r}")
    if a.get("vocab_sha") != b.get("vocab_sha"):
        raise ValueError(f"vocabulary mismatch: run {a['run_id']} ({a['model']}) has vocabulary "
                         f"{a.get('vocab_sha')}, run {b['run_id']} ({b['model']}) has {b.get('vocab_sha')}")
    for s in tokens.SPLITS:
        if len(lp_a[s]) != len(lp_b[s]):
            raise ValueError(f"runs {a['run_id']} and {b['run_id']} scored {len(lp_a[s])} and "
                             f"{len(lp_b[s])} {s} tokens")


def mix_runs(count_rec: dict, neural_rec: dict, lp_a: dict, lp_b: dict) -> dict:
    """A derived record for 'kn+<model>': weight fitted on valid, valid and test PPL."""
    check_compatible(count_rec, neural_rec, lp_a, lp_b)
    lam = fit_weight(lp_a["valid"], lp_b["valid"])
    ma, mb = count_rec["metrics"], neural_rec["metrics"]
    metrics = {"valid_ppl": ppl(mix(lp_a["valid"], lp_b["valid"], lam)),
               "test_ppl": ppl(mix(lp_a["test"], lp_b["test"], lam)), "weight": lam,
               "params_total": (ma.get("params_total") or 0) + (mb.get("params_total") or 0),
               "components": {COUNT_MODEL: ma.get("test_ppl"), neural_rec["model"]: best_test_ppl(neural_rec)}}
    return {**{k: neural_rec[k] for k in ("schema", "dataset", "preset", "seed", "vocab_size", "env",
                                           "git_sha", "config")},
            "run_id": f"{count_rec['run_id']}+{neural_rec['run_id']}", "model": f"{COUNT_MODEL}+{neural_rec['model']}",
            "status": "ok", "metrics": metrics, "curve": [], "rounds": [], "derived": True}


def scores_tested_weights(record: dict) -> bool:
    """Whether the record's per-token file is of the weights its tables test:
    the best validation point's (metrics.token_weights "best"), or the final
    ones where those were the best. An older run tested at its best point kept
    its final weights' tokens: mixing them would not be the tested model."""
    m = record["metrics"]
    return m.get("token_weights") == "best" or best_test_ppl(record) == m.get("test_ppl")


def derived(records: list[dict], results_dir) -> list[dict]:
    """'kn+<model>' records for each neural run that kept per-token files of its
    tested weights, mixed with the newest ok KN run on the same dataset and
    vocabulary."""
    kn = {}
    for r in records:
        if r["model"] == COUNT_MODEL and r["status"] == "ok" and r.get("token_logprobs"):
            kn[(r["dataset"], r.get("vocab_sha"))] = r
    out, cache = [], {}
    for r in records:
        k = kn.get((r["dataset"], r.get("vocab_sha")))
        if k is None or r["model"] == COUNT_MODEL or r["status"] != "ok" or not r.get("token_logprobs") \
                or not scores_tested_weights(r):
            continue
        if k["run_id"] not in cache:
            cache[k["run_id"]] = tokens.read(results_dir, k)
        lp_a, lp_b = cache[k["run_id"]], tokens.read(results_dir, r)
        if lp_a is None or lp_b is None:
            continue  # a per-token file is missing: no row rather than a wrong one
        out.append(mix_runs(k, r, lp_a, lp_b))
    return out
