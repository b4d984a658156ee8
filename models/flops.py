"""Forward multiply-adds per target token of each model's dense work, read
from a built model's shapes (the meta device will do). A training step's
compute limit is then 3 x this (the backward is ~2 forwards) x 2 FLOPs per
multiply-add, at the machine's GEMM rate: `limit_tokens_per_s`.

Counted: the LSTM's gate GEMMs (LightRNN: two steps a word), the output
logits as each model computes them, the character CNN and highway layers.
Not counted: lookups, softmax exponentials, elementwise gates, and the
O(parameters) passes of every step (zeroing gradients, clipping, the SGD
update), which are memory-bound; where they dominate, a model stays far
below this limit and the gap says so.
"""

from __future__ import annotations

import torch
from torch import nn

from .adaptive import AdaptiveLM
from .blackout import BlackOutLM
from .chars import CharEncoder
from .hsm import HSMLM
from .lightrnn import LightRNN


def _lstm(lstm: nn.LSTM) -> int:
    """Gate GEMMs of one time step: 4h x (input + h) per layer."""
    h = lstm.hidden_size
    return sum(4 * h * ((lstm.input_size if i == 0 else h) + h) for i in range(lstm.num_layers))


def _chars(enc: CharEncoder) -> int:
    """One word's spelling: each convolution over the L - w + 1 positions of
    its L characters, then each highway layer's transform and gate."""
    L, d = enc.spelled.shape[1], enc.embed.embedding_dim
    conv = sum(c.out_channels * d * w * (L - w + 1) for c in enc.convs for w in c.kernel_size)
    return conv + 2 * enc.out_dim**2 * len(enc.highways)


def _cluster_mass(V: int, cuts: list[int], targets: torch.Tensor | None) -> list[float]:
    """Share of target tokens in each tail cluster: counted on `targets`, else
    under Zipf's P(id) ~ 1/(id + 1) (ids are frequency-sorted)."""
    edges = [*cuts, V]
    if targets is not None:
        t = targets.reshape(-1)
        return [float(((t >= a) & (t < b)).double().mean()) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    w = 1.0 / torch.arange(1, V + 1, dtype=torch.float64)
    return [float(w[a:b].sum() / w.sum()) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def forward_macs_per_token(model: nn.Module, targets: torch.Tensor | None = None,
                           inputs: torch.Tensor | None = None) -> dict[str, float]:
    """{'input', 'recurrent', 'output', 'total'} multiply-adds per target token.
    targets: a batch's target ids (adaptive softmax's tail work depends on
    them); inputs: its input ids (the character CNN spells each distinct word
    of a batch once)."""
    if isinstance(model, LightRNN):
        return _total(0.0, 2 * _lstm(model.body.lstm), (model.rows + model.cols) * model.body.hidden_dim)
    recurrent = _lstm(model.body.lstm)
    h = model.body.hidden_dim
    inp = 0.0
    if isinstance(model.embed, CharEncoder):
        share = 1.0 if inputs is None else len(torch.unique(inputs)) / inputs.numel()
        inp = share * _chars(model.embed)
    if isinstance(model, HSMLM):  # C-HSM too: class logits, then the target class's slots
        out = (model.n_classes + model.class_size) * h
    elif isinstance(model, AdaptiveLM):
        head = model.out.head.out_features * h  # shortlist + one logit per cluster
        mass = _cluster_mass(model.vocab_size, model.cutoffs, targets)
        tail = sum(p * (proj.in_features * proj.out_features + proj.out_features * word.out_features)
                   for p, (proj, word) in zip(mass, model.out.tail, strict=True))
        out = head + tail
    elif isinstance(model, BlackOutLM):  # training: the K shared samples' logits (evaluation: the full V x h)
        out = model.samples * h
    else:  # full softmax (LSTM, CharCNN)
        out = model.out.out_features * h
    return _total(inp, recurrent, out)


def _total(inp: float, recurrent: float, out: float) -> dict[str, float]:
    return {"input": float(inp), "recurrent": float(recurrent), "output": float(out),
            "total": float(inp + recurrent + out)}


def limit_tokens_per_s(macs_per_token: float, gemm_flops: float) -> float:
    """Training tokens/s if every multiply-add ran at the GEMM rate: forward +
    backward = 3 forwards, 2 FLOPs a multiply-add."""
    return gemm_flops / (6.0 * macs_per_token)


def gemm_flops(n: int = 2048, repeats: int = 3) -> float:
    """This process's sgemm rate (FLOP/s) on an n x n product, best of `repeats`:
    the rate the limit is stated at."""
    import time

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: thread pools, pages
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best
