"""The evaluation passes of LightRNN's round over a training stream, the
model in eval mode: the loss tables a matching needs, and the stream's NLL
under the table installed now.

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
