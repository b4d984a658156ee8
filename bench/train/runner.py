"""One neural run, resolved once into a `RunSpec` and executed into a record:
build the model, train it (bench/train/trainer.py), keep or drop its
checkpoint, and write the record that every table and plot is made from."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import models
from bench import meters
from bench.report import records, tokens
from bench.report.class_recovery import table_case_study, table_class_scores
from bench.train import distributed, table_start
from bench.train.config import TrainConfig
from bench.train.result import refused
from bench.train.trainer import train
from models.params import count_on_meta


@dataclass
class RunSpec:
    """Everything a run depends on, decided before any data is read."""

    dataset: str
    data_params: dict
    model: str
    preset: str
    model_config: dict
    train: TrainConfig
    seed: int
    device: torch.device
    results: Path  # records.jsonl, tokens/ and checkpoints/ live here
    resume: bool = False

    @property
    def checkpoint(self) -> Path:
        return self.results / "checkpoints" / f"{self.dataset}-{self.model}-{self.preset}-seed{self.seed}.pt"

    @property
    def meta(self) -> dict:
        """What a checkpoint must have been written by to be resumed."""
        return {"model": self.model, "model_config": self.model_config, "dataset": self.dataset,
                "dataset_params": self.data_params}


def execute(spec: RunSpec, corpus, sha: str | None, should_stop: Callable[[], bool] = lambda: False) -> dict:
    """Train `spec` on `corpus` and return its record (not yet appended)."""
    torch.manual_seed(spec.seed)
    words = models.corpus_inputs(spec.model, corpus.vocab)  # spellings, counts: not recorded
    short = memory_shortfall(spec, len(corpus.vocab), words)
    if short is not None:  # refused before allocating: a record, not the OOM killer
        return _record(spec, corpus, sha, refused(short[0], short[1]), None, resumed=False)
    model = models.build(spec.model, len(corpus.vocab), **spec.model_config, **words)
    ckpt = spec.checkpoint
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    start_info, train_cfg = table_start.prepare(spec, corpus, model, spec.device, spec.train)  # LightRNN's first table
    if distributed.world_size() > 1:  # DDP copies rank 0's weights; dropout masks must differ per rank
        torch.manual_seed(spec.seed * 1000 + distributed.rank())
    resumed = spec.resume and ckpt.exists()
    word_class = corpus.word_class
    # On CPU the preflight counts only weights and gradients: activations past
    # the memory left must fail as an allocation (an oom record), not wake the
    # kernel's OOM killer. (CUDA raises its own OutOfMemoryError.)
    with meters.memory_ceiling() if spec.device.type == "cpu" else contextlib.nullcontext():
        res = train(model, corpus, train_cfg, spec.device, checkpoint=ckpt, resume=spec.resume, meta=spec.meta,
                    should_stop=should_stop, desc=spec.model,
                    on_round=(lambda m: class_scores(m, word_class)) if word_class is not None else None)
    if res.status != "interrupted" and distributed.is_main():
        ckpt.unlink(missing_ok=True)  # only an interrupted run is resumed
    return _record(spec, corpus, sha, res, model, resumed, start_info)


def memory_shortfall(spec: RunSpec, vocab_size: int, words: dict) -> tuple[dict, str] | None:
    """(parameter counts, why) when the parameters and their gradients alone
    (fp32, SGD keeps no other state) exceed the memory free on the run's
    device, counted on the meta device; else None. Activations come on top,
    so passing this is necessary, not sufficient."""
    with torch.random.fork_rng(devices=[]):  # building on meta may draw numbers: the run's init stays as it was
        counts = count_on_meta(spec.model, vocab_size, **spec.model_config, **words)
    need = 2 * 4 * counts["total"]
    if spec.device.type == "cuda":
        free = torch.cuda.mem_get_info(spec.device)[0]
    else:
        free = meters.available_bytes()
    if need <= free:
        return None
    return counts, (f"out of memory (refused before allocating): {counts['total']:,} parameters need "
                    f"{need / 2**30:.1f} GiB for weights and gradients, {free / 2**30:.1f} GiB free on "
                    f"{spec.device.type}")


def _record(spec: RunSpec, corpus, sha: str | None, res, model, resumed: bool, start_info: dict | None = None) -> dict:
    metrics = dict(res.metrics)
    if start_info:  # the first table's own cost, already taken off the training budget
        metrics["table_s"] = start_info["seconds"]
    if "oracle_ppl" in corpus.info:
        metrics["oracle_ppl"] = corpus.info["oracle_ppl"]
    if getattr(model, "truncated_words", None) is not None:  # character models: words cut to max_word_len
        metrics["truncated_words"] = model.truncated_words
    run_id = records.new_run_id()
    token_file = table_file = None
    if res.token_logprobs is not None and distributed.is_main():
        token_file = tokens.write(spec.results, run_id, res.token_logprobs)
    if _table(model) is not None and res.status == "ok" and distributed.is_main():  # a warm start for later runs
        table_file = spec.results / "tables" / f"{run_id}.npy"
        table_file.parent.mkdir(parents=True, exist_ok=True)
        np.save(table_file, _table(model))
        table_file = str(table_file.relative_to(spec.results))
    return {
        "schema": records.SCHEMA, "run_id": run_id, "token_logprobs": token_file,
        "vocab_sha": tokens.vocab_sha(corpus.vocab), "time": records.utc_now(),
        "git_sha": sha, "dataset": spec.dataset, "model": spec.model, "preset": spec.preset,
        "config": {"model": spec.model_config, "train": asdict(spec.train), "dataset": spec.data_params},
        "seed": spec.seed, "vocab_size": len(corpus.vocab), "world_size": distributed.world_size(),
        "status": res.status, "stop_reason": res.stop_reason, "error": res.error, "resumed": resumed,
        "metrics": metrics, "curve": res.curve, "rounds": res.rounds, "case_study": case_study(model, corpus),
        "table_start": start_info or None, "table_file": table_file,
        "env": records.environment(spec.device), "argv": sys.argv[1:],
    }


def _table(model):
    """LightRNN's allocation (word -> row*C + col) as numpy, or None for other models."""
    table = getattr(model, "word_table", None)
    return None if table is None else table.cpu().numpy()


def class_scores(model, word_class) -> dict:
    """How well the table's rows/columns recover the synthetic classes."""
    table = _table(model)
    if table is None:
        return {}
    return {"class_recovery": table_class_scores(table, model.cols, word_class)}


def case_study(model, corpus, n_rows: int = 5):
    """A few rows of LightRNN's final table as words (the paper's Figure 5)."""
    table = _table(model)
    if table is None:
        return None
    words = corpus.vocab.words
    if corpus.word_class is not None:  # synthetic: show each word's true class beside it
        words = [f"{w}:c{c}" for w, c in zip(words, corpus.word_class.tolist(), strict=True)]
    return table_case_study(table, model.cols, words, n_rows)
