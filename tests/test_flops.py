"""models/flops.py against torch's own FLOP counter (FlopCounterMode, which
counts matmuls and convolutions but not nn.LSTM's fused op) and, for the
LSTM, against the gate weights' element counts."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import models
from bench.rigs.microbench import zipf_ids
from models.flops import forward_macs_per_token, limit_tokens_per_s

V = 3000


@pytest.mark.parametrize("name", sorted(models.REGISTRY))
def test_counts_match_torch_flop_counter(name):
    torch.manual_seed(0)
    kw = {"words": [f"w{i}{'x' * (i % 7)}" for i in range(V)]} if models.needs_words(name) else {}
    size = dict(hidden_dim=48, layers=2) | ({} if kw else dict(embedding_dim=32))  # char models: CNN-sized input
    m = models.build(name, V, **size, **kw).eval()
    ids = zipf_ids(V, (13, 5), seed=1)
    x, y = ids[:-1], ids[1:]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        if name == "blackout":  # its limit is its training step's: the sampled forward
            m.train()(x, y, m.init_state(5))
        else:
            m.token_nll(x, y, m.init_state(5))
    got = forward_macs_per_token(m, y, x)
    # Everything but the LSTM, per target token: 2 FLOPs a multiply-add.
    assert got["input"] + got["output"] == pytest.approx(fc.get_total_flops() / 2 / y.numel(), rel=1e-9)
    lstm = m.body.lstm
    gates = sum(getattr(lstm, f"weight_{k}_l{i}").numel() for i in range(lstm.num_layers) for k in ("ih", "hh"))
    assert got["recurrent"] == gates * (2 if name == "lightrnn" else 1)  # LightRNN: two steps a word
    assert got["total"] == got["input"] + got["recurrent"] + got["output"]


def test_adaptive_tail_follows_the_targets_and_zipf_without_them():
    m = models.build("adaptive", V, embedding_dim=16, hidden_dim=64, layers=1)
    head_only = forward_macs_per_token(m, torch.zeros(10, dtype=torch.long))["output"]
    assert head_only == m.out.head.out_features * 64
    assert forward_macs_per_token(m)["output"] > head_only  # Zipf puts some mass in the tail


def test_limit_is_three_forwards_at_the_gemm_rate():
    assert limit_tokens_per_s(1e6, 6e9) == pytest.approx(1000.0)
