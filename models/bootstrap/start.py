"""Where LightRNN's first word table comes from (each [V] cells, row * C + col,
one word per cell, at most C - 1 cells empty, all in the last row unless the
source says otherwise):

- "random": a seeded permutation of the cells (the paper's start; the model's own).
- "frequency": the words by falling training count fill the table row by row,
  so row 0 holds the C most frequent words: the rows are equal-sized frequency
  bins, as Mikolov et al.'s RNNLM classes are frequency bins.
- "clusters": from word vectors [V, d] of a trained baseline, a balanced
  k-means into the R rows (at most C words each), then the columns by a second
  balanced k-means on what the row centroid leaves of each vector, so words
  alike after their row line up in one column; each row's words take columns by
  an exact assignment. Every assignment step is the project's own certified
  transport (models/realloc/scalable.transport).
- "warm": the table of an earlier run, from a .npy file (CNTK's warm start).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# The solver (numba, scipy) is imported where it is used: the model imports this
# module for KINDS, and building a model must not compile kernels.
KINDS = ("random", "frequency", "clusters", "warm", "classes")


def frequency_table(counts: np.ndarray) -> np.ndarray:
    """counts [V] (training occurrences) -> [V] cells: rank k by falling count
    (ties by id) sits in cell k, so rows are consecutive frequency bands."""
    order = np.argsort(-np.asarray(counts), kind="stable")
    cell = np.empty(len(order), dtype=np.int64)
    cell[order] = np.arange(len(order))
    return cell


def _sq_dist(X: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """[V, d], [K, d] -> [V, K] float32 squared distances (clipped at 0)."""
    d = (X * X).sum(1)[:, None] - 2.0 * (X @ mu.T) + (mu * mu).sum(1)[None, :]
    return np.maximum(d, 0.0).astype(np.float32)


def balanced_kmeans(X: np.ndarray, K: int, cap: int, iters: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means where each of the K groups holds at most `cap` points:
    each assignment step is the transport of the points to the groups under
    squared distance (K * cap >= V). Returns (groups [V], centroids [K, d])."""
    from ..realloc.scalable import transport

    V = len(X)
    if K * cap < V:
        raise ValueError(f"{K} groups of {cap} cannot hold {V} points")
    rng = np.random.default_rng(seed)
    mu = X[rng.choice(V, size=K, replace=V < K)].copy()
    groups = None
    for _ in range(iters):
        _, new, _ = transport(_sq_dist(X, mu), cap)
        if groups is not None and np.array_equal(new, groups):
            break
        groups = new
        sums = np.zeros_like(mu)
        np.add.at(sums, groups, X)
        sizes = np.bincount(groups, minlength=K)
        full = sizes > 0
        mu[full] = sums[full] / sizes[full, None]  # an empty group keeps its centroid
    return groups, mu


def cluster_table(vectors: np.ndarray, rows: int, cols: int, iters: int = 10, seed: int = 0) -> np.ndarray:
    """Word vectors [V, d] -> [V] cells by rows, then columns (module docstring).
    Vectors are L2-normalised first: output vectors of frequent words are long,
    and direction is what says which contexts predict a word."""
    from ..realloc.bounds import check_table
    from .rows_first import columns_in_rows

    X = np.asarray(vectors, dtype=np.float32)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    row, mu = balanced_kmeans(X, rows, cols, iters, seed)
    resid = X - mu[row]  # what the row's centroid leaves: the within-row part
    _, nu = balanced_kmeans(resid, cols, rows, iters, seed + 1)
    cell, _ = columns_in_rows(row, _sq_dist(resid, nu), rows)  # [V, C] costs, placed row by row
    check_table(cell, rows * cols)
    return cell


def warm_table(path: str | Path, vocab_size: int, n_cells: int) -> np.ndarray:
    """An earlier run's [V] table from `path` (.npy), checked against this vocabulary and table."""
    from ..realloc.bounds import check_table

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table_file {path} does not exist (a LightRNN run writes its final table to "
                                "RESULTS/tables/RUN_ID.npy)")
    try:
        cell = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ValueError(f"table_file {path} is not a .npy table: {e}") from None
    if cell.shape != (vocab_size,) or not np.issubdtype(cell.dtype, np.integer):
        raise ValueError(f"table_file {path} holds {cell.dtype} {cell.shape}, not a table of the {vocab_size} words")
    check_table(cell.astype(np.int64), n_cells)
    return cell.astype(np.int64)
