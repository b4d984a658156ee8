"""A suite's records -> tables whose cells are the mean and spread over seeds.
Pure functions (no I/O), like bench/report/tables.py.

A row is a (model, preset): a model may run under several presets in one
suite (LightRNN's bootstrap beside its control). For each (dataset, model,
preset), the newest record of each seed counts once. A cell reads
"mean ± sd (n=k)"; with one seed it reads "value (n=1)". Records that did not
end ok are counted apart, by status.
"""

from __future__ import annotations

import statistics

import models
from bench.report.records import best_test_ppl, recency
from bench.report.tables import (
    BEST_NOTE,
    DASH,
    MODELS,
    NAMES,
    _md,
    fmt_params,
    provenance,
    time_to_target,
)

COUNT_MODELS = ["kn", *MODELS]


def per_seed(records) -> dict[tuple[str, str, str], dict[int, dict]]:
    """{(dataset, model, preset): {seed: newest record of that seed}}. A run
    interrupted part-way (a rerun under way) does not hide that seed's newest
    finished record: it stands only where no finished one exists."""
    out: dict[tuple[str, str, str], dict[int, dict]] = {}
    for r in sorted(records, key=recency):
        out.setdefault((r["dataset"], r["model"], r["preset"]), {})[r.get("seed", 0)] = r
    return out


def rows_of(groups) -> list[tuple[str, str]]:
    """The (model, preset) rows in the paper's model order, presets by name."""
    order = [*COUNT_MODELS, *models.ABLATIONS]  # the paper's models, then LightRNN's ablations
    return sorted({(m, p) for _, m, p in groups}, key=lambda mp: (order.index(mp[0]), mp[1]))


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


def _params(runs: dict[int, dict]) -> str:
    ok = _ok(runs)
    return fmt_params(ok[0]["metrics"].get("params_total")) if ok else DASH


def table5(records) -> str:
    """Test PPL and #params per (model, preset) and corpus, over seeds."""
    groups = per_seed(records)
    datasets = sorted({d for d, _, _ in groups})
    header = ["model", "preset", *(f"{d} test PPL" for d in datasets), *(f"{d} #params" for d in datasets), "not ok"]
    rows = []
    for m, p in rows_of(groups):
        cells = [groups.get((d, m, p), {}) for d in datasets]
        ppl = [mean_sd([best_test_ppl(r) for r in _ok(c)]) for c in cells]
        rows.append([NAMES[m], p, *ppl, *map(_params, cells), "; ".join(f for f in map(_failed, cells) if f) or DASH])
    used = [r for runs in groups.values() for r in runs.values()]
    return f"### Table 5 analog: test perplexity / #parameters, mean ± sd over seeds\n\n{_md(header, rows)}\n\n" \
           f"{provenance(used)}\n"


def table3(records, baseline: str = "hsm") -> str:
    """Seconds (training, reallocation and a start table's making) to reach the baseline's final valid PPL
    (its mean over seeds), the reallocation/training ratio, the training
    throughput, the run's own CPU share (below the suite's MIN_CPU_SHARE, 0.9,
    it waited for a core and is run again),
    how busy the machine was and its core's sgemm rate
    (meters.CpuShare: a budget buys fewer steps beside a neighbour or on a
    slower machine), over seeds."""
    groups = per_seed(records)
    out = [f"### Table 3 analog: time to reach the {NAMES[baseline]}'s final validation perplexity"]
    for d in sorted({d for d, _, _ in groups}):
        base = [r["metrics"].get("valid_ppl") for (dd, m, _), runs in groups.items() if dd == d and m == baseline
                for r in _ok(runs)]
        target = statistics.mean(base) if base else None
        rows = []
        for m, p in rows_of(groups):
            cell = groups.get((d, m, p), {})
            runs = _ok(cell)
            if m not in MODELS or not cell:
                continue
            times = [time_to_target(r, target) for r in runs]
            reached = [t for t in times if t is not None]
            rows.append([NAMES[m], p, mean_sd([r["metrics"].get("valid_ppl") for r in runs]),
                         f"{mean_sd(reached)}; {len(reached)} of {len(runs)} reached" if target else DASH,
                         mean_sd([100 * (r["metrics"].get("realloc_ratio") or 0) for r in runs], 2),
                         mean_sd([r["metrics"].get("tokens_per_s") for r in runs], 0),
                         mean_sd([r["metrics"].get("cpu_share") for r in runs], 2),
                         mean_sd([r["metrics"].get("host_busy_cores") for r in runs], 2),
                         mean_sd([r["metrics"].get("gemm_gflops_start") for r in runs], 0),
                         _failed(cell) or DASH])
        head = ["model", "preset", "final valid PPL", "seconds to target", "realloc / training (%)",
                "train tokens/s", "its CPU share", "machine's busy cores", "sgemm GFLOP/s at start", "not ok"]
        out.append(f"**{d}**, target {target:.1f}\n\n{_md(head, rows)}" if target else f"**{d}**: no {baseline} run")
    return "\n\n".join(out) + "\n"


def table2(records, presets: list[str], model: str = "lightrnn") -> str:
    """`model`'s test PPL and #params at each embedding size, one preset a size."""
    groups = per_seed(records)
    datasets = sorted({d for d, m, p in groups if m == model and p in presets})
    header = ["embedding", "preset", *(f"{d} test PPL" for d in datasets), *(f"{d} #params" for d in datasets),
              "not ok"]
    rows, used = [], []
    for p in presets:
        cells = [groups.get((d, model, p), {}) for d in datasets]
        runs = [r for c in cells for r in c.values()]
        if not runs:
            continue
        used += runs
        rows.append([str(runs[0]["config"]["model"].get("embedding_dim", DASH)), p,
                     *(mean_sd([best_test_ppl(r) for r in _ok(c)]) for c in cells), *map(_params, cells),
                     "; ".join(f for f in map(_failed, cells) if f) or DASH])
    return f"### Table 2 analog: {NAMES[model]} by embedding size, mean ± sd over seeds\n\n" \
           f"{_md(header, rows) if rows else 'no runs yet'}\n\n{provenance(used)}\n"


def render(records, sizes: list[str] | None = None) -> str:
    parts = [table5(records), table3(records)] + ([table2(records, sizes)] if sizes else [])
    return "# Suite results\n\nGenerated from this folder's records.jsonl by `python -m bench suite NAME --report`; " \
           f"do not edit.\n\n{BEST_NOTE}\n\n" + "\n".join(parts)
