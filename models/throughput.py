"""Tokens per second of one training step (forward, backward, clip, SGD):
a reusable measurement for benchmarks and notes, never asserted in tests.

    python -m models.throughput --vocab 50000 200000     # 1 thread, h = n = 200
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from .base import LanguageModel, detach_state


def zipf_ids(vocab_size: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Word ids with Zipfian frequencies (P(id) ~ 1/(id+1)): ids are
    frequency-sorted, and adaptive softmax's speed depends on that."""
    weights = 1.0 / torch.arange(1, vocab_size + 1, dtype=torch.float64)
    n = 1
    for s in shape:
        n *= s
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(weights, n, replacement=True, generator=g).view(shape)


def train_step_tps(model: LanguageModel, batch: int = 20, bptt: int = 35, steps: int = 5,
                   warmup: int = 1, lr: float = 1.0, clip: float = 5.0, seed: int = 0) -> dict:
    """Time `steps` SGD steps on Zipfian data after `warmup` untimed ones.
    Returns {"tokens_per_s", "s_per_step"}; tokens = batch * bptt per step."""
    model.train()
    device = next(model.parameters()).device
    data = zipf_ids(model.vocab_size, (bptt + 1, batch), seed).to(device)  # [T+1, B]
    x, y = data[:-1], data[1:]
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    state = model.init_state(batch)

    def step(state):
        nll, state = model(x, y, detach_state(state))
        opt.zero_grad(set_to_none=True)
        (nll / y.numel()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return state

    for _ in range(warmup):
        state = step(state)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        state = step(state)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = (time.perf_counter() - t0) / steps
    return {"tokens_per_s": batch * bptt / dt, "s_per_step": dt}


def main(argv: list[str] | None = None) -> None:
    from . import build  # late: keeps this module importable from models/__init__

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--vocab", type=int, nargs="+", default=[50_000, 200_000])
    p.add_argument("--models", nargs="+", default=["lightrnn", "lstm", "hsm", "adaptive"])
    p.add_argument("--dim", type=int, default=200, help="embedding = hidden size")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for V in args.vocab:
        for name in args.models:
            torch.manual_seed(0)
            m = build(name, V, embedding_dim=args.dim, hidden_dim=args.dim, layers=args.layers)
            r = train_step_tps(m, steps=args.steps)
            print(json.dumps({"model": name, "vocab": V, **{k: round(v, 4) for k, v in r.items()}}),
                  flush=True)


if __name__ == "__main__":
    main()
