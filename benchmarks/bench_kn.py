"""Kneser-Ney counting and scoring: time and peak memory of a 5-gram fit on a
PTB-sized generated stream (1M Zipfian tokens, V = 10K), and its perplexity on
a held-out stream (deterministic: a change to the estimator shows as a jump)."""

from __future__ import annotations

import math

from bench.commands.kn import generated
from models.kn import KneserNey

TOKENS, VOCAB = 1_000_000, 10_000


class KneserNey5:
    timeout = 300

    def setup(self):
        self.train = generated(TOKENS, VOCAB, 1.1, seed=0)
        self.test = generated(100_000, VOCAB, 1.1, seed=1)
        self.kn = KneserNey.fit(self.train, VOCAB, 5)

    def time_fit(self):
        KneserNey.fit(self.train, VOCAB, 5)

    def peakmem_fit(self):
        KneserNey.fit(self.train, VOCAB, 5)

    def time_score_100k_tokens(self):
        self.kn.logprobs(self.test)

    def track_test_ppl(self):
        return math.exp(-self.kn.logprobs(self.test).mean())

    track_test_ppl.unit = "perplexity"
