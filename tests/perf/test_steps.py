"""Microbenchmarks of each model's hot path at one vocabulary size (run by
`nox -s perf`; the normal test run does not collect tests/perf)."""

from __future__ import annotations

import math

import pytest
import torch

import models
from bench.microbench import Rig

V = 50_000  # large enough that the output layer dominates the full softmax


@pytest.fixture(params=sorted(models.REGISTRY))
def rig(request):
    rig = Rig(request.param, V)
    rig.train_step()  # first-call allocations stay out of the timings
    return rig


def test_train_step(benchmark, rig):
    benchmark.pedantic(rig.train_step, rounds=5, iterations=1, warmup_rounds=0)
    assert all(torch.isfinite(p).all() for p in rig.model.parameters())


def test_eval_step(benchmark, rig):
    def step():
        rig.model.eval()
        with torch.no_grad():
            return rig.model(rig.x, rig.y, rig.model.init_state(rig.batch))[0].item()

    nll = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    assert 0 < nll / rig.tokens < 3 * math.log(V)  # nats per token: a working model's range
