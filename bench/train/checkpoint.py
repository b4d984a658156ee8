"""Training checkpoints: written atomically (a crash mid-write leaves the
previous one in place) and refused on resume when another configuration
wrote them, so a resumed run always equals an uninterrupted one."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save(path: Path, model, opt, state: dict, config: dict, meta: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "state": state,
                "rng": torch.get_rng_state(), "config": config, "meta": meta}, tmp)
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
    return ck["state"]
