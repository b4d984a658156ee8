"""Plots from run records (matplotlib, Agg backend: no display needed).

- validation perplexity against training wall time (incl. reallocation) for
  every model, LightRNN's reallocation rounds marked (the paper's Figure 4);
- for synthetic corpora, how well LightRNN's table recovers the true word
  classes, per round;
- per reallocation, the training NLL per token the old table measured, the
  one the matching predicted for the new table, and the one measured right
  after installing it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402

from bench.report.tables import MODELS, NAMES, _groups  # noqa: E402


def curves(records, out_dir: Path) -> list[Path]:
    """One PNG per (dataset, preset): valid ppl vs seconds."""
    paths = []
    for (ds, preset), by_model in _groups(records).items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for m in MODELS:
            r = by_model.get(m)
            if r is None or not r["curve"]:
                continue
            pts = [(s, p) for _, s, p in r["curve"] if p is not None]
            (line,) = ax.plot([s for s, _ in pts], [p for _, p in pts], marker=".", label=f"{NAMES[m]} ({r['status']})")
            for e in r.get("rounds", [])[1:]:  # round 0 is the initial table, nothing to mark
                ax.axvline(e["seconds"], color=line.get_color(), linestyle=":", linewidth=1)
        oracle = next((r["metrics"].get("oracle_ppl") for r in by_model.values() if r["metrics"].get("oracle_ppl")), None)
        if oracle:
            ax.axhline(oracle, color="k", linestyle="--", linewidth=1, label=f"oracle {oracle:.1f}")
        kn = by_model.get("kn")  # count-based: no curve, one validation perplexity as a reference line
        if kn is not None and kn["status"] == "ok":
            ax.axhline(kn["metrics"]["valid_ppl"], color="grey", linestyle="-.", linewidth=1,
                       label=f"KN{kn['config']['model']['order']} {kn['metrics']['valid_ppl']:.1f}")
        paths.append(_ppl_vs_time(fig, ax, f"{ds} ({preset}); dotted: LightRNN reallocation",
                                  out_dir / f"curve-{ds}-{preset}.png"))
    return paths


def _round_plot(records, out_dir: Path, stem: str, keep, series, xlabel: str, ylabel: str, title: str) -> list[Path]:
    """One PNG per (dataset, preset) whose LightRNN round entries pass `keep`:
    each (label, values) of `series(rounds)` as a line against the round."""
    paths = []
    for (ds, preset), by_model in _groups(records).items():
        rounds = [e for e in (by_model.get("lightrnn") or {}).get("rounds", []) if keep(e)]
        if not rounds:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        x = [e["round"] for e in rounds]
        for label, values in series(rounds):
            ax.plot(x, values, marker="o", label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title}, {ds} ({preset})")
        ax.set_xticks(x)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out_dir / f"{stem}-{ds}-{preset}.png"))
    return paths


def class_recovery(records, out_dir: Path) -> list[Path]:
    """How well LightRNN's table recovers the true classes, per round (synthetic corpora)."""
    def series(rounds):
        keys = sorted({k for e in rounds for k, v in e["class_recovery"].items() if isinstance(v, (int, float))})
        return [(k, [e["class_recovery"].get(k) for e in rounds]) for k in keys]

    return _round_plot(records, out_dir, "classes", lambda e: e.get("class_recovery"), series,
                       "round (0 = initial random table)", "score", "LightRNN table vs true classes")


ROUND_NLL = {"nll_per_token_old": "old table (measured)", "nll_per_token_predicted": "new table (matching's prediction)",
             "nll_per_token_after": "new table (measured after the move)"}


def round_nll(records, out_dir: Path) -> list[Path]:
    """Per reallocation: the training NLL per token of the old table, the matching's
    prediction for the new one, and the new one measured after the move."""
    return _round_plot(records, out_dir, "rounds", lambda e: e.get("nll_per_token_after") is not None,
                       lambda rounds: [(label, [e[k] for e in rounds]) for k, label in ROUND_NLL.items()],
                       "reallocation (round)", "training NLL per token (nats)", "LightRNN reallocations")


