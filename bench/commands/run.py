"""`python -m bench run`: train every requested model the same way, append one
record per run to <results>/records.jsonl, then regenerate tables and plots.

With no arguments: every model on the embedded `synthetic` corpus with the
CPU preset (minutes on 2 cores, offline).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import torch

import datasets
import models
from bench.presets import (
    KN,
    ORDER,
    PRESETS,
    paper_preset,
    parse_kv,
    preset_config,
    preset_names,
    train_settings,
)
from bench.report import records
from bench.train import distributed, kn_run
from bench.train.config import TrainConfig
from bench.train.runner import RunSpec, execute


def register(sub) -> None:
    p = sub.add_parser("run", help="train models and record the results",
                       description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--amp", choices=("bf16",), help="autocast to bfloat16")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: fastest on a shared machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="where datasets live ($LIGHTRNN_DATA_DIR or a user cache by default)")
    p.add_argument("--dataset-opt", type=_kv_arg, action="append", default=[], metavar="KEY=VALUE",
                   help="dataset parameter, e.g. train_tokens=5000 for synthetic (repeatable)")
    p.add_argument("--set", type=_kv_arg, action="append", default=[], metavar="KEY=VALUE", dest="model_set",
                   help="model config override, e.g. dropout=0 (repeatable); each model takes the keys it has "
                        "(char_dim for the character models, embedding_dim for the others)")
    p.add_argument("--kn-order", type=int, default=kn_run.DEFAULT_ORDER, help="n-gram order of the kn model")
    p.add_argument("--results", default="results", help="folder for records.jsonl, tables, plots, checkpoints")
    p.add_argument("--resume", action="store_true", help="continue each run from its checkpoint (the last epoch end, "
                   "mid-epoch save or interruption)")
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
    torch.set_num_threads(args.threads)
    device = distributed.init(pick_device(args.device))  # under torchrun: join the group, cuda:LOCAL_RANK
    main = distributed.is_main()  # read now: once the group is gone every process is "rank 0"
    try:
        code = _runs(args, device)
    except BaseException:
        distributed.shutdown(synced=False)
        raise
    distributed.shutdown()
    if not args.no_tables and main:
        from bench.commands.tables import regenerate
        regenerate(Path(args.results))
    return code


def _runs(args, device: torch.device) -> int:
    """Every model of the command in turn; returns the exit code."""
    main = distributed.is_main()  # only rank 0 prints, writes records, tables and checkpoints
    preset = args.preset
    if preset == "auto":
        preset = paper_preset(args.dataset) if device.type == "cuda" else "cpu"
    names = args.models.split(",") if args.models else ORDER
    for n in names:  # unknown model, preset or key: an error listing the choices, before any training
        if n == KN:
            kn_run.config(args)
            if args.model_set and names == [n]:
                raise ValueError(f"--set configures neural models; {n!r} takes --kn-order")
            continue
        preset_config(n, preset, _own_keys(n, args.model_set))
    neural = [n for n in names if n != KN]
    known = {k for n in neural for k in models.config_keys(n)}
    unknown = sorted({k for k, _ in args.model_set} - known)
    if neural and unknown:  # each model takes the --set keys it has; a key none has is an error
        raise ValueError(f"models {neural} got unknown config keys {unknown}; valid keys: {sorted(known)}")
    tcfg = TrainConfig(**{**train_settings(preset), **{k: v for k, v in vars(args).items()
                                                         if k in TrainConfig.__dataclass_fields__ and v is not None}})
    data_params = dict(args.dataset_opt)
    results = Path(args.results)
    specs = {n: RunSpec(args.dataset, data_params, n, preset, preset_config(n, preset, _own_keys(n, args.model_set)),
                        tcfg, args.seed, device, results, args.resume) for n in neural}
    with distributed.main_first():  # rank 0 builds any id cache alone
        corpus = datasets.load(args.dataset, data_dir=args.data_dir, **data_params)
    if main:
        print(f"device {device} ({records.environment(device)['device_name']}), preset {preset} "
              f"({PRESETS[preset].why.split(':')[0]}); "
              f"dataset {args.dataset}: V={len(corpus.vocab)}, {len(corpus.train):,} train tokens")
    results.mkdir(parents=True, exist_ok=True)
    worst = 0
    sha = records.git_sha()  # the code this process loaded (read now: others may commit meanwhile)
    with _Interrupt() as interrupt:
        for name in names:
            if name == KN:
                if not main:
                    continue  # counting is one process's job
                rec = kn_run.run(corpus, args, preset, sha, device, results)
            else:
                rec = execute(specs[name], corpus, sha, should_stop=lambda: interrupt.hit)
            m = rec["metrics"]
            if main:
                records.append(results / "records.jsonl", rec)
                print(f"{name}: {rec['status']} ({rec['stop_reason']}), valid ppl {m['valid_ppl']}, "
                      f"test ppl {m['test_ppl']}, params {m['params_total'] or 0:,}, train {m['train_s']:.1f} s")
                if rec["error"]:
                    print(f"{name}: {rec['error']}", file=sys.stderr)
            worst = max(worst, 0 if rec["status"] == "ok" else 1)
            if interrupt.hit or rec["status"] == "interrupted":  # DDP: another rank was signalled
                break
    return 130 if interrupt.hit else worst


def _kv_arg(text: str) -> tuple[str, object]:
    try:
        return parse_kv(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _own_keys(name: str, model_set: list) -> dict:
    """The --set overrides model `name` has (word-embedding sizes do not apply to
    character models, nor character-CNN sizes to word models)."""
    keys = set(models.config_keys(name))
    return {k: v for k, v in model_set if k in keys}
