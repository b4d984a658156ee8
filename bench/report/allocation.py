"""The allocation study's tables (`python -m bench suite allocation-cpu --report`):
where LightRNN's perplexity goes on real text. Pure functions of the records.

- cells: every (model, preset) per corpus, test PPL at the best validation
  point, the speed and the epochs it bought, the start table's own cost;
- regret: the random fixed table's test PPL minus the best fixed table's;
- halves: the gap from the HSM to LightRNN (random table, fixed), and how much
  of it each ablation closes: (a) replaces the factorised output by a full
  softmax, (b) the table input by a V-row word input;
- per epoch: validation PPL after each of the first epochs, which separates
  what an architecture learns from how fast it runs on this machine;
- moved: each cell that moves words against the same start held fixed;
- fresh start: after its move, the fresh run against the random fixed table
  at the same seconds of training since each started.
"""

from __future__ import annotations

import statistics

from bench.report.records import best_test_ppl
from bench.report.suite_tables import mean_sd, per_seed
from bench.report.tables import DASH, _md, provenance

RANDOM = ("lightrnn", "cpu-no-move")
HSM = ("hsm", "cpu")
FIXED = [RANDOM, ("lightrnn", "cpu-fixed-frequency"), ("lightrnn", "cpu-fixed-clusters")]
HALVES = {"(a) table input, full-softmax output": ("ablation-table-input", "cpu-ablations"),
          "(b) word input, factorised output": ("ablation-table-output", "cpu-ablations")}
FRESH = ("lightrnn", "cpu-fresh")
# Each cell that moves words, beside the same table held fixed: does the bootstrap pay?
MOVED = {"clusters start, paper's rounds": (("lightrnn", "cpu-rounds-clusters"), ("lightrnn", "cpu-fixed-clusters")),
         "fresh start after each move": (FRESH, RANDOM),
         "(c) argmax row, moved once": (("ablation-argmax-row", "cpu-rounds-argmax"),
                                        ("ablation-argmax-row", "cpu-ablations"))}
EPOCHS = 4  # validation points shown per epoch


def _ok(cell: dict) -> list[dict]:
    return [r for r in cell.values() if r["status"] == "ok"]


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.mean(values) if values else None


def _fmt(v, digits: int = 1) -> str:
    return DASH if v is None else f"{v:.{digits}f}"


def cells(groups, d: str) -> str:
    head = ["model", "preset", "test PPL (best valid point)", "best valid PPL", "tokens/s", "epochs",
            "start table s", "moves", "CPU share", "seeds"]
    rows = []
    for (dd, m, p), cell in sorted(groups.items(), key=lambda kv: (kv[0][1] != "hsm", kv[0][1], kv[0][2])):
        if dd != d:
            continue
        runs = _ok(cell)
        met = [r["metrics"] for r in runs]
        rows.append([m, p, mean_sd([best_test_ppl(r) for r in runs]), mean_sd([x.get("best_valid_ppl") for x in met]),
                     mean_sd([x.get("tokens_per_s") for x in met], 0), mean_sd([x.get("epochs") for x in met], 1),
                     mean_sd([x.get("table_s") for x in met], 0), mean_sd([len(r.get("rounds") or [1]) - 1 for r in runs], 1),
                     mean_sd([x.get("cpu_share") for x in met], 2), ", ".join(str(s) for s in sorted(cell))])
    return _md(head, rows)


def _ppl(groups, d: str, key) -> float | None:
    return _mean(best_test_ppl(r) for r in _ok(groups.get((d, *key), {})))


def regret(groups, d: str) -> str:
    fixed = {p: _ppl(groups, d, (m, p)) for m, p in FIXED}
    have = {p: v for p, v in fixed.items() if v is not None}
    if RANDOM[1] not in have or len(have) < 2:
        return "not enough fixed tables yet"
    best = min(have, key=have.get)
    n = {p: len(_ok(groups.get((d, "lightrnn", p), {}))) for p in have}
    parts = ", ".join(f"{p} {have[p]:.1f} (n={n[p]})" for p in have)
    return (f"fixed tables: {parts}. Best: {best}. Regret (random - best): {have[RANDOM[1]] - have[best]:.1f} "
            f"PPL ({100 * (have[RANDOM[1]] / have[best] - 1):.1f}% of the best).")


