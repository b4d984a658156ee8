"""Data-parallel pieces (bench/train/distributed.py, collectives.py) with 2 gloo processes on 127.0.0.1.

The workers are this same file run by torchrun (`torchrun ... test_distributed.py
SCENARIO OUTDIR`), so the real torchrun environment path of `init()` is what
gets tested; the single-process references run in the test process itself.
Every launch has a timeout, and gloo collectives one too (LIGHTRNN_DIST_TIMEOUT_S),
so a hung collective fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import models  # noqa: E402
from bench.train import collectives as C  # noqa: E402
from bench.train import distributed as D  # noqa: E402
from datasets.batching import batchify, bptt_batches, eval_segments  # noqa: E402
from models import detach_state  # noqa: E402
from models.bootstrap import round as accumulate  # noqa: E402

V, B, T, STEPS = 40, 4, 5, 4  # tiny LSTM, global batch B, BPTT T


def torchrun_cmd(*args: str) -> tuple[list[str], dict]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env[D.TIMEOUT_ENV] = "30"
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           "--max-restarts=0", *args]
    return cmd, env


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    """One 2-process launch of this file's workers; each rank's results."""
    out = tmp_path_factory.mktemp("ranks")
    cmd, env = torchrun_cmd(__file__, str(out))
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


# ---------------------------------------------------------------- workers
def train_and_eval() -> dict:
    return {name: train_and_eval_one(name) for name in sorted(models.REGISTRY)}


def train_and_eval_one(name: str) -> dict:
    """A few SGD steps on the global batch (this rank's shard), then the
    stream evaluation split over ranks. Same code for 1 and 2 processes."""
    torch.manual_seed(0)
    device = D.init("cpu")
    rank, world = D.rank(), D.world_size()
    size = dict(char_dim=4, kernels=(1, 2), feature_maps=(8, 8)) if models.needs_words(name) else dict(embedding_dim=16)
    model = models.build(name, V, **size, hidden_dim=16, layers=2, dropout=0.0)
    rng = np.random.default_rng(0)
    train, valid = rng.integers(0, V, 403).astype(np.int32), rng.integers(0, V, 97).astype(np.int32)
    data = batchify(D.shard_stream(train, rank, world, batch_size=B), B // world)
    step = D.wrap_ddp(model, device)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    state, losses = model.init_state(B // world), []
    for (x, y), _ in zip(bptt_batches(data, T), range(STEPS), strict=False):
        nll, state = step(x, y, detach_state(state))
        (nll / y.numel()).backward()  # DDP averages the ranks' means: the global mean
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)  # small, so clipping bites
        opt.step()
        opt.zero_grad()
        losses.append(C.all_sum([nll.item()])[0])
    model.eval()
    total = [0.0, 0.0]
    with torch.no_grad():
        for seg in D.eval_share(eval_segments(valid, 8), rank, world):
            nll, _ = model(seg[:-1], seg[1:], model.init_state(seg.size(1)))
            total = [total[0] + nll.item(), total[1] + seg[1:].numel()]
    nll_sum, tokens = C.all_sum(total)
    params = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
    return {"losses": losses, "eval_nll": nll_sum, "eval_tokens": tokens, "params": params,
            "world": world, "grad_bytes": D.grad_bytes(model)}


def loss_matrices(r: int, v: int = 14, k: int = 4):
    g = torch.Generator().manual_seed(100 + r)
    return torch.rand(v, k, generator=g), torch.rand(v, k, generator=g)


def exact_table(loss_row: torch.Tensor, loss_col: torch.Tensor) -> torch.Tensor:
    """Optimal cell (row * C + col) of each word for the summed matrices."""
    cost = (loss_row[:, :, None] + loss_col[:, None, :]).flatten(1)  # [V, R*C]
    words, cells = linear_sum_assignment(cost.numpy())
    return torch.as_tensor(cells[np.argsort(words)], dtype=torch.int64)


def reallocate() -> dict:
    """Each rank has its own loss matrices; rank 0 matches their sum; all
    ranks must end with rank 0's table. The model's own route
    (models/bootstrap/round.py: reallocation_round) runs with the pass and the matching
    stubbed; tiny chunks exercise the chunking."""
    device = D.init("cpu")

    class Table:  # what the round needs of a model: its table, and setting it
        word_table = torch.full((14,), -1, dtype=torch.int64)  # differs from the answer on purpose

        def set_table(self, t):
            self.word_table.copy_(t)

    def match(model, lr, lc, method, counts, move_penalty):
        model.set_table(exact_table(lr, lc))
        return {"cost": 1.5, "penalty": 0.0, "previous_row_cost": 1.0, "row_cost": 0.5}

    accumulate.accumulate_losses = lambda *a: (*loss_matrices(D.rank()), 0.0)
    accumulate.stream_nll = lambda *a: (0.0, 0.0)
    accumulate.match, model = match, Table()
    figures = accumulate.reallocation_round(model, np.zeros(24, np.int32), 4, 5, C.collectives(device))
    both = C.reduce_sum_(loss_matrices(D.rank())[0], dst=None, chunk_mb=1e-5)
    return {"table": model.word_table.tolist(), "figures": figures, "allreduced": both.tolist()}


def lightrnn_round(reallocation: str = "joint") -> dict:
    """A real LightRNN reallocation round: each rank's shard accumulated,
    summed on rank 0, matched once there, the table broadcast (rows-first:
    twice, with a second pass given the new rows)."""
    device = D.init("cpu")
    torch.manual_seed(0)
    model = models.build("lightrnn", 30, embedding_dim=16, hidden_dim=16, layers=1, dropout=0.0,
                         reallocation=reallocation)
    ids = np.random.default_rng(1).integers(0, 30, 203).astype(np.int32)
    before = model.word_table.tolist()
    shard = D.shard_stream(ids, D.rank(), D.world_size(), 4)
    figures = model.end_of_round(shard, 4 // D.world_size(), 5, C.collectives(device))
    return {"before": before, "table": model.word_table.tolist(), "figures": figures}


def _worker(out: Path) -> None:
    result = {"train": train_and_eval(), "lightrnn": lightrnn_round(), "rows_first": lightrnn_round("rows-first"),
              "realloc": reallocate()}
    rank = D.rank()
    from bench.commands import ddp_bytes

    result["measure"] = ddp_bytes.measure(2000)  # last: it ends the process group
    (out / f"rank{rank}.json").write_text(json.dumps(result))


# ---------------------------------------------------------------- tests
def test_shard_stream_is_a_view_matching_the_global_batch(tmp_path):
    ids = np.memmap(tmp_path / "ids.bin", dtype=np.int32, mode="w+", shape=(1003,))
    ids[:] = np.arange(1003)
    glob = batchify(ids, 6)  # [167, 6]
    for r in range(3):
        shard = D.shard_stream(ids, r, 3, batch_size=6)
        assert isinstance(shard, np.memmap) and np.shares_memory(shard, ids)
        assert torch.equal(batchify(shard, 2), glob[:, 2 * r : 2 * r + 2])
    with pytest.raises(ValueError, match="multiple of the world size 4"):
        D.shard_stream(ids, 0, 4, batch_size=6)


def test_single_process_helpers_are_identity():
    assert D.init("cpu") == torch.device("cpu") and (D.rank(), D.world_size()) == (0, 1)
    assert C.all_sum([2.0, 3.0]) == [2.0, 3.0]
    t = torch.arange(6.0)
    assert C.reduce_sum_(t) is t and torch.equal(t, torch.arange(6.0)) and C.any_rank([False, True]) == [False, True]
    m = models.build("lstm", V, embedding_dim=16, hidden_dim=16, layers=1)
    assert D.grad_bytes(m) == 4 * sum(p.numel() for p in m.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("how", ["joint", "rows-first"])
def test_two_ranks_reallocate_lightrnn_like_one_process(two_ranks, how):
    ranks = [r["lightrnn" if how == "joint" else "rows_first"] for r in two_ranks]
    single = lightrnn_round(how)
    assert ranks[0]["table"] == ranks[1]["table"] == single["table"] != single["before"]
    for got in ranks:
        f = got["figures"]
        assert f["world_size"] == 2 and f["moved"] == single["figures"]["moved"] > 0
        np.testing.assert_allclose([f["pass_nll"], f["cost"]], [single["figures"]["pass_nll"],
                                   single["figures"]["cost"]], rtol=1e-5)
    assert ranks[0]["figures"] == ranks[1]["figures"]


@pytest.mark.slow
def test_all_reduce_timing_of_gradient_sizes(two_ranks):
    from bench.commands import ddp_bytes

    rows, none = two_ranks[0]["measure"], two_ranks[1]["measure"]
    assert none == [] and [r["model"] for r in rows] == ddp_bytes.WORD_MODELS
    for r in rows:
        assert r["world"] == 2 and r["all-reduce s"] > 0
        assert r["MB"] * 2**20 == ddp_bytes.bytes_per_step(r["model"], 2000, "paper-aclw")


def test_grad_bytes_table_follows_the_parameter_counts():
    """DDP's per-step traffic = every fp32 gradient; LightRNN's share of a full
    softmax's shrinks as V grows (sqrt(V) against V), the paper's argument."""
    from bench.commands import ddp_bytes

    rows = ddp_bytes.table()
    for row in rows:
        with torch.device("meta"):
            m = models.build("lightrnn", row["V"], **ddp_bytes.preset_config("lightrnn", row["preset"]))
        assert row["lightrnn MB"] * 2**20 == 4 * m.param_counts()["total"]
    aclw = [r["lightrnn / lstm"] for r in sorted(rows[:-1], key=lambda r: r["V"])]
    assert aclw == sorted(aclw, reverse=True) and rows[-1]["lightrnn / lstm"] < aclw[-1]


@pytest.mark.slow
def test_two_ranks_same_loss_params_and_eval_as_one(two_ranks):
    ranks = [r["train"] for r in two_ranks]
    singles = train_and_eval()
    assert sorted(singles) == ["adaptive", "blackout", "charcnn", "chsm", "hsm", "lightrnn", "lstm"]
    for name, single in singles.items():
        assert single["world"] == 1 and ranks[0][name]["world"] == 2
        for got in (r[name] for r in ranks):
            np.testing.assert_allclose(got["losses"], single["losses"], rtol=1e-5, err_msg=name)
            np.testing.assert_allclose(got["params"], single["params"], atol=1e-5, err_msg=name)
            assert got["eval_tokens"] == single["eval_tokens"] == 96
            np.testing.assert_allclose(got["eval_nll"], single["eval_nll"], rtol=1e-5, err_msg=name)
        # training changed the model, so agreement is not trivial
        assert single["losses"][0] != single["losses"][-1]


@pytest.mark.slow
def test_two_ranks_end_with_rank0s_table(two_ranks):
    ranks = [r["realloc"] for r in two_ranks]
    (r0, c0), (r1, c1) = loss_matrices(0), loss_matrices(1)
    want = exact_table(r0 + r1, c0 + c1).tolist()
    assert ranks[0]["table"] == ranks[1]["table"] == want
    assert want != exact_table(r0, c0).tolist()  # the sum mattered
    for got in ranks:
        np.testing.assert_allclose(got["allreduced"], (r0 + r1).tolist(), rtol=1e-6)
        assert got["figures"]["cost"] == 1.5 and got["figures"]["world_size"] == 2
        assert got["figures"]["seconds"] >= got["figures"]["seconds_match"] >= 0
    assert ranks[0]["figures"] == ranks[1]["figures"]  # rank 0's times everywhere


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
