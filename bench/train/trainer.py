"""The one trainer every model goes through (Zaremba et al. 2014; Kim et al. 2016).

SGD by the one training step (bench/train/step.py), truncated BPTT with the
state carried across batches and reset at each epoch start. Evaluation scores EVERY token of a stream once
(`eval_segments`), state carried, identically for every model.

The trainer sees only the `LanguageModel` interface; LightRNN's reallocation
happens in `model.end_of_round` (given this process's shard and the
collectives that join the ranks), timed and counted as training cost, at the
epochs bench/train/schedule.py picks (with the lr decay and the policy after
a move).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from bench import meters
from bench.train import best, distributed, schedule
from bench.train.checkpoint import load as load_checkpoint
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
    progress = progress and distributed.is_main()  # data-parallel: only rank 0 reports
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    same = {k: v for k, v in asdict(cfg).items()
            if k not in ("epochs", "max_time", "max_steps", "checkpoint_every", "log_every")}
    st = {"epoch": 0, "step": 0, "lr": cfg.lr, "best": math.inf, "prev": math.inf, "train_s": 0.0, "realloc_s": 0.0,
          "eval_s": 0.0, "tokens": 0, "curve": [], "rounds": []}
    if resume and checkpoint is not None and checkpoint.exists():
        st = load_checkpoint(checkpoint, model, opt, device, same, meta or {})
    schedule.start(st)
    for g in opt.param_groups:
        g["lr"] = st["lr"]
    train_clock = meters.Stopwatch(device, st["train_s"])
    realloc_s = st["realloc_s"]
    status, reason, error = "ok", "epochs", None

    def seconds() -> float:
        return train_clock.now() + realloc_s

    def valid_point() -> float:
        clock = meters.Stopwatch(device)
        clock.start()
        ppl = evaluate(model, corpus.valid, cfg, device)
        st["eval_s"] += clock.stop()
        # JSON has no inf/nan: a point that blew up is null on the curve.
        st["curve"].append([st["step"], round(seconds(), 3), ppl if math.isfinite(ppl) else None])
        if not math.isfinite(ppl):
            raise Diverged(f"validation perplexity is {ppl}")
        best.update(st, model, ppl)
        return ppl

    def round_entry(extra: dict) -> dict:
        entry = {"round": len(st["rounds"]), "epoch": st["epoch"], "step": st["step"], **extra}
        if on_round is not None:
            entry.update(on_round(model))
        return json.loads(json.dumps(entry, default=_plain))  # JSON-ready (and weights_only-safe)

    # Data-parallel (bench/train/distributed.py): DDP averages gradients over ranks;
    # rank r trains on its contiguous shard = columns [r*B/W, (r+1)*B/W) of the global batch.
    world = distributed.world_size()
    if world == 1:
        sparse_rows(model, cfg.batch_size * cfg.bptt)  # V-row input tables: sparse gradients
    step_model = distributed.wrap_ddp(model, device)
    local_b = cfg.batch_size // world
    shard = distributed.shard_stream(corpus.train, distributed.rank(), world, cfg.batch_size)
    data = batchify(shard, local_b).to(device)  # [N, B/W]
    n_batches = num_batches(data, cfg.bptt)
    eval_at = {n_batches * k // cfg.evals_per_epoch for k in range(1, cfg.evals_per_epoch)}
    limit = math.log(max(model.vocab_size, 2)) * 3  # per-token NLL far above uniform: exploding
    bar = tqdm(total=cfg.epochs * n_batches, initial=st["step"], desc=desc, unit="batch",
               disable=None if progress else True, mininterval=1.0, dynamic_ncols=True)  # None: off when not a TTY
    last_line = 0.0
    try:
        if not st["curve"]:
            st["rounds"].append(round_entry({"seconds": 0.0}))
            valid_point()
        while st["epoch"] < cfg.epochs and reason == "epochs":
            model.train()
            mid = st.pop("mid", None)  # a checkpoint written inside this epoch: carry on from its batch
            if model.reallocates and cfg.realloc_tables == "train":
                model.collect_tables(True)  # this epoch's tables, if the round ends with it
                if mid is not None:
                    model.restore_tables(mid["tables"])
            state = model.init_state(local_b) if mid is None else mid["state"]
            window, window_tokens = torch.zeros((), device=device), 0
            if mid is not None:
                window, window_tokens = mid["window"].to(device), mid["window_tokens"]
            train_clock.start()
            saved_at = train_clock.now()
            for i, (x, y) in enumerate(bptt_batches(data, cfg.bptt)):
                if mid is not None and i < mid["pos"]:
                    continue  # done before the checkpoint
                stop = should_stop()
                check = i % cfg.log_every == 0
                time_up = cfg.max_time is not None and check and seconds() >= cfg.max_time
                save = (cfg.checkpoint_every is not None and check
                        and train_clock.now() - saved_at >= cfg.checkpoint_every)
                if world > 1:  # ranks stop at the same step, else one waits forever in DDP's all-reduce
                    stop, time_up = distributed.any_rank([stop, time_up]) if check else (False, False)
                # One process only: under DDP each rank carries its own state, and epoch ends suffice.
                if (stop or save) and checkpoint is not None and world == 1:
                    st["train_s"] = train_clock.now()
                    save_checkpoint(checkpoint, model, opt, st, same, meta or {},
                                    mid=_resume_point(i, state, window, window_tokens, model))
                    saved_at = train_clock.now()
                if stop:
                    status = reason = "interrupted"
                    break
                if time_up:
                    reason = "max_time"
                    break
                if cfg.max_steps is not None and st["step"] >= cfg.max_steps:
                    reason = "max_steps"
                    break
                nll, state = sgd_step(model, opt, x, y, state, cfg.clip, cfg.amp, forward=step_model)
                st["step"] += 1
                st["tokens"] += y.numel() * world
                window += nll.float()
                window_tokens += y.numel()
                bar.update()
                if (i + 1) % cfg.log_every == 0 or i + 1 == n_batches:
                    nll_sum, count = distributed.all_sum([window.item(), window_tokens])  # a device sync
                    loss = nll_sum / count  # over all ranks: every rank takes the same decision
                    if not math.isfinite(loss) or loss > limit:
                        raise Diverged(f"training loss {loss:.3g} nats/token at step {st['step']}")
                    post = dict(epoch=st["epoch"] + 1, lr=f"{st['lr']:.3g}", ppl=f"{math.exp(loss):.1f}",
                                tok_s=f"{st['tokens'] / max(train_clock.now(), 1e-9):.0f}")
                    bar.set_postfix(post)
                    if progress and bar.disable and seconds() - last_line >= 60:  # logs get a line a minute
                        last_line = seconds()
                        print(f"{desc} step {i + 1}/{n_batches}", *(f"{k}={v}" for k, v in post.items()), flush=True)
                    window, window_tokens = torch.zeros((), device=device), 0
                if i + 1 in eval_at:
                    train_clock.stop()
                    valid_point()
                    model.train()
                    train_clock.start()
            train_clock.stop()
            st["train_s"] = train_clock.elapsed
            if reason != "epochs":
                break
            st["epoch"] += 1
            ppl = valid_point()
            move = model.reallocates and schedule.reallocate_now(cfg, st, ppl)
            if schedule.lr_decays(cfg, st, ppl) and not (move and cfg.round_schedule == "plateau"):
                st["lr"] *= cfg.lr_decay  # (a stall that ends a plateau round moves words instead)
                for g in opt.param_groups:
                    g["lr"] = st["lr"]
            if move:
                clock = meters.Stopwatch(device)
                clock.start()
                info = model.end_of_round(shard, local_b, cfg.bptt, distributed.collectives(device))
                span = clock.stop() - info.get("seconds_measure", 0.0)
                realloc_s += span
                st["realloc_s"] = realloc_s
                # The hook's own "seconds" is its duration; ours (time on the curve) wins.
                st["rounds"].append(round_entry({**info, "seconds": round(seconds(), 3), "realloc_s": span,
                                                 "valid_ppl_before": ppl}))
                if cfg.after_move == "fresh":
                    model.reinit()  # only the table is kept (the same draw on every rank)
                st["rounds"][-1]["valid_ppl_after"] = after = valid_point()
                schedule.after_move(cfg, st, opt, after)
            if progress:
                tqdm.write(f"{desc} epoch {st['epoch']}: valid ppl {ppl:.2f}, lr {st['lr']:.4g}, {seconds():.0f} s")
            if checkpoint is not None and distributed.is_main():
                save_checkpoint(checkpoint, model, opt, st, same, meta or {})
            if st["lr"] < cfg.lr_floor:
                reason = "lr_floor"
        if reason in ("max_time", "max_steps"):
            valid_point()
    except Diverged as e:
        status, reason, error = "diverged", "diverged", str(e)
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as e:
        if not isinstance(e, (torch.OutOfMemoryError, MemoryError)) and not cpu_alloc_failed(e):
            raise
        status, reason, error = "oom", "oom", str(e).splitlines()[0] if str(e) else type(e).__name__
        if device.type == "cuda":
            torch.cuda.empty_cache()
    finally:
        bar.close()
    if train_clock.running:  # stopped mid-epoch by a fault
        train_clock.stop()
    st["train_s"] = train_clock.elapsed
    metrics, token_lp = final_metrics(model, corpus, cfg, device, st, status)
    metrics.update(share.summary())
    return Result(status, metrics, st["curve"], st["rounds"], reason, error, token_lp)


def _resume_point(i: int, state, window, window_tokens: int, model) -> dict:
    """What a checkpoint inside an epoch adds, so that resuming at batch `i`
    equals never stopping: the carried state, the loss window, and the loss
    tables summed so far this epoch (LightRNN in train-table mode)."""
    return {"pos": i, "state": detach_state(state), "window": window.detach(), "window_tokens": window_tokens,
            "tables": model.collected_tables()}
