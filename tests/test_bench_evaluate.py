"""Evaluation scores every token once, with the state carried across windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import models
from bench.train.config import TrainConfig
from bench.train.evaluate import evaluate
from datasets.batching import eval_segments


@pytest.mark.parametrize("name", ["lstm", "lightrnn"])
@pytest.mark.parametrize("eval_batch", [1, 3])
def test_evaluate_equals_one_pass_per_segment(name, eval_batch):
    if name not in models.REGISTRY:
        pytest.skip(f"{name} not registered yet")
    torch.manual_seed(0)
    V = 30
    model = models.build(name, V, embedding_dim=8, hidden_dim=8, layers=2, dropout=0.5)
    ids = np.random.default_rng(0).integers(0, V, size=101).astype(np.int32)
    # Windows of 7 (state carried) must equal one unbroken pass over each segment.
    got = evaluate(model, ids, TrainConfig(bptt=7, eval_batch_size=eval_batch), torch.device("cpu"))
    total, count = 0.0, 0
    with torch.no_grad():
        for seg in eval_segments(ids, eval_batch):  # [L+1, B]
            lp, _ = model.log_prob(seg[:-1], model.init_state(seg.size(1)))  # [L, B, V]
            total -= lp.gather(-1, seg[1:].unsqueeze(-1)).sum().item()
            count += seg[1:].numel()
    assert count == len(ids) - 1
    assert got == pytest.approx(math.exp(total / count), rel=1e-5)
