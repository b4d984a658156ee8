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
    clip_grad_norm(model.parameters(), clip)
    opt.step()
    return nll.detach(), state


def sparse_rows(model: torch.nn.Module, tokens_per_step: int) -> list[str]:
    """Give every embedding table with more rows than a step has tokens a
    sparse (row) gradient; returns their names. A dense gradient of a
    V x d table is zeroed, normed and added to the table at every step
    (4 passes over V x d floats) although a step touches at most
    `tokens_per_step` rows: at V = 44K, d = 200 that is 35 MB a pass, a
    large part of a hierarchical softmax step. Smaller tables (LightRNN's
    R and C rows, characters) stay dense: there most rows are touched.
    Not under DDP: NCCL all-reduces no sparse tensors."""
    names = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Embedding) and m.num_embeddings > tokens_per_step:
            m.sparse = True
            names.append(name)
    return names


@torch.no_grad()
def clip_grad_norm(params, clip: float) -> Tensor:
    """torch.nn.utils.clip_grad_norm_ (total 2-norm over all gradients,
    scaled down to `clip`), also over sparse gradients, which it rejects.
    A sparse embedding gradient lists a row once per occurrence: it is
    coalesced (duplicates summed) first, so its norm is the dense one's."""
    grads = []
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
        grads.append(p.grad.values() if p.grad.is_sparse else p.grad)
    if not grads:
        return torch.zeros(())
    total = torch.nn.utils.get_total_norm(grads)
    # torch's clip_grads_with_norm_ scales as here but multiplies the sparse tensor
    # itself, which marks it uncoalesced again: scale its values in place instead.
    torch._foreach_mul_(grads, torch.clamp(clip / (total + 1e-6), max=1.0))
    return total
