"""`python -m bench SUBCOMMAND ...`: every subcommand lives in its own module
exposing `register(subparsers)`; the handler it sets returns an exit code."""

from __future__ import annotations

import argparse
import importlib
import sys

# Module per subcommand, in --help order.
COMMANDS = ["run", "info", "params", "tables", "realloc", "scaling", "kn"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark LightRNN against full, hierarchical and adaptive softmax LSTMs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"bench.cmd_{name}")
        except ModuleNotFoundError as e:
            if e.name != f"bench.cmd_{name}":
                raise
            continue  # subcommand not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (KeyError, ValueError, OSError, MemoryError) as e:
        # Bad input, or a job refused because memory will not do: one clear
        # line, no traceback. Programming errors (anything else) keep theirs.
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
