"""`python -m bench run`: train every requested model the same way, append one
record per run to <results>/records.jsonl, then regenerate tables and plots.

With no arguments: every model on the embedded `synthetic` corpus with the
CPU preset (minutes on 2 cores, offline).
"""

from __future__ import annotations

import argparse
import signal
import sys

import torch

import datasets
from bench import checks
from bench.presets import KN, ORDER, PRESETS, parse_kv, preset_names
from bench.report import records
from bench.train import distributed, kn_run
from bench.train.runner import execute


def register(sub) -> None:
    p = sub.add_parser("run", help="train models and record the results",
                       description=__doc__, formatter_class=OneDefaultHelp)
    p.add_argument("--dataset", default="synthetic", help="dataset name (see `python -m bench info`)")
    p.add_argument("--models", default=None,
                   help=f"comma-separated models to run, in order; default: all of {ORDER}; "
                        f"{KN!r} is the Kneser-Ney n-gram (see --kn-order)")
    p.add_argument("--preset", default="auto", choices=("auto", *preset_names()),
                   help="training and model settings (bench/presets.py); auto = the paper's on a GPU, "
                        "cpu otherwise")
    p.add_argument("--epochs", type=int, help="maximum epochs (default from the preset)")
    p.add_argument("--max-time", type=float, help="stop training after this many seconds (training + reallocation)")
    p.add_argument("--max-steps", type=int, help="stop training after this many optimiser steps")
    p.add_argument("--checkpoint-every", type=float,
                   help="seconds of training between mid-epoch checkpoints (default: at epoch ends and on "
                        "SIGINT/SIGTERM only)")
    p.add_argument("--rounds", type=int, help="LightRNN's training rounds, a reallocation between two")
    p.add_argument("--round-schedule", choices=("even", "plateau"),
                   help="when LightRNN reallocates: even (epochs split evenly) or plateau (the paper's: at a "
                        "validation stall, while a round beats the last)")
    p.add_argument("--round-min-gain", type=float,
                   help="plateau schedule: an epoch that improves the round's best valid ppl by less than this "
                        "fraction is a stall (default 0.01)")
    p.add_argument("--round-full-lr", action=argparse.BooleanOptionalAction, default=None,
                   help="plateau schedule: move only while the lr is at its initial value (default: on)")
    p.add_argument("--realloc-tables", choices=("pass", "train"),
                   help="LightRNN's loss tables: pass (one evaluation pass at the round's end) or train (the "
                        "paper's: summed over the round's last epoch, in train mode)")
    p.add_argument("--after-move", choices=("keep", "restart", "fresh"),
                   help="after a reallocation: keep (the paper's), restart the lr and its schedule (CNTK's), or "
                        "fresh (restart, and every parameter drawn afresh: only the new table kept)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to train; auto = cuda when a CUDA device is available")
    p.add_argument("--amp", choices=("bf16",), help="autocast to bfloat16")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: fastest on a shared machine)")
    p.add_argument("--seed", type=int, default=0, help="the run's random seed (initialisation, dropout); part of its "
                   "checkpoint's name and record")
    p.add_argument("--data-dir", help="where datasets live ($LIGHTRNN_DATA_DIR or a user cache by default)")
    p.add_argument("--dataset-opt", type=_kv_arg, action="append", default=[], metavar="KEY=VALUE",
                   help="dataset parameter, e.g. train_tokens=5000 for synthetic (repeatable)")
    p.add_argument("--set", type=_kv_arg, action="append", default=[], metavar="KEY=VALUE", dest="model_set",
                   help="model config override, e.g. dropout=0 (repeatable); each model takes the keys it has "
                        "(char_dim for the character models, embedding_dim for the others)")
    p.add_argument("--kn-order", type=int, default=kn_run.DEFAULT_ORDER, help="n-gram order of the kn model")
    p.add_argument("--results", default="results", help="folder for records.jsonl, tables, plots, checkpoints")
    p.add_argument("--resume", action="store_true", help="continue each run from its checkpoint (the last epoch end, "
                   "mid-epoch save or interruption); a run whose record in --results already ended for good "
                   "(as `suite` decides) with the same settings is not run again")
    p.add_argument("--fresh", action="store_true", help="start over a run that has an interrupted checkpoint, "
                   "moving the checkpoint aside (renamed, never deleted); without --resume or --fresh such a run "
                   "is refused")
    p.add_argument("--rerun-finished", action="store_true",
                   help="with --resume: run again even a run whose record already ended for good (`suite` uses it: "
                        "it decides itself which runs are done)")
    p.add_argument("--no-tables", action="store_true", help="skip regenerating tables and plots")
    t = p.add_argument_group("training (defaults: the shared procedure of the paper and Kim et al.)")
    for name, kind, helptext in [
        ("batch-size", int, "sequences per batch"), ("bptt", int, "truncated BPTT steps"),
        ("lr", float, "initial SGD learning rate"), ("lr-decay", float, "factor applied when the lr decays"),
        ("lr-decay-start", int, "fixed schedule: decay every epoch after this one (default: decay on a "
                                "validation plateau)"),
        ("lr-decay-rule", str, "stall test when no fixed schedule: best (beat the best so far) or kim "
                               "(Kim et al.: improve on the previous epoch by 1)"),
        ("lr-floor", float, "stop once the lr falls below this"), ("clip", float, "gradient norm clip"),
        ("eval-batch-size", int, "streams scored in parallel in evaluation"),
        ("evals-per-epoch", int, "validation points per epoch on the curve"),
    ]:
        t.add_argument(f"--{name}", type=kind, help=helptext)
    p.set_defaults(handler=handle)


class OneDefaultHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default once: not where its help already says it,
    nor where there is none (None, False, an empty list)."""

    def _get_help_string(self, action):
        if "default" in (action.help or "").lower() or action.default is None or action.default is False \
                or action.default == []:
            return action.help
        return super()._get_help_string(action)


class _Interrupt:
    """First SIGINT/SIGTERM asks the trainer to stop cleanly (record
    `interrupted`, keep the checkpoint); a second SIGINT kills as usual."""

    def __init__(self):
        self.hit = False

    def __call__(self, signum, frame):
        self.hit = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self):
        self._old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available; choose from ['auto', 'cpu']")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def handle(args) -> int:
    plan = checks.run_plan(args, pick_device(args.device))  # every input checked: nothing loaded or written yet
    torch.set_num_threads(args.threads)
    device = distributed.init(pick_device(args.device))  # under torchrun: join the group, cuda:LOCAL_RANK
    main = distributed.is_main()  # read now: once the group is gone every process is "rank 0"
    for spec in plan.specs.values():
        spec.device = device
    try:
        code = _runs(args, plan, device)
    except BaseException:
        distributed.shutdown(synced=False)
        raise
    distributed.shutdown()
    if not args.no_tables and main and (plan.results / "records.jsonl").exists():
        from bench.commands.tables import regenerate
        regenerate(plan.results)
    return code


def _runs(args, plan: checks.Plan, device: torch.device) -> int:
    """Every model of the plan in turn; returns the exit code."""
    main = distributed.is_main()  # only rank 0 prints, writes records, tables and checkpoints
    for why in plan.skip.values():
        if main:
            print(why)
    names = [n for n in plan.names if n not in plan.skip]
    if not names:
        return 0
    with distributed.main_first():  # rank 0 moves checkpoints aside and builds any id cache alone
        if main:
            for ckpt in plan.aside:  # --fresh: the interrupted run's checkpoint is kept, under another name
                kept = ckpt.with_name(f"{ckpt.stem}-aside-{records.new_run_id()}{ckpt.suffix}")
                ckpt.rename(kept)
                print(f"--fresh: moved {ckpt} aside to {kept}")
        corpus = datasets.load(args.dataset, data_dir=args.data_dir, **dict(args.dataset_opt))
    if main:
        print(f"device {device} ({records.environment(device)['device_name']}), preset {plan.preset} "
              f"({PRESETS[plan.preset].why.split(':')[0]}); "
              f"dataset {args.dataset}: V={len(corpus.vocab)}, {len(corpus.train):,} train tokens")
    plan.results.mkdir(parents=True, exist_ok=True)
    worst = 0
    sha = records.git_sha()  # the code this process loaded (read now: others may commit meanwhile)
    with _Interrupt() as interrupt:
        for name in names:
            if name == KN:
                if not main:
                    continue  # counting is one process's job
                rec = kn_run.run(corpus, args, plan.preset, sha, device, plan.results)
            else:
                rec = execute(plan.specs[name], corpus, sha, should_stop=lambda: interrupt.hit)
            m = rec["metrics"]
            if main:
                records.append(plan.results / "records.jsonl", rec)
                print(f"{name}: {rec['status']} ({rec['stop_reason']}), valid ppl {m['valid_ppl']}, "
                      f"test ppl {m['test_ppl']}, params {m['params_total'] or 0:,}, train {m['train_s']:.1f} s")
                if rec["error"]:
                    print(f"{name}: {rec['error']}", file=sys.stderr)
            worst = max(worst, 0 if rec["status"] == "ok" else 1)
            if interrupt.hit or rec["status"] == "interrupted":  # DDP: another rank was signalled
                if main and name in plan.specs and plan.specs[name].checkpoint.exists():
                    print(f"{name}: interrupted; its checkpoint {plan.specs[name].checkpoint} is kept: run the same "
                          "command with --resume to continue it (--fresh: start over)", file=sys.stderr)
                break
    return 130 if interrupt.hit else worst


def _kv_arg(text: str) -> tuple[str, object]:
    try:
        return parse_kv(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
