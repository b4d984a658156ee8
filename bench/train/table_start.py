"""LightRNN's first word table, made before its training (models/bootstrap/start.py
says what each kind is) and charged to the run: its seconds come off the
run's time budget and go into its record, so equal-time comparisons include
them. The table and what made it are written to RESULTS/tables/ before the
training starts; a resumed run reads them back instead of making them again.
Under data parallelism every rank trains with rank 0's table.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import torch

import models
from bench.train import collectives, distributed
from bench.train.config import TrainConfig
from bench.train.trainer import train
from models.bootstrap import start
from models.lightrnn import class_table


def prepare(spec, corpus, model, device: torch.device, train_cfg: TrainConfig) -> tuple[dict, TrainConfig]:
    """Install the table `spec.model_config["table"]` names in `model` (a
    LightRNN; other models and "random" are left as built). Returns (what
    made it, the training settings with its seconds taken off max_time)."""
    kind = spec.model_config.get("table", "random")
    if not hasattr(model, "word_table") or kind == "random":
        return {}, train_cfg
    stem = spec.checkpoint.stem
    path, about = spec.results / "tables" / f"{stem}-start.npy", spec.results / "tables" / f"{stem}-start.json"
    # Data-parallel: rank 0 decides, reads and writes; every rank makes a new table
    # (a baseline trains under DDP on all of them), then takes rank 0's.
    saved = collectives.broadcast_object(spec.resume and path.exists() and about.exists())
    if saved:
        cell, info = (np.load(path), json.loads(about.read_text())) if distributed.is_main() else (None, None)
    else:
        t0 = time.perf_counter()
        cell, info = _make(kind, spec, corpus, model, device)
        info = {"kind": kind, **info, "seconds": time.perf_counter() - t0}
    cell, info = collectives.broadcast_object((cell, info))
    if not saved and distributed.is_main():
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, cell)
        about.write_text(json.dumps(info) + "\n")
    model.set_table(torch.as_tensor(cell))
    if train_cfg.max_time is not None:
        left = train_cfg.max_time - info["seconds"]
        if not left > 0:
            raise ValueError(f"table={kind!r} took {info['seconds']:.0f} s, the whole --max-time")
        train_cfg = dataclasses.replace(train_cfg, max_time=left)
    return info, train_cfg


def _make(kind: str, spec, corpus, model, device) -> tuple[np.ndarray, dict]:
    V = model.vocab_size
    if kind == "classes":
        return class_table(corpus.word_class, V).numpy(), {}
    if kind == "frequency":
        return start.frequency_table(np.bincount(np.asarray(corpus.train), minlength=V)), {}
    if kind == "warm":
        return start.warm_table(spec.model_config["table_file"], V, model.rows * model.cols), \
            {"file": str(spec.model_config["table_file"])}
    vectors, info = baseline_vectors(spec, corpus, device)
    t0 = time.perf_counter()
    cell = start.cluster_table(vectors, model.rows, model.cols, seed=spec.seed)
    return cell, {**info, "cluster_s": time.perf_counter() - t0}


def baseline_vectors(spec, corpus, device) -> tuple[np.ndarray, dict]:
    """Output word vectors [V, h] of a `table_source` baseline (LightRNN's
    sizes, the run's training settings) trained for `table_budget_s` seconds,
    under its own random stream: the LightRNN run's draws are not touched."""
    cfg = spec.model_config
    source, budget = cfg.get("table_source", "hsm"), float(cfg.get("table_budget_s", 300.0))
    sizes = {k: cfg[k] for k in ("embedding_dim", "hidden_dim", "layers", "dropout") if k in cfg}
    tcfg = dataclasses.replace(spec.train, max_time=budget, epochs=max(spec.train.epochs, 100), rounds=1,
                               max_steps=None, checkpoint_every=None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed + 7919)
        base = models.build(source, len(corpus.vocab), **sizes)
        res = train(base, corpus, tcfg, device, desc=f"{source} for the table", progress=False)
    if source == "hsm":
        h = base.word_weight.shape[-1]
        vectors = base.word_weight.detach().reshape(-1, h)[base.word_cell]  # [V, h]
    else:
        vectors = base.out.weight.detach()  # [V, h]
    last = res.curve[-1] if res.curve else [None, None, None]
    return vectors.float().cpu().numpy(), {"source": source, "source_train_s": res.metrics["train_s"],
                                           "source_valid_ppl": last[2], "source_steps": res.metrics["steps"]}
