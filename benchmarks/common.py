"""What every asv benchmark shares: one torch thread and CPU-sized grids."""

from __future__ import annotations

import torch

import models

torch.set_num_threads(1)  # asv's worker may not inherit OMP_NUM_THREADS

MODELS = sorted(models.REGISTRY)
VOCABS = [10_000, 50_000, 200_000]
BILLIONW_V = 793_471  # BillionW's vocabulary (count >= 3 plus specials)
