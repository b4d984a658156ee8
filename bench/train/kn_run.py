"""`python -m bench run --models kn`: the Kneser-Ney n-gram baseline through
the same command, data and record format as the neural models.

Its record has the neural runs' fields where they mean something: status,
seconds (`train_s` = counting and discounting), peak memory, perplexities,
and the stored n-grams as `params_total`; per-token log-probabilities go
beside the records like theirs, for interpolation.
"""

from __future__ import annotations

import math
import sys
import time

from bench import meters
from bench.presets import KN
from bench.report import records, tokens
from models.kn import KneserNey, estimate_bytes

DEFAULT_ORDER = 5  # the paper's and Mikolov et al.'s KN5


def config(args) -> dict:
    """KN's config from `--kn-order`; `--set` keys belong to the neural models."""
    if args.kn_order < 1:
        raise ValueError(f"--kn-order must be an integer >= 1, got {args.kn_order}")
    return {"order": args.kn_order}


def _ppl(logp) -> float | None:
    mean = -float(logp.mean())
    return math.exp(mean) if mean < 700 else None


def run(corpus, args, preset: str, sha: str | None, device, results_dir) -> dict:
    """Estimate, score valid and test, keep the per-token file; one record."""
    cfg = config(args)
    run_id = records.new_run_id()
    rss_before = meters.cpu_rss_mb()
    share = meters.CpuShare()
    status, error, metrics, token_file = "ok", None, {}, None
    t0 = time.perf_counter()
    try:
        kn = KneserNey.fit(corpus.train, len(corpus.vocab), cfg["order"],
                           memory_limit=meters.available_bytes())
        train_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        logp = {"valid": kn.logprobs(corpus.valid), "test": kn.logprobs(corpus.test)}
        eval_s = time.perf_counter() - t1
        token_file = tokens.write(results_dir, run_id, logp)
        metrics = {"valid_ppl": _ppl(logp["valid"]), "test_ppl": _ppl(logp["test"]),
                   "params_total": kn.n_ngrams, "ngrams_per_order": [len(o.keys) for o in kn.orders],
                   "discounts": [list(o.discounts) for o in kn.orders],
                   "discount_fallback": [o.fallback for o in kn.orders],
                   "train_s": train_s, "eval_s": eval_s, "realloc_s": 0.0,
                   "tokens_per_s": len(corpus.train) / train_s if train_s > 0 else None}
        metrics["best_valid_ppl"] = metrics["valid_ppl"]
    except MemoryError as e:  # refused before counting (or numpy could not allocate): no crash
        status, error = "oom", str(e) or "MemoryError"
        metrics = {"valid_ppl": None, "test_ppl": None, "params_total": None,
                   "train_s": time.perf_counter() - t0}
    if "oracle_ppl" in corpus.info:
        metrics["oracle_ppl"] = corpus.info["oracle_ppl"]
    metrics.update(cpu_peak_rss_mb=meters.cpu_peak_rss_mb(), cpu_rss_before_mb=rss_before,
                   estimated_mb=estimate_bytes(len(corpus.train), cfg["order"]) / 2**20, **share.summary())
    return {
        "schema": records.SCHEMA, "run_id": run_id, "time": records.utc_now(), "git_sha": sha,
        "dataset": args.dataset, "model": KN, "preset": preset,
        "config": {"model": cfg, "train": {}, "dataset": dict(args.dataset_opt)}, "seed": args.seed,
        "vocab_size": len(corpus.vocab), "vocab_sha": tokens.vocab_sha(corpus.vocab), "world_size": 1,
        "status": status, "stop_reason": "counted" if status == "ok" else status, "error": error,
        "resumed": False, "metrics": metrics, "token_logprobs": token_file,
        "curve": [[0, round(metrics["train_s"], 3), metrics["valid_ppl"]]] if status == "ok" else [],
        "rounds": [], "case_study": None, "env": records.environment(device), "argv": sys.argv[1:],
    }
