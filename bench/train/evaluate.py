"""Whole-stream evaluation, identical for every model: every target of a
stream scored exactly once (`eval_segments`), state carried across BPTT
windows, perplexity = exp(summed NLL / tokens). With `per_token`, also each
target's log-probability in stream order (what interpolation with a
count-based model mixes)."""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch

from bench.train import collectives, distributed
from datasets.batching import bptt_batches, eval_segments


def autocast(device: torch.device, amp: str | None):
    if amp is None:
        return nullcontext()
    if amp != "bf16":
        raise ValueError(f"unknown --amp {amp!r}; choose from ['bf16']")
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.no_grad()
def evaluate(model, ids, cfg, device: torch.device, per_token: bool = False):
    """Perplexity = exp(summed NLL / tokens) with every target of `ids` scored once.

    per_token=True (one process only) returns (ppl, logp) with logp the
    float32 natural-log probability of ids[1:], in stream order, from the
    model's `token_nll`; the perplexity is then computed from those terms.
    """
    if per_token and distributed.world_size() > 1:
        raise ValueError("per-token log-probabilities are kept by single-process runs only")
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0
    pieces = []  # per segment: [L, B] NLL, column b = targets b*L .. b*L + L - 1
    # Data-parallel: each rank scores its share of the (independent) columns
    # and the sums are all-reduced: the single process's perplexity, W times faster.
    segments = eval_segments(ids, cfg.eval_batch_size)
    for seg in distributed.eval_share(segments, distributed.rank(), distributed.world_size()):  # [L+1, B/W]
        seg = seg.to(device)
        state = model.init_state(seg.size(1))
        rows = []
        for x, y in bptt_batches(seg, cfg.bptt):
            with autocast(device, cfg.amp):
                if per_token:
                    tok, state = model.token_nll(x, y, state)  # [T, B]
                    rows.append(tok.double())
                    nll = tok.double().sum()
                else:
                    nll, state = model(x, y, state)
            total += nll.double()
            count += y.numel()
        if per_token:
            pieces.append(torch.cat(rows).T.reshape(-1))  # columns are consecutive stretches
    nll_sum, count = collectives.all_sum([total.item(), count])
    assert count == len(ids) - 1, "evaluation must score every target exactly once"
    mean = nll_sum / count
    ppl = math.exp(mean) if mean < 700 else math.inf
    if not per_token:
        return ppl
    logp = (-torch.cat(pieces)).float().cpu().numpy()  # [len(ids) - 1] float32
    return ppl, logp
