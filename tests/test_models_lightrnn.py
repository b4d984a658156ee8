"""LightRNN specifics: the word table, the masked column softmax given the
true row, table changes, sampling, checkpoints."""

from __future__ import annotations

import copy
import math
import sys
import types

import pytest
import torch

import models


def light(V: int, **kw) -> models.LanguageModel:
    torch.manual_seed(0)
    cfg = dict(embedding_dim=8, hidden_dim=16, layers=2, dropout=0.0, init_range=0.3)
    return models.build("lightrnn", V, **{**cfg, **kw}).eval()


@pytest.mark.parametrize("V", [7, 37, 50, 64, 1000])
def test_table_shape_and_random_allocation(V):
    m = light(V)
    C = math.ceil(math.sqrt(V))
    assert (m.cols, m.rows) == (C, math.ceil(V / C))
    t = m.word_table
    assert t.dtype == torch.int64 and t.shape == (V,)
    assert torch.unique(t).numel() == V and int(t.max()) < m.rows * m.cols
    assert torch.equal(m.cell_word[t], torch.arange(V))  # inverse map
    assert int(m.filled.sum()) == V and bool(m.filled.any(1).all())  # no empty row
    assert torch.equal(light(V, table_seed=0).word_table, t)
    if V > 7:
        assert not torch.equal(light(V, table_seed=1).word_table, t)


def test_column_distribution_depends_on_true_row():
    m = light(50)
    x = torch.tensor([[3, 3]])
    # Two targets in different rows: same history, different row fed.
    a, b = 0, int((m.word_row != m.word_row[0]).nonzero()[0])
    with torch.no_grad():
        row_lp, col_lp, _ = m.row_col_logprobs(x, torch.tensor([[a, b]]), m.init_state(2))
    assert torch.allclose(row_lp[0, 0], row_lp[0, 1])  # rows: same history
    assert not torch.allclose(col_lp[0, 0], col_lp[0, 1], atol=1e-3)
    # And it is the distribution log_prob uses for every word of that row.
    with torch.no_grad():
        lp, _ = m.log_prob(x, m.init_state(2))
    words = (m.word_row == m.word_row[b]).nonzero().squeeze(1)
    expect = row_lp[0, 1, m.word_row[b]] + col_lp[0, 1, m.word_col[words]]
    assert torch.allclose(lp[0, 1, words], expect, atol=1e-5)


def test_empty_cells_get_zero_probability():
    V = 7  # 3 x 3 table, 2 empty cells
    m = light(V)
    assert int((~m.filled).sum()) == 2
    x = torch.randint(V, (5, 4), generator=torch.Generator().manual_seed(0))
    y = torch.randint(V, (5, 4), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, col_lp, _ = m.row_col_logprobs(x, y, m.init_state(4))
    p = col_lp.exp()
    empty = ~m.filled[m.word_row[y]]  # [T, B, C]
    assert torch.all(p[empty] == 0)
    assert torch.allclose(p.sum(-1), torch.ones(5, 4), atol=1e-6)


def test_changing_table_changes_which_vectors_a_word_uses_and_nothing_else():
    V = 37
    m = light(V)
    perm = torch.randperm(V, generator=torch.Generator().manual_seed(3))  # word w -> perm[w]
    m2 = copy.deepcopy(m)
    new = torch.empty_like(m.word_table)
    new[perm] = m.word_table  # word perm[w] now sits in w's old cell
    m2.set_table(new)
    assert torch.equal(m2.word_row[perm], m.word_row) and torch.equal(m2.word_col[perm], m.word_col)
    for (k, p), p2 in zip(m.named_parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, p2), k
    x = torch.randint(V, (6, 3), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        lp, _ = m.log_prob(x, m.init_state(3))
        lp2, _ = m2.log_prob(perm[x], m2.init_state(3))
    assert torch.allclose(lp2[..., perm], lp, atol=1e-6)
    assert not torch.allclose(lp2, lp, atol=1e-3)


def test_set_table_rejects_bad_tables_and_keeps_the_old_one():
    m = light(7)
    old = m.word_table.clone()
    bad = [old[:-1], old.float(), torch.cat([old[:-1], old[:1]]), old + 100, old - 100]
    for t in bad:
        with pytest.raises(ValueError, match="word table"):
            m.set_table(t)
        assert torch.equal(m.word_table, old)


def test_checkpoint_keeps_the_table():
    a, b = light(37, table_seed=1), light(37, table_seed=2)
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.word_table, a.word_table)
    assert torch.equal(b.cell_word, a.cell_word) and torch.equal(b.filled, a.filled)
    x = torch.randint(37, (4, 2))
    with torch.no_grad():
        assert torch.equal(a.log_prob(x, a.init_state(2))[0], b.log_prob(x, b.init_state(2))[0])


def test_sampling_greedy_and_consistent_state():
    V = 7
    m = light(V)
    x = torch.randint(V, (4, 3), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, state = m.log_prob(x, m.init_state(3))
        words, s_sample = m.sample(state, 5, generator=torch.Generator().manual_seed(0))
        # The state after sampling is the state after reading those words.
        _, s_read = m.log_prob(words, state)
        greedy, _ = m.sample(state, 1, greedy=True)
    assert words.shape == (5, 3) and int(words.min()) >= 0 and int(words.max()) < V
    for u, v in zip(s_sample, s_read, strict=True):
        assert torch.allclose(u, v, atol=1e-6)
    # Greedy: best row, then the best column given that row.
    row_lp = torch.log_softmax(m.out_row(state[0][-1]), -1)
    assert torch.equal(m.word_row[greedy[0]], row_lp.argmax(-1))


def test_sampling_follows_the_distribution():
    V = 7
    m = light(V)
    state = tuple(s.expand(-1, 4000, -1).contiguous() for s in m.init_state(1))
    with torch.no_grad():
        words, _ = m.sample(state, 1, generator=torch.Generator().manual_seed(0))
        # P(first word | fresh state): row from the zero state, column given that row.
        row_lp = torch.log_softmax(m.out_row.bias, -1)
        o, _ = m.body(m.in_row(m.word_row).unsqueeze(0), m.body.init_state(V))
        col_lp = m._col_logsoftmax(o[0], m.word_row)
        p = (row_lp[m.word_row] + col_lp[torch.arange(V), m.word_col]).exp()
    freq = torch.bincount(words[0], minlength=V) / 4000
    assert torch.allclose(p.sum(), torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(freq, p, atol=0.03)


def test_end_of_round_calls_the_reallocation_round(monkeypatch):
    # Stand-in for models.bootstrap.round: checks the hook's wiring only.
    from models.base import LOCAL

    seen = {}

    def fake_round(model, train_ids, batch_size, bptt, comm, move_penalty, tables, rows_first):
        seen["args"] = (model, batch_size, bptt, comm, move_penalty, tables, rows_first)
        return {"moved": 0}

    fake = types.ModuleType("models.bootstrap.round")
    fake.reallocation_round = fake_round
    monkeypatch.setitem(sys.modules, "models.bootstrap.round", fake)
    m = light(7)
    assert m.end_of_round(torch.arange(30), 2, 5) == {"moved": 0}
    assert seen["args"] == (m, 2, 5, LOCAL, 0.0, None, False)
