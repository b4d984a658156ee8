"""Run records -> markdown tables like the paper's. Pure functions (no I/O,
no clock), so golden files pin them down.

The newest record wins for each (dataset, preset, model, embedding size),
a finished one before a rerun still under way.
A cell with no record shows "-"; a run that failed shows its status.
Every table ends with the runs, commits and devices it came from.
"""

from __future__ import annotations

from collections.abc import Iterable

import models
from bench.presets import KN, ORDER
from bench.report.records import best_test_ppl, recency

MODELS = [m for m in ORDER if m != KN]
NAMES = {"lstm": "LSTM (full softmax)", "hsm": "HSM", "adaptive": "Adaptive softmax", "chsm": "C-HSM",
         "charcnn": "CharCNN (full softmax)", "blackout": "B-RNN (BlackOut)", "lightrnn": "LightRNN"}
CHAR_MODELS = tuple(m for m in MODELS if models.needs_words(m))  # no word embedding: no column in the table by embedding size
# The count-based baseline and its linear mixtures with the neural runs
# (records derived by bench/report/interpolate.py), as in the paper's Tables 4 and 5.
COUNT = ["kn", "kn+lstm", "kn+hsm", "kn+adaptive", "kn+chsm", "kn+blackout", "kn+lightrnn"]
NAMES.update({"kn": "KN", "kn+lstm": "KN + LSTM", "kn+hsm": "KN + HSM", "kn+adaptive": "KN + adaptive", "kn+chsm": "KN + C-HSM",
              "kn+blackout": "KN + B-RNN", "kn+lightrnn": "KN + LightRNN"})
NAMES.update({"ablation-table-input": "ablation (a): table input, full softmax",
              "ablation-table-output": "ablation (b): word input, table output",
              "ablation-argmax-row": "ablation (c): argmax row to the column step"})
DASH = "-"
# What every trained model's test PPL in these tables is (records.best_test_ppl).
BEST_NOTE = ("Test perplexities are at each run's best validation point (the trainer keeps its weights, as "
             "pytorch/examples and awd-lstm-lm do); a record made before that shows its test PPL only where its "
             "final validation point was its best, and '-' otherwise.")
BILLIONW = "billionw"
CASE_WORDS = 12  # words shown per row of the final table (rows hold ~sqrt(V))
# Per-round figures shown when a record has them (the hook reports more; the record keeps all).
ROUND_KEYS = ["seconds", "realloc_s", "moved", "cost", "lower_bound", "gap", "valid_ppl_before", "valid_ppl_after",
              "nll_per_token_old", "nll_per_token_predicted", "nll_per_token_after",
              "row_nll_per_token_old", "row_nll_per_token_predicted", "row_nll_per_token_after"]


def fmt_params(n) -> str:
    if n is None:
        return DASH
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def fmt_num(x, digits: int = 1) -> str:
    return DASH if x is None else f"{x:.{digits}f}"


def fmt_fig(x) -> str:
    """A per-round figure: 4 significant digits, large values in full."""
    if x is None:
        return DASH
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _emb(rec) -> int | None:
    return rec.get("config", {}).get("model", {}).get("embedding_dim")


def latest(records: Iterable[dict]) -> dict[tuple, dict]:
    """(dataset, preset, model, embedding_dim) -> newest record, a finished one
    before a rerun under way (records.recency)."""
    out = {}
    for r in sorted(records, key=recency):
        out[(r["dataset"], r["preset"], r["model"], _emb(r))] = r
    return out


def _cell(rec, value: str) -> str:
    if rec is None:
        return DASH
    return value if rec["status"] == "ok" else rec["status"]


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def provenance(recs: Iterable[dict]) -> str:
    recs = [r for r in recs if r is not None]
    if not recs:
        return "_From: no runs yet._"
    runs = ", ".join(sorted(r["run_id"] for r in recs))
    shas = ", ".join(sorted({(r.get("git_sha") or "unknown")[:12] for r in recs}))
    devs = ", ".join(sorted({f"{r['env']['device']} ({r['env'].get('device_name') or '?'})" for r in recs}))
    return f"_From runs {runs}; commits {shas}; devices {devs}._"


