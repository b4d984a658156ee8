"""Microbenchmarks of LightRNN's start tables (models/bootstrap/start.py) at
Brown's size (V = 44,050, a 210 x 210 table): the balanced clustering of 200-d
output vectors and the frequency table. The clustering's other cost, the
baseline's training, is the run's `table_budget_s` and is in its record."""

from __future__ import annotations

import numpy as np

from bench.rigs.realloc_instances import planted_vectors
from models.bootstrap.start import cluster_table, frequency_table
from models.lightrnn import table_shape

V = 44_050
R, C = table_shape(V)
VECTORS = planted_vectors(V)  # 40 planted directions, as trained vectors cluster


def test_cluster_table_brown_size(benchmark):
    cell = benchmark.pedantic(cluster_table, (VECTORS, R, C), rounds=2, iterations=1, warmup_rounds=1)
    assert len(np.unique(cell)) == V and np.bincount(cell // C, minlength=R).max() <= C


def test_frequency_table_brown_size(benchmark):
    counts = np.random.default_rng(0).zipf(1.2, V)
    cell = benchmark(frequency_table, counts)
    assert np.all(np.diff(counts[np.argsort(cell)]) <= 0)
