"""The phases of the prepared GPU run (bench/commands/gpu.py orchestrates them
within its budget). Each works on any device; sizes come from the caller."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import models
from bench import meters
from bench.presets import WORD_MODELS, preset_config
from bench.report import records
from bench.rigs.microbench import Rig
from bench.train.distributed import grad_bytes


def model_config(name: str, tiny: bool, preset: str = "paper-aclw") -> dict:
    """paper-aclw: LightRNN 1000x2 against Kim et al.'s LSTM-Word-Small (200x2)."""
    return dict(embedding_dim=16, hidden_dim=16, layers=2) if tiny else preset_config(name, preset)


def check_normalisation(name: str, device: torch.device) -> dict:
    """Worst |logsumexp_V log P| and worst relative |NLL - (-sum gathered log P)|
    over V = 7, 37, 64 (non-square tables included)."""
    norm, nll_err = 0.0, 0.0
    for V in (7, 37, 64):
        torch.manual_seed(V)
        m = models.build(name, V, embedding_dim=16, hidden_dim=16, layers=2, dropout=0.0).to(device).eval()
        ids = torch.randint(0, V, (6, 3), device=device)  # a stream: y is x shifted by one
        x, y = ids[:-1], ids[1:]
        with torch.no_grad():
            lp, _ = m.log_prob(x, m.init_state(3))  # [T, B, V]
            nll, _ = m(x, y, m.init_state(3))
        norm = max(norm, lp.double().logsumexp(-1).abs().max().item())
        gathered = -lp.gather(2, y.unsqueeze(2)).double().sum()
        nll_err = max(nll_err, abs(nll.item() - gathered.item()) / gathered.item())
    return {"logsumexp_err": norm, "nll_rel_err": nll_err, "passed": norm < 1e-5 and nll_err < 1e-5}


def measure_step(name: str, V: int, amp: str | None, sz: dict, tiny: bool, device: torch.device) -> dict:
    """tokens/s of the trainer's step on a fixed Zipfian batch [bptt, batch]."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    meters.reset_peaks(device)
    rig = Rig(name, V, device, batch=sz["batch"], bptt=sz["bptt"], amp=amp, **model_config(name, tiny))
    speed = rig.tokens_per_s(warmup=3, min_steps=5, min_seconds=sz["measure_s"])
    return {**speed, "gpu_peak_alloc_mb": meters.gpu_peak_alloc_mb(device),
            "gpu_nvml_used_mb": meters.gpu_nvml_used_mb(device),
            "params_total": sum(p.numel() for p in rig.model.parameters()),
            "grad_bytes_per_step": grad_bytes(rig.model)}


def realloc_phase(sz: dict, tiny: bool, device: torch.device, fig: dict, deadline: float) -> None:
    """LightRNN's reallocation at the BillionW vocabulary, filling `fig` as it
    goes (so a phase cut short still reports its first part):
    (a) the loss-table pass of the paper's BillionW model (2048x1) on the
        device over Zipf-distributed ids: tokens/s (a BillionW epoch is ~0.8G);
    (b) the matching, on a realistic instance (bench/rigs/realloc_instances.py):
        a pass over a few batches leaves most of 793K words unseen, a tie-ridden
        instance unlike a trained model's, so it would time the wrong problem;
        it stops improving the table when another round would end past
        `deadline` (perf_counter seconds)."""
    from bench.rigs.realloc_instances import make_instance
    from models.bootstrap.passes import accumulate_losses
    from models.realloc import reallocate

    V = fig["vocab_size"] = sz["realloc_vocab"]
    torch.manual_seed(0)
    with torch.device(device):
        model = models.build("lightrnn", V, **model_config("lightrnn", tiny, "paper-billionw")).to(device)
    n = sz["batch"] * (sz["bptt"] * sz["realloc_batches"] + 1)
    ids = np.minimum(np.random.default_rng(0).zipf(1.1, n) - 1, V - 1).astype(np.int32)
    meters.reset_peaks(device)
    t0 = meters.clock(device)
    accumulate_losses(model, ids, sz["batch"], sz["bptt"])
    fig.update(accumulate_tokens=n, seconds_accumulate=meters.clock(device) - t0,
               accumulate_gpu_peak_alloc_mb=meters.gpu_peak_alloc_mb(device))
    fig["accumulate_tokens_per_s"] = n / fig["seconds_accumulate"]
    del model
    t0 = time.perf_counter()
    inst = make_instance(V)
    fig["seconds_instance"] = time.perf_counter() - t0
    res = reallocate(inst["loss_row"], inst["loss_col"], previous=inst["previous"],
                     max_seconds=max(0.0, deadline - time.perf_counter()))
    fig.update({k: v for k, v in res.summary().items() if k != "seconds"}, seconds_match=res.seconds)


def train_phase(sz: dict, device: torch.device, out: Path, data_dir: str | None, per_model_s: float,
                deadline: float) -> list[dict]:
    """`python -m bench run` of every model to a time budget, in a child
    process (its own clock and memory counters); SIGTERM at the deadline makes
    it write `interrupted` records rather than lose them."""
    before = {r["run_id"] for r in records.read(out / "records.jsonl")} if (out / "records.jsonl").exists() else set()
    cmd = [sys.executable, "-m", "bench", "run", *sz["train_args"], "--models", ",".join(WORD_MODELS),
           "--device", device.type, "--max-time", str(per_model_s), "--results", str(out)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    child = subprocess.Popen(cmd)
    try:
        child.wait(timeout=max(1.0, deadline - time.perf_counter()))
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
    if not (out / "records.jsonl").exists():
        return []
    return [r for r in records.read(out / "records.jsonl") if r["run_id"] not in before]
