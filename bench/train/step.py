"""The one training step: what every run trains with and every benchmark,
microbenchmark and GPU phase times.

SGD on the NLL summed over time and averaged over the batch (as Zaremba et
al.'s and Kim et al.'s Lua/TF code do; a per-token mean would need a
~bptt-times larger learning rate), gradient norm clipped.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bench.train.evaluate import autocast
from models import detach_state


def sgd_step(model, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, state, clip: float,
             amp: str | None = None, forward=None) -> tuple[Tensor, object]:
    """One step on x, y [T, B] from `state` (detached here: truncated BPTT).
    `forward` is what computes the NLL (the DDP wrapper under data parallelism;
    `model` by default); B is this rank's batch, and DDP's gradient average
    over ranks makes it the global batch mean. Returns (summed NLL, detached
    scalar; the new state)."""
    forward = model if forward is None else forward
    with autocast(x.device, amp):
        nll, state = forward(x, y, detach_state(state))
    opt.zero_grad(set_to_none=True)
    (nll / y.size(1)).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return nll.detach(), state
