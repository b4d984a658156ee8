"""The one preset table: each named preset gives the training settings and each
model's settings, with a one-line why. Command-line flags override both.

    cfg = preset_config("lightrnn", "paper-aclw", {"dropout": 0.3})
    model = models.build("lightrnn", V, **cfg)
    tcfg = TrainConfig(**train_settings("paper-aclw"))

Adding a model or a preset is an edit here (and the model's class in models/).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import models

# The default run's order: baselines first, as in the paper's tables; "kn" is
# the Kneser-Ney n-gram (bench/train/kn_run.py), the rest are neural models.
KN = "kn"
ORDER = [KN, *models.REGISTRY]
# The models with a word input (the GPU run and the DDP byte count cover these).
WORD_MODELS = [m for m in models.REGISTRY if not models.needs_words(m)]


@dataclass(frozen=True)
class Preset:
    why: str
    train: dict  # TrainConfig fields
    models: dict  # model name -> {"why": ..., "config": {...}}


def _m(why: str, **config) -> dict:
    return {"why": why, "config": config}


# Kim et al. 2016's LSTM-Word-Small: the HSM / full-softmax baseline on ACLW.
_KIM_SMALL = dict(embedding_dim=200, hidden_dim=200, layers=2, dropout=0.5)
# Kim et al.'s LSTM-CharCNN-Small (their Table 2; yoonkim/lstm-char-cnn's scripts):
# char embeddings 15, widths 1-6 with 25 x width filters, 1 highway layer,
# 2 x 300 LSTM, dropout 0.5. The CNN sizes are the model defaults (models/chsm.py).
_KIM_CHAR_SMALL = dict(hidden_dim=300, layers=2, dropout=0.5)
# Kim et al. (yoonkim/lstm-char-cnn main.lua): 25 epochs, batch 20, 35 steps, lr 1
# halved when valid ppl improves by less than 1, gradient norm 5, no lr floor.
_KIM_SCHEDULE = dict(epochs=25, batch_size=20, bptt=35, lr_decay_rule="kim", lr_floor=0.0)

# BlackOut (models/blackout.py): K samples a step from q ∝ unigram^alpha. K = 500 and
# alpha = 0.4 are this harness's reading of Ji et al. (results/NOTES.md says what was checked).
_BLACKOUT = dict(objective="blackout", samples=500, alpha=0.4)
_CPU_WORD = _m("Kim et al.'s small 200/200 x 2 size, light dropout: trains in minutes on one CPU thread",
               **dict(_KIM_SMALL, dropout=0.1))
# alpha 0.75 at the cpu sizes: at the paper's 0.4 B-RNN never left the default corpus's unigram plateau (results/NOTES.md).
_CPU_BLACKOUT = _m("the cpu LSTM's sizes trained by BlackOut, proposal unigram^0.75",
                   **_CPU_WORD["config"], **dict(_BLACKOUT, alpha=0.75))
_ACLW_WORD = _m("Kim et al.'s LSTM-Word-Small, the paper's ACLW baseline size", **_KIM_SMALL)
# Table 4's 1024-dim reference: 793K x 1024 input + output vectors = the 1.6G HSM.
_BILLIONW_WORD = _m("the paper's 1024-dim BillionW reference (Table 4, ~1.6G params)",
                    embedding_dim=1024, hidden_dim=1024, layers=1, dropout=0.5)
_ACLW_CHAR = _m("the paper's C-HSM on ACLW: Kim et al.'s Small model", **_KIM_CHAR_SMALL)


def _paper_aclw_lightrnn(dim: int, why: str) -> dict:
    return _m(why, embedding_dim=dim, hidden_dim=dim, layers=2, dropout=0.5)


_PAPER_ACLW_MODELS = {
    "lstm": _ACLW_WORD, "hsm": _ACLW_WORD, "adaptive": _ACLW_WORD,  # adaptive: not in the paper, sized alike
    "blackout": _m("BlackOut at Kim et al.'s small size, like the other baselines", **_KIM_SMALL, **_BLACKOUT),
    "chsm": _ACLW_CHAR, "charcnn": _ACLW_CHAR,
    "lightrnn": _paper_aclw_lightrnn(1000, "the paper's ACLW LightRNN: 1000/1000, 2 layers (~17-19M params)"),
}

_CPU_TRAIN = dict(epochs=10, rounds=2, batch_size=10, lr_decay_start=7)
# LightRNN's bootstrap variants at the cpu preset's sizes (bench/train/schedule.py).
# A stall ends a round while moves remain, and halves the lr after (no fixed decay start).
_BOOT = dict(_CPU_TRAIN, rounds=4, round_schedule="plateau", lr_decay_start=None)
# The same rounds on the cpu preset's own lr schedule (the suite's LightRNN).
_ROUNDS = dict(_CPU_TRAIN, rounds=4, round_schedule="plateau")


def _light(why: str, **config) -> dict:
    return {"lightrnn": _m(why, **dict(_CPU_WORD["config"], **config))}


PRESETS: dict[str, Preset] = {
    "cpu": Preset(
        "CPU-sized, NOT the paper's settings: the default run in ~10 minutes on 2 cores; batch 10 and lr 1 "
        "held 7 epochs so the softmax baselines leave the unigram plateau (results/NOTES.md)",
        _CPU_TRAIN,
        {"lstm": _CPU_WORD, "hsm": _CPU_WORD, "adaptive": _CPU_WORD, "lightrnn": _CPU_WORD, "blackout": _CPU_BLACKOUT,
         **dict.fromkeys(("chsm", "charcnn"), _m(
             "Kim et al.'s Small character CNN, the CPU preset's 200 x 2 LSTM and light dropout",
             hidden_dim=200, layers=2, dropout=0.1))}),
    "cpu-rounds": Preset("the cpu preset's training (lr 1 for 7 epochs, then halved each epoch) with the paper's "
                         "rounds: a round ends at a validation stall while the lr is still 1, up to 3 moves while "
                         "a round beats the last", _ROUNDS, _light("the cpu preset's LightRNN")),
    "cpu-bootstrap": Preset("cpu-rounds, but rounds also end after the lr has decayed (a move at lr 1/64 a few "
                            "epochs before the lr floor: results/suite-real-cpu/README.md)",
                            dict(_ROUNDS, round_full_lr=False), _light("the cpu preset's LightRNN")),
    "cpu-no-move": Preset("the suite's control for cpu-rounds: the same training, LightRNN's random table held "
                          "fixed (one round)", dict(_CPU_TRAIN, rounds=1),
                          _light("the cpu preset's LightRNN, never reallocated")),
    # Table 2's analog at CPU scale: LightRNN's embedding size (= hidden size) around the cpu 200.
    **{f"cpu-rounds-{d}": Preset(f"cpu-rounds with LightRNN at {d}/{d} x 2 (Table 2's embedding-size axis)", _ROUNDS,
                                 _light(f"the cpu preset's LightRNN at {d}/{d}", embedding_dim=d, hidden_dim=d))
       for d in (100, 400)},
    # The allocation study (results/suite-allocation-cpu): tables that do not come from the bootstrap,
    # each held fixed like cpu-no-move, and the fresh start after a move (bench/train/schedule.py).
    **{f"cpu-fixed-{kind}": Preset(f"cpu-no-move with the {kind} start table (models/bootstrap/start.py) held fixed",
                                   dict(_CPU_TRAIN, rounds=1), _light(f"the cpu preset's LightRNN, {kind} table",
                                                                      table=kind))
       for kind in ("frequency", "clusters")},
    "cpu-rounds-clusters": Preset("cpu-rounds from the clusters start table: the bootstrap from the study's best "
                                  "start (its table's seconds charged)", _ROUNDS,
                                  _light("the cpu preset's LightRNN, clusters start", table="clusters")),
    "cpu-fresh": Preset("cpu-rounds, but a move keeps only the new table: every parameter drawn afresh, the lr "
                        "schedule restarted", dict(_ROUNDS, after_move="fresh"), _light("the cpu preset's LightRNN")),
    "cpu-ablations": Preset("cpu-no-move for LightRNN's ablations (models/ablations.py): the random table held "
                            "fixed", dict(_CPU_TRAIN, rounds=1),
                            {m: _m("the cpu preset's sizes", **_CPU_WORD["config"]) for m in models.ABLATIONS}),
    "cpu-rounds-argmax": Preset("ablation (c), the column step fed the predicted row, moved once after its first "
                                "epoch (its sequential steps train ~2 epochs in the suite's 30 minutes, too few for a "
                                "plateau): does a move pay when the tables separate exactly?",
                                dict(_CPU_TRAIN, rounds=2, round_schedule="even", epochs=2),
                                {"ablation-argmax-row": _m("the cpu preset's sizes", **_CPU_WORD["config"])}),
    "cpu-fixed": Preset("the control: LightRNN's first (random) table held fixed, the bootstrap's lr rule",
                        dict(_BOOT, rounds=1), _light("the cpu preset's LightRNN, never reallocated")),
    "cpu-paper": Preset("the paper's bootstrap: a round ends at a validation stall, up to 3 moves while a round "
                        "beats the last, every parameter and the lr kept", _BOOT,
                        _light("the cpu preset's LightRNN")),
    "cpu-restart": Preset("the paper's rounds with CNTK's restart: the lr and its schedule restart after each move",
                          dict(_BOOT, after_move="restart"), _light("the cpu preset's LightRNN")),
    "cpu-train-tables": Preset("the paper's rounds with the paper's free tables: summed during each round's last "
                               "epoch (train mode) instead of an evaluation pass", dict(_BOOT, realloc_tables="train"),
                               _light("the cpu preset's LightRNN")),
    "cpu-rows-first": Preset("a departure from the paper: the paper's rounds, each move matches rows first, then "
                             "columns from a second pass given the new rows (models/bootstrap/rows_first.py)", _BOOT,
                             _light("the cpu preset's LightRNN, rows-first moves", reallocation="rows-first")),
    "cpu-trust": Preset("a departure from the paper: the paper's rounds, moves cost 1 nat per occurrence "
                        "(a trust region around the current table)", _BOOT,
                        _light("the cpu preset's LightRNN, move_penalty 1", move_penalty=1.0)),
    "cpu-oracle": Preset("synthetic corpora only: the true-class table (the best allocation) held fixed",
                         dict(_BOOT, rounds=1),
                         _light("the cpu preset's LightRNN on the true classes", table="classes")),
    "paper-aclw": Preset("the paper's ACLW settings: Kim et al.'s schedule, 3 LightRNN rounds",
                         dict(_KIM_SCHEDULE, rounds=3), _PAPER_ACLW_MODELS),
    "paper-aclw-200": Preset("Table 2's smallest LightRNN embedding size (hidden = embedding)",
                             dict(_KIM_SCHEDULE, rounds=3),
                             {"lightrnn": _paper_aclw_lightrnn(200, "LightRNN 200/200 x 2")}),
    "paper-aclw-600": Preset("Table 2's middle LightRNN embedding size (hidden = embedding)",
                             dict(_KIM_SCHEDULE, rounds=3),
                             {"lightrnn": _paper_aclw_lightrnn(600, "LightRNN 600/600 x 2")}),
    "paper-billionw": Preset(
        "the paper's BillionW sizes, trained to convergence (the lr floor usually stops first)",
        dict(epochs=40, rounds=3),
        {"lstm": _BILLIONW_WORD, "hsm": _BILLIONW_WORD, "adaptive": _BILLIONW_WORD,
         **dict.fromkeys(("chsm", "charcnn"), _m(
             "no C-HSM in the paper's BillionW table; Kim et al.'s Small sizes so the auto preset resolves",
             **_KIM_CHAR_SMALL)),
         "blackout": _m("Ji et al.'s B-RNN size: 2048 hidden units, one layer, input and output vectors of 2048 "
                        "(their RNN is sigmoid, ours the shared LSTM body)", embedding_dim=2048, hidden_dim=2048,
                        layers=1, dropout=0.5, **_BLACKOUT),
         "lightrnn": _m("the paper's BillionW LightRNN: 2048-dim, one layer (~41M params)",
                        embedding_dim=2048, hidden_dim=2048, layers=1, dropout=0.5)}),
    "zaremba-small": Preset(
        "Zaremba et al. 2014 small: lr 1 for 4 epochs, then halved every epoch, 13 epochs, 20 steps",
        dict(epochs=13, bptt=20, lr_decay_start=4, lr_floor=0.0, rounds=1),
        {"lstm": _m("Zaremba et al. 2014's small PTB model: 2 x 200, no dropout",
                    embedding_dim=200, hidden_dim=200, layers=2, dropout=0.0, init_range=0.1)}),
    "kim-small": Preset(
        "Kim et al. 2016's Small models with their schedule (PTB: LSTM-Word-Small 97.6, LSTM-CharCNN-Small 92.3)",
        dict(_KIM_SCHEDULE, rounds=1),
        {"lstm": _m("Kim et al.'s LSTM-Word-Small exactly (no dropout on the embeddings)",
                    **dict(_KIM_SMALL, input_dropout=0.0)),
         **dict.fromkeys(("chsm", "charcnn"), _m("Kim et al.'s LSTM-CharCNN-Small", **_KIM_CHAR_SMALL))}),
}


def preset_names(model: str | None = None) -> list[str]:
    """Every preset, or those that configure `model`."""
    if model is not None and not models.known(model):
        raise KeyError(f"unknown model {model!r}; choose from {sorted(models.REGISTRY)} "
                       f"or the ablations {sorted(models.ABLATIONS)}")
    return [p for p, spec in PRESETS.items() if model is None or model in spec.models]


def _preset(name: str) -> Preset:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose from {list(PRESETS)}")
    return PRESETS[name]


def train_settings(preset: str) -> dict:
    """The preset's TrainConfig fields."""
    return dict(_preset(preset).train)


def preset_config(model: str, preset: str = "cpu", overrides: dict | None = None) -> dict:
    """The config of `preset` for `model`, with `overrides` applied on top."""
    choices = preset_names(model)
    if preset not in choices:
        raise KeyError(f"unknown preset {preset!r} for model {model!r}; choose from {choices}")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(models.config_keys(model)))
    if unknown:
        raise ValueError(f"model {model!r} got unknown config keys {unknown}; "
                         f"valid keys: {models.config_keys(model)}")
    return {**PRESETS[preset].models[model]["config"], **overrides}


def paper_preset(dataset: str) -> str:
    """The paper's preset name for a dataset: BillionW has its own sizes,
    every other corpus (ACLW and the small ones) uses the ACLW settings."""
    return "paper-billionw" if dataset == "billionw" else "paper-aclw"


def parse_kv(text: str) -> tuple[str, object]:
    """'key=value' -> (key, value), the value read as a Python literal when it is one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def parse_overrides(items: list[str]) -> dict:
    """['dropout=0', 'class_mode=frequency', 'cutoffs=[2000,10000]'] -> dict."""
    return dict(parse_kv(t) for t in items)
