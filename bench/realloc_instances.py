"""Realistic reallocation instances: loss matrices shaped like a trained LightRNN's.

What makes them realistic (and hard):
- Zipfian word counts: a word's losses scale with its count, so frequent
  words dominate the cost while the long tail is nearly indifferent;
- hidden classes: words of one row class share a preference profile over
  rows (likewise columns), so they compete for the same cells;
- the model was trained with the current table, so each word's current row
  and column get a logit bonus (this is what makes keeping cells worthwhile).

loss_row[w, i] = count_w * -log softmax(proto_row[class_w] + noise_w + bonus at row(w))_i
(same for columns). float32 [V, R] and [V, C], generated in chunks.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def default_shape(vocab: int) -> tuple[int, int]:
    """The paper's square table: R = C = ceil(sqrt(V))."""
    side = math.ceil(math.sqrt(vocab))
    return side, side


def make_instance(
    vocab: int,
    rows: int | None = None,
    cols: int | None = None,
    seed: int = 0,
    spread: float = 2.0,  # std of class logits: how strongly a class prefers its rows
    noise: float = 0.7,  # per-word deviation from its class profile
    bonus: float = 1.5,  # logit bonus for the word's current row / column
    tokens_per_word: int = 50,
    chunk: int = 50_000,
) -> dict[str, np.ndarray]:
    """Returns {'loss_row' [V,R] f32, 'loss_col' [V,C] f32, 'previous' [V] int64 cells,
    'counts' [V], 'row_class' [V], 'col_class' [V]}."""
    if vocab < 2:
        raise ValueError(f"vocab must be at least 2, got {vocab}")
    R, C = (rows, cols) if rows and cols else default_shape(vocab)
    if R * C < vocab:
        raise ValueError(f"table {R}x{C} has fewer cells than vocab {vocab}")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    counts = np.maximum(1.0, np.round(tokens_per_word * vocab * (1 / ranks) / (1 / ranks).sum()))
    previous = rng.permutation(R * C)[:vocab].astype(np.int64)
    n_cls = max(2, min(R, C) // 4)  # each class ~4 rows' worth of words
    row_class = rng.integers(n_cls, size=vocab)
    col_class = rng.integers(n_cls, size=vocab)
    out = {}
    for name, size, cls, cur in (
        ("loss_row", R, row_class, previous // C),
        ("loss_col", C, col_class, previous % C),
    ):
        proto = torch.randn(n_cls, size, generator=gen) * spread
        loss = np.empty((vocab, size), dtype=np.float32)
        for s in range(0, vocab, chunk):
            e = min(vocab, s + chunk)
            logits = proto[torch.from_numpy(cls[s:e])] + noise * torch.randn(e - s, size, generator=gen)
            logits[torch.arange(e - s), torch.from_numpy(cur[s:e])] += bonus
            nll = -torch.log_softmax(logits, dim=1) * torch.from_numpy(counts[s:e, None]).float()
            loss[s:e] = nll.numpy()
        out[name] = loss
    out.update(previous=previous, counts=counts, row_class=row_class, col_class=col_class)
    return out
