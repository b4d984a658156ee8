"""Per model and vocabulary size: one training step, one evaluation step,
the peak memory of a training step, and the parameter count (h = 200,
2 layers, batch 20 x 35, one thread)."""

from __future__ import annotations

from bench.rigs.microbench import Rig
from models.params import count_on_meta

from .common import BILLIONW_V, MODELS, VOCABS


class Step:
    params = (MODELS, VOCABS)
    param_names = ["model", "V"]
    # Steps take 0.05-5 s: one call per sample, 2-4 samples, one process.
    number, repeat, rounds, warmup_time = 1, (2, 4, 8.0), 1, 0.0
    timeout = 300

    def setup(self, name, vocab_size):
        self.rig = Rig(name, vocab_size)
        # One untimed step: first-call allocations stay out of the samples.
        self.rig.train_step()

    def time_train_step(self, name, vocab_size):
        self.rig.train_step()

    def time_eval_step(self, name, vocab_size):
        self.rig.eval_step()

    def peakmem_train_step(self, name, vocab_size):
        # asv reports the process's peak RSS: setup's step set most of it;
        # a second step shows growth such as state kept alive across steps.
        self.rig.train_step()


class ParamCount:
    """Counted on the meta device: no memory, so BillionW's V fits too."""

    params = (MODELS, [*VOCABS, BILLIONW_V])
    param_names = ["model", "V"]
    unit = "parameters"

    def track_params(self, name, vocab_size):
        return count_on_meta(name, vocab_size)["total"]
