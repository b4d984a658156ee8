"""Whole-stream evaluation, identical for every model: every target of a
stream scored exactly once (`eval_segments`), state carried across BPTT
windows, perplexity = exp(summed NLL / tokens)."""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch

from bench import distributed
from datasets.batching import bptt_batches, eval_segments


def autocast(device: torch.device, amp: str | None):
    if amp is None:
        return nullcontext()
    if amp != "bf16":
        raise ValueError(f"unknown --amp {amp!r}; choose from ['bf16']")
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.no_grad()
def evaluate(model, ids, cfg, device: torch.device) -> float:
    """Perplexity = exp(summed NLL / tokens) with every target of `ids` scored once."""
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0
    # Data-parallel: each rank scores its share of the (independent) columns
    # and the sums are all-reduced: the single process's perplexity, W times faster.
    segments = eval_segments(ids, cfg.eval_batch_size)
    for seg in distributed.eval_share(segments, distributed.rank(), distributed.world_size()):  # [L+1, B/W]
        seg = seg.to(device)
        state = model.init_state(seg.size(1))
        for x, y in bptt_batches(seg, cfg.bptt):
            with autocast(device, cfg.amp):
                nll, state = model(x, y, state)
            total += nll.double()
            count += y.numel()
    nll_sum, count = distributed.all_sum([total.item(), count])
    assert count == len(ids) - 1, "evaluation must score every target exactly once"
    mean = nll_sum / count
    return math.exp(mean) if mean < 700 else math.inf
