"""`python -m bench suite NAME`: a named grid of runs (bench/suites.py: corpus x model x seed),
each `python -m bench run` in its own process with the same wall-clock budget,
into one results folder.

    python -m bench suite real-cpu --data-dir ../shared/data     # or: nox -s bench -- --suite real-cpu

Resumable run by run: a run whose record already ended ok (or failed for good:
oom, diverged) is skipped on restart, and one that was killed resumes from its
checkpoint (`run --resume`). Each run is its own process, so its peak memory
and its clock are its own. Progress says which run of how many is going and
about how much time is left (the budgets of the runs still to do).
"""

from __future__ import annotations

import argparse
import functools
import math
import subprocess
import sys
import time
from pathlib import Path

import datasets
from bench import checks
from bench.presets import KN
from bench.report import allocation, plots, records, suite_tables
from bench.report.records import FINAL, REPO
from bench.suites import SUITES, plan

# A trained run that had less than this share of its core (its CPU seconds over
# its wall, `metrics.cpu_share`) is run again: its budget bought less training,
# so its perplexity and its time to a target are not the model's. Records older
# than the meter (no share) and Kneser-Ney (no budget) count as they are.
MIN_CPU_SHARE = 0.9

def register(sub) -> None:
    p = sub.add_parser("suite", help="a named grid of equal-budget runs, resumable run by run",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=sorted(SUITES), help="which suite")
    p.add_argument("--data-dir", help="where datasets live ($LIGHTRNN_DATA_DIR by default)")
    p.add_argument("--results", help="results folder (default results/suite-NAME)")
    p.add_argument("--budget-s", type=float, help="wall-clock seconds per run (default: the suite's)")
    p.add_argument("--models", help="comma-separated: only these of the suite's models (e.g. lightrnn,hsm first)")
    p.add_argument("--presets", help="comma-separated: only the suite's runs under these presets (one lane a cell)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their state, run nothing")
    p.add_argument("--report", action="store_true", help="regenerate suite.md and its plots from the records, run nothing")
    p.set_defaults(handler=handle)


def report(name: str, results: Path) -> Path:
    """suite.md and the suite's plots from the records of the plan's runs (a
    renewed model's only from its renewal on: no cell mixes implementations)."""
    log = results / "records.jsonl"
    renewed = SUITES[name].get("renewed", {})
    ours = [r for r in records.read(log) if any(_is(r, run) for run in plan(name))
            and _current(r, renewed)] if log.exists() else []
    render = allocation.render if SUITES[name].get("report") == "allocation" else \
        functools.partial(suite_tables.render, sizes=SUITES[name].get("sizes"))
    text = render(ours) if ours else "# Suite results\n\nno runs yet\n"
    records.write_text_atomic(results / "suite.md", text)
    for path in plots.suite_curves(ours, results / "plots"):
        print(f"wrote {path}")
    print(f"wrote {results / 'suite.md'}")
    return results / "suite.md"


def _is(r: dict, run: dict) -> bool:
    """Whether record `r` is of `run` (its corpus, model, seed and preset)."""
    return (r["dataset"] == run["dataset"] and r["model"] == run["model"] and r.get("seed", 0) == run["seed"]
            and r["preset"] == run["preset"])


def done(rows: list[dict], run: dict, renewed: dict | None = None) -> bool:
    """Whether `run` already has a record that ended for good (made at or after
    the commit `renewed` names for its model, if it names one, with its core,
    and, if it ended ok, with a test PPL at its best validation point)."""
    return any(_is(r, run) and r["status"] in FINAL and _current(r, renewed or {}) and not short_of_core(r)
               and not lacks_best(r) for r in rows)


def lacks_best(r: dict) -> bool:
    """Whether record `r` ended ok but has no test PPL at its best validation
    point: made before the trainer kept that point, its curve rose at the end."""
    return r["status"] == "ok" and r["model"] != KN and bool(r.get("curve")) and records.best_test_ppl(r) is None


def short_of_core(r: dict) -> bool:
    """Whether record `r` is of a trained run that lacked its core (MIN_CPU_SHARE)."""
    share = (r.get("metrics") or {}).get("cpu_share")
    return r["model"] != KN and share is not None and share < MIN_CPU_SHARE


