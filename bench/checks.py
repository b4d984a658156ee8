"""The one validation pass: what `python -m bench run` (and `suite`, `scaling`,
`params`) was given is resolved and checked here before any dataset is loaded
or model trained, so a bad value costs no time and writes nothing. Each
failure is one ValueError naming the option, the value and what it may be
(bench/cli.py prints it and exits 2).

The models' constructors keep their own checks: `model_config` checks the keys
models share by name, then builds the model on the meta device (no memory) to
meet the rest, so a key only one model has (LightRNN's `table`, BlackOut's
`objective`, adaptive's `cutoffs`) is checked where it is defined.

    plan = checks.run_plan(args, device)   # raises, or everything `run` needs
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

import datasets
import models
from bench.presets import KN, ORDER, paper_preset, preset_config, train_settings
from bench.report import records
from bench.train import checkpoint, kn_run
from bench.train.config import TrainConfig
from bench.train.runner import RunSpec
from datasets.synthetic import DEFAULTS as SYNTHETIC
from models.params import count_on_meta

# Keys several models share, checked by name: integers with their least value...
AT_LEAST = {"embedding_dim": 1, "hidden_dim": 1, "layers": 1, "char_dim": 1, "max_word_len": 1, "samples": 1,
            "highway": 0}
# ...and finite numbers with their range. input_dropout may also be None (= dropout).
RANGES = {"dropout": (lambda v: 0 <= v < 1, "in [0, 1)"), "input_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
          "init_range": (lambda v: v > 0, "> 0"), "div_value": (lambda v: v > 0, "> 0"),
          "table_budget_s": (lambda v: v > 0, "> 0"), "alpha": (lambda v: 0 <= v <= 1, "in [0, 1]"),
          "move_penalty": (lambda v: v >= 0, ">= 0")}
# Filled by the runner from the corpus (models.corpus_inputs), never by --set.
FILLED = ("words", "unigram")
# The vocabulary a model is built with on meta before its corpus is read: One Billion
# Word's 793,471 rounded up, so a V-bound setting (adaptive's cutoffs) valid on any corpus
# here passes; the model checks it again against the real V when the run builds it.
STAND_IN_V = 800_000


def _number(v, integer: bool = False) -> bool:
    """An int (bool is one to Python, not to us), or with integer=False a finite float too."""
    return (isinstance(v, int) or (not integer and isinstance(v, float) and math.isfinite(v))) \
        and not isinstance(v, bool)


def at_least(option: str, value, least: int = 1) -> None:
    if not (_number(value, integer=True) and value >= least):
        raise ValueError(f"{option} must be an integer >= {least}, got {value!r}")


def model_names(text: str | None) -> list[str]:
    """--models: comma-separated, each known and listed once (None: every model)."""
    if text is None:
        return list(ORDER)
    names = [n.strip() for n in text.split(",")]
    choices = f"choose from {ORDER} or the ablations {sorted(models.ABLATIONS)}"
    if not all(names):
        raise ValueError(f"--models {text!r} names an empty model; {choices}")
    for n in names:
        if n != KN and not models.known(n):
            raise ValueError(f"--models: unknown model {n!r}; {choices}")
        if names.count(n) > 1:  # a second run would only repeat the first, under the same checkpoint
            raise ValueError(f"--models {text!r} lists {n!r} twice; each model runs once")
    return names


def model_config(name: str, config: dict, dataset: str = "synthetic", vocab_size: int = STAND_IN_V) -> None:
    """Model `name`'s resolved config (preset + --set), checked before any data is read."""
    for k, v in config.items():
        where = f"--set {k}={v!r} (model {name})"
        if k in FILLED:
            raise ValueError(f"{where}: the runner fills {k} from the corpus; drop it")
        if k in AT_LEAST and not (_number(v, integer=True) and v >= AT_LEAST[k]):
            raise ValueError(f"{where}: must be an integer >= {AT_LEAST[k]}")
        if k in RANGES and not (k == "input_dropout" and v is None) and not (_number(v) and RANGES[k][0](v)):
            raise ValueError(f"{where}: must be a finite number {RANGES[k][1]}")
    if config.get("table") == "classes" and dataset != "synthetic":
        raise ValueError(f"--set table='classes' (model {name}): only the synthetic corpus has true classes")
    if config.get("table_file") is not None and not Path(str(config["table_file"])).is_file():
        raise ValueError(f"--set table_file={config['table_file']!r} (model {name}): no such file")
    try:  # the constructor's own checks, on meta: no memory, no draw from the run's random stream
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's dropout-with-one-layer note: the run says it again
            count_on_meta(name, vocab_size, **config)
    except (ValueError, TypeError, RuntimeError, AssertionError, OverflowError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"--set (model {name}): {msg}") from None


