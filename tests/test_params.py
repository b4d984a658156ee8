"""Parameter counts: closed-form formulas against built modules, presets
counted on `meta` at the paper's vocabulary sizes, and `bench params`."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

import models
from bench.commands import params as cmd_params
from bench.presets import (
    PRESETS,
    paper_preset,
    parse_overrides,
    preset_config,
    preset_names,
    train_settings,
)
from models.params import count_on_meta, param_formula

# The paper's vocabulary sizes (Table 1, given there in thousands) and BillionW's exact size.
PAPER_VOCAB = {"aclw-czech": 206_000, "aclw-german": 339_000, "aclw-spanish": 152_000,
               "aclw-french": 137_000, "aclw-russian": 497_000, "aclw-english": 60_000,
               "billionw": 793_471}
CONFIGS = [dict(), dict(embedding_dim=5, hidden_dim=19, layers=1),
           dict(embedding_dim=12, hidden_dim=20, layers=3)]


# Character-aware models: sizes of the character CNN instead of a word embedding.
CHAR_CONFIGS = [dict(), dict(char_dim=5, kernels=(1, 2), feature_maps=(3, 4), highway=0, hidden_dim=19, layers=1),
                dict(char_dim=4, kernels=(3,), feature_maps=(6,), highway=2, hidden_dim=7, layers=3,
                     words=["ab", "b", "ca", "d", "e", "f", "g"])]
CASES = [(n, c) for n in sorted(models.REGISTRY) for c in (CHAR_CONFIGS if models.needs_words(n) else CONFIGS)]


@pytest.mark.parametrize("V", [7, 37, 50, 64, 1001])
@pytest.mark.parametrize("name, cfg", CASES)
def test_formula_matches_built_module(name, V, cfg):
    if len(cfg.get("words", [None] * V)) != V:
        cfg = {**cfg, "words": [f"{cfg['words'][i % len(cfg['words'])]}{i}" for i in range(V)]}
    built = models.build(name, V, **cfg)
    assert built.param_counts() == param_formula(name, V, **cfg)
    # Every parameter is in exactly one group.
    ids = [id(p) for ps in built.param_groups().values() for p in ps]
    assert sorted(ids) == sorted(id(p) for p in built.parameters())


@pytest.mark.parametrize("name", sorted(models.REGISTRY))
def test_presets_counted_on_meta_at_paper_vocab_sizes(name):
    for preset in preset_names(name):
        cfg = preset_config(name, preset)
        for V in PAPER_VOCAB.values():
            assert count_on_meta(name, V, **cfg) == param_formula(name, V, **cfg), (preset, V)


def test_brnn_at_a_million_words_is_the_papers_4_1g():
    # The paper's Table 4 lists B-RNN at 4.1G: input and output vectors of 2048 for a vocabulary of
    # about a million words (2 x 1e6 x 2048 = 4.10G); at BillionW's 793,471 words the same model is 3.28G.
    cfg = preset_config("blackout", "paper-billionw")
    assert 4.05e9 < count_on_meta("blackout", 1_000_000, **cfg)["total"] < 4.15e9
    assert 3.2e9 < count_on_meta("blackout", PAPER_VOCAB["billionw"], **cfg)["total"] < 3.3e9


def test_paper_scale_counts_match_the_paper():
    # Paper: LightRNN ~17-19M on ACLW (English, the smallest V, gives 17.0M), ~41M on BillionW; HSM reference 1.6G.
    light = [count_on_meta("lightrnn", V, **preset_config("lightrnn", "paper-aclw"))["total"]
             for k, V in PAPER_VOCAB.items() if k.startswith("aclw")]
    assert all(16.9e6 < n < 19e6 for n in light)
    bw = PAPER_VOCAB["billionw"]
    assert 40e6 < count_on_meta("lightrnn", bw, **preset_config("lightrnn", "paper-billionw"))["total"] < 42e6
    assert 1.6e9 < count_on_meta("hsm", bw, **preset_config("hsm", "paper-billionw"))["total"] < 1.7e9


def test_meta_counting_allocates_no_parameter_memory():
    with torch.device("meta"):
        m = models.build("lstm", 793_471, **preset_config("lstm", "paper-billionw"))
    assert all(p.is_meta for p in m.parameters())


def test_adaptive_custom_cutoffs_and_div_value():
    cfg = dict(cutoffs=[10, 100], div_value=2.0, hidden_dim=16)
    assert models.build("adaptive", 1000, **cfg).param_counts() == param_formula("adaptive", 1000, **cfg)


def test_adaptive_rejects_zero_dim_tail_projection():
    with pytest.raises(ValueError, match="hidden_dim >= 16"):
        models.build("adaptive", 100, hidden_dim=9)


def test_preset_errors_name_the_choices():
    with pytest.raises(KeyError, match="paper-aclw"):
        preset_config("lightrnn", "paper")
    with pytest.raises(KeyError, match="lightrnn"):
        preset_config("rnn", "cpu")
    with pytest.raises(ValueError, match="valid keys"):
        preset_config("lstm", "cpu", {"hiden_dim": 3})
    assert preset_config("lstm", "zaremba-small", {"dropout": 0.25})["dropout"] == 0.25
    assert set(preset_names("lightrnn")) >= {"cpu", "paper-aclw", "paper-aclw-200", "paper-aclw-600",
                                        "paper-billionw"}
    assert all(p["why"] for preset in PRESETS.values() for p in preset.models.values())
    assert all(preset.why for preset in PRESETS.values())
    with pytest.raises(KeyError, match="unknown preset"):
        train_settings("paper")


def test_paper_preset_per_dataset():
    assert paper_preset("billionw") == "paper-billionw"
    assert paper_preset("aclw-czech") == paper_preset("ptb") == "paper-aclw"
    for name in models.REGISTRY:  # every model has both
        preset_config(name, paper_preset("billionw")), preset_config(name, paper_preset("ptb"))


def test_parse_overrides():
    got = parse_overrides(["dropout=0", "class_mode=frequency", "cutoffs=[20, 100]", "lr=1e-3"])
    assert got == {"dropout": 0, "class_mode": "frequency", "cutoffs": [20, 100], "lr": 1e-3}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["dropout"])


def _cli(argv: list[str]):
    parser = argparse.ArgumentParser()
    cmd_params.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["params", *argv])
    return args.handler(args)


def test_bench_params_prints_one_json_object(capsys):
    assert _cli(["--model", "hsm", "--vocab", "793471", "--preset", "paper-billionw",
                 "--set", "layers=2"]) == 0
    got = json.loads(capsys.readouterr().out)
    cfg = preset_config("hsm", "paper-billionw", {"layers": 2})
    assert got == {k: param_formula("hsm", 793_471, **cfg)[k]
                   for k in ("total", "embedding", "recurrent", "output")}


def test_bench_params_from_a_dataset(capsys):
    assert _cli(["--model", "lightrnn", "--dataset", "synthetic"]) == 0
    V = len(__import__("datasets").load("synthetic").vocab)
    assert json.loads(capsys.readouterr().out)["total"] == param_formula("lightrnn", V)["total"]


def test_bench_params_bad_input_is_one_clear_error():
    with pytest.raises(KeyError, match="choose from"):
        _cli(["--model", "lightrnn", "--vocab", "100", "--preset", "huge"])
    with pytest.raises(ValueError, match="at least 2"):
        _cli(["--model", "lstm", "--vocab", "0"])
