"""LightRNN's reallocation: the loss-accumulation pass over training text and
the matching solvers, on realistic instances (bench/rigs/realloc_instances.py),
and the training step with the loss tables summed as it trains."""

from __future__ import annotations

import torch

import models
from bench.rigs.microbench import Rig, zipf_ids
from bench.rigs.realloc_instances import FAMILIES, make_instance
from models.bootstrap.passes import accumulate_losses
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