def _writable(folder: Path) -> bool:
    """Whether a file can be made in `folder` (an unnamed temporary file: nothing is
    left behind). Tried, not os.access: a read-only mount or root's view differ."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def results_dir(text: str, option: str = "--results") -> tuple[Path, list[dict]]:
    """The results folder (made later, by the run) and its records: it is a folder or
    can be made, is writable, and its records file is readable (bad lines warned of)."""
    if not str(text).strip():
        raise ValueError(f"{option} {text!r} is empty: name a folder")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file, not a folder")
    base = next(p for p in [path.absolute(), *path.absolute().parents] if p.exists())
    if not base.is_dir():
        raise ValueError(f"{option} {path} cannot be made: {base} is a file")
    for sub in [base, *(path / s for s in ("checkpoints", "tokens", "tables", "plots") if (path / s).exists())]:
        if not (sub.is_dir() and _writable(sub)):
            raise ValueError(f"{option} {path} is not writable: {sub} is not a writable folder")
    log = path / "records.jsonl"
    try:
        rows = records.read(log)
        if log.exists():
            open(log, "ab").close()  # appendable: opening writes nothing
    except OSError as e:
        raise ValueError(f"{option}: {log} is unreadable or read-only ({e.strerror or e})") from None
    return path, rows


@dataclass
class Plan:
    """Everything `run` does, decided before its dataset is read."""

    names: list[str]
    preset: str
    specs: dict  # neural model -> RunSpec
    results: Path
    skip: dict = field(default_factory=dict)  # model -> why it is not run again
    aside: list = field(default_factory=list)  # checkpoints --fresh moves aside


def run_plan(args, device: torch.device) -> Plan:
    """Resolve and check every input of `python -m bench run`."""
    at_least("--threads", args.threads)
    kn_run.config(args)  # --kn-order, whether or not kn runs
    names = model_names(args.models)
    preset = args.preset if args.preset != "auto" else paper_preset(args.dataset) if device.type == "cuda" else "cpu"
    data_params = dict(args.dataset_opt)
    try:
        datasets.check(args.dataset, args.data_dir, **data_params)
    except ValueError as e:  # only --dataset-opt's values raise it (a bad name is a KeyError, a bad dir OSError)
        raise ValueError(f"--dataset-opt: {e}") from None
    neural = [n for n in names if n != KN]
    if args.model_set and not neural:
        raise ValueError(f"--set configures neural models; {KN!r} takes --kn-order")
    known = {k for n in neural for k in models.config_keys(n)}
    unknown = sorted({k for k, _ in args.model_set} - known)
    if unknown:  # each model takes the --set keys it has; a key none has is an error
        raise ValueError(f"models {neural} got unknown config keys {unknown}; valid keys: {sorted(known)}")
    V = int(data_params.get("vocab_size", SYNTHETIC["vocab_size"])) if args.dataset == "synthetic" else STAND_IN_V
    configs = {}
    for n in neural:
        keys = set(models.config_keys(n))  # word sizes do not apply to character models, nor CNN sizes to words
        configs[n] = preset_config(n, preset, {k: v for k, v in args.model_set if k in keys})
        model_config(n, configs[n], args.dataset, V)
    tcfg = TrainConfig(**{**train_settings(preset), **{k: v for k, v in vars(args).items()
                                                         if k in TrainConfig.__dataclass_fields__ and v is not None}})
    results, rows = results_dir(args.results)
    specs = {n: RunSpec(args.dataset, data_params, n, preset, configs[n], tcfg, args.seed, device, results,
                        args.resume) for n in neural}
    plan = Plan(names, preset, specs, results)
    if args.resume and args.fresh:
        raise ValueError("--resume continues an interrupted run, --fresh starts it over: choose one")
    for n in names:
        ckpt = specs[n].checkpoint if n in specs else None
        if ckpt is not None and ckpt.exists():
            if args.fresh:
                plan.aside.append(ckpt)
            elif args.resume:
                checkpoint.check(ckpt, checkpoint.resume_config(tcfg), specs[n].meta)
            else:  # never overwrite nor delete what an interrupted run saved
                raise ValueError(f"{ckpt} holds an interrupted run of {n}: add --resume to continue it, or --fresh "
                                 "to move it aside and start over")
        elif args.resume and not args.rerun_finished:
            config = {"model": {"order": args.kn_order}, "train": {}, "dataset": data_params} if n == KN else \
                {"model": configs[n], "train": asdict(tcfg), "dataset": data_params}
            run = {"dataset": args.dataset, "model": n, "seed": args.seed, "preset": preset}
            if finished(rows, run, config):
                plan.skip[n] = (f"{n}: not run again: {results / 'records.jsonl'} has its finished record (same "
                                "settings); drop --resume to train it anew")
    return plan


def finished(rows: list[dict], run: dict, config: dict) -> bool:
    """Whether `run` with `config` already ended for good: the suite's test (its
    `done`: ok, oom or diverged, with its core) on the records of the same config."""
    from bench.commands.suite import done  # here: suite imports this module

    same = json.loads(json.dumps(config))  # as a record holds it: tuples are lists
    return done([r for r in rows if r.get("config") == same], run)
