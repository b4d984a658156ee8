"""`python -m bench info --dataset NAME [--data-dir DIR]`: one JSON object with
the vocabulary size, tokens per split, OOV rate per split, source checksums
and, for `synthetic`, its oracle (Bayes-optimal) perplexity."""

from __future__ import annotations

import argparse
import json

import datasets


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe a dataset as one JSON object")
    p.add_argument("--dataset", required=True, help=f"one of: {', '.join(datasets.names())}")
    p.add_argument("--data-dir", default=None,
                   help="folder holding (or to receive) the corpora; default $LIGHTRNN_DATA_DIR, "
                        "else ~/.cache/lightrnn-bench")
    p.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    corpus = datasets.load(args.dataset, data_dir=args.data_dir, download=not args.no_download)
    print(json.dumps(corpus.summary(), indent=1))
    return 0
