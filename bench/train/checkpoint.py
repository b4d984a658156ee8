"""Training checkpoints: written atomically (a crash mid-write leaves the
previous one in place) and refused on resume when another configuration
wrote them, so a resumed run always equals an uninterrupted one. A file that
cannot be read as one (garbage, truncated) is a clear error: never a hint to
load it with weights_only=False, which would run whatever code it holds."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch

KEYS = ("model", "optim", "state", "rng", "cuda_rng", "config", "meta")
# Settings a resumed run may change: how long it goes on and how often it saves.
FREE = ("epochs", "max_time", "max_steps", "checkpoint_every", "log_every")


def resume_config(cfg) -> dict:
    """The training settings (a TrainConfig) a checkpoint must have been written with to be resumed."""
    return {k: v for k, v in asdict(cfg).items() if k not in FREE}


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


def _read(path: Path, device, mmap: bool = False) -> dict:
    try:
        ck = torch.load(path, map_location=device, weights_only=True, mmap=mmap)
    except Exception as e:  # noqa: BLE001 - whatever torch raises, the file is not a checkpoint we can use
        # torch's own message advises weights_only=False: unsafe, so it is not passed on.
        raise ValueError(f"checkpoint {path} is unreadable ({type(e).__name__}: not a whole checkpoint); "
                         "delete it or drop --resume") from None
    if not isinstance(ck, dict) or not set(KEYS) <= set(ck):
        raise ValueError(f"checkpoint {path} is unreadable (not one this harness wrote); delete it or drop --resume")
    return ck


def _check_same(path: Path, ck: dict, config: dict, meta: dict) -> None:
    if ck["config"] != config or ck["meta"] != meta:
        raise ValueError(f"checkpoint {path} was written by a different configuration; "
                         "delete it or drop --resume")


def check(path: Path, config: dict, meta: dict) -> None:
    """What `load` would refuse, found before training: the file memory-mapped,
    its weights not read."""
    _check_same(path, _read(path, "cpu", mmap=True), config, meta)


def load(path: Path, model, opt, device: torch.device, config: dict, meta: dict) -> dict:
    """Restore model, optimiser and RNG from `path`; returns the trainer state."""
    ck = _read(path, device)
    _check_same(path, ck, config, meta)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optim"])
    torch.set_rng_state(ck["rng"].cpu())
    if ck.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([r.cpu() for r in ck["cuda_rng"]])
    return ck["state"]
