"""`python -m bench realloc --vocab V [--method M]`: time one reallocation on a
realistic instance (bench/rigs/realloc_instances.py, --family) or on loss tables saved from
a real run (--load FILE.npz with loss_row, loss_col and optionally previous),
and print one JSON object: V, R, C, method, seconds, cost, lower_bound, gap,
previous_cost, moved, separable_bound, trace, seconds_instance, peak_rss_mb.
Progress goes to stderr; --results DIR also keeps a record and a table."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from bench import meters


def register(subparsers) -> None:
    from bench.rigs.realloc_instances import FAMILIES
    from models.realloc import METHODS

    p = subparsers.add_parser("realloc", help="time word reallocation (cost, certified gap, memory)")
    p.add_argument("--vocab", type=int, help="words in the generated instance (LightRNN's table: C = ceil(sqrt V), R = ceil(V / C))")
    p.add_argument("--method", default="auto", help=f"one of {', '.join(METHODS)} (default auto)")
    p.add_argument("--seed", type=int, default=0, help="instance seed (default 0)")
    p.add_argument("--family", default="mild", choices=list(FAMILIES),
                   help="generated instance family (bench/rigs/realloc_instances.py; default mild)")
    p.add_argument("--load", type=Path, help="a .npz with loss_row [V,R], loss_col [V,C] (and previous [V])")
    p.add_argument("--target-gap", type=float, default=1e-4, help="auction: stop below this certified gap")
    p.add_argument("--max-seconds", type=float, help="auction: start no round that would end past this")
    p.add_argument("--results", type=Path, help="also append the figures to RESULTS/realloc.jsonl and "
                   "rewrite RESULTS/realloc.md")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr (the JSON alone)")
    p.set_defaults(handler=run)


def load(path: Path) -> dict:
    if not path.is_file():
        raise OSError(f"no such file: {path}")
    with np.load(path) as z:
        missing = {"loss_row", "loss_col"} - set(z.files)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)} (has {z.files})")
        return {k: z[k] for k in z.files}


def run(args: argparse.Namespace) -> int:
    from bench.rigs.realloc_instances import make_instance
    from models.realloc import METHODS, reallocate

    if args.method not in METHODS:
        raise ValueError(f"unknown method {args.method!r}; choose from {list(METHODS)}")
    if (args.vocab is None) == (args.load is None):
        raise ValueError("give exactly one of --vocab V or --load FILE.npz")
    if not args.quiet:  # stderr, so stdout stays one JSON object
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="realloc: %(message)s")
    t0 = time.perf_counter()
    inst = load(args.load) if args.load else make_instance(args.vocab, seed=args.seed, family=args.family)
    t_inst = time.perf_counter() - t0
    res = reallocate(inst["loss_row"], inst["loss_col"], args.method, inst.get("previous"), args.seed,
                     target_gap=args.target_gap, max_seconds=args.max_seconds)
    V, R = inst["loss_row"].shape
    out = {"V": V, "R": R, "C": inst["loss_col"].shape[1], **res.summary(),
           "seconds_instance": t_inst, "peak_rss_mb": meters.cpu_peak_rss_mb()}
    print(json.dumps(out))
    if args.results:
        from bench.report import realloc_report

        family = "" if args.family == "mild" else f"{args.family} "  # mild keeps its earlier records' name
        realloc_report.save(args.results, out, str(args.load) if args.load else
                            f"generated {family}V={V} seed={args.seed}")
    return 0
