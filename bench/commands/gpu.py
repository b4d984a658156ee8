"""The prepared GPU run: one script, under 8 minutes on one CUDA device.

    nox -s gpu                       # or: python -m bench gpu --budget-s 420

Phases, in order, each bounded by what is left of the budget:
1. correctness: exact normalisation of every model on the device (logsumexp
   over all V words = 0; forward's summed NLL = the gathered -log_prob);
2. throughput: training tokens/s (the trainer's step: forward, backward, clip,
   SGD), torch peak allocated and NVML used memory, and gradient bytes per step
   (what DDP all-reduces) for the four models at V = 206K and 793,471, batch
   100 x 32, fp32 and bf16 autocast; LightRNN 1000x2 against the baselines at
   Kim et al.'s LSTM-Word-Small (200x2), the paper's ACLW comparison;
3. reallocation at V = 793,471: the loss-table pass of the BillionW LightRNN
   on the device, then the matching, timed apart;
4. training: `python -m bench run` of each model on real data (PTB) to a fixed
   time budget; its records land in <out>/records.jsonl, perplexity in the table.
The phases themselves are in bench/rigs/gpu_phases.py.
Writes <out>/checks.jsonl (one record per measurement) and <out>/gpu_check.md,
and prints a short summary last. Without CUDA it refuses (exit 2); `--device
cpu --tiny` runs the same logic at toy sizes (used by the tests only).

The corpora come from --data-dir, else $LIGHTRNN_DATA_DIR, else ../shared/data;
a machine that lacks them (e.g. a lent GPU box, where only the repository
travels) needs a copy of ptb/ inside the checkout, in a git-ignored folder,
passed as --data-dir; without one the training phase is skipped and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import torch
from tabulate import tabulate

from bench.presets import WORD_MODELS
from bench.report import records
from bench.rigs.gpu_phases import (
    check_normalisation,
    measure_step,
    model_config,
    realloc_phase,
    train_phase,
)

SIZES = {  # full: the paper's sizes; tiny: the CPU dry run of the tests
    "full": dict(vocabs=(206_000, 793_471), batch=100, bptt=32, measure_s=2.0, realloc_vocab=793_471,
                 realloc_batches=20, train_args=["--dataset", "ptb"]),
    "tiny": dict(vocabs=(300, 1000), batch=4, bptt=5, measure_s=0.05, realloc_vocab=400,
                 realloc_batches=3, train_args=["--dataset", "synthetic", "--preset", "cpu",
                                                "--dataset-opt", "train_tokens=3000", "--set", "hidden_dim=16",
                                                "--set", "embedding_dim=16", "--eval-batch-size", "50"]),
}


class OutOfBudget(Exception):
    pass


def _alarm(signum, frame):
    raise OutOfBudget("the phase ran out of its share of the time budget")


def register(sub) -> None:
    p = sub.add_parser("gpu", help="the prepared GPU run (correctness, throughput, reallocation, training)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-s", type=float, default=420.0, help="wall-clock budget for all phases")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: only with --tiny (tests)")
    p.add_argument("--tiny", action="store_true", help="toy sizes, for the CPU dry run in the tests")
    p.add_argument("--data-dir", help="real corpora (default: $LIGHTRNN_DATA_DIR or ../shared/data)")
    p.add_argument("--out", default="results/gpu", help="folder for checks.jsonl, records.jsonl, gpu_check.md")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device is available: the GPU check needs one (nox -s gpu on a GPU machine)",
              file=sys.stderr)
        return 2
    if args.device == "cpu" and not args.tiny:
        print("error: --device cpu is only for the --tiny dry run; choose from ['cuda']", file=sys.stderr)
        return 2
    start = time.perf_counter()
    deadline = start + args.budget_s
    device, sz, out = torch.device(args.device), SIZES["tiny" if args.tiny else "full"], Path(args.out)
    data_dir = (args.data_dir or os.environ.get("LIGHTRNN_DATA_DIR")
                or str(Path(__file__).resolve().parents[3] / "shared" / "data"))  # ../shared/data
    run_id, env = records.new_run_id(), records.environment(device)
    rows: dict[str, list[dict]] = {"correctness": [], "throughput": [], "realloc": [], "training": []}

    def record(kind: str, status: str, fields: dict) -> None:
        rows[kind].append(fields)
        records.append(out / "checks.jsonl", {
            "schema": records.SCHEMA, "kind": f"gpu_check/{kind}", "run_id": run_id, "time": records.utc_now(),
            "git_sha": records.git_sha(), "status": status, "tiny": args.tiny, "metrics": fields, "env": env})

    for name in WORD_MODELS:  # 1. correctness
        record("correctness", "ok", {"model": name, **check_normalisation(name, device)})
    for V in sz["vocabs"]:  # 2. throughput
        for name in WORD_MODELS:
            for amp in (None, "bf16"):
                head = {"model": name, "vocab_size": V, "amp": amp or "fp32", **model_config(name, args.tiny)}
                if time.perf_counter() > start + 0.4 * args.budget_s:
                    continue  # leave time for the reallocation and the training runs
                if amp == "bf16" and device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
                    # oneDNN has no bf16 LSTM on a CPU without bf16 instructions (AMD EPYC here): a dry run's limit
                    record("throughput", "skipped", {**head, "error": "this CPU has no bf16 in oneDNN"})
                    continue
                try:
                    record("throughput", "ok", {**head, **measure_step(name, V, amp, sz, args.tiny, device)})
                except torch.OutOfMemoryError as e:
                    record("throughput", "oom", {**head, "error": str(e).splitlines()[0]})
    # 3. reallocation at V = 793,471, cut short by an alarm so 40% of the budget stays for training
    signal.signal(signal.SIGALRM, _alarm)
    window = max(10.0, deadline - time.perf_counter() - 0.4 * args.budget_s)
    signal.setitimer(signal.ITIMER_REAL, window)
    fig: dict = {}
    try:  # the solver stops by itself at 80% of the window; the alarm is the backstop
        realloc_phase(sz, args.tiny, device, fig, time.perf_counter() + 0.8 * window)
        record("realloc", "ok", fig)
    except (torch.OutOfMemoryError, OutOfBudget) as e:
        status = "oom" if isinstance(e, torch.OutOfMemoryError) else "interrupted"
        record("realloc", status, {**fig, "error": str(e).splitlines()[0]})
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    left = deadline - time.perf_counter()  # 4. training on real data, in a child process
    per_model = max(1.0, min(60.0, (0.9 * left - 20) / len(WORD_MODELS) - 12))  # ~12 s each: load, evals
    if args.tiny or (Path(data_dir) / "ptb").is_dir():
        for r in train_phase(sz, device, out, None if args.tiny else data_dir, per_model, time.perf_counter() + 0.95 * left):
            m = r["metrics"]
            rows["training"].append({"model": r["model"], "status": r["status"], "dataset": r["dataset"],
                                     "valid_ppl": m["valid_ppl"], "test_ppl": m["test_ppl"],
                                     "train_s": m["train_s"], "tokens_per_s": m["tokens_per_s"],
                                     "run_id": r["run_id"]})
    else:
        print(f"training skipped: no ptb/ under {data_dir} (pass --data-dir)", file=sys.stderr)
    return report(rows, out, env, time.perf_counter() - start, args.budget_s)


def report(rows: dict, out: Path, env: dict, seconds: float, budget: float) -> int:
    """Write <out>/gpu_check.md and print the short summary (last output)."""
    parts = [f"# GPU check\n\n{env.get('device_name')}, torch {env.get('torch')}, "
             f"{seconds:.0f} s of a {budget:.0f} s budget. Generated by `python -m bench gpu`.\n"]
    for kind, items in rows.items():
        if items:
            flat = [{k: v for k, v in r.items() if not isinstance(v, dict | list)} for r in items]
            parts.append(f"## {kind}\n\n" + tabulate(flat, headers="keys", tablefmt="github", floatfmt=".4g"))
    records.write_text_atomic(out / "gpu_check.md", "\n\n".join(parts) + "\n")
    summary = [[r["model"], r["vocab_size"], r["amp"], r.get("tokens_per_s"), r.get("gpu_peak_alloc_mb"),
                r.get("grad_bytes_per_step", 0) / 2**20] for r in rows["throughput"]]
    print(tabulate(summary, headers=["model", "V", "amp", "tok/s", "peak MB", "grad MB/step"], floatfmt=".4g"))
    for r in rows["training"]:
        print(f"train {r['model']} on {r['dataset']}: {r['status']}, valid ppl {r['valid_ppl']}, "
              f"test ppl {r['test_ppl']}")
    for r in rows["realloc"]:
        print(f"realloc V={r['vocab_size']}: " + json.dumps({k: v for k, v in r.items() if "seconds" in k or k in
                                                            ("gap", "moved", "method", "error")}, default=str))
    failed = [r["model"] for r in rows["correctness"] if not r["passed"]]
    print(f"correctness: {'FAILED ' + ', '.join(failed) if failed else 'every model exactly normalised'}; "
          f"{seconds:.0f} s of {budget:.0f} s")
    return 1 if failed else 0

