"""Every registered model: exact normalisation, forward == gathered log_prob,
carried state == one long call, learning end to end, config errors."""

from __future__ import annotations

import pytest
import torch

import models

NAMES = ["lightrnn", "lstm", "hsm", "adaptive", "blackout"]
CHAR_NAMES = ["chsm", "charcnn"]  # character-aware input: sized by its CNN, spelled from `words`
SMALL = dict(embedding_dim=8, hidden_dim=16, layers=2, dropout=0.0)
CHAR_SMALL = dict(char_dim=6, kernels=(1, 2, 3), feature_maps=(4, 5, 6), highway=1, hidden_dim=16, layers=2,
                  dropout=0.0)


def words(V: int) -> list[str]:
    base = ["the", "a", "cat", "sat", "on", "mat", "<unk>", "<eos>", "dog", "ran"]
    return [base[i % len(base)] + str(i // len(base)) for i in range(V)]


def small(name: str, V: int, **kw) -> models.LanguageModel:
    torch.manual_seed(0)
    size = {**CHAR_SMALL, "words": words(V)} if models.needs_words(name) else SMALL
    # Wider init than the paper's 0.05 so the distributions are far from uniform.
    return models.build(name, V, **{**size, "init_range": 0.3, **kw}).eval()


def stream(V: int, T: int, B: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randint(V, (T + 1, B), generator=torch.Generator().manual_seed(seed))
    return w[:-1], w[1:]  # x, y: y[t] == x[t+1]


def test_registry_names():
    assert sorted(models.REGISTRY) == sorted(NAMES + CHAR_NAMES)


@pytest.mark.parametrize("V", [7, 37, 50, 64])
@pytest.mark.parametrize("name", NAMES + CHAR_NAMES)
def test_exact_normalisation_and_forward_matches_log_prob(name, V):
    m = small(name, V)
    x, y = stream(V, 6, 3)
    with torch.no_grad():
        # Start from a non-zero state: warm up on another stretch first.
        _, state = m(*stream(V, 4, 3, seed=1), m.init_state(3))
        lp, _ = m.log_prob(x, state)
        nll, _ = m(x, y, state)
        tok, _ = m.token_nll(x, y, state)
    assert lp.shape == (6, 3, V) and tok.shape == (6, 3)
    assert torch.allclose(lp.logsumexp(-1), torch.zeros(6, 3), atol=1e-5)
    gathered = -lp.gather(2, y.unsqueeze(2)).sum()
    assert torch.allclose(nll, gathered, rtol=1e-5)
    assert torch.allclose(tok.sum(), nll, rtol=1e-5)  # the per-token file's terms
    # each term is the exact distribution's, though no model's token_nll builds [T, B, V]
    assert torch.allclose(tok, -lp.gather(2, y.unsqueeze(2)).squeeze(2), atol=1e-5)
    assert lp.exp().std() > 1e-3  # not trivially uniform


@pytest.mark.parametrize("name", NAMES + CHAR_NAMES)
def test_state_carried_across_calls_equals_one_long_call(name):
    V = 37
    m = small(name, V)
    x, y = stream(V, 9, 2)
    with torch.no_grad():
        whole, s_whole = m(x, y, m.init_state(2))
        a, s = m(x[:4], y[:4], m.init_state(2))
        b, s = m(x[4:], y[4:], models.detach_state(s))
        lp_whole, _ = m.log_prob(x, m.init_state(2))
        lp_a, s2 = m.log_prob(x[:5], m.init_state(2))
        lp_b, _ = m.log_prob(x[5:], s2)
    assert torch.allclose(a + b, whole, rtol=1e-5)
    for u, v in zip(s, s_whole, strict=True):
        assert torch.allclose(u, v, atol=1e-6)
    assert torch.allclose(torch.cat([lp_a, lp_b]), lp_whole, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_overfits_tiny_repeated_corpus(name):
    # A fixed cycle over 12 words: each next word is determined by the last.
    V, B, T = 12, 4, 12
    torch.manual_seed(0)
    cycle = torch.randperm(V)
    ids = cycle.repeat(B * T // V * 2 + 2)
    data = ids[: B * (2 * T + 1)].view(B, -1).t().contiguous()  # [2T+1, B]
    m = models.build(name, V, embedding_dim=16, hidden_dim=32, layers=1, dropout=0.0,
                     init_range=0.1).train()
    opt = torch.optim.Adam(m.parameters(), lr=0.03)
    for _ in range(150):
        state = m.init_state(B)
        for i in (0, T):  # two BPTT windows, state carried
            nll, state = m(data[i:i + T], data[i + 1:i + T + 1], models.detach_state(state))
            opt.zero_grad()
            (nll / (T * B)).backward()
            opt.step()
    with torch.no_grad():
        nll, _ = m.eval()(data[T:2 * T], data[T + 1:], m.init_state(B))
    assert nll.item() / (T * B) < 0.05  # from log(12) = 2.48 nats at the start


@pytest.mark.parametrize("name", NAMES + CHAR_NAMES)
def test_unknown_config_key_names_valid_ones(name):
    with pytest.raises(ValueError, match="valid keys.*hidden_dim"):
        models.build(name, 10, hiden_dim=3)


def test_unknown_model_names_choices():
    with pytest.raises(KeyError, match="lightrnn"):
        models.build("gpt", 10)


@pytest.mark.parametrize("name", ["lstm", "hsm", "adaptive"])
def test_baselines_end_of_round_does_nothing(name):
    m = small(name, 7)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    assert m.end_of_round(torch.arange(20), 2, 5) == {}
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_hsm_classes_equal_sized_and_frequency_bins():
    for mode in ("random", "frequency"):
        m = small("hsm", 50, class_mode=mode)
        sizes = torch.bincount(m.word_class, minlength=m.n_classes)
        assert m.n_classes == 7 and int(sizes.max() - sizes.min()) <= 1
        # class_words is the inverse of (word_class, word_slot)
        assert torch.equal(m.class_words[m.word_class, m.word_slot], torch.arange(50))
    # Padded slots (K*S - V of them) are masked: no probability, no gradient.
    m = small("hsm", 50).train()
    nll, _ = m(*stream(50, 5, 3), m.init_state(3))
    nll.backward()
    pad = m.class_words < 0
    assert int(pad.sum()) == 7 * 8 - 50 and torch.all(m.word_weight.grad[pad] == 0)
    freq = small("hsm", 50, class_mode="frequency").word_class
    assert torch.all(freq[1:] >= freq[:-1])  # consecutive id blocks
    with pytest.raises(ValueError, match="random"):
        small("hsm", 50, class_mode="alphabetical")


@pytest.mark.parametrize("name", ["hsm", "chsm"])
@pytest.mark.parametrize("way", ["chunks", "class-gemms"])
def test_hsm_output_ways_equal_one_gather(name, way, monkeypatch):
    """The word logits three ways give the same NLL and the same gradients:
    one [N, S, h] gather (the reference), the gather in chunks recomputed in
    backward (past GATHER_BYTES, on CUDA), and one GEMM per class (CPU)."""
    from models import hsm

    x, y = stream(50, 6, 4)

    def nll_and_grads():
        m = small(name, 50).train()
        nll, _ = m.token_nll(x, y, m.init_state(4))
        nll.sum().backward()
        with torch.no_grad():
            ev = m.eval().token_nll(x, y, m.init_state(4))[0]
        return nll.detach(), ev, {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}

    monkeypatch.setattr(hsm, "CLASS_GEMMS_ON", ())  # the gathered way, as on CUDA
    whole = nll_and_grads()
    if way == "chunks":
        per_token = small(name, 50).class_size * 16 * 4  # S * h * fp32
        monkeypatch.setattr(hsm, "GATHER_BYTES", 5 * per_token)  # 24 tokens -> chunks of 5
    else:
        monkeypatch.setattr(hsm, "CLASS_GEMMS_ON", ("cpu",))
    other = nll_and_grads()
    assert torch.allclose(whole[0], other[0], atol=1e-6) and torch.allclose(whole[1], other[1], atol=1e-6)
    assert whole[2].keys() == other[2].keys()
    assert all(torch.allclose(whole[2][k], other[2][k], atol=1e-6) for k in whole[2])
