"""`python -m bench params --model NAME (--vocab V | --dataset NAME) [--preset P]
[--set key=value ...]`: parameter counts as one JSON object
{total, embedding, recurrent, output}. The model is built on the `meta` device,
so even a 1.6G-parameter baseline is counted without allocating memory."""

from __future__ import annotations

import argparse
import json

import models
from bench import checks
from bench.presets import parse_overrides, preset_config
from models.params import count_on_meta


def register(subparsers) -> None:
    p = subparsers.add_parser("params", help="count a model's parameters (no memory needed)",
                              description=__doc__)
    p.add_argument("--model", required=True, help=f"one of: {', '.join(sorted(models.REGISTRY))}, or an ablation: "
                                                         f"{', '.join(sorted(models.ABLATIONS))}")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--vocab", type=int, help="vocabulary size")
    size.add_argument("--dataset", help="take the vocabulary size from this dataset")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the corpora (with --dataset); default $LIGHTRNN_DATA_DIR, "
                        "else ~/.cache/lightrnn-bench")
    p.add_argument("--preset", default="cpu", help="named config (see bench/presets.py)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="config override, e.g. hidden_dim=512 (repeatable)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = preset_config(args.model, args.preset, parse_overrides(args.overrides))
    if args.dataset is not None:
        import datasets  # only here: --vocab needs no data code

        vocab_size = len(datasets.load(args.dataset, data_dir=args.data_dir, download=False).vocab)
    else:
        vocab_size = args.vocab
    if vocab_size < 2:
        raise ValueError(f"--vocab must be at least 2, got {vocab_size}")
    checks.model_config(args.model, config, args.dataset or "synthetic", vocab_size)  # types and ranges, one line
    counts = count_on_meta(args.model, vocab_size, **config)
    print(json.dumps({k: counts[k] for k in ("total", "embedding", "recurrent", "output")}))
    return 0
