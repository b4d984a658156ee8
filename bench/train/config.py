"""The training settings every run is made of (defaults: the shared procedure
of the paper and Kim et al.), checked when they are made, so an out-of-range
setting fails before any data is read or model built."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TrainConfig:
    epochs: int = 10
    max_time: float | None = None  # seconds of training + reallocation
    max_steps: int | None = None  # optimiser steps in all (a rehearsal's few dozen at BillionW's size)
    # Seconds of training between mid-epoch checkpoints (one process; None: at epoch
    # ends and on interruption only). A BillionW epoch is hours, even on a GPU.
    checkpoint_every: float | None = None
    rounds: int = 1  # LightRNN's training rounds, at most rounds - 1 reallocations (bench/train/schedule.py)
    round_schedule: str = "even"  # "even": epochs split evenly; "plateau": the paper's (a round ends on a stall)
    round_min_gain: float = 0.01  # plateau: an epoch less than 1% below the round's best is a stall
    # plateau: a round ends (and the table moves) only while the lr is still its initial
    # value; once it has decayed the model is in its last round. A move at a decayed lr
    # cannot be recovered from (results/suite-real-cpu/README.md).
    round_full_lr: bool = True
    realloc_tables: str = "pass"  # "pass": one eval pass at the round's end; "train": summed over its last epoch
    # "keep": the paper's; "restart": lr and its schedule restart (CNTK's); "fresh": restart,
    # and every parameter drawn afresh: only the new table is kept (what a table is worth alone)
    after_move: str = "keep"
    batch_size: int = 20
    bptt: int = 35
    lr: float = 1.0
    lr_decay: float = 0.5
    lr_decay_start: int | None = None  # None: decay when valid ppl stalls; N: every epoch after N
    # The stall test: "best" decays when valid ppl does not beat the best so far;
    # "kim" is Kim et al.'s main.lua: from the 3rd epoch, decay when valid ppl fell
    # by less than 1 since the previous epoch.
    lr_decay_rule: str = "best"
    lr_floor: float = 1e-3  # stop once lr falls below this
    clip: float = 5.0
    eval_batch_size: int = 10
    evals_per_epoch: int = 1  # more points on the curve (each costs an eval pass, not timed)
    amp: str | None = None  # "bf16": autocast matmuls to bfloat16
    log_every: int = 20  # steps between loss checks (each is a device sync)

    def __post_init__(self):
        """Out-of-range settings fail here, before any data is read or model built."""
        positive = ("epochs", "rounds", "batch_size", "bptt", "eval_batch_size", "evals_per_epoch", "log_every")
        bad = [f"{k}={getattr(self, k)} (must be >= 1)" for k in positive if getattr(self, k) < 1]
        bad += [f"{k}={getattr(self, k)} (must be > 0)" for k in ("lr", "clip") if not getattr(self, k) > 0]
        # +inf passes the range tests here and fails only as a record (JSON has no inf), after the training.
        bad += [f"{k}={getattr(self, k)} (must be finite{' and > 0' if k != 'lr_floor' else ''})"
                for k in ("lr", "clip", "lr_floor", "max_time", "checkpoint_every") if getattr(self, k) == math.inf]
        if not 0 < self.lr_decay <= 1:
            bad.append(f"lr_decay={self.lr_decay} (must be in (0, 1])")
        if not self.lr_floor >= 0 or (self.max_time is not None and not self.max_time > 0):
            bad.append(f"lr_floor={self.lr_floor}, max_time={self.max_time} (lr_floor >= 0, max_time > 0)")
        if self.max_steps is not None and self.max_steps < 1:
            bad.append(f"max_steps={self.max_steps} (must be >= 1)")
        if self.checkpoint_every is not None and not self.checkpoint_every > 0:
            bad.append(f"checkpoint_every={self.checkpoint_every} (must be > 0)")
        if self.lr_decay_start is not None and self.lr_decay_start < 0:
            bad.append(f"lr_decay_start={self.lr_decay_start} (must be >= 0)")
        if self.lr_decay_rule not in ("best", "kim"):
            bad.append(f"lr_decay_rule={self.lr_decay_rule!r} (choose from 'best', 'kim')")
        if self.round_schedule not in ("even", "plateau"):
            bad.append(f"round_schedule={self.round_schedule!r} (choose from 'even', 'plateau')")
        if not 0 <= self.round_min_gain < 1:
            bad.append(f"round_min_gain={self.round_min_gain} (must be in [0, 1))")
        if self.realloc_tables not in ("pass", "train"):
            bad.append(f"realloc_tables={self.realloc_tables!r} (choose from 'pass', 'train')")
        if self.after_move not in ("keep", "restart", "fresh"):
            bad.append(f"after_move={self.after_move!r} (choose from 'keep', 'restart', 'fresh')")
        if self.amp not in (None, "bf16"):
            bad.append(f"amp={self.amp!r} (choose from None, 'bf16')")
        if bad:
            raise ValueError("bad training settings: " + "; ".join(bad))
