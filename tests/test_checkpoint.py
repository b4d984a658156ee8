"""Mid-epoch checkpoints and --max-steps: a run stopped anywhere in an epoch
(interrupted, or after a periodic save and then killed) resumes at the next
batch and equals the run that was never stopped: weights, curve, LightRNN's
tables summed in train mode, and the reallocation they lead to."""

from __future__ import annotations

import math

import torch

import datasets
import models
from bench.train.config import TrainConfig
from bench.train.trainer import train
from datasets.batching import batchify, num_batches


def _corpus():
    return datasets.load("synthetic", vocab_size=60, classes=6, train_tokens=3000, valid_tokens=400,
                         test_tokens=400)


def _run(name, corpus, cfg, seed=0, **kw):
    torch.manual_seed(seed)
    model = models.build(name, len(corpus.vocab), embedding_dim=16, hidden_dim=16, layers=1, dropout=0.3)
    res = train(model, corpus, cfg, torch.device("cpu"), progress=False, **kw)
    return res, model


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_interrupted_inside_the_table_epoch_resumes_at_its_batch(tmp_path):
    """LightRNN, tables summed while training (the paper's way): the interruption
    falls inside the round's last epoch, so the partial tables must survive it."""
    corpus = _corpus()
    cfg = TrainConfig(epochs=2, rounds=2, batch_size=8, bptt=10, eval_batch_size=4, realloc_tables="train")
    n = num_batches(batchify(corpus.train, cfg.batch_size), cfg.bptt)
    whole, whole_model = _run("lightrnn", corpus, cfg)
    ckpt, calls = tmp_path / "run.pt", iter(range(10**9))
    cut, _ = _run("lightrnn", corpus, cfg, checkpoint=ckpt, should_stop=lambda: next(calls) >= n + n // 2)
    assert cut.status == "interrupted" and cut.metrics["steps"] == n + n // 2  # nothing redone on resume
    saved = torch.load(ckpt, weights_only=True)["state"]["mid"]
    assert saved["pos"] == n // 2 and saved["tables"] is not None
    resumed, resumed_model = _run("lightrnn", corpus, cfg, seed=123, checkpoint=ckpt, resume=True)
    assert resumed.status == "ok" and resumed.metrics["steps"] == whole.metrics["steps"] == 2 * n
    assert [c[2] for c in resumed.curve] == [c[2] for c in whole.curve]
    move_whole, move_resumed = whole.rounds[1], resumed.rounds[1]
    assert move_resumed["nll_per_token_old"] == move_whole["nll_per_token_old"]  # the same tables
    assert move_resumed["nll_per_token_predicted"] == move_whole["nll_per_token_predicted"]
    assert _same_weights(resumed_model, whole_model)
    assert torch.equal(resumed_model.word_table, whole_model.word_table)


def test_max_steps_stops_there_and_still_scores():
    corpus = _corpus()
    res, _ = _run("lstm", corpus, TrainConfig(epochs=50, batch_size=8, bptt=10, max_steps=7))
    assert res.status == "ok" and res.stop_reason == "max_steps" and res.metrics["steps"] == 7
    assert res.metrics["epochs"] == 0 and len(res.curve) == 2 and res.curve[-1][0] == 7  # start, and the stop
    assert math.isfinite(res.metrics["test_ppl"])


def test_periodic_checkpoint_then_kill_resumes_like_the_whole_run(tmp_path):
    """A run killed outright keeps its last periodic save: stopping at max_steps
    leaves the file exactly as a kill after that save would."""
    corpus = _corpus()
    n = num_batches(batchify(corpus.train, 8), 10)
    cfg = dict(epochs=3, batch_size=8, bptt=10, eval_batch_size=4, log_every=1)
    whole, whole_model = _run("lstm", corpus, TrainConfig(**cfg))
    ckpt = tmp_path / "run.pt"
    part, _ = _run("lstm", corpus, TrainConfig(**cfg, max_steps=n + 5, checkpoint_every=1e-9), checkpoint=ckpt)
    assert part.stop_reason == "max_steps"
    saved = torch.load(ckpt, weights_only=True)["state"]
    assert saved["step"] == n + 5 and saved["mid"]["pos"] == 5  # saved just before stopping
    resumed, resumed_model = _run("lstm", corpus, TrainConfig(**cfg), seed=7, checkpoint=ckpt, resume=True)
    assert resumed.metrics["steps"] == 3 * n and resumed.metrics["test_ppl"] == whole.metrics["test_ppl"]
    assert _same_weights(resumed_model, whole_model)


def test_step_and_checkpoint_settings_are_checked():
    for bad in (dict(max_steps=0), dict(checkpoint_every=0.0)):
        try:
            TrainConfig(**bad)
        except ValueError as e:
            assert next(iter(bad)) in str(e)
        else:
            raise AssertionError(f"{bad} accepted")
