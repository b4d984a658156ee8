"""LightRNN's ablations (models/ablations.py): each exactly normalised over V,
its forward equal to its gathered log_prob, its carried state equal to one
long call; (c) checked against a step-by-step transcription, and its loss
tables separable: a table's separable cost is the NLL it gets with the
inputs held fixed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import models
from models.bootstrap.passes import accumulate_losses
from models.realloc.bounds import table_cost

NAMES = sorted(models.ABLATIONS)


def build(name: str, V: int):
    torch.manual_seed(0)
    return models.build(name, V, embedding_dim=8, hidden_dim=12, layers=2, dropout=0.0, init_range=0.4).eval()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("V", [23, 36])  # 5 x 5 with 2 empty cells; 6 x 6 full
def test_normalised_and_forward_equals_log_prob(name, V):
    m = build(name, V)
    s = torch.randint(V, (7, 3), generator=torch.Generator().manual_seed(V))
    x, y = s[:-1], s[1:]  # a stream: x[t + 1] == y[t], as every model's forward assumes
    with torch.no_grad():
        lp, _ = m.log_prob(x, m.init_state(3))  # [T, B, V]
        nll, _ = m(x, y, m.init_state(3))
        tok, _ = m.token_nll(x, y, m.init_state(3))
    assert lp.shape == (6, 3, V)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(6, 3), atol=1e-5)
    gathered = -lp.gather(2, y.unsqueeze(2)).squeeze(2)
    assert torch.allclose(tok, gathered, atol=1e-5) and torch.allclose(nll, gathered.sum(), atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_carried_state_equals_one_long_call(name):
    m = build(name, 23)
    s = torch.randint(23, (9, 2), generator=torch.Generator().manual_seed(1))
    x, y = s[:-1], s[1:]
    with torch.no_grad():
        whole, _ = m.token_nll(x, y, m.init_state(2))
        a, st = m.token_nll(x[:3], y[:3], m.init_state(2))
        b, _ = m.token_nll(x[3:], y[3:], st)
    assert torch.allclose(whole, torch.cat([a, b]), atol=1e-5)


def test_ablations_change_one_half_each():
    light, a, b = (build(n, 100) for n in ("lightrnn", "ablation-table-input", "ablation-table-output"))
    pl, pa, pb = (m.param_counts() for m in (light, a, b))
    assert pa["embedding"] == pl["embedding"] and pa["output"] == 12 * 100 + 100  # full softmax: V x h + V
    assert pb["output"] == pl["output"] and pb["embedding"] == 8 * (100 + light.rows)  # V-row input + row vectors
    assert pa["recurrent"] == pb["recurrent"] == pl["recurrent"]
    assert not a.reallocates and b.reallocates


def test_argmax_row_against_a_step_by_step_transcription():
    m = build("ablation-argmax-row", 23)
    x = torch.tensor([[4, 9], [0, 22], [17, 3]])
    y = torch.tensor([[0, 22], [17, 3], [5, 5]])
    with torch.no_grad():
        got, _ = m.token_nll(x, y, m.init_state(2))
        state = m.init_state(2)
        out = torch.zeros(2, 12)  # a fresh state's top output
        empty = (~m.filled).nonzero()
        for t in range(3):
            r_hat = m.out_row(out).argmax(-1)  # the row fed for x[t]: predicted, never x[t]'s own
            o, state = m.body(m.in_row(r_hat)[None], state)
            o, state = m.body(m.in_col(m.word_col[x[t]])[None], state)
            out = o[0]
            p_row = F.softmax(m.out_row(out), -1)  # [B, R] for y[t]
            o2, _ = m.body(m.in_row(p_row.argmax(-1))[None], state)
            p_col = F.softmax(m.out_col(o2[0]), -1)  # [B, C], whatever y[t]'s row
            z = 1 - (p_row[:, empty[:, 0]] * p_col[:, empty[:, 1]]).sum(-1)
            p = p_row.gather(1, m.word_row[y[t]][:, None])[:, 0] * p_col.gather(1, m.word_col[y[t]][:, None])[:, 0] / z
            assert torch.allclose(got[t], -p.log(), atol=1e-5)


def test_argmax_row_tables_separate_exactly():
    V = 36  # a full 6 x 6 table: Z = 1
    m = build("ablation-argmax-row", V)
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(V, (203,), generator=g).numpy()
    x = torch.as_tensor(ids[:-1]).view(-1, 1)[:20]
    with torch.no_grad():  # the column scores do not depend on the targets' rows
        a = m.row_col_logprobs(x, torch.randint(V, x.shape, generator=g), m.init_state(1))
        b = m.row_col_logprobs(x, torch.randint(V, x.shape, generator=g), m.init_state(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    loss_row, loss_col, nll = accumulate_losses(m, ids, 4, 5)
    A = m.word_table.numpy()
    assert table_cost(loss_row.numpy(), loss_col.numpy(), A) == pytest.approx(nll, rel=1e-5)
    # Any other table B, the inputs held fixed (the same scores), targets scored by B:
    B = np.random.default_rng(0).permutation(V)
    rB, cB = torch.as_tensor(B // m.cols), torch.as_tensor(B % m.cols)
    measured = 0.0
    from models.bootstrap.passes import _eval_batches

    state = m.init_state(4)
    with torch.no_grad():
        for xb, yb in _eval_batches(m, ids, 4, 5):
            row_lp, col_lp, state = m.row_col_logprobs(xb, yb, state)
            measured -= float(row_lp.gather(2, rB[yb].unsqueeze(2)).sum() + col_lp.gather(2, cB[yb].unsqueeze(2)).sum())
    assert table_cost(loss_row.numpy(), loss_col.numpy(), B) == pytest.approx(measured, rel=1e-5)


def test_argmax_row_pass_total_is_exact_with_empty_cells():
    m = build("ablation-argmax-row", 23)
    ids = torch.randint(23, (161,), generator=torch.Generator().manual_seed(3)).numpy()
    loss_row, loss_col, nll = accumulate_losses(m, ids, 4, 5)
    assert table_cost(loss_row.numpy(), loss_col.numpy(), m.word_table.numpy()) == pytest.approx(nll, rel=1e-5)
    # and nll is the stream's exact NLL under the model (log Z folded into the row scores)
    from models.bootstrap.passes import _eval_batches

    total, state = 0.0, m.init_state(4)
    with torch.no_grad():
        for xb, yb in _eval_batches(m, ids, 4, 5):
            lp, state = m.log_prob(xb, state)
            total -= float(lp.gather(2, yb.unsqueeze(2)).sum())
    assert total == pytest.approx(nll, rel=1e-5)
