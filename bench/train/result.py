"""A run's outcome: its status, the metrics measured at its end (test
perplexity, parameters, time, memory, throughput), and the outcome of a run
refused before its model was built."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from bench import meters
from bench.train import best, distributed
from bench.train.evaluate import evaluate


@dataclass
class Result:
    status: str  # ok | oom | diverged | interrupted
    metrics: dict
    curve: list  # [step, seconds (train + realloc), valid ppl]
    rounds: list = field(default_factory=list)
    stop_reason: str = ""
    error: str | None = None
    # Per-target log-probabilities {"valid": [n-1], "test": [n-1]} float32 of the
    # tested weights (the best validation point's), for interpolation; one-process
    # runs that ended ok only.
    token_logprobs: dict | None = None


def cpu_alloc_failed(e: RuntimeError) -> bool:
    """torch's CPU allocator reports a failed malloc as a plain RuntimeError
    (under a memory limit, or with overcommit off); CUDA raises OutOfMemoryError."""
    return "can't allocate memory" in str(e)


def refused(counts: dict, why: str) -> Result:
    """The result of a run refused before its model was built (it would not
    fit): parameter counts known, every measurement None."""
    st = {"curve": [], "epoch": 0, "step": 0, "lr": None, "train_s": 0.0, "realloc_s": 0.0, "eval_s": 0.0,
          "tokens": 0}
    metrics, _ = final_metrics(None, None, None, torch.device("cpu"), st, "oom", counts)
    return Result("oom", metrics, [], [], "oom", why)


def _score(model, corpus, cfg, device) -> tuple[float, dict | None]:
    """Test perplexity and, in one process, the per-target log-probabilities of
    valid and test (the KN mixtures fit their weight on valid)."""
    if distributed.world_size() > 1:
        return evaluate(model, corpus.test, cfg, device), None
    test, test_lp = evaluate(model, corpus.test, cfg, device, per_token=True)
    return test, {"valid": evaluate(model, corpus.valid, cfg, device, per_token=True)[1], "test": test_lp}


def final_metrics(model, corpus, cfg, device, st, status, counts=None) -> tuple[dict, dict | None]:
    counts = model.param_counts() if counts is None else counts
    valid = st["curve"][-1][2] if st["curve"] else None
    test, token_lp, at_best = None, None, {}
    if status == "ok":
        clock = meters.Stopwatch(device)
        clock.start()
        test, token_lp = _score(model, corpus, cfg, device)
        test = test if math.isfinite(test) else None  # JSON has no inf
        at_best, best_lp = best.test_at_best(st, model, test, lambda: _score(model, corpus, cfg, device))
        if token_lp is not None:  # the per-token files are of the weights the tables test
            token_lp, at_best["token_weights"] = (best_lp, "best") if best_lp is not None else (token_lp, "final")
        st["eval_s"] += clock.stop()
    train_s, realloc_s = st["train_s"], st["realloc_s"]
    return {
        "valid_ppl": valid, "test_ppl": test, "best_valid_ppl": min((c[2] for c in st["curve"] if c[2] is not None), default=None),
        "params_total": counts["total"], "params_embedding": counts["embedding"],
        "params_output": counts["output"], "epochs": st["epoch"], "steps": st["step"], "final_lr": st["lr"],
        "train_s": train_s, "realloc_s": realloc_s, "eval_s": st["eval_s"],
        "realloc_ratio": realloc_s / train_s if train_s > 0 else None,
        "tokens_per_s": st["tokens"] / train_s if train_s > 0 else None,
        "gpu_peak_alloc_mb": meters.gpu_peak_alloc_mb(device), "gpu_nvml_used_mb": meters.gpu_nvml_used_mb(device),
        "cpu_peak_rss_mb": meters.cpu_peak_rss_mb(),
        "world_size": distributed.world_size(), "grad_bytes_per_step": None if model is None else distributed.grad_bytes(model),
        **at_best,
    }, token_lp
