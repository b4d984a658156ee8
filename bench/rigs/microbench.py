"""One training step and one evaluation step, done exactly as the trainer does
them (bench/train/step.py), on a fixed batch of Zipfian word ids: the unit that
the asv suite (benchmarks/), `python -m bench scaling` and the GPU run time.
Zipfian, because adaptive softmax's cost depends on how many targets fall in
its tail clusters (ids are frequency-sorted, as in every vocabulary).
"""

from __future__ import annotations

import torch

import models
from bench import meters
from bench.train.step import sgd_step, sparse_rows

BPTT, BATCH = 35, 20  # Kim et al.'s truncated BPTT shape, as in the trainer


def zipf_ids(vocab_size: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Word ids with Zipfian frequencies (P(id) ~ 1/(id+1)): ids are
    frequency-sorted, and adaptive softmax's speed depends on that."""
    weights = 1.0 / torch.arange(1, vocab_size + 1, dtype=torch.float64)
    n = 1
    for s in shape:
        n *= s
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(weights, n, replacement=True, generator=g).view(shape)


class Rig:
    """A model, its SGD optimizer and one fixed batch (x, y: [BPTT, BATCH])."""

    def __init__(self, name: str, vocab_size: int, device: str | torch.device = "cpu", seed: int = 0,
                 batch: int = BATCH, bptt: int = BPTT, clip: float = 5.0, amp: str | None = None, **config):
        torch.manual_seed(seed)
        self.device = torch.device(device)
        with self.device:  # parameters allocated on the device directly (a 1.6G model fits once)
            self.model = models.build(name, vocab_size, **config)
        sparse_rows(self.model, batch * bptt)  # as the trainer does
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1.0)
        ids = zipf_ids(vocab_size, (bptt + 1, batch), seed)  # [T+1, B]
        self.x, self.y = ids[:-1].to(self.device), ids[1:].to(self.device)
        self.state = self.model.init_state(batch)
        self.batch, self.clip, self.amp = batch, clip, amp

    @property
    def tokens(self) -> int:
        return self.y.numel()

    def train_step(self) -> None:
        """The trainer's step, then a device sync (time the work, not the launches)."""
        self.model.train()
        _, self.state = sgd_step(self.model, self.opt, self.x, self.y, self.state, self.clip, self.amp)
        meters.sync(self.device)

    @torch.no_grad()
    def eval_step(self) -> None:
        self.model.eval()
        self.model(self.x, self.y, self.model.init_state(self.batch))
        meters.sync(self.device)

    def tokens_per_s(self, warmup: int = 3, min_steps: int = 5, min_seconds: float = 0.0) -> dict:
        """Training tokens/s over at least `min_steps` steps and `min_seconds`,
        after `warmup` untimed ones (cuDNN plans, allocator pools)."""
        for _ in range(warmup):
            self.train_step()
        t0, steps = meters.clock(self.device), 0
        while steps < min_steps or meters.clock(self.device) - t0 < min_seconds:
            self.train_step()
            steps += 1
        seconds = meters.clock(self.device) - t0
        return {"tokens_per_s": steps * self.tokens / seconds, "steps": steps, "seconds": seconds}
