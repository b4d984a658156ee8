"""`python -m bench tables`: regenerate every table and plot from the records."""

from __future__ import annotations

from pathlib import Path

from bench.report import interpolate, plots, records, tables


def register(sub) -> None:
    p = sub.add_parser("tables", help="regenerate tables and plots from the run records",
                       description=__doc__)
    p.add_argument("--results", default="results", help="folder holding records.jsonl (default: results)")
    p.set_defaults(handler=lambda args: (regenerate(Path(args.results)), 0)[1])


def regenerate(results: Path) -> list[Path]:
    """Write <results>/tables.md and <results>/plots/*.png; returns the paths."""
    src = results / "records.jsonl"
    if not src.exists():
        raise FileNotFoundError(f"no records at {src}; run `python -m bench run --results {results}` first")
    recs = records.read(src)
    out = results / "tables.md"
    # KN + neural mixtures are derived from the per-token files, never stored as records.
    records.write_text_atomic(out, tables.render(recs + interpolate.derived(recs, results)))
    paths = [out, *plots.curves(recs, results / "plots"), *plots.class_recovery(recs, results / "plots"),
             *plots.round_nll(recs, results / "plots")]
    for p in paths:
        print(f"wrote {p}")
    return paths
