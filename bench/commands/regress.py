"""Fail when the current commit's stored asv results regressed.

    python -m bench regress [--factor 1.3] [--machine ci-2core] [--python PATH] [--commit SHA]

Compares the commit's (default HEAD) stored result with the newest stored
result of one of its ancestors (`git rev-list` order) through `asv compare`, and exits 1 when
any benchmark got slower / larger by more than `--factor` (asv marks those
rows `+`; timings also need a statistically significant difference) or
started failing (`!`). `asv compare` itself always exits 0, so its table is
parsed here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WORSE = {"+": "slower/larger", "!": "started failing"}


@dataclass
class Row:
    mark: str  # '+' worse, '-' better, '!' new failure, '*' fixed, 'x' not comparable, ' ' same
    before: str
    after: str
    ratio: str
    name: str


def parse_compare(text: str) -> list[Row]:
    """Rows of `asv compare`'s github-format tables (one table, or one per --split group)."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) != 5:
            continue
        if cells[0] == "Change" or set(cells[1]) <= {"-", ":"}:
            continue  # header, or the |---| separator (a '-' in Change alone means "better")
        rows.append(Row(cells[0] or " ", *cells[1:]))
    return rows


def regressions(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.mark in WORSE]


def stored_commits(results_dir: Path, machine: str) -> set[str]:
    """Commit hashes with a stored result for `machine`."""
    folder = results_dir / machine
    if not folder.is_dir():
        return set()
    out = set()
    for path in folder.glob("*.json"):
        if path.name != "machine.json":
            out.add(json.loads(path.read_text())["commit_hash"])
    return out


def previous_commit(results_dir: Path, machine: str, head: str, history: list[str]) -> str | None:
    """The newest commit of `history` (newest first, HEAD's ancestors) other
    than `head` that has a stored result."""
    stored = stored_commits(results_dir, machine)
    return next((c for c in history if c != head and c in stored), None)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def register(sub) -> None:
    p = sub.add_parser("regress", help="fail when the current commit's asv results regressed", description=__doc__.split("\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--factor", type=float, default=1.3, help="worse-by ratio that fails (default 1.3)")
    p.add_argument("--machine", default="ci-2core", help="asv machine name (default ci-2core)")
    p.add_argument("--python", help="the python path asv ran with (selects the environment)")
    p.add_argument("--config", default="asv.conf.json",
                   help="asv's config; its results are read from .asv/results beside it (default asv.conf.json)")
    p.add_argument("--commit", default="HEAD", help="the commit whose stored result to check (default HEAD)")
    p.set_defaults(handler=handle)


def handle(args) -> int:

    config = Path(args.config)
    if not config.is_file():
        print(f"error: asv config {config} not found", file=sys.stderr)
        return 2
    results_dir = config.parent / ".asv" / "results"
    head = _git("rev-parse", args.commit).strip()
    if head not in stored_commits(results_dir, args.machine):
        print(f"error: no stored asv result for {head[:8]} in {results_dir / args.machine}",
              file=sys.stderr)
        return 2
    prev = previous_commit(results_dir, args.machine, head, _git("rev-list", head).split())
    if prev is None:
        print(f"no earlier commit has a stored asv result on {args.machine}: nothing to compare")
        return 0

    env = ["-E", f"existing:{args.python}"] if args.python else []
    cmd = [sys.executable, "-m", "asv", "compare", "--config", str(config), "--machine", args.machine,
           *env, "--factor", str(args.factor), "--split", prev, head]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"error: asv compare failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return 2
    out = proc.stdout
    print(out)
    bad = regressions(parse_compare(out))
    for r in bad:
        print(f"REGRESSION ({WORSE[r.mark]}): {r.name}: {r.before} -> {r.after} (x{r.ratio})")
    print(f"{len(bad)} regression(s) beyond x{args.factor} from {prev[:8]} to {head[:8]}")
    return 1 if bad else 0

