"""LightRNN's bootstrap variants side by side (the presets cpu-fixed,
cpu-paper, cpu-restart, cpu-trust, cpu-oracle, ... on one corpus): does a
reallocation pay against the table held fixed, at equal time?

Pure functions over run records, like bench/report/tables.py. Every LightRNN
record counts, the newest per (dataset, preset, seed); cells are the mean and
spread over seeds. The control is the preset whose LightRNN never reallocates
from its random table (`cpu-fixed`); the oracle holds the true classes.
"""

from __future__ import annotations

import statistics

from bench.report.records import best_test_ppl, recency
from bench.report.suite_tables import mean_sd
from bench.report.tables import DASH, _md, fmt_fig, provenance, time_to_target

CONTROL, ORACLE = "cpu-fixed", "cpu-oracle"


def runs(records) -> dict[str, dict[str, dict[int, dict]]]:
    """{dataset: {preset: {seed: newest LightRNN record}}}, datasets with 2+
    presets; a rerun under way does not hide a finished record (`recency`)."""
    out: dict[str, dict[str, dict[int, dict]]] = {}
    for r in sorted(records, key=recency):
        if r["model"] == "lightrnn":
            out.setdefault(r["dataset"], {}).setdefault(r["preset"], {})[r.get("seed", 0)] = r
    return {d: {p: dict(sorted(seeds.items())) for p, seeds in sorted(by.items())}
            for d, by in sorted(out.items()) if len(by) > 1}


def _moves(r) -> list[dict]:
    return r.get("rounds", [])[1:]


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def variants(records) -> str:
    """Per corpus, one row per preset: final valid PPL, test PPL at the best
    validation point and at the final weights (a move can leave the best
    point behind; older records have only the latter), moves,
    words moved per move, realloc/training, seconds to the control's final
    valid PPL, and the allocation regret against the oracle table."""
    out = ["### LightRNN's bootstrap variants at equal time"]
    used = []
    for ds, by_preset in runs(records).items():
        ok = {p: [r for r in seeds.values() if r["status"] == "ok"] for p, seeds in by_preset.items()}
        used += [r for seeds in by_preset.values() for r in seeds.values()]
        target = _mean([r["metrics"].get("valid_ppl") for r in ok.get(CONTROL, [])])
        oracle = _mean([best_test_ppl(r) for r in ok.get(ORACLE, [])])
        floor = _mean([r["metrics"].get("oracle_ppl") for rs in ok.values() for r in rs])
        rows = []
        for p, rs in ok.items():
            test = [best_test_ppl(r) for r in rs]
            times = [time_to_target(r, target) for r in rs] if target else []
            reached = [t for t in times if t is not None]
            moved = [[e.get("moved") for e in _moves(r)] for r in rs]
            rows.append([p, mean_sd([r["metrics"].get("valid_ppl") for r in rs]), mean_sd(test),
                         mean_sd([r["metrics"].get("test_ppl") for r in rs]),
                         mean_sd([len(_moves(r)) for r in rs]), "; ".join(" ".join(map(str, m)) or DASH for m in moved),
                         mean_sd([100 * (r["metrics"].get("realloc_ratio") or 0) for r in rs], 2),
                         f"{mean_sd(reached, 0)}; {len(reached)} of {len(rs)}" if target else DASH,
                         mean_sd([t - oracle for t in test if t is not None]) if oracle else DASH])
        head = ["preset", "final valid PPL", "test PPL (best valid point)", "test PPL (final weights)", "moves", "words moved, per move", "realloc / training (%)",
                f"s to {CONTROL}'s valid PPL", "regret (test PPL - oracle table's)"]
        note = f", control's final valid PPL {target:.1f}" if target else ""
        note += f", generator's floor {floor:.1f}" if floor else ""
        out.append(f"**{ds}**{note}\n\n{_md(head, rows)}")
    out.append(provenance(used))
    return "\n\n".join(out) + "\n"


ROUND_FIGS = ["valid_ppl_before", "valid_ppl_after", "nll_per_token_old", "nll_per_token_predicted",
              "nll_per_token_after", "row_nll_per_token_old", "row_nll_per_token_predicted", "row_nll_per_token_after",
              "moved", "gap", "seconds_accumulate", "seconds_match"]


def per_round(records) -> str:
    """Every move of every variant (seed 0's run, else the lowest seed):
    predicted against realised, and the valid PPL that the next round ends at."""
    out = ["### Each reallocation: predicted against realised"]
    for ds, by_preset in runs(records).items():
        rows = []
        for p, seeds in by_preset.items():
            r = seeds[min(seeds)]
            moves = _moves(r)
            for k, e in enumerate(moves):
                nxt = moves[k + 1]["valid_ppl_before"] if k + 1 < len(moves) else r["metrics"].get("valid_ppl")
                amis = e.get("class_recovery") or {}
                rows.append([p, str(e["round"]), str(e["epoch"]), *(fmt_fig(e.get(f)) for f in ROUND_FIGS),
                             fmt_fig(nxt), fmt_fig(amis.get("row_ami"))])
        if rows:
            head = ["preset", "round", "epoch", *ROUND_FIGS, "valid PPL at the next round's end", "row AMI"]
            out.append(f"**{ds}**\n\n{_md(head, rows)}")
    return "\n\n".join(out) + "\n"


def render(records) -> str:
    if not runs(records):
        return ""
    return "\n".join([variants(records), per_round(records)])
