"""LightRNN's reallocation under data parallelism (paper section 3.2 across
workers): each rank accumulates the loss tables over its own shard, they are
summed onto rank 0, the matching runs once there, and the new word table is
broadcast so every rank holds the same one. Each part is timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

from bench import distributed


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def reallocate_across_ranks(
    accumulate: Callable[[], tuple[Tensor, Tensor]],
    match: Callable[[Tensor, Tensor], dict],
    table: Callable[[], Tensor],
    set_table: Callable[[Tensor], None],
    device: torch.device,
) -> dict:
    """LightRNN's reallocation over ranks, each part timed:

    1. accumulate: this rank's loss_row [V, R], loss_col [V, C] over its shard;
    2. reduce: summed onto rank 0 (chunked reduce, not all-reduce: only rank 0
       needs them, and the other ranks keep no second copy);
    3. match: once, on rank 0 (it sets rank 0's table and returns figures);
    4. broadcast: rank 0's table [V] to every rank, then `set_table` there.
    Returns rank 0's figures plus the four times, identical on every rank.
    """
    t0 = _clock(device)
    loss_row, loss_col = accumulate()
    t1 = _clock(device)
    distributed.reduce_sum_(loss_row, dst=0)
    distributed.reduce_sum_(loss_col, dst=0)
    t2 = _clock(device)
    figures = match(loss_row, loss_col) if distributed.is_main() else {}
    del loss_row, loss_col  # 2 x 2.8 GB at BillionW
    t3 = _clock(device)
    if distributed.world_size() > 1:
        cell_of_word = distributed.broadcast_(table().clone())
        if not distributed.is_main():
            set_table(cell_of_word)
    t4 = _clock(device)
    figures = dict(figures, seconds_accumulate=t1 - t0, seconds_reduce=t2 - t1, seconds_match=t3 - t2,
                   seconds_broadcast=t4 - t3, seconds=t4 - t0, world_size=distributed.world_size())
    return distributed.broadcast_object(figures)  # rank 0's times: the ones its record states


def end_of_round(model, train_ids, batch_size: int, bptt: int) -> dict:
    """The trainer's between-rounds hook. A single process calls the model's
    own; data-parallel LightRNN (a model with a word table) reallocates over
    ranks: its shard's loss tables, summed on rank 0, one matching, broadcast."""
    if distributed.world_size() == 1 or getattr(model, "word_table", None) is None:
        return model.end_of_round(train_ids, batch_size, bptt)
    from models.realloc.accumulate import accumulate_losses, match

    nll = []

    def accumulate():
        loss_row, loss_col, pass_nll = accumulate_losses(model, train_ids, batch_size, bptt)
        nll.append(pass_nll)
        return loss_row, loss_col

    device = next(model.parameters()).device
    figures = reallocate_across_ranks(accumulate, lambda lr, lc: match(model, lr, lc),
                                      lambda: model.word_table, model.set_table, device)
    figures["pass_nll"] = distributed.all_sum(nll)[0]  # the whole training stream's, as in one process
    return figures
