"""Perplexity after a fixed number of training steps on the synthetic corpus
(fixed seeds, one thread: deterministic), so a change that breaks learning
shows up as a jump in the tracked value."""

from __future__ import annotations

import torch

import datasets
import models
from bench.train.config import TrainConfig
from bench.train.trainer import train

from .common import MODELS

# 56K training tokens = 80 steps of 20 x 35 (one epoch): seconds per model.
CORPUS = dict(vocab_size=2000, classes=40, train_tokens=56_001, valid_tokens=5_000,
              test_tokens=5_000, seed=0)


class Learning:
    params = [MODELS]
    param_names = ["model"]
    unit = "perplexity"
    timeout = 300

    def setup(self, name):
        self.corpus = datasets.load("synthetic", **CORPUS)

    def track_valid_ppl_after_80_steps(self, name):
        torch.manual_seed(0)
        model = models.build(name, len(self.corpus.vocab))
        result = train(model, self.corpus, TrainConfig(epochs=1), torch.device("cpu"), progress=False)
        assert result.metrics["steps"] == 80, result.metrics["steps"]
        return result.metrics["valid_ppl"]
