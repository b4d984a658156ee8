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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from bench import meters
from bench.train import distributed, schedule
from bench.train.checkpoint import load as load_checkpoint
from bench.train.checkpoint import save as save_checkpoint
from bench.train.config import TrainConfig
from bench.train.evaluate import evaluate
from bench.train.step import sgd_step
from datasets.batching import batchify, bptt_batches, num_batches


@dataclass
class Result:
    status: str  # ok | oom | diverged | interrupted
    metrics: dict
    curve: list  # [step, seconds (train + realloc), valid ppl]
    rounds: list = field(default_factory=list)
    stop_reason: str = ""
    error: str | None = None
    # Final per-target log-probabilities {"valid": [n-1], "test": [n-1]} float32,
    # for interpolation; one-process runs that ended ok only.
    token_logprobs: dict | None = None


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
    progress = progress and distributed.is_main()  # data-parallel: only rank 0 reports
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    same = {k: v for k, v in asdict(cfg).items() if k not in ("epochs", "max_time", "log_every")}
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
        return ppl

    def round_entry(extra: dict) -> dict:
        entry = {"round": len(st["rounds"]), "epoch": st["epoch"], "step": st["step"], **extra}
        if on_round is not None:
            entry.update(on_round(model))
        return json.loads(json.dumps(entry, default=_plain))  # JSON-ready (and weights_only-safe)

    # Data-parallel (bench/train/distributed.py): DDP averages gradients over ranks;
    # rank r trains on its contiguous shard = columns [r*B/W, (r+1)*B/W) of the global batch.
    world = distributed.world_size()
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
            if model.reallocates and cfg.realloc_tables == "train":
                model.collect_tables(True)  # this epoch's tables, if the round ends with it
            state = model.init_state(local_b)
            window, window_tokens = torch.zeros((), device=device), 0
            train_clock.start()
            for i, (x, y) in enumerate(bptt_batches(data, cfg.bptt)):
                stop = should_stop()
                time_up = cfg.max_time is not None and i % cfg.log_every == 0 and seconds() >= cfg.max_time
                if world > 1:  # ranks stop at the same step, else one waits forever in DDP's all-reduce
                    stop, time_up = distributed.any_rank([stop, time_up]) if i % cfg.log_every == 0 else (False, False)
                if stop:
                    status = reason = "interrupted"
                    break
                if time_up:
                    reason = "max_time"
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
                st["rounds"][-1]["valid_ppl_after"] = after = valid_point()
                schedule.after_move(cfg, st, opt, after)
            if progress:
                tqdm.write(f"{desc} epoch {st['epoch']}: valid ppl {ppl:.2f}, lr {st['lr']:.4g}, {seconds():.0f} s")
            if checkpoint is not None and distributed.is_main():
                save_checkpoint(checkpoint, model, opt, st, same, meta or {})
            if st["lr"] < cfg.lr_floor:
                reason = "lr_floor"
        if reason == "max_time":
            valid_point()
    except Diverged as e:
        status, reason, error = "diverged", "diverged", str(e)
    except (torch.OutOfMemoryError, MemoryError) as e:
        status, reason, error = "oom", "oom", str(e).splitlines()[0] if str(e) else type(e).__name__
        if device.type == "cuda":
            torch.cuda.empty_cache()
    finally:
        bar.close()
    if train_clock.running:  # stopped mid-epoch by a fault
        train_clock.stop()
    st["train_s"] = train_clock.elapsed
    metrics, token_lp = _metrics(model, corpus, cfg, device, st, status)
    return Result(status, metrics, st["curve"], st["rounds"], reason, error, token_lp)


def _metrics(model, corpus, cfg, device, st, status) -> tuple[dict, dict | None]:
    counts = model.param_counts()
    valid = st["curve"][-1][2] if st["curve"] else None
    test, token_lp = None, None
    if status == "ok":
        clock = meters.Stopwatch(device)
        clock.start()
        if distributed.world_size() == 1:
            test, test_lp = evaluate(model, corpus.test, cfg, device, per_token=True)
            token_lp = {"valid": evaluate(model, corpus.valid, cfg, device, per_token=True)[1], "test": test_lp}
        else:
            test = evaluate(model, corpus.test, cfg, device)
        test = test if math.isfinite(test) else None  # JSON has no inf
        st["eval_s"] += clock.stop()
    train_s, realloc_s = st["train_s"], st["realloc_s"]
    return {
        "valid_ppl": valid, "test_ppl": test, "best_valid_ppl": min((c[2] for c in st["curve"] if c[2] is not None), default=None),
        "params_total": counts["total"], "params_embedding": counts["embedding"],
        "params_output": counts["output"], "epochs": st["epoch"], "steps": st["step"], "final_lr": st["lr"],
        "train_s": train_s, "realloc_s": realloc_s, "eval_s": st["eval_s"],
        "realloc_ratio": realloc_s / train_s if train_s > 0 else None,
        "tokens_per_s": st["tokens"] / train_s if train_s > 0 else None,
        "gpu_peak_alloc_mb": meters.gpu_peak_alloc_mb(device), "gpu_nvml_used_mb": meters.gpu_nvml_used_mb(device),
        "cpu_peak_rss_mb": meters.cpu_peak_rss_mb(),
        "world_size": distributed.world_size(), "grad_bytes_per_step": distributed.grad_bytes(model),
    }, token_lp
