"""The training step's sparse row gradients: the same update as dense ones."""

import pytest
import torch

import models
from bench.rigs.microbench import zipf_ids
from bench.train.step import clip_grad_norm, sgd_step, sparse_rows

V, T, B = 300, 5, 4  # 20 tokens a step: the V-row tables get sparse gradients


def _pair(name: str):
    """Two identical models (same init), the second with sparse row gradients."""
    built = []
    for _ in range(2):
        torch.manual_seed(0)
        built.append(models.build(name, V, embedding_dim=16, hidden_dim=16, layers=2, dropout=0.0))
    return built


@pytest.mark.parametrize("name", ["lstm", "hsm", "adaptive"])
@pytest.mark.parametrize("clip", [0.05, 1e6])  # clipping bites / does not
def test_sparse_row_gradients_update_as_dense_ones(name, clip):
    dense, sparse = _pair(name)
    assert sparse_rows(sparse, T * B) == ["embed"] and not dense.embed.sparse
    ids = zipf_ids(V, (3 * T + 1, B), seed=1)  # Zipfian: repeated rows within a step
    opts = [torch.optim.SGD(m.parameters(), lr=0.7) for m in (dense, sparse)]
    states = [m.init_state(B) for m in (dense, sparse)]
    for k in range(3):
        x, y = ids[k * T : (k + 1) * T], ids[k * T + 1 : (k + 1) * T + 1]
        for i, m in enumerate((dense, sparse)):
            _, states[i] = sgd_step(m, opts[i], x, y, states[i], clip)
        assert sparse.embed.weight.grad.is_sparse
        # the clipped gradients agree, row by row (a sparse row occurs once, summed)
        torch.testing.assert_close(sparse.embed.weight.grad.to_dense(), dense.embed.weight.grad)
    for (n, a), b in zip(dense.named_parameters(), sparse.parameters(), strict=True):
        torch.testing.assert_close(a, b, msg=n)


def test_clip_grad_norm_is_torchs_on_dense_and_the_coalesced_norm_on_sparse():
    g = torch.Generator().manual_seed(0)
    dense = [torch.nn.Parameter(torch.zeros(6, 3)) for _ in range(2)]
    for p in dense:
        p.grad = torch.randn(6, 3, generator=g)
    ref = [torch.nn.Parameter(p.detach().clone()) for p in dense]
    for p, q in zip(ref, dense, strict=True):
        p.grad = q.grad.clone()
    torch.testing.assert_close(clip_grad_norm(dense, 0.5), torch.nn.utils.clip_grad_norm_(ref, 0.5))
    for p, q in zip(ref, dense, strict=True):
        torch.testing.assert_close(p.grad, q.grad)
    # rows 1 and 1 again and 4: the norm is that of the summed rows
    p = torch.nn.Parameter(torch.zeros(6, 3))
    vals = torch.tensor([[3.0, 0, 0], [1.0, 0, 0], [0, 0, 2.0]])
    p.grad = torch.sparse_coo_tensor(torch.tensor([[1, 1, 4]]), vals, (6, 3), check_invariants=True)
    assert clip_grad_norm([p], 1.0).item() == pytest.approx((16 + 4) ** 0.5)
    assert p.grad.is_sparse and p.grad.is_coalesced()
    assert p.grad.to_dense().norm().item() == pytest.approx(1.0, rel=1e-5)


def test_small_tables_stay_dense():
    """LightRNN's row and column tables (R, C ~ sqrt V rows) and character
    tables: a step touches most of their rows, so a dense gradient is cheaper."""
    m = models.build("lightrnn", V, embedding_dim=16, hidden_dim=16, layers=1, dropout=0.0)
    assert sparse_rows(m, T * B) == [] and not any(e.sparse for e in m.modules() if isinstance(e, torch.nn.Embedding))
    assert sparse_rows(models.build("lstm", V, embedding_dim=8, hidden_dim=8), V) == []  # V rows, V tokens