def _groups(records) -> dict[tuple, dict[str, dict]]:
    """(dataset, preset) -> model -> newest record at the largest embedding size."""
    out: dict[tuple, dict[str, dict]] = {}
    for (ds, preset, model, _), r in latest(records).items():
        cur = out.setdefault((ds, preset), {}).get(model)
        if cur is None or (_emb(r) or 0) >= (_emb(cur) or 0):
            out[(ds, preset)][model] = r
    return dict(sorted(out.items()))


def table5(records) -> str:
    """Test PPL / #params per model and dataset (the paper's Table 5)."""
    groups = _groups(records)
    header = ["dataset", "preset", *(NAMES[m] for m in MODELS), "oracle"]
    rows, used = [], []
    for (ds, preset), by_model in groups.items():
        if ds == BILLIONW:
            continue
        cells = []
        for m in MODELS:
            r = by_model.get(m)
            met = r["metrics"] if r else {}
            # #params is known even for a failed run (counted before training).
            cells.append(DASH if r is None else
                         f"{_cell(r, fmt_num(best_test_ppl(r)))} / {fmt_params(met.get('params_total'))}")
            used.append(r)
        oracle = next((r["metrics"].get("oracle_ppl") for r in by_model.values() if r["metrics"].get("oracle_ppl")), None)
        rows.append([ds, preset, *cells, fmt_num(oracle)])
    title = "### Table 5: test perplexity / #parameters"
    return f"{title}\n\n{_md(header, rows)}\n\n{_count_table(groups, used)}{provenance(used)}\n"


def _count_cell(r) -> str:
    """KN's test PPL (order) or a mixture's test PPL (KN weight), then #params."""
    if r is None:
        return DASH
    met = r["metrics"]
    tag = f"w {met['weight']:.2f}" if "weight" in met else f"order {r['config']['model'].get('order')}"
    return f"{_cell(r, fmt_num(best_test_ppl(r)))} ({tag}) / {fmt_params(met.get('params_total'))}"


def _count_table(groups, used: list) -> str:
    """Kneser-Ney and KN + neural mixtures (weight fitted on valid), where any ran."""
    rows = []
    for (ds, preset), by_model in groups.items():
        if ds != BILLIONW and by_model.get("kn"):
            rows.append([ds, preset, *(_count_cell(by_model.get(m)) for m in COUNT)])
            used.extend(by_model.get(m) for m in COUNT)
    if not rows:
        return ""
    head = "Count-based and interpolated (test PPL, KN's order or its mixture weight on valid, #params):"
    return f"{head}\n\n{_md(['dataset', 'preset', *(NAMES[m] for m in COUNT)], rows)}\n\n"


def table2(records) -> str:
    """PPL and #params by embedding size (the paper's Table 2), per dataset."""
    by_key = latest(records)
    out = ["### Table 2: test perplexity and #parameters by embedding size"]
    used = []
    for ds, preset in sorted({(k[0], k[1]) for k in by_key}):
        sizes = sorted({k[3] for k in by_key if k[:2] == (ds, preset) and k[3] is not None})
        rows = []
        for e in sizes:
            cells = []
            for m in (m for m in MODELS if m not in CHAR_MODELS):
                r = by_key.get((ds, preset, m, e))
                used.append(r)
                met = r["metrics"] if r else {}
                cells += [_cell(r, fmt_num(best_test_ppl(r))), fmt_params(met.get("params_total"))]
            rows.append([str(e), *cells])
        header = ["embedding", *(f"{NAMES[m]} {c}" for m in MODELS if m not in CHAR_MODELS for c in ("PPL", "#params"))]
        out.append(f"**{ds}** ({preset})\n\n{_md(header, rows)}")
    out.append(provenance(used))
    return "\n\n".join(out) + "\n"


def time_to_target(record: dict, target: float | None) -> float | None:
    """Seconds at the run's first validation point at or below `target`: its
    training (incl. reallocation) and the start table's making, which came
    off the same budget (metrics.table_s); None if never reached. No
    interpolation between points."""
    if target is None:
        return None
    start = record["metrics"].get("table_s") or 0.0
    return next((start + s for _, s, ppl in record["curve"] if ppl is not None and ppl <= target), None)


