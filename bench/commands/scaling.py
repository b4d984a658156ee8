"""`python -m bench scaling`: how each model's cost grows with the vocabulary V.

For every model and V on a 1K..1M grid: parameters, and for training and
evaluation apart, peak memory and tokens/s (one training step as the trainer
does it, one exact evaluation step; h = 200, 2 layers, batch 20 x 35). Each point runs in a fresh child process, so its
peak memory is its own: GPU peak allocation when CUDA is present, else the
rise of the child's peak RSS. A model stops being measured once its next
point is predicted (linearly in V from the last one) to overrun its share of
--time-budget or --mem-budget-mb; beyond that, and up to the paper's
10M-word ClueWeb example, parameters are counted on the meta device.

Writes <out>/scaling.{md,png,json}; prints log-log slopes fitted over V >= 30K.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np

import models
from bench import checks, meters
from bench.report import records, scaling_report
from bench.rigs.microbench import Rig
from models.flops import forward_macs_per_token, gemm_flops, limit_tokens_per_s
from models.params import count_on_meta

# 793,471: One Billion Word's vocabulary, the paper's Table 4
MEASURE_GRID = [1_000, 3_000, 10_000, 30_000, 100_000, 200_000, 300_000, 793_471, 1_000_000]
COUNT_GRID = [*MEASURE_GRID, 3_000_000, 10_000_000]  # 10M: the paper's ClueWeb vocabulary


def register(subparsers) -> None:
    p = subparsers.add_parser("scaling", help="params, peak memory and tokens/s against vocabulary size")
    p.add_argument("--max-vocab", type=int, default=1_000_000, help="largest V to measure (default 1M)")
    p.add_argument("--time-budget", type=float, default=240.0,
                   help="seconds of measuring, shared by the models (default 240); a point is measured only while "
                        "it is predicted to fit (a model's first from the last model's first), the first model's "
                        "first always. On top: the sgemm rate, the plots, and counting every model on meta up to 10M "
                        "words (about a minute on one core, mostly the character models' spellings)")
    p.add_argument("--mem-budget-mb", type=float, default=4000.0,
                   help="skip a point predicted to need more peak memory (default 4000)")
    p.add_argument("--models", nargs="+", default=None, help=f"default: all of {sorted(models.REGISTRY)}")
    p.add_argument("--device", default="cuda" if _cuda() else "cpu", choices=("cpu", "cuda"),
                   help="where to measure (default: cuda when available, else cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", default="results", help="folder for scaling.md/.png/.json (default results)")
    p.set_defaults(handler=run)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# The table's stated sizes for every model (the word models' defaults; the
# character models default to Kim et al.'s 300).
SIZES = dict(hidden_dim=200, layers=2)


def _timed(step, dev) -> tuple[float, int]:
    """Seconds per call of `step` over ~1 s of calls (at least 2), after one untimed call."""
    t0 = meters.clock(dev)
    step()
    warm = meters.clock(dev) - t0
    steps = int(np.clip(1.0 / max(warm, 1e-6), 2, 20))
    t0 = meters.clock(dev)
    for _ in range(steps):
        step()
    return (meters.clock(dev) - t0) / steps, steps


def _peak_mb(dev, rss0: float) -> tuple[float, str]:
    """Peak memory since the last `meters.reset_peaks`: torch's allocation on CUDA,
    else the peak RSS over `rss0` (what the process held before the model)."""
    if dev.type == "cuda":
        return meters.gpu_peak_alloc_mb(dev), "gpu_peak_alloc"
    return meters.cpu_peak_rss_mb() - rss0, "cpu_peak_rss_delta"


def measure(name: str, vocab_size: int, device: str, threads: int) -> dict:
    """One point, in a fresh process: build; evaluation steps (exact, no grad),
    then training steps, each timed and with its own peak memory. Evaluation
    first and apart: a sampled objective (blackout) trains at O(K h) a token but
    evaluates the exact softmax's [T*B, V] logits, so its evaluation can need
    more memory than its training, and its speed differs by O(V / K)."""
    import torch

    torch.set_num_threads(threads)
    dev = torch.device(device)
    # A first step loads kernels and touches library pages (~150 MB of RSS on
    # CPU): take it with a small model so the figures below are this model's own.
    small = Rig(name, MEASURE_GRID[0], device=device, **SIZES)
    small.eval_step()
    small.train_step()
    del small
    gc.collect()
    meters.reset_peaks(dev)
    rss0 = meters.cpu_rss_mb()
    rig = Rig(name, vocab_size, device=device, **SIZES)
    eval_per_step, eval_steps = _timed(rig.eval_step, dev)
    eval_peak, kind = _peak_mb(dev, rss0)
    gc.collect()
    meters.reset_peaks(dev)  # from here the training's own peak (the model's weights still counted)
    per_step, steps = _timed(rig.train_step, dev)
    peak_mb, _ = _peak_mb(dev, rss0)
    return {"tokens_per_s": rig.tokens / per_step, "s_per_step": per_step, "steps": steps,
            "peak_mb": peak_mb, "memory": kind, "eval_tokens_per_s": rig.tokens / eval_per_step,
            "eval_s_per_step": eval_per_step, "eval_steps": eval_steps, "eval_peak_mb": eval_peak,
            "params_real": rig.model.param_counts()["total"],
            "macs_per_token": forward_macs_per_token(rig.model, rig.y, rig.x)["total"]}


def gemm_rate(device: str, threads: int) -> dict:
    """The sgemm FLOP/s the compute limits are stated at (CPU: a 2048 x 2048
    product on `threads` threads; on CUDA no limit is stated)."""
    import torch

    torch.set_num_threads(threads)
    return {"gemm_flops": gemm_flops() if device == "cpu" else None}


def _child(conn, fn, *args) -> None:
    try:
        conn.send(fn(*args))
    except MemoryError as e:  # torch.OutOfMemoryError is a RuntimeError subclass too
        conn.send({"error": f"out of memory: {e}"})
    except RuntimeError as e:
        conn.send({"error": str(e).splitlines()[0] if str(e) else type(e).__name__})


def measure_in_child(ctx, *args, fn=measure) -> dict:
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, *args))
    proc.start()
    child.close()
    try:
        out = parent.recv()
    except EOFError:  # killed (e.g. by the kernel's OOM killer) before it could answer
        out = {"error": "measurement process died"}
    proc.join()
    if "error" in out:
        out["error"] += f" (exit code {proc.exitcode})" if proc.exitcode else ""
    return out


def context():
    """forkserver: children fork from a clean server that imported torch once
    (cheap, and no fork of a process whose thread pools have run)."""
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["torch", "models", "bench.commands.scaling"])
    return ctx


def sweep(names, max_vocab, budget_s, mem_mb, device, threads, log=print, gemm: float | None = None) -> list[dict]:
    """One row per (model, V) of COUNT_GRID; measured where budgets allow;
    with `gemm` (FLOP/s), each measured point's share of its compute limit."""
    ctx = context()
    rows, used = [], 0.0
    first_cost = 0.0  # what the last model's first point took: the guess for the next model's first
    for i, name in enumerate(names):
        # An equal share of what is left: time a cheap model did not use goes to the later ones.
        share = (budget_s - used) / (len(names) - i)
        spent, last, stop = 0.0, None, None
        for V in COUNT_GRID:
            counts = count_on_meta(name, V, **SIZES)
            row = {"model": name, "V": V, "params_total": counts["total"],
                   "params_vocab": counts["total"] - counts["recurrent"]}
            if stop is None and V > max_vocab:
                stop = f"V > --max-vocab {max_vocab}"
            if stop is None:
                grow = V / last["V"] if last is not None else 1.0  # predict linearly in V: safe for every model here
                cost = 1.0 + ((1 + last["steps"]) * last["s_per_step"] + (1 + last["eval_steps"])
                              * last["eval_s_per_step"]) * grow if last is not None else first_cost
                if spent + cost > share or share <= 0:
                    stop = f"time budget ({max(share, 0):.0f} s for this model)"
                elif last is not None and max(last["peak_mb"], last["eval_peak_mb"]) * grow > mem_mb:
                    stop = f"memory budget ({mem_mb:.0f} MB)"
            if stop is None:
                t0 = time.perf_counter()
                point = measure_in_child(ctx, name, V, device, threads)
                spent += time.perf_counter() - t0
                if last is None:
                    first_cost = time.perf_counter() - t0
                if "error" in point:
                    stop = point["error"]
                else:
                    assert point.pop("params_real") == counts["total"], "meta count != real model"
                    row.update(point, s_per_token=1 / point["tokens_per_s"],
                               eval_s_per_token=1 / point["eval_tokens_per_s"])
                    if gemm:
                        row["limit_tokens_per_s"] = limit_tokens_per_s(point["macs_per_token"], gemm)
                        row["of_limit"] = point["tokens_per_s"] / row["limit_tokens_per_s"]
                    last = row
                    log(f"{name:>9} V={V:>9,}: train {point['tokens_per_s']:>9,.0f} tok/s, peak "
                        f"{point['peak_mb']:>7,.0f} MB; eval {point['eval_tokens_per_s']:>9,.0f} tok/s, peak "
                        f"{point['eval_peak_mb']:>7,.0f} MB; {counts['total']:>13,} params")
            row["source"] = "measured" if "tokens_per_s" in row else f"counted on meta ({stop})"
            rows.append(row)
        used += spent
    return rows


