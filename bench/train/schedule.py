"""When the trainer changes course at an epoch's end: the learning-rate decay,
LightRNN's reallocations (the paper's section 3.2) and what follows a move.

Rounds: `rounds` training rounds, so at most `rounds - 1` reallocations.
- "even": the epochs split evenly over the rounds (CNTK's release: 2 rounds
  of 10 epochs).
- "plateau" (the paper's: each round trains "until the perplexity on the
  validation set converged"): a round ends at its first epoch that does not
  beat the round's best validation perplexity by `round_min_gain` (1%: at lr 1
  the perplexity creeps down for many epochs), and reallocates; a further
  reallocation happens only while a round's best beats the previous round's.
  Once a round does not, the table stays and training goes on. A stall that
  ends a round does not also decay the lr; later stalls do, by the lr rule.
  With `round_full_lr` (the default) rounds end only while the lr is at its
  initial value: once the lr has decayed (a fixed decay start, or "keep" after
  a decay) no move follows, since too little training is left to recover.

After a move:
- "keep" (the paper's): every parameter, the learning rate and its schedule
  carry on.
- "restart" (CNTK's, which makes a new optimiser each round): the learning
  rate goes back to its initial value, and the decay rule counts epochs and
  compares perplexities from the round's start.
- "fresh": as "restart", and the trainer draws every parameter afresh before
  the move's validation point: only the new table survives the move.

Every piece of state lives in the trainer's checkpointed dict `st`.
"""

from __future__ import annotations

import math

from bench.train.config import TrainConfig


def start(st: dict) -> dict:
    """The schedule's part of a fresh (or an older checkpoint's) trainer state."""
    for key, value in (("round_start", 0), ("round_best", math.inf), ("round_ends", []), ("rounds_over", False)):
        st.setdefault(key, value)
    return st


def lr_decays(cfg: TrainConfig, st: dict, ppl: float) -> bool:
    """Whether the lr decays after the epoch that just ended with valid `ppl`
    (st["epoch"] already counts it). Updates the stall test's memory."""
    epoch = st["epoch"] - (st["round_start"] if cfg.after_move in ("restart", "fresh") else 0)
    if cfg.lr_decay_start is not None:
        decay = epoch >= cfg.lr_decay_start
    elif cfg.lr_decay_rule == "kim":
        decay = epoch >= 3 and st["prev"] - ppl < 1.0
    else:
        decay = ppl >= st["best"]
    st["prev"] = ppl
    st["best"] = min(st["best"], ppl)
    return decay


def reallocate_now(cfg: TrainConfig, st: dict, ppl: float) -> bool:
    """Whether to reallocate after the epoch that just ended with valid `ppl`."""
    moves = len(st["rounds"]) - 1  # st["rounds"][0] is the starting table
    if moves >= cfg.rounds - 1 or st["epoch"] >= cfg.epochs or st["rounds_over"]:
        return False
    if cfg.round_schedule == "even":
        return st["epoch"] % max(1, math.ceil(cfg.epochs / cfg.rounds)) == 0
    if cfg.round_full_lr and st["lr"] < cfg.lr:  # the lr has decayed: this is the last round
        st["rounds_over"] = True
        return False
    if ppl < st["round_best"] * (1 - cfg.round_min_gain):  # still improving: the round goes on
        st["round_best"] = ppl
        return False
    st["round_best"] = min(st["round_best"], ppl)
    ends = st["round_ends"]
    ends.append(st["round_best"])
    if len(ends) > 1 and ends[-1] >= ends[-2]:  # this round did not beat the last one: stop moving
        st["rounds_over"] = True
        return False
    return True


def after_move(cfg: TrainConfig, st: dict, opt, ppl_after: float) -> None:
    """The trainer's state right after a new table, with valid `ppl_after`."""
    st["best"] = ppl_after  # the table changed: earlier perplexities are no longer the bar
    st["round_best"], st["round_start"] = math.inf, st["epoch"]
    if cfg.after_move in ("restart", "fresh"):
        st["lr"], st["prev"] = cfg.lr, math.inf
        opt.state.clear()  # a fresh optimiser (SGD keeps none today; momentum would)
        for g in opt.param_groups:
            g["lr"] = st["lr"]
