"""The one trainer every model goes through (Zaremba et al. 2014; Kim et al. 2016).

SGD by the one training step (bench/train/step.py), truncated BPTT with the
state carried across batches and reset at each epoch start. Evaluation scores EVERY token of a stream once
(`eval_segments`), state carried, identically for every model.

The trainer sees only the `LanguageModel` interface; LightRNN's reallocation
happens in `model.end_of_round` (given this process's shard and the
collectives that join the ranks), timed and counted as training cost, at the
epochs bench/train/schedule.py picks (with the lr decay and the policy after
a move).

One state dict `st` carries everything a resumed run needs (epoch, step, lr,
clocks, curve, rounds, the schedule's memory, the best point and its weights)
and checkpoints save it whole; `_Run` holds what one process derives from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from bench import meters
from bench.train import best, collectives, distributed, schedule
from bench.train.checkpoint import load as load_checkpoint
from bench.train.checkpoint import resume_config
from bench.train.checkpoint import save as save_checkpoint
from bench.train.config import TrainConfig
from bench.train.evaluate import evaluate
from bench.train.result import Result, cpu_alloc_failed, final_metrics
from bench.train.step import sgd_step, sparse_rows
from datasets.batching import batchify, bptt_batches, num_batches
from models import detach_state


class Diverged(RuntimeError):
    pass


def _plain(obj):
    """numpy scalars/arrays -> Python (json's fallback)."""
    return obj.tolist() if hasattr(obj, "tolist") else str(obj)


def train(model, corpus, cfg: TrainConfig, device: torch.device, *, checkpoint: Path | None = None,
          resume: bool = False, meta: dict | None = None, should_stop: Callable[[], bool] = lambda: False,
          on_round: Callable[[object], dict] | None = None, desc: str = "", progress: bool = True) -> Result:
    """Train `model` on `corpus` (already seeded and built by the caller).

    `meta` (JSON-ready: model name and config, dataset) is stored in the
    checkpoint and must match on resume. `on_round(model)` adds figures to
    each round entry (e.g. class recovery of LightRNN's table).
    """
    model.to(device)
    meters.reset_peaks(device)
    share = meters.CpuShare()  # this process's part of the run: a resumed run counts from its resume
    run = _Run(model, corpus, cfg, device, checkpoint, meta or {}, should_stop, on_round, desc, progress)
    if resume and checkpoint is not None and checkpoint.exists():
        run.st = load_checkpoint(checkpoint, model, run.opt, device, run.same, run.meta)
    st = schedule.start(run.st)
    run.set_lr(st["lr"])
    run.clock = meters.Stopwatch(device, st["train_s"])
    run.bar = tqdm(total=cfg.epochs * run.n_batches, initial=st["step"], desc=desc, unit="batch", mininterval=1.0,
                   disable=None if run.progress else True, dynamic_ncols=True)  # None: off when not a TTY
    status, reason, error = "ok", "epochs", None
    try:
        if not st["curve"]:
            st["rounds"].append(run.round_entry({"seconds": 0.0}))
            run.valid_point()
        while st["epoch"] < cfg.epochs and reason == "epochs":
            reason = run.epoch()
            if reason == "epochs":
                reason = run.after_epoch()
        status = "interrupted" if reason == "interrupted" else "ok"
        if reason in ("max_time", "max_steps"):
            run.valid_point()
    except Diverged as e:
        status, reason, error = "diverged", "diverged", str(e)
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as e:
        if not isinstance(e, (torch.OutOfMemoryError, MemoryError)) and not cpu_alloc_failed(e):
            raise
        status, reason, error = "oom", "oom", str(e).splitlines()[0] if str(e) else type(e).__name__
        if device.type == "cuda":
            torch.cuda.empty_cache()
    finally:
        run.bar.close()
    if run.clock.running:  # stopped mid-epoch by a fault
        run.clock.stop()
    st["train_s"] = run.clock.elapsed
    metrics, token_lp = final_metrics(model, corpus, cfg, device, st, status)
    metrics.update(share.summary())
    return Result(status, metrics, st["curve"], st["rounds"], reason, error, token_lp)


class _Run:
    """One process's training: the model, its optimiser, its shard of the
    stream, the training clock and the progress bar, around the state `st`."""

    def __init__(self, model, corpus, cfg: TrainConfig, device, checkpoint, meta: dict, should_stop, on_round,
                 desc: str, progress: bool):
        self.model, self.corpus, self.cfg, self.device = model, corpus, cfg, device
        self.checkpoint, self.meta, self.desc = checkpoint, meta, desc
        self.should_stop, self.on_round = should_stop, on_round
        self.progress = progress and distributed.is_main()  # data-parallel: only rank 0 reports
        self.opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        # What a checkpoint must have been written with to be resumed.
        self.same = resume_config(cfg)
        self.st = {"epoch": 0, "step": 0, "lr": cfg.lr, "best": math.inf, "prev": math.inf, "train_s": 0.0,
                   "realloc_s": 0.0, "eval_s": 0.0, "tokens": 0, "curve": [], "rounds": []}
        self.clock = meters.Stopwatch(device)
        # Data-parallel (bench/train/distributed.py): DDP averages gradients over ranks;
        # rank r trains on its contiguous shard = columns [r*B/W, (r+1)*B/W) of the global batch.
        self.world = distributed.world_size()
        if self.world == 1:
            sparse_rows(model, cfg.batch_size * cfg.bptt)  # V-row input tables: sparse gradients
        self.step_model = distributed.wrap_ddp(model, device)
        self.local_b = cfg.batch_size // self.world
        self.shard = distributed.shard_stream(corpus.train, distributed.rank(), self.world, cfg.batch_size)
        self.data = batchify(self.shard, self.local_b).to(device)  # [N, B/W]
        self.n_batches = num_batches(self.data, cfg.bptt)
        self.eval_at = {self.n_batches * k // cfg.evals_per_epoch for k in range(1, cfg.evals_per_epoch)}
        self.limit = math.log(max(model.vocab_size, 2)) * 3  # per-token NLL far above uniform: exploding
        self.bar, self.last_line = None, 0.0  # the progress bar opens once the state (maybe resumed) is known

    def set_lr(self, lr: float) -> None:
        self.st["lr"] = lr
        for g in self.opt.param_groups:
            g["lr"] = lr

    def seconds(self) -> float:
        """Training and reallocation seconds so far: the budget's clock."""
        return self.clock.now() + self.st["realloc_s"]

    def valid_point(self) -> float:
        clock = meters.Stopwatch(self.device)
        clock.start()
        ppl = evaluate(self.model, self.corpus.valid, self.cfg, self.device)
        self.st["eval_s"] += clock.stop()
        # JSON has no inf/nan: a point that blew up is null on the curve.
        self.st["curve"].append([self.st["step"], round(self.seconds(), 3), ppl if math.isfinite(ppl) else None])
        if not math.isfinite(ppl):
            raise Diverged(f"validation perplexity is {ppl}")
        best.update(self.st, self.model, ppl)
        return ppl

    def round_entry(self, extra: dict) -> dict:
        entry = {"round": len(self.st["rounds"]), "epoch": self.st["epoch"], "step": self.st["step"], **extra}
        if self.on_round is not None:
            entry.update(self.on_round(self.model))
        return json.loads(json.dumps(entry, default=_plain))  # JSON-ready (and weights_only-safe)

    def save(self, mid: dict | None = None) -> None:
        save_checkpoint(self.checkpoint, self.model, self.opt, self.st, self.same, self.meta, mid=mid)

    def epoch(self) -> str:
        """Train through the epoch (from a mid-epoch checkpoint's batch, if any).
        Returns "epochs" when it ended, else why training stops."""
        cfg, st, model = self.cfg, self.st, self.model
        model.train()
        mid = st.pop("mid", None)  # a checkpoint written inside this epoch: carry on from its batch
        if model.reallocates and cfg.realloc_tables == "train":
            model.collect_tables(True)  # this epoch's tables, if the round ends with it
            if mid is not None:
                model.restore_tables(mid["tables"])
        state = model.init_state(self.local_b) if mid is None else mid["state"]
        window, window_tokens = torch.zeros((), device=self.device), 0
        if mid is not None:
            window, window_tokens = mid["window"].to(self.device), mid["window_tokens"]
        reason = "epochs"
        self.clock.start()
        saved_at = self.clock.now()
        for i, (x, y) in enumerate(bptt_batches(self.data, cfg.bptt)):
            if mid is not None and i < mid["pos"]:
                continue  # done before the checkpoint
            stop = self.should_stop()
            check = i % cfg.log_every == 0
            time_up = cfg.max_time is not None and check and self.seconds() >= cfg.max_time
            save = cfg.checkpoint_every is not None and check and self.clock.now() - saved_at >= cfg.checkpoint_every
            if self.world > 1:  # ranks stop at the same step, else one waits forever in DDP's all-reduce
                stop, time_up = collectives.any_rank([stop, time_up]) if check else (False, False)
            # One process only: under DDP each rank carries its own state, and epoch ends suffice.
            if (stop or save) and self.checkpoint is not None and self.world == 1:
                st["train_s"] = self.clock.now()
                self.save(mid=_resume_point(i, state, window, window_tokens, model))
                saved_at = self.clock.now()
            if stop or time_up or (cfg.max_steps is not None and st["step"] >= cfg.max_steps):
                reason = "interrupted" if stop else "max_time" if time_up else "max_steps"
                break
            nll, state = sgd_step(model, self.opt, x, y, state, cfg.clip, cfg.amp, forward=self.step_model)
            st["step"] += 1
            st["tokens"] += y.numel() * self.world
            window += nll.float()
            window_tokens += y.numel()
            self.bar.update()
            if (i + 1) % cfg.log_every == 0 or i + 1 == self.n_batches:
                self.log(i, window, window_tokens)
                window, window_tokens = torch.zeros((), device=self.device), 0
            if i + 1 in self.eval_at:
                self.clock.stop()
                self.valid_point()
                model.train()
                self.clock.start()
        self.clock.stop()
        st["train_s"] = self.clock.elapsed
        return reason

    def log(self, i: int, window, window_tokens: int) -> None:
        """The loss check (every rank takes the same decision) and the progress line."""
        nll_sum, count = collectives.all_sum([window.item(), window_tokens])  # a device sync
        loss = nll_sum / count
        if not math.isfinite(loss) or loss > self.limit:
            raise Diverged(f"training loss {loss:.3g} nats/token at step {self.st['step']}")
        post = dict(epoch=self.st["epoch"] + 1, lr=f"{self.st['lr']:.3g}", ppl=f"{math.exp(loss):.1f}",
                    tok_s=f"{self.st['tokens'] / max(self.clock.now(), 1e-9):.0f}")
        self.bar.set_postfix(post)
        if self.progress and self.bar.disable and self.seconds() - self.last_line >= 60:  # logs: a line a minute
            self.last_line = self.seconds()
            print(f"{self.desc} step {i + 1}/{self.n_batches}",
                  *(f"{k}={v}" for k, v in post.items()), flush=True)

    def after_epoch(self) -> str:
        """The epoch's validation point, then the schedule: a move, the lr
        decay, a checkpoint. Returns "epochs" to go on, or "lr_floor"."""
        cfg, st, model = self.cfg, self.st, self.model
        st["epoch"] += 1
        ppl = self.valid_point()
        move = model.reallocates and schedule.reallocate_now(cfg, st, ppl)
        if schedule.lr_decays(cfg, st, ppl) and not (move and cfg.round_schedule == "plateau"):
            self.set_lr(st["lr"] * cfg.lr_decay)  # (a stall that ends a plateau round moves words instead)
        if move:
            clock = meters.Stopwatch(self.device)
            clock.start()
            info = model.end_of_round(self.shard, self.local_b, cfg.bptt, collectives.collectives(self.device))
            span = clock.stop() - info.get("seconds_measure", 0.0)
            st["realloc_s"] += span
            # The hook's own "seconds" is its duration; ours (time on the curve) wins.
            st["rounds"].append(self.round_entry({**info, "seconds": round(self.seconds(), 3), "realloc_s": span,
                                                  "valid_ppl_before": ppl}))
            if cfg.after_move == "fresh":
                model.reinit()  # only the table is kept (the same draw on every rank)
            st["rounds"][-1]["valid_ppl_after"] = after = self.valid_point()
            schedule.after_move(cfg, st, self.opt, after)
        if self.progress:
            tqdm.write(f"{self.desc} epoch {st['epoch']}: valid ppl {ppl:.2f}, lr {st['lr']:.4g}, {self.seconds():.0f} s")
        if self.checkpoint is not None and distributed.is_main():
            self.save()
        return "lr_floor" if st["lr"] < cfg.lr_floor else "epochs"


def _resume_point(i: int, state, window, window_tokens: int, model) -> dict:
    """What a checkpoint inside an epoch adds, so that resuming at batch `i`
    equals never stopping: the carried state, the loss window, and the loss
    tables summed so far this epoch (LightRNN in train-table mode)."""
    return {"pos": i, "state": detach_state(state), "window": window.detach(), "window_tokens": window_tokens,
            "tables": model.collected_tables()}
