"""Microbenchmarks of LightRNN's reallocation: the loss-accumulation pass and
the matching solver."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import models
from bench.realloc_instances import make_instance
from models.realloc.accumulate import accumulate_losses
from models.throughput import zipf_ids


def test_accumulate_losses(benchmark):
    V = 50_000
    torch.manual_seed(0)
    model = models.build("lightrnn", V)
    ids = zipf_ids(V, (7_001,)).numpy()  # 10 batches of 20 x 35
    loss_row, loss_col, nll = benchmark.pedantic(accumulate_losses, args=(model, ids, 20, 35),
                                                 rounds=3, iterations=1, warmup_rounds=1)
    # The current table's cells carry exactly the pass's NLL.
    current = (loss_row.gather(1, model.word_row[:, None]).sum()
               + loss_col.gather(1, model.word_col[:, None]).sum())
    assert float(current) == pytest.approx(nll, rel=1e-4)


@pytest.mark.parametrize("method", ["exact", "greedy-cntk"])
def test_matching(benchmark, method):
    inst = make_instance(2_000, seed=0)
    result = benchmark.pedantic(models.reallocate, args=(inst["loss_row"], inst["loss_col"]),
                                kwargs=dict(method=method, previous=inst["previous"]),
                                rounds=3, iterations=1, warmup_rounds=0)
    assert len(np.unique(result.cell_of_word)) == 2_000  # one word per cell
    assert result.cost >= result.lower_bound * (1 - 1e-6)
