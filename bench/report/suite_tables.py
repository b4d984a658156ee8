"""A suite's records -> tables whose cells are the mean and spread over seeds.
Pure functions (no I/O), like bench/report/tables.py.

For each (dataset, model), the newest record of each seed that ended ok
counts once. A cell reads "mean ± sd (n)"; with one seed it reads
"value (n=1)". Records that did not end ok are counted apart, by status.
"""

from __future__ import annotations

import statistics

from bench.report.tables import DASH, MODELS, NAMES, _md, fmt_params, provenance, time_to_target

COUNT_MODELS = ["kn", *MODELS]


def per_seed(records) -> dict[tuple[str, str], dict[int, dict]]:
    """{(dataset, model): {seed: newest record of that seed}}."""
    out: dict[tuple[str, str], dict[int, dict]] = {}
    for r in sorted(records, key=lambda r: r.get("time") or ""):
        out.setdefault((r["dataset"], r["model"]), {})[r.get("seed", 0)] = r
    return out


def mean_sd(values: list[float], digits: int = 1) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return DASH
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (n=1)"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} (n={len(values)})"


def _ok(runs: dict[int, dict]) -> list[dict]:
    return [r for r in runs.values() if r["status"] == "ok"]


def _failed(runs: dict[int, dict]) -> str:
    bad = sorted(r["status"] for r in runs.values() if r["status"] != "ok")
    return ", ".join(bad) if bad else ""


def table5(records) -> str:
    """Test PPL and #params per model and corpus, over seeds."""
    groups = per_seed(records)
    datasets = sorted({d for d, _ in groups})
    header = ["model", *(f"{d} test PPL" for d in datasets), *(f"{d} #params" for d in datasets), "not ok"]
    rows = []
    for m in COUNT_MODELS:
        cells = [groups.get((d, m), {}) for d in datasets]
        if not any(cells):
            continue
        ppl = [mean_sd([r["metrics"].get("test_ppl") for r in _ok(c)]) for c in cells]
        params = [fmt_params(_ok(c)[0]["metrics"].get("params_total")) if _ok(c) else DASH for c in cells]
        rows.append([NAMES[m], *ppl, *params, "; ".join(f for f in map(_failed, cells) if f) or DASH])
    used = [r for runs in groups.values() for r in runs.values()]
    return f"### Table 5 analog: test perplexity / #parameters, mean ± sd over seeds\n\n{_md(header, rows)}\n\n" \
           f"{provenance(used)}\n"


def table3(records, baseline: str = "hsm") -> str:
    """Seconds (training + reallocation) to reach the baseline's final valid PPL
    (its mean over seeds), and the reallocation/training ratio, over seeds."""
    groups = per_seed(records)
    out = [f"### Table 3 analog: time to reach the {NAMES[baseline]}'s final validation perplexity"]
    for d in sorted({d for d, _ in groups}):
        base = [r["metrics"].get("valid_ppl") for r in _ok(groups.get((d, baseline), {}))]
        target = statistics.mean(base) if base else None
        rows = []
        for m in MODELS:
            runs = _ok(groups.get((d, m), {}))
            if not runs:
                continue
            times = [time_to_target(r["curve"], target) for r in runs]
            reached = [t for t in times if t is not None]
            rows.append([NAMES[m], mean_sd([r["metrics"].get("valid_ppl") for r in runs]),
                         f"{mean_sd(reached)}; {len(reached)} of {len(runs)} reached" if target else DASH,
                         mean_sd([100 * (r["metrics"].get("realloc_ratio") or 0) for r in runs], 2)])
        head = ["model", "final valid PPL", "seconds to target", "realloc / training (%)"]
        out.append(f"**{d}**, target {target:.1f}\n\n{_md(head, rows)}" if target else f"**{d}**: no {baseline} run")
    return "\n\n".join(out) + "\n"


def render(records) -> str:
    return "# Suite results\n\nGenerated from this folder's records.jsonl; do not edit.\n\n" + \
        "\n".join([table5(records), table3(records)])
