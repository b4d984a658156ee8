"""Training checkpoints: written atomically (a crash mid-write leaves the
previous one in place) and refused on resume when another configuration
wrote them, so a resumed run always equals an uninterrupted one."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save(path: Path, model, opt, state: dict, config: dict, meta: dict, mid: dict | None = None) -> None:
    """`mid`: the resume point of a checkpoint written inside an epoch (the
    trainer's `_resume_point`), kept in the state as "mid"."""
    tmp = path.with_suffix(".tmp")
    state = state if mid is None else {**state, "mid": mid}
    # Dropout draws from the CPU generator, or on a GPU from the CUDA ones.
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "state": state,
                "rng": torch.get_rng_state(), "cuda_rng": cuda_rng, "config": config, "meta": meta}, tmp)
    os.replace(tmp, path)


def load(path: Path, model, opt, device: torch.device, config: dict, meta: dict) -> dict:
    """Restore model, optimiser and RNG from `path`; returns the trainer state."""
    ck = torch.load(path, map_location=device, weights_only=True)
    if ck["config"] != config or ck["meta"] != meta:
        raise ValueError(f"checkpoint {path} was written by a different configuration; "
                         "delete it or drop --resume")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optim"])
    torch.set_rng_state(ck["rng"].cpu())
    if ck.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([r.cpu() for r in ck["cuda_rng"]])
    return ck["state"]