def slope(rows: list[dict], model: str, key: str, min_v: int = 30_000) -> float | None:
    """Least-squares slope of log(key) on log(V) over the model's rows with V >= min_v."""
    pts = [(r["V"], r[key]) for r in rows if r["model"] == model and r["V"] >= min_v
           and r.get(key) is not None and r[key] > 0]
    if len(pts) < 2:
        return None
    v, y = np.log(np.array(pts, dtype=float)).T
    return float(np.polyfit(v, y, 1)[0])


def run(args: argparse.Namespace) -> int:
    names = args.models or sorted(models.REGISTRY)
    unknown = sorted(set(names) - set(models.REGISTRY))
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {sorted(models.REGISTRY)}")
    if len(set(names)) < len(names):
        raise ValueError(f"--models {names} lists a model twice; each is measured once")
    checks.at_least("--threads", args.threads)  # 0 would fail in every child: a report of nothing measured
    if args.max_vocab < MEASURE_GRID[0] or not 0 < args.time_budget < math.inf or not 0 < args.mem_budget_mb < math.inf:
        raise ValueError(f"--max-vocab must be >= {MEASURE_GRID[0]} and both budgets finite and > 0; got "
                         f"{args.max_vocab}, {args.time_budget}, {args.mem_budget_mb}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    gemm = measure_in_child(context(), args.device, args.threads, fn=gemm_rate).get("gemm_flops")
    if gemm:
        print(f"sgemm 2048 x 2048: {gemm / 1e9:.1f} GFLOP/s on {args.threads} thread(s): the compute limits' rate")
    rows = sweep(names, args.max_vocab, args.time_budget, args.mem_budget_mb, args.device, args.threads, gemm=gemm)
    slopes = {m: {k: slope(rows, m, k) for k in scaling_report.SLOPE_KEYS}
              for m in names}
    meta = {"device": args.device, "threads": args.threads, "gemm_flops": gemm, "seconds": round(time.perf_counter() - t0, 1),
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
            "time_budget_s": args.time_budget, "mem_budget_mb": args.mem_budget_mb}
    records.write_text_atomic(out / "scaling.json", json.dumps({"meta": meta, "slopes": slopes, "rows": rows}, indent=1))
    records.write_text_atomic(out / "scaling.md", scaling_report.markdown(rows, slopes, meta))
    scaling_report.plot(rows, out / "scaling.png", slopes)
    print(scaling_report.slopes_text(slopes))
    print(f"wrote {out / 'scaling.md'}, {out / 'scaling.png'}, {out / 'scaling.json'} "
          f"in {meta['seconds']:.0f} s")
    return 0