def _current(r: dict, renewed: dict) -> bool:
    """Whether record `r` was made at or after every renewal of its model
    (`renewed` keys: "model", or "model@corpus" for one corpus only)."""
    return all(_descends(r.get("git_sha"), since)
               for key in (r["model"], f"{r['model']}@{r['dataset']}") if (since := renewed.get(key)))


@functools.cache
def _descends(sha: str | None, since: str) -> bool:
    """Whether commit `sha` (a record's, maybe '+dirty') is `since` or after it."""
    if not sha:
        return False
    return subprocess.run(["git", "merge-base", "--is-ancestor", since, sha.split("+")[0]], cwd=REPO,
                          capture_output=True).returncode == 0


def command(name: str, run: dict, args, budget: float, results: Path) -> list[str]:
    s = SUITES[name]
    cmd = [sys.executable, "-m", "bench", "run", "--dataset", run["dataset"], "--models", run["model"],
           "--seed", str(run["seed"]), "--preset", run["preset"], "--max-time", str(budget),
           "--epochs", str(run.get("epochs", s["epochs"])), "--results", str(results), "--resume",
           "--rerun-finished", "--no-tables", *s.get("args", [])]  # --rerun-finished: `done` has decided already
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    return cmd


def handle(args) -> int:
    s = SUITES[args.name]
    budget = args.budget_s if args.budget_s is not None else s["budget_s"]
    if not 0 < budget < math.inf:
        raise ValueError(f"--budget-s must be finite and > 0, got {budget}")
    results, rows = checks.results_dir(args.results or f"results/suite-{args.name}")
    runs = plan(args.name)
    for d in sorted({r["dataset"] for r in runs}):
        datasets.check(d, args.data_dir)  # a file as --data-dir: refused before the first run, not by each
    if args.models is not None:
        only = checks.model_names(args.models)
        unknown = sorted(set(only) - {r["model"] for r in runs})
        if unknown:
            raise ValueError(f"--models: {unknown} not in suite {args.name}; its models: {sorted({r['model'] for r in runs})}")
        runs = [r for r in runs if r["model"] in only]
    if args.presets is not None:
        only = [p.strip() for p in args.presets.split(",") if p.strip()]
        unknown = sorted(set(only) - {r["preset"] for r in runs})
        if not only or unknown:
            raise ValueError(f"--presets: {unknown or 'none given'} not in suite {args.name}; its presets: "
                             f"{sorted({r['preset'] for r in runs})}")
        runs = [r for r in runs if r["preset"] in only]
    todo = [r for r in runs if not done(rows, r, s.get("renewed"))]
    print(f"suite {args.name}: {len(runs)} runs, {len(runs) - len(todo)} done, {len(todo)} to go, "
          f"{budget:.0f} s each -> {results}", flush=True)
    if args.report:
        report(args.name, results)
        return 0
    if args.dry_run:
        for r in runs:
            short = [x["metrics"]["cpu_share"] for x in rows if _is(x, r) and short_of_core(x)]
            late = any(_is(x, r) and lacks_best(x) for x in rows)
            state = "done" if r not in todo else "rerun (no test PPL at its best validation point)" if late else \
                f"rerun (had {short[-1]:.2f} of its core)" if short else "todo"
            print(f"  {state} {r['dataset']} {r['model']} {r['preset']} seed {r['seed']}")
        return 0
    failed = 0
    for k, run in enumerate(todo):
        left_h = (len(todo) - k) * budget / 3600
        print(f"[{runs.index(run) + 1}/{len(runs)}] {run['dataset']} {run['model']} {run['preset']} seed {run['seed']} "
              f"(~{left_h:.1f} h of budgets left)", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(command(args.name, run, args, budget, results))
        if rc == 130:  # interrupted: its checkpoint waits for the next start
            print("suite interrupted; run it again to resume", file=sys.stderr)
            return 130
        if rc == 2:  # refused before it ran (a missing corpus, a bad setting): the next runs share its inputs
            print(f"suite stopped: run {runs.index(run) + 1} was refused (its error above). A missing corpus: put "
                  f"its files in --data-dir or fetch them online with `python -m bench info --dataset "
                  f"{run['dataset']} --data-dir DIR`; then run the suite again (finished runs are kept)",
                  file=sys.stderr)
            return 2
        failed += rc != 0
        print(f"  exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
    from bench.commands.tables import regenerate

    regenerate(results)
    report(args.name, results)
    return 1 if failed else 0
