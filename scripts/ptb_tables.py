"""Real reallocation tables: the `cpu` preset's LightRNN after one PTB epoch.

    python scripts/ptb_tables.py OUT.npz [--data-dir DIR] [--seed S]
    python -m bench realloc --load OUT.npz --method auction --results results

Trains through the project's own trainer (one epoch, one round: no
reallocation), then sums each word's row and column losses over the training
stream as a reallocation round would (`accumulate_losses`, the preset's batch
and bptt) and saves them in the format `bench realloc --load` reads:
loss_row [V, R] and loss_col [V, C] float32, previous [V] int64 (the model's
table). These are the `ptb_tables` rows of results/realloc.md: scipy's optimum
is affordable at V = 10K, so every solver is compared with it there.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

import datasets
import models
from bench.presets import preset_config, train_settings
from bench.train import distributed
from bench.train.config import TrainConfig
from bench.train.trainer import train
from models.bootstrap.passes import accumulate_losses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="the .npz to write")
    p.add_argument("--data-dir", default=os.environ.get("LIGHTRNN_DATA_DIR"), help="holds ptb/ (default $LIGHTRNN_DATA_DIR)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    corpus = datasets.load("ptb", data_dir=args.data_dir)
    cfg = TrainConfig(**{**train_settings("cpu"), "epochs": 1, "rounds": 1})
    torch.manual_seed(args.seed)  # as bench/train/runner.execute
    model = models.build("lightrnn", len(corpus.vocab), **preset_config("lightrnn", "cpu"))
    res = train(model, corpus, cfg, torch.device("cpu"), checkpoint=None, progress=False, desc="lightrnn")
    stream = distributed.shard_stream(corpus.train, 0, 1, cfg.batch_size)  # what a round's pass reads
    loss_row, loss_col, _ = accumulate_losses(model, stream, cfg.batch_size, cfg.bptt)
    np.savez(args.out, loss_row=loss_row.numpy().astype(np.float32), loss_col=loss_col.numpy().astype(np.float32),
             previous=model.word_table.numpy().astype(np.int64))
    print(f"{args.out}: V = {len(corpus.vocab)}, valid ppl {res.metrics['valid_ppl']:.1f} after one epoch")


if __name__ == "__main__":
    main()
