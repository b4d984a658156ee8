"""Batching for truncated BPTT and whole-stream evaluation (datasets/batching.py)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from datasets.batching import batchify, bptt_batches, eval_segments, num_batches


def test_batchify_columns_are_contiguous_pieces_of_the_stream():
    ids = np.arange(26, dtype=np.int32)
    data = batchify(ids, 4)  # 26 // 4 = 6 rows; the 2-token tail is dropped
    assert data.shape == (6, 4) and data.dtype == torch.int32  # 4 bytes an id: BillionW's stream in 3.2 GB
    x, y = next(bptt_batches(data, 3))
    assert x.dtype == y.dtype == torch.int64 and x[:, 1].tolist() == [6, 7, 8] and y[:, 1].tolist() == [7, 8, 9]
    assert data[:, 0].tolist() == list(range(0, 6))
    assert data[:, 3].tolist() == list(range(18, 24))
    with pytest.raises(ValueError, match="too short"):
        batchify(ids[:5], 4)


@given(n=st.integers(8, 300), b=st.integers(1, 6), bptt=st.integers(1, 40))
@settings(max_examples=60, deadline=None)
def test_bptt_batches_walk_each_column_once_with_y_one_ahead(n, b, bptt):
    assume(n // b >= 2)
    data = batchify(np.arange(n), b)
    xs, ys = zip(*bptt_batches(data, bptt), strict=True)
    assert len(xs) == num_batches(data, bptt)
    x, y = torch.cat(xs), torch.cat(ys)
    assert torch.equal(x, data[:-1]) and torch.equal(y, data[1:])  # consecutive: state carries over
    assert all(xb.shape[0] <= bptt for xb in xs)


@given(n=st.integers(2, 400), b=st.integers(1, 50))
@settings(max_examples=100, deadline=None)
def test_eval_segments_score_every_target_exactly_once(n, b):
    """Each (context, target) pair of the stream, (ids[t-1], ids[t]) for t >= 1,
    appears exactly once as consecutive rows of some segment column."""
    ids = np.arange(n)  # distinct values: a pair identifies its position
    scored = Counter()
    for seg in eval_segments(ids, b):
        assert seg.dim() == 2 and seg.shape[0] >= 2
        x, y = seg[:-1], seg[1:]
        scored.update(zip(x.flatten().tolist(), y.flatten().tolist(), strict=True))
    assert scored == Counter((t - 1, t) for t in range(1, n))


def test_eval_segments_shapes():
    main, tail = eval_segments(np.arange(24), 5)  # 23 targets = 5 columns x 4 + 3
    assert main.shape == (5, 5) and tail.shape == (4, 1)
    assert main[:, 1].tolist() == [4, 5, 6, 7, 8]  # columns overlap by one context token
    (only,) = eval_segments(np.arange(21), 5)  # 20 targets: no tail
    assert only.shape == (5, 5)
    with pytest.raises(ValueError, match="at least two tokens"):
        eval_segments(np.arange(1), 5)
