"""LightRNN's reallocation: the loss-accumulation pass over training text and
the matching solvers, on realistic instances (bench/rigs/realloc_instances.py),
the training step with the loss tables summed as it trains, and the start
tables (models/bootstrap/start.py) that replace the random one."""

from __future__ import annotations

import numpy as np
import torch

import models
from bench.rigs.microbench import Rig, zipf_ids
from bench.rigs.realloc_instances import FAMILIES, make_instance, planted_vectors
from models.bootstrap.passes import accumulate_losses
from models.bootstrap.start import cluster_table, frequency_table
from models.lightrnn import table_shape
from models.realloc import reallocate

# Seconds per call at these sizes on one shared core; exact LSA is cubic, so 2K only.
LARGEST = {"exact": 2_000, "greedy-cntk": 50_000, "auction": 10_000}


class Matching:
    params = (list(LARGEST), [2_000, 10_000, 50_000])
    param_names = ["method", "V"]
    number, repeat, rounds, warmup_time = 1, 1, 1, 0.0  # 1-20 s per call
    timeout = 300

    def setup(self, method, vocab_size):
        if vocab_size > LARGEST[method]:
            raise NotImplementedError  # asv: skipped (too slow for the 10-minute suite)
        self.inst = make_instance(vocab_size, seed=0)

    def time_reallocate(self, method, vocab_size):
        reallocate(self.inst["loss_row"], self.inst["loss_col"], method=method,
                          previous=self.inst["previous"])


class MatchingQuality:
    """Certified distance above the optimum (LP-duality bound), in percent, at
    a size every method solves in seconds, on the mild and the contended
    instance families: a solver change that loses quality shows."""

    params = [list(LARGEST), list(FAMILIES)]
    param_names = ["method", "family"]
    unit = "percent"

    def setup(self, method, family):
        self.inst = make_instance(2_000, seed=0, family=family)

    def track_gap_percent(self, method, family):
        r = reallocate(self.inst["loss_row"], self.inst["loss_col"], method=method,
                              previous=self.inst["previous"])
        return 100 * r.gap


class LossPass:
    """The extra pass over training text that fills loss_row [V, R] and loss_col [V, C]."""

    params = [[10_000, 50_000, 200_000]]
    param_names = ["V"]
    number, repeat, rounds, warmup_time = 1, (2, 3, 6.0), 1, 0.0

    def setup(self, vocab_size):
        torch.manual_seed(0)
        self.model = models.build("lightrnn", vocab_size)
        self.ids = zipf_ids(vocab_size, (14_001,)).numpy()  # 20 batches of 20 x 35

    def time_accumulate_losses(self, vocab_size):
        accumulate_losses(self.model, self.ids, 20, 35)


class TablesDuringTraining:
    """LightRNN's training step with the paper's free loss tables summed as it
    trains (--realloc-tables train) against without: what they cost."""

    params = [[False, True], [10_000, 50_000]]
    param_names = ["collect", "V"]
    number, repeat, rounds, warmup_time = 1, (2, 4, 8.0), 1, 0.0

    def setup(self, collect, vocab_size):
        self.rig = Rig("lightrnn", vocab_size)
        self.rig.model.collect_tables(collect)
        self.rig.train_step()

    def time_train_step(self, collect, vocab_size):
        self.rig.train_step()

    def peakmem_train_step(self, collect, vocab_size):
        self.rig.train_step()


class StartTables:
    """The clusters table (balanced k-means into R rows, then columns within
    rows, on 200-d vectors) and the frequency table, at PTB's and Brown's
    vocabularies. The clusters table's other cost, the baseline's training, is
    a run's `table_budget_s` and is in its record."""

    params = [[10_000, 44_050]]
    param_names = ["V"]
    number, repeat, rounds, warmup_time = 1, (1, 2, 6.0), 1, 0.0  # 2-20 s a call
    timeout = 300

    def setup(self, vocab_size):
        self.vectors = planted_vectors(vocab_size)
        self.shape = table_shape(vocab_size)
        self.counts = np.random.default_rng(0).zipf(1.2, vocab_size)

    def time_cluster_table(self, vocab_size):
        cluster_table(self.vectors, *self.shape)

    def peakmem_cluster_table(self, vocab_size):
        cluster_table(self.vectors, *self.shape)

    def time_frequency_table(self, vocab_size):
        frequency_table(self.counts)
