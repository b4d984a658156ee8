"""LightRNN's end-of-round step: one evaluation pass over the training stream
accumulating the loss tables (passes.py), then the matching (models/realloc,
the solver), then the new table. Under data parallelism each rank accumulates
over its own shard, the tables are summed onto rank 0, the matching runs once
there and the new table is broadcast; in one process those collectives are
identities.
"""

from __future__ import annotations

import numpy as np
import torch

from datasets.batching import batchify

from ..base import LOCAL, Collectives
from ..realloc import reallocate
from .passes import accumulate_losses, stream_nll
from .rows_first import columns_within_rows


def match(model, loss_row: torch.Tensor, loss_col: torch.Tensor, method: str = "auto",
          counts: torch.Tensor | None = None, move_penalty: float = 0.0) -> dict:
    """Solve the matching for the model's current table and install the result.

    With `move_penalty` > 0 (and each word's target `counts` [V]), leaving a
    word's current row costs move_penalty * counts[w] more, and so does leaving
    its current column (separable, so every solver takes it; the tables are
    changed in place). `cost` is then the penalised objective, `penalty` its
    share, and `cost - penalty` what the new table's NLL is predicted to be.
    """
    previous = model.word_table.cpu().numpy()
    old = torch.as_tensor(previous, device=loss_row.device)
    old_r, old_c = old // model.cols, old % model.cols
    charge = None
    if move_penalty > 0:
        charge = move_penalty * counts.to(loss_row.device, torch.float32)  # [V]
        for table, stay in ((loss_row, old_r), (loss_col, old_c)):
            table += charge[:, None]
            table.scatter_add_(1, stay[:, None], -charge[:, None])
    result = reallocate(loss_row, loss_col, method=method, previous=previous)
    new = torch.from_numpy(result.cell_of_word).to(loss_row.device)
    new_r, new_c = new // model.cols, new % model.cols
    row_charge = penalty = 0.0
    if charge is not None:
        row_charge = float((charge * (new_r != old_r)).sum(dtype=torch.float64))
        penalty = row_charge + float((charge * (new_c != old_c)).sum(dtype=torch.float64))
    # The row part of each table's cost: the matching's row costs are exact for
    # fixed inputs, its column costs are conditioned on each word's OLD row.
    row_old, row_new = (float(loss_row.gather(1, r[:, None]).sum(dtype=torch.float64)) for r in (old_r, new_r))
    model.set_table(new)
    return {**result.summary(), "penalty": penalty, "previous_row_cost": row_old, "row_cost": row_new - row_charge}


def reallocation_round(model, train_ids, batch_size: int, bptt: int, comm: Collectives = LOCAL,
                       method: str = "auto", move_penalty: float = 0.0, tables: tuple | None = None,
                       rows_first: bool = False) -> dict:
    """The whole round over this rank's shard `train_ids`, each part timed on
    `comm.clock`. JSON-ready figures for the run record, rank 0's on every rank:

    1. accumulate this shard's loss_row [V, R], loss_col [V, C];
    2. reduce them onto rank 0 (a reduce, not an all-reduce: only rank 0
       matches, and the other ranks keep no second 2 x 2.8 GB copy at BillionW);
    3. match once, on rank 0, which installs its new table;
    4. broadcast rank 0's table [V] to every rank;
    5. score the training stream again with the new table (`seconds_measure`,
       not part of `seconds`: the trainer does not count it as training cost).

    `tables` = (loss_row, loss_col, nll, targets) summed during the last
    training epoch (the paper's free way) replaces step 1's pass.
    `rows_first` (rows_first.py): step 3 matches rows alone, then a second
    pass conditioned on the new rows places the columns within each row.
    """
    start = model.word_table.clone()
    t0 = comm.clock()
    n_rows = len(train_ids) // batch_size  # batchify's [n_rows, B]: (n_rows - 1) * B targets
    if tables is None:
        loss_row, loss_col, nll = accumulate_losses(model, train_ids, batch_size, bptt)
        targets = (n_rows - 1) * batch_size
    else:
        loss_row, loss_col, nll, targets = tables
    t1 = comm.clock()
    comm.reduce_sum_(loss_row, dst=0)
    comm.reduce_sum_(loss_col, dst=0)
    counts = None
    if move_penalty > 0:  # each word's targets in the pass: batchify's [n, B] rows 1.. are the targets
        counts = torch.bincount(batchify(np.asarray(train_ids), batch_size)[1:].reshape(-1).long(),
                                minlength=model.vocab_size).to(loss_row)
        comm.reduce_sum_(counts, dst=0)
    t2 = comm.clock()
    if rows_first:
        loss_col.zero_()  # stage 1: rows on their own costs; columns are placed in stage 2
    figures = match(model, loss_row, loss_col, method, counts, move_penalty) if comm.is_main else {}
    del loss_row, loss_col
    t3 = comm.clock()
    if comm.world_size > 1:
        table = comm.broadcast_(model.word_table.clone())
        if not comm.is_main:
            model.set_table(table)
    if rows_first:
        stage2 = columns_within_rows(model, train_ids, batch_size, bptt, comm)
        if comm.is_main:  # the final table's prediction replaces stage 1's row-only cost
            figures.update(stage1_cost=figures["cost"], stage1_penalty=figures["penalty"], penalty=0.0, **stage2,
                           moved=int((model.word_table != start).sum()))
    t4 = comm.clock()
    # Then the same pass with the new table installed: what the move did at once,
    # with the moved words' vectors changed too (timed apart, as measurement).
    after, after_row = stream_nll(model, train_ids, batch_size, bptt)
    t5 = comm.clock()
    figures.update(seconds_accumulate=t1 - t0, seconds_reduce=t2 - t1, seconds_match=t3 - t2,
                   seconds_broadcast=t4 - t3, seconds=t4 - t0, seconds_measure=t5 - t4,
                   world_size=comm.world_size)
    figures = comm.broadcast_object(figures)  # rank 0's times on every rank
    # The whole training stream's NLL and target count, as in one process; per
    # token, the old table's (what the pass measured), the new one's as the
    # matching predicts it (every vector held fixed) and as measured after.
    pass_nll, tokens, after, after_row, measured = comm.all_sum([nll, float(targets), after, after_row,
                                                                 float((n_rows - 1) * batch_size)])
    figures.update(pass_nll=pass_nll, pass_tokens=int(tokens), nll_per_token_old=pass_nll / tokens,
                   nll_per_token_predicted=(figures["cost"] - figures["penalty"]) / tokens,
                   nll_per_token_after=after / measured,
                   row_nll_per_token_old=figures["previous_row_cost"] / tokens,
                   row_nll_per_token_predicted=figures["row_cost"] / tokens,
                   row_nll_per_token_after=after_row / measured, tables="pass" if tables is None else "train")
    if rows_first:
        figures.update(nll_per_token_mid=figures["mid_nll"] / measured,
                       row_nll_per_token_mid=figures["mid_row_nll"] / measured)
    return figures