def halves(groups, d: str) -> str:
    hsm, light = _ppl(groups, d, HSM), _ppl(groups, d, RANDOM)
    if hsm is None or light is None:
        return "no HSM or random-table LightRNN yet"
    rows = [["LightRNN, random table fixed", _fmt(light), _fmt(light - hsm), DASH],
            ["HSM", _fmt(hsm), "0.0", DASH]]
    for name, key in HALVES.items():
        v = _ppl(groups, d, key)
        closed = None if v is None else (light - v) / (light - hsm) if light != hsm else None
        rows.append([name, _fmt(v), _fmt(None if v is None else v - hsm),
                     DASH if closed is None else f"{100 * closed:.0f}%"])
    return _md(["model (test PPL at the best valid point, mean over seeds)", "test PPL", "above the HSM",
                "share of LightRNN's gap it closes"], rows)


def moved(groups, d: str) -> str:
    rows = []
    for name, (move, fixed) in MOVED.items():
        a, b = (_ok(groups.get((d, *key), {})) for key in (move, fixed))
        pa, pb = (_mean(best_test_ppl(r) for r in runs) for runs in (a, b))
        rows.append([name, mean_sd([best_test_ppl(r) for r in a]), mean_sd([best_test_ppl(r) for r in b]), DASH if pa is None or pb is None else f"{pa - pb:+.1f}",
                     _fmt(_mean(len(r.get("rounds") or [1]) - 1 for r in a) if a else None)])
    return _md(["cell (test PPL at the best valid point)", "moving", "the same start held fixed",
                "moving - fixed", "moves a run"], rows)


def per_epoch(groups, d: str) -> str:
    """Valid PPL at each epoch's end: curve points 1..EPOCHS of a one-round run."""
    rows = []
    for (dd, m, p), cell in sorted(groups.items()):
        if dd != d:
            continue
        runs = _ok(cell)
        # curve[k] ends epoch k while k <= the epochs run (a time stop adds one more point, mid-epoch)
        pts = [[r["curve"][k][2] if k <= r["metrics"].get("epochs", 0) else None for k in range(1, EPOCHS + 1)]
               for r in runs if len(r.get("rounds") or [1]) == 1]
        if pts:
            rows.append([m, p, *(mean_sd([pt[k] for pt in pts]) for k in range(EPOCHS))])
    return _md(["model", "preset", *(f"valid PPL after epoch {k}" for k in range(1, EPOCHS + 1))], rows)


def _at(curve, seconds: float) -> float | None:
    """The last validation PPL at or before `seconds` on a curve."""
    pts = [ppl for _, s, ppl in curve if s <= seconds + 1e-9 and ppl is not None]
    return pts[-1] if pts else None


def fresh(groups, d: str) -> str:
    rows = []
    random = groups.get((d, *RANDOM), {})
    for seed, r in sorted(groups.get((d, *FRESH), {}).items()):
        moves = (r.get("rounds") or [])[1:]
        if not moves:
            rows.append([str(seed), r["status"], "no move", DASH, DASH, DASH])
            continue
        t0 = moves[0]["seconds"]
        move = [str(seed), r["status"], f"{t0:.0f} s", _fmt(moves[0].get("valid_ppl_before"))]
        if r["status"] != "ok" or seed not in random:  # a run cut short has its move, not yet its end
            rows.append([*move, DASH, DASH])
            continue
        since = r["curve"][-1][1] - t0
        rows.append([*move, f"{_fmt(r['curve'][-1][2])} after {since:.0f} s", _fmt(_at(random[seed]["curve"], since))])
    return _md(["seed", "status", "move at", "valid PPL before the move",
                "fresh run's valid PPL, seconds since the move", "random fixed table at the same seconds"], rows) \
        if rows else "no fresh-start runs yet"


def render(records) -> str:
    groups = per_seed(records)
    out = ["# Allocation study: tables",
           "Generated from this folder's records.jsonl by `python -m bench suite allocation-cpu --report`; do not "
           "edit. Test PPL is at each run's best validation point; mean ± sd over seeds (n). The start table's "
           "seconds (a baseline's training and the clustering) came off that run's budget. The page beside this "
           "one (README.md) reads them."]
    for d in sorted({k[0] for k in groups}, key=lambda d: (d != "ptb", d)):
        out += [f"## {d}", "### Every cell", cells(groups, d), "### Allocation regret", regret(groups, d),
                "### The halves of LightRNN against the HSM", halves(groups, d),
                "### Per epoch (one-round runs)", per_epoch(groups, d),
                "### Moving words against the same start held fixed", moved(groups, d),
                "### The fresh start after a move", fresh(groups, d)]
    out.append(provenance(r for cell in groups.values() for r in cell.values()))
    return "\n\n".join(out) + "\n"
