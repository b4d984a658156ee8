"""One training step and one evaluation step, done the way bench/trainer.py
does them, on a fixed batch of Zipfian word ids: the unit that the asv suite
(benchmarks/), the microbenchmarks (tests/perf) and `python -m bench scaling`
time. Zipfian, because adaptive softmax's cost depends on how many targets
fall in its tail clusters (ids are frequency-sorted, as in every vocabulary).
"""

from __future__ import annotations

import torch

import models
from bench import meters
from models import detach_state
from models.throughput import zipf_ids

BPTT, BATCH = 35, 20  # Kim et al.'s truncated BPTT shape, as in the trainer


class Rig:
    """A model, its SGD optimizer and one fixed batch (x, y: [BPTT, BATCH])."""

    def __init__(self, name: str, vocab_size: int, device: str | torch.device = "cpu", seed: int = 0,
                 batch: int = BATCH, bptt: int = BPTT, clip: float = 5.0, **config):
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.model = models.build(name, vocab_size, **config).to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1.0)
        ids = zipf_ids(vocab_size, (bptt + 1, batch), seed)  # [T+1, B]
        self.x, self.y = ids[:-1].to(self.device), ids[1:].to(self.device)
        self.state = self.model.init_state(batch)
        self.batch, self.clip = batch, clip

    @property
    def tokens(self) -> int:
        return self.y.numel()

    def train_step(self) -> None:
        """Exactly the trainer's step: NLL summed over time, mean over batch, clip, SGD."""
        self.model.train()
        self.state = detach_state(self.state)
        nll, self.state = self.model(self.x, self.y, self.state)
        self.opt.zero_grad(set_to_none=True)
        (nll / self.batch).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.opt.step()
        meters.sync(self.device)  # time the work, not the kernel launches

    @torch.no_grad()
    def eval_step(self) -> None:
        self.model.eval()
        self.model(self.x, self.y, self.model.init_state(self.batch))
        meters.sync(self.device)  # time the work, not the kernel launches


def param_counts(name: str, vocab_size: int, **config) -> dict[str, int]:
    """Parameter counts from a model built on the meta device (no memory), so
    10M-word vocabularies are counted without allocating them."""
    with torch.device("meta"):
        return models.build(name, vocab_size, **config).param_counts()
