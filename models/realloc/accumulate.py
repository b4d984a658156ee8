"""LightRNN's end-of-round step: one evaluation pass over the training stream
accumulating the loss tables, then the matching, then the new table. Under
data parallelism each rank accumulates over its own shard, the tables are
summed onto rank 0, the matching runs once there and the new table is
broadcast; in one process those collectives are identities.

    loss_row[w, i] = sum over occurrences of w of -log P_row(i)
    loss_col[w, j] = sum over occurrences of w of -log P_col(j | current row of w)

Columns that are empty in the word's current row are masked to -inf by the
model (so its V words sum to 1). Their loss is unknown, not infinite: the
word may move to a row where that column is filled. We charge the WORST
finite column loss at that position (the largest -log P_col it saw), a
finite, pessimistic cost that neither forbids nor favours those columns.
The current cells are never masked, so the current table's total equals
the pass's NLL exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from datasets.batching import batchify, bptt_batches

from ..base import LOCAL, Collectives
from .rows_first import columns_within_rows


def _fits_on_device(device: torch.device, nbytes: int) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return 2 * nbytes < free  # leave room for the pass itself


def _eval_batches(model, train_ids, batch_size: int, bptt: int):
    """The pass over a training stream both functions below make: the model in
    eval mode (its mode restored after), the stream as batchify's [N, B],
    truncated every `bptt` steps, each (x, y) [T, B] on the model's device."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for x, y in bptt_batches(batchify(np.asarray(train_ids), batch_size), bptt):
            yield x.to(device), y.to(device)
    finally:
        model.train(was_training)


@torch.no_grad()
def add_scores(model, loss_row: torch.Tensor, loss_col: torch.Tensor, row_lp: torch.Tensor, col_lp: torch.Tensor,
               y: torch.Tensor) -> torch.Tensor:
    """Add one batch's scores (row_lp [T, B, R], col_lp [T, B, C] from
    `row_col_logprobs`, targets y [T, B]) into loss_row [V, R] and loss_col
    [V, C]; returns the batch's NLL under the current table (a 0-dim tensor)."""
    R, C, where = model.rows, model.cols, loss_row.device
    row_lp, col_lp, yf = row_lp.reshape(-1, R), col_lp.reshape(-1, C), y.reshape(-1)
    masked = torch.isinf(col_lp)
    worst = col_lp.masked_fill(masked, float("inf")).min(1, keepdim=True).values  # [N, 1]
    col_lp = torch.where(masked, worst, col_lp)
    nll = -(row_lp.gather(1, model.word_row[yf, None]) + col_lp.gather(1, model.word_col[yf, None])).sum()
    loss_row.index_add_(0, yf.to(where), -row_lp.to(where))
    loss_col.index_add_(0, yf.to(where), -col_lp.to(where))
    return nll


def empty_tables(model) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero loss_row [V, R], loss_col [V, C] fp32, on the model's device when
    they fit there, else on the host (each batch's scores are moved to them)."""
    device = next(model.parameters()).device
    V, R, C = model.vocab_size, model.rows, model.cols
    where = device if _fits_on_device(device, 4 * V * (R + C)) else torch.device("cpu")
    return torch.zeros(V, R, device=where), torch.zeros(V, C, device=where)


@torch.no_grad()
def accumulate_losses(model, train_ids, batch_size: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Returns (loss_row [V, R] fp32, loss_col [V, C] fp32, total NLL of the pass)."""
    loss_row, loss_col = empty_tables(model)
    nll = torch.zeros((), dtype=torch.float64, device=next(model.parameters()).device)
    state = model.init_state(batch_size)
    for x, y in _eval_batches(model, train_ids, batch_size, bptt):
        row_lp, col_lp, state = model.row_col_logprobs(x, y, state)  # [T,B,R], [T,B,C]
        nll += add_scores(model, loss_row, loss_col, row_lp, col_lp, y).double()
    return loss_row, loss_col, float(nll)


@torch.no_grad()
def stream_nll(model, train_ids, batch_size: int, bptt: int) -> tuple[float, float]:
    """(total NLL, its row part) of the same pass as accumulate_losses (eval
    mode, the same [N, B] batches, state carried), without the tables: what
    the model now scores on its training stream. The column part is the rest."""
    total, row, state = 0.0, 0.0, model.init_state(batch_size)
    for x, y in _eval_batches(model, train_ids, batch_size, bptt):
        row_lp, col_lp, state = model.row_col_logprobs(x, y, state)  # [T,B,R], [T,B,C]
        row_part = -row_lp.gather(2, model.word_row[y].unsqueeze(2)).sum()
        total += float(row_part - col_lp.gather(2, model.word_col[y].unsqueeze(2)).sum())
        row += float(row_part)
    return total, row


def match(model, loss_row: torch.Tensor, loss_col: torch.Tensor, method: str = "auto",
          counts: torch.Tensor | None = None, move_penalty: float = 0.0) -> dict:
    """Solve the matching for the model's current table and install the result.

    With `move_penalty` > 0 (and each word's target `counts` [V]), leaving a
    word's current row costs move_penalty * counts[w] more, and so does leaving
    its current column (separable, so every solver takes it; the tables are
    changed in place). `cost` is then the penalised objective, `penalty` its
    share, and `cost - penalty` what the new table's NLL is predicted to be.
    """
    from . import reallocate

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
