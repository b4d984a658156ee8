"""`python -m bench SUBCOMMAND ...`: every tool of the harness. Each subcommand
lives in its own module under bench/commands/ exposing `register(subparsers)`;
the handler it sets returns an exit code."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Module per subcommand (bench/commands/), in --help order.
COMMANDS = ["run", "suite", "info", "params", "tables", "realloc", "scaling", "kn", "gpu", "ddp_bytes", "regress"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark LightRNN against full, hierarchical and adaptive softmax LSTMs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = "bench.commands.realloc" if name == "realloc" else f"bench.commands.{name}"
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = int(args.handler(args) or 0)
        sys.stdout.flush()  # here, not at exit, so a closed pipe is caught below
        return rc
    except BrokenPipeError:
        # A reader that stopped early (`... --dry-run | head`) closed stdout:
        # quiet, as Unix tools are (141 = 128 + SIGPIPE). Python flushes stdout
        # again at exit, so it goes to /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (KeyError, ValueError, OSError, MemoryError) as e:
        # Bad input, or a job refused because memory will not do: one clear
        # line, no traceback. Programming errors (anything else) keep theirs.
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
