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

Families (`FAMILIES`):
- "mild": ~min(R, C)/4 row classes and, independently, as many column
  classes; a row class's words spread over all columns, so contention is mild.
- "grouped": 8 groups of random sizes; a group's words share BOTH the row and
  the column profile (one group index drives both), with small per-word
  deviation: every word of a group wants the same block of cells. This is
  what a semantic class does to real tables.
- "giant": 3 groups holding 60%, 25% and 10% of the words (plus 5 small
  ones), sharper profiles and a strong bonus for the current cell: a few
  huge groups fight over the same cells while each word is pulled home.
- "slice": an untrained LightRNN's tables over a short slice of the stream
  (vocab / 16 tokens drawn from the Zipfian counts, ~50K at BillionW's V):
  most words unseen (all-zero losses), the seen ones near-uniform over rows
  and columns, no pull home. Nearly every cell is empty of competition, and
  every cell is a near-tie: the rehearsal's case (results/billionw-rehearsal).
"""

from __future__ import annotations

import numpy as np
import torch

from models.lightrnn import table_shape

# Per family: (groups: None = mild's independent classes, else group weights), spread, noise, bonus.
FAMILIES = {
    "mild": dict(groups=None, spread=2.0, noise=0.7, bonus=1.5),
    "grouped": dict(groups="dirichlet8", spread=2.0, noise=0.3, bonus=1.5),
    "giant": dict(groups=(0.6, 0.25, 0.1, 0.01, 0.01, 0.01, 0.01, 0.01), spread=3.0, noise=0.3, bonus=4.0),
    "slice": dict(groups=None, spread=0.0, noise=0.05, bonus=0.0, slice_of=16),
}


def _classes(family: str, vocab: int, R: int, C: int, rng) -> tuple[np.ndarray, np.ndarray, int]:
    """(row class [V], column class [V], number of classes)."""
    groups = FAMILIES[family]["groups"]
    if groups is None:
        n_cls = max(2, min(R, C) // 4)  # each class ~4 rows' worth of words
        return rng.integers(n_cls, size=vocab), rng.integers(n_cls, size=vocab), n_cls
    weights = rng.dirichlet(np.ones(8)) if groups == "dirichlet8" else np.asarray(groups)
    group = rng.choice(len(weights), size=vocab, p=weights / weights.sum())
    return group, group, len(weights)


def make_instance(
    vocab: int,
    rows: int | None = None,
    cols: int | None = None,
    seed: int = 0,
    family: str = "mild",
    spread: float | None = None,  # std of class logits: how strongly a class prefers its rows
    noise: float | None = None,  # per-word deviation from its class profile
    bonus: float | None = None,  # logit bonus for the word's current row / column
    tokens_per_word: int = 50,
    chunk: int = 50_000,
) -> dict[str, np.ndarray]:
    """Returns {'loss_row' [V,R] f32, 'loss_col' [V,C] f32, 'previous' [V] int64 cells,
    'counts' [V], 'row_class' [V], 'col_class' [V]}. spread / noise / bonus
    default to the family's (FAMILIES)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown instance family {family!r}; choose from {list(FAMILIES)}")
    if vocab < 2:
        raise ValueError(f"vocab must be at least 2, got {vocab}")
    R, C = (rows, cols) if rows and cols else table_shape(vocab)
    if R * C < vocab:
        raise ValueError(f"table {R}x{C} has fewer cells than vocab {vocab}")
    fam = FAMILIES[family]
    spread = fam["spread"] if spread is None else spread
    noise = fam["noise"] if noise is None else noise
    bonus = fam["bonus"] if bonus is None else bonus
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    counts = np.maximum(1.0, np.round(tokens_per_word * vocab * (1 / ranks) / (1 / ranks).sum()))
    if fam.get("slice_of"):  # the slice's counts: zero for the unseen words, whose losses are then 0
        counts = rng.multinomial(max(1, vocab // fam["slice_of"]), (1 / ranks) / (1 / ranks).sum()).astype(np.float64)
    previous = rng.permutation(R * C)[:vocab].astype(np.int64)
    row_class, col_class, n_cls = _classes(family, vocab, R, C, rng)
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


def planted_vectors(vocab_size: int, dim: int = 200, directions: int = 40, seed: int = 0) -> np.ndarray:
    """[V, dim] float32 word vectors around `directions` planted directions, as
    trained output vectors cluster (i.i.d. noise would make every balanced
    clustering a tie): the start tables' benchmark input."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((directions, dim))
    return (centres[rng.integers(0, directions, vocab_size)] + rng.standard_normal((vocab_size, dim))).astype(np.float32)