def bootstrap(records, out_dir: Path) -> list[Path]:
    """Per corpus with LightRNN under 2+ presets: valid ppl vs seconds, one
    line per preset and seed, each reallocation marked (the paper's Figure 4)."""
    from bench.report.bootstrap import runs

    paths = []
    for ds, by_preset in runs(records).items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for k, (preset, seeds) in enumerate(by_preset.items()):
            color = f"C{k}"
            for seed, r in sorted(seeds.items()):
                pts = [(s, p) for _, s, p in r["curve"] if p is not None]
                ax.plot([s for s, _ in pts], [p for _, p in pts], color=color, linewidth=1,
                        label=f"{preset} ({r['status']})" if seed == min(seeds) else None)
                moves = [e for e in r.get("rounds", [])[1:] if e.get("valid_ppl_after") is not None]
                ax.plot([e["seconds"] for e in moves], [e["valid_ppl_after"] for e in moves], "x", color=color)
        paths.append(_ppl_vs_time(fig, ax, f"LightRNN's bootstrap on {ds}; x: right after a reallocation",
                                  out_dir / f"bootstrap-{ds}.png"))
    return paths


def suite_curves(records, out_dir: Path) -> list[Path]:
    """A suite's Figure 4: per corpus, validation ppl against time for each
    (model, preset), the geometric mean over seeds as a line and their range
    as a band; x marks where a LightRNN reallocation left each seed."""
    import numpy as np

    from bench.report.suite_tables import per_seed, rows_of

    groups = per_seed(records)
    paths = []
    for ds in sorted({d for d, _, _ in groups}):
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        for k, (m, preset) in enumerate(rows_of(groups)):
            runs = [r for r in groups.get((ds, m, preset), {}).values() if r["curve"] or m == "kn"]
            if not runs:
                continue
            label, color = f"{NAMES[m]} [{preset}] (n={len(runs)})", f"C{k % 10}"
            if m == "kn":  # count-based: no curve, its validation perplexity as a reference line
                ok = [r["metrics"]["valid_ppl"] for r in runs if r["status"] == "ok"]
                if ok:
                    ax.axhline(float(np.mean(ok)), color="grey", linestyle="-.", linewidth=1, label=label)
                continue
            # a start table's making (metrics.table_s) came off the run's budget: its curve starts after it
            seeds = [np.array([(s + (r["metrics"].get("table_s") or 0.0), p) for _, s, p in r["curve"] if p is not None])
                     for r in runs]
            seeds = [c for c in seeds if len(c)]
            if not seeds:  # runs that never reached a validation point (an early oom)
                continue
            end = min(c[-1, 0] for c in seeds)
            grid = np.unique(np.concatenate([c[:, 0] for c in seeds]))
            grid = grid[grid <= end]
            logs = np.stack([np.interp(grid, c[:, 0], np.log(c[:, 1])) for c in seeds])  # [seeds, points]
            ax.plot(grid, np.exp(logs.mean(0)), color=color, linewidth=1.2, label=label)
            if len(seeds) > 1:
                ax.fill_between(grid, np.exp(logs.min(0)), np.exp(logs.max(0)), color=color, alpha=0.2, linewidth=0)
            moves = [(e["seconds"] + (r["metrics"].get("table_s") or 0.0), e["valid_ppl_after"]) for r in runs
                     for e in r.get("rounds", [])[1:] if e.get("valid_ppl_after") is not None]
            ax.plot([s for s, _ in moves], [p for _, p in moves], "x", color=color)
        paths.append(_ppl_vs_time(fig, ax, f"{ds}: mean over seeds, band = their range; x: after a reallocation",
                                  out_dir / f"suite-{ds}.png", "seconds of the budget: start table, training, moves"))
    return paths


def _ppl_vs_time(fig, ax, title: str, path: Path, xlabel: str = "training time incl. reallocation (s)") -> Path:
    """The axes every validation-perplexity-against-time plot shares; saves it."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())  # 120, not 1.2x10^2
    ax.yaxis.set_minor_formatter(ticker.ScalarFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation perplexity")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp in the PNG metadata: same records -> same bytes.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
