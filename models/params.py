"""Closed-form parameter counts per model (tests check them against the built
module), and counting a built model on the `meta` device, so a 1.6G-parameter
baseline is counted without allocating it.

V = vocabulary, n = embedding_dim, h = hidden_dim, L = layers.
"""

from __future__ import annotations

import inspect
import math

import torch

from . import REGISTRY, build
from .adaptive import default_cutoffs
from .chars import char_vocab, synthetic_words
from .chars import param_count as char_cnn_params
from .lightrnn import table_shape


def _config(name: str, config: dict) -> dict:
    """The model's defaults, overridden by `config` (unknown keys rejected by build)."""
    params = inspect.signature(REGISTRY[name].__init__).parameters
    return {**{k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty},
            **config}


def lstm_body(n: int, h: int, L: int) -> int:
    """nn.LSTM: per layer 4 gates x (input + recurrent weights + two biases)."""
    return sum(4 * h * ((n if i == 0 else h) + h + 2) for i in range(L))


def param_formula(name: str, V: int, **config) -> dict[str, int]:
    """{'embedding', 'recurrent', 'output', 'total'} in closed form."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; choose from {sorted(REGISTRY)}")
    c = _config(name, config)
    if name in ("chsm", "charcnn"):
        return _char_formula(name, V, c)
    n, h = c["embedding_dim"], c["hidden_dim"]
    recurrent = lstm_body(n, h, c["layers"])
    if name == "lightrnn":
        R, C = table_shape(V)
        embedding, output = (R + C) * n, (R + C) * (h + 1)  # X^r, X^c; Y^r, Y^c + biases
    elif name in ("lstm", "blackout"):  # BlackOut: the full softmax's vectors, trained by sampling
        embedding, output = V * n, V * (h + 1)
    elif name == "hsm":
        embedding, output = V * n, _hsm_output(V, h)
    elif name == "adaptive":
        cuts = list(c["cutoffs"] or default_cutoffs(V)) + [V]
        embedding = V * n
        output = h * (cuts[0] + len(cuts) - 1)  # head: shortlist + one logit per cluster, no bias
        for i in range(len(cuts) - 1):
            d = int(h // (c["div_value"] ** (i + 1)))  # cluster i's projection size
            output += h * d + d * (cuts[i + 1] - cuts[i])
    else:
        raise KeyError(f"no parameter formula for model {name!r}")
    return {"embedding": embedding, "recurrent": recurrent, "output": output,
            "total": embedding + recurrent + output}


def _hsm_output(V: int, h: int) -> int:
    K = max(1, round(math.sqrt(V)))
    return (K + K * math.ceil(V / K)) * (h + 1)  # class vectors + K x S word slots


def _char_formula(name: str, V: int, c: dict) -> dict[str, int]:
    """Character CNN input (chars.param_count, over the words' characters or
    the synthetic spelling's) + LSTM on its sum(feature_maps) outputs + HSM or full softmax."""
    n_chars = len(char_vocab(c["words"] if c["words"] is not None else synthetic_words(V)))
    embedding = char_cnn_params(n_chars, c["char_dim"], c["kernels"], c["feature_maps"], c["highway"])
    h = c["hidden_dim"]
    recurrent = lstm_body(sum(c["feature_maps"]), h, c["layers"])
    output = _hsm_output(V, h) if name == "chsm" else V * (h + 1)
    return {"embedding": embedding, "recurrent": recurrent, "output": output,
            "total": embedding + recurrent + output}


def count_on_meta(name: str, V: int, **config) -> dict[str, int]:
    """Build on the meta device (no memory) and count by parameter group."""
    with torch.device("meta"):
        model = build(name, V, **config)
    return model.param_counts()
