"""Microbenchmarks of batching a 2M-token stream for training and evaluation."""

from __future__ import annotations

import numpy as np

from datasets.batching import batchify, bptt_batches, eval_segments

IDS = np.random.default_rng(0).integers(0, 200_000, size=2_000_000, dtype=np.int32)


def test_batchify_and_walk(benchmark):
    def walk():
        data = batchify(IDS, 20)  # [N, 20]
        return sum(y.numel() for _, y in bptt_batches(data, 35))

    assert benchmark(walk) == (len(IDS) // 20 - 1) * 20  # every target row once


def test_eval_segments(benchmark):
    segments = benchmark(eval_segments, IDS, 10)
    assert sum(s.numel() - s.size(1) for s in segments) == len(IDS) - 1  # every target once
