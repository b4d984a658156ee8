"""Language models compared by the harness, behind one interface.

    model = models.build("lightrnn", vocab_size, embedding_dim=200, ...)
    nll, state = model(x, y, state)          # summed NLL in nats over y [T, B]
"""

from __future__ import annotations

import inspect

from .ablations import ArgmaxRow, TableInputSoftmax, WordInputTableOutput
from .adaptive import AdaptiveLM
from .base import LanguageModel, LSTMBody, State, detach_state
from .blackout import BlackOutLM
from .chsm import CharCNN, CharHSM
from .hsm import HSMLM
from .lightrnn import LightRNN
from .lstm import LSTMLM

# In the paper's table order: baselines first, LightRNN last.
REGISTRY: dict[str, type[LanguageModel]] = {
    "lstm": LSTMLM,
    "hsm": HSMLM,
    "adaptive": AdaptiveLM,
    "chsm": CharHSM,
    "charcnn": CharCNN,
    "blackout": BlackOutLM,
    "lightrnn": LightRNN,
}

# Ablations of LightRNN (models/ablations.py): buildable and trainable like any
# model, never part of the default run or the paper-shaped tables.
ABLATIONS: dict[str, type[LanguageModel]] = {
    "ablation-table-input": TableInputSoftmax,
    "ablation-table-output": WordInputTableOutput,
    "ablation-argmax-row": ArgmaxRow,
}


def known(name: str) -> bool:
    """Whether `name` is a model of the registry or an ablation."""
    return name in REGISTRY or name in ABLATIONS


def needs_words(name: str) -> bool:
    """Whether model `name` reads the vocabulary's strings (`words`), as the
    character-aware models do; the harness then passes corpus.vocab.words."""
    return "words" in config_keys(name)


def corpus_inputs(name: str, vocab) -> dict:
    """What model `name` reads from the training vocabulary besides its config
    (not recorded): the spelling of each word (the character-aware models), its
    training count (BlackOut's proposal)."""
    keys = config_keys(name)
    return {**({"words": vocab.words} if "words" in keys else {}),
            **({"unigram": vocab.counts} if "unigram" in keys else {})}


def config_keys(name: str) -> list[str]:
    """The config keys model `name` accepts."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return [k for k in params if k not in ("self", "vocab_size")]


def _lookup(name: str) -> type[LanguageModel]:
    if not known(name):
        raise KeyError(f"unknown model {name!r}; choose from {sorted(REGISTRY)} or the ablations {sorted(ABLATIONS)}")
    return REGISTRY.get(name) or ABLATIONS[name]


def build(name: str, vocab_size: int, **config) -> LanguageModel:
    """Build model `name`. Unknown config keys are an error naming the valid ones."""
    cls = _lookup(name)
    valid = config_keys(name)
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(f"model {name!r} got unknown config keys {unknown}; valid keys: {valid}")
    return cls(vocab_size, **config)


__all__ = ["ABLATIONS", "REGISTRY", "LanguageModel", "LSTMBody", "State", "build", "config_keys", "corpus_inputs",
           "detach_state", "known", "needs_words"]