def table3(records, baseline: str = "lstm") -> str:
    """Time to reach the baseline's final valid perplexity, and the
    reallocation/training ratio (the paper's Table 3)."""
    out = [f"### Table 3: runtime to reach the {NAMES[baseline]} validation perplexity"]
    used = []
    header = ["model", "final valid PPL", "time to target (s, incl. realloc and start table)", "training (s)",
              "reallocation (s)", "realloc / training"]
    for (ds, preset), by_model in _groups(records).items():
        base = by_model.get(baseline)
        target = base["metrics"]["valid_ppl"] if base and base["status"] == "ok" else None
        rows = []
        for m in MODELS:
            r = by_model.get(m)
            used.append(r)
            met = r["metrics"] if r else {}
            if r is None or r["status"] != "ok":
                rows.append([NAMES[m], _cell(r, DASH), *[DASH] * 4])
                continue
            realloc, ratio = met.get("realloc_s"), met.get("realloc_ratio")
            rows.append([NAMES[m], fmt_num(met.get("valid_ppl")), fmt_num(time_to_target(r, target)),
                         fmt_num(met.get("train_s")), fmt_num(realloc, 2) if realloc else DASH,
                         f"{ratio:.1%}" if ratio else DASH])
        out.append(f"**{ds}** ({preset}), target {fmt_num(target)}\n\n{_md(header, rows)}")
    out.append(provenance(used))
    return "\n\n".join(out) + "\n"


def table4(records) -> str:
    """One Billion Word: test PPL and #params per model (the paper's Table 4)."""
    groups = {k: v for k, v in _groups(records).items() if k[0] == BILLIONW}
    if not groups:
        groups = {(BILLIONW, DASH): {}}
    out, used = ["### Table 4: One Billion Word, test perplexity and #parameters"], []
    for (_, preset), by_model in groups.items():
        rows = []
        for m in MODELS + COUNT:
            r = by_model.get(m)
            used.append(r)
            met = r["metrics"] if r else {}
            rows.append([NAMES[m], _cell(r, fmt_num(best_test_ppl(r))), fmt_params(met.get("params_total"))])
        out.append(f"preset {preset}\n\n{_md(['model', 'test PPL', '#params'], rows)}")
    out.append(provenance(used))
    return "\n\n".join(out) + "\n"


def lightrnn_rounds(records) -> str:
    """Per round of the newest LightRNN run per dataset: reallocation figures and,
    for synthetic corpora, how well the table recovers the true classes; then a
    few rows of the final table (the paper's Figure 5)."""
    out = ["### LightRNN bootstrap rounds and word table"]
    for (ds, preset), by_model in _groups(records).items():
        r = by_model.get("lightrnn")
        if r is None or (len(r.get("rounds", [])) < 2 and not r.get("case_study")):
            continue  # nothing beyond the initial table to show
        entries = [{**e, **{f"class {k}": v for k, v in (e.get("class_recovery") or {}).items()}}
                   for e in r.get("rounds", [])]
        keys = [k for k in (*sorted({k for e in entries for k in e if k.startswith("class ")}), *ROUND_KEYS)
                if any(e.get(k) is not None for e in entries)]
        rows = [[str(e["round"]), str(e["epoch"]), str(e["step"]),
                 *(fmt_fig(e.get(k)) for k in keys)] for e in entries]
        out.append(f"**{ds}** ({preset}), run {r['run_id']}\n\n{_md(['round', 'epoch', 'step', *keys], rows)}")
        case = r.get("case_study")
        if case:
            text = case if isinstance(case, str) else "\n".join(
                " ".join(map(str, row[:CASE_WORDS])) + (" ..." if len(row) > CASE_WORDS else "") for row in case)
            head = f"Final word table, the rows of the most frequent words (first {CASE_WORDS} columns):"
            out.append(f"{head}\n\n```\n{text}\n```")
    return "\n\n".join(out) + "\n"


def render(records: list[dict]) -> str:
    """The whole results/tables.md."""
    parts = ["# Results\n\nGenerated by `python -m bench tables` from `records.jsonl`; do not edit.\n\n" + BEST_NOTE + "\n",
             table5(records), table2(records), table3(records), table4(records), lightrnn_rounds(records)]
    return "\n".join(parts)
