"""The embedded default corpus: drawn from a known class-based Markov model.

Every word w belongs to exactly one hidden class c(w), and

    P(w_t | w_{t-1}) = A[c(w_{t-1}), c(w_t)] * E[w_t]

with A [K, K] a row-stochastic class transition matrix (rows ~ Dirichlet(alpha),
small alpha so each class has few likely successors) and E a Zipfian
distribution over the words of each class. Because the source is known:
- the exact (Bayes-optimal) perplexity of the test stream is a floor every
  model is measured against (`info["oracle_ppl"]`);
- `corpus.word_class` is the ground truth LightRNN's word table can be scored
  against.
Words are spelled as morphology spells them (`spell`): a stem that carries no
class and a suffix that carries it, so the character-aware models have what
real text gives them: a word's class can be read off its spelling.

Default sizes (V=2,000 in 40 classes of 50; 150K training and 15K valid/test
tokens): the vocabulary is large enough that the output layer matters, which
is what LightRNN is about, and small enough that each of the four CPU-preset
models (200/200 x 2) trains an epoch in 30-50 s on one thread (measured
3,000-4,900 training tokens/s while other jobs shared the 2 cores), so all
four train a few epochs in minutes. The model has K*K + V ~= 3,600 free
parameters, so 150K tokens determine it well: the gap between a trained
model and the floor measures the model, not the data. 15K test tokens pin
the oracle perplexity to about 1% (sampling standard error).
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .corpus import SPLITS, Corpus
from .vocab import Vocab

DEFAULTS = dict(
    vocab_size=2000,
    classes=40,
    train_tokens=150_000,
    valid_tokens=15_000,
    test_tokens=15_000,
    alpha=0.1,  # Dirichlet concentration of each transition row: small = sparse-ish
    zipf=1.0,  # exponent of the within-class emission distribution
    seed=0,
)


@dataclass
class ClassMarkovModel:
    word_class: np.ndarray  # [V] int64: hidden class of each word (generation ids)
    trans: np.ndarray  # [K, K] P(c_t = j | c_{t-1} = i), rows sum to 1
    emit: np.ndarray  # [V] P(w | c(w)); sums to 1 over the words of each class

    @classmethod
    def random(cls, vocab_size: int, classes: int, alpha: float, zipf: float, rng) -> ClassMarkovModel:
        word_class = rng.permutation(np.arange(vocab_size) % classes)  # equal-sized classes
        trans = rng.dirichlet(np.full(classes, alpha), size=classes)
        emit = np.empty(vocab_size)
        for k in range(classes):
            members = np.flatnonzero(word_class == k)
            w = 1.0 / np.arange(1, len(members) + 1) ** zipf  # Zipf by rank within the class
            emit[members] = w / w.sum()
        return cls(word_class, trans, emit)

    def stationary(self) -> np.ndarray:
        """[K] stationary class distribution pi = pi A."""
        K = len(self.trans)
        # Solve (A^T - I) pi = 0 with sum(pi) = 1 as one least-squares system.
        lhs = np.vstack([self.trans.T - np.eye(K), np.ones(K)])
        rhs = np.zeros(K + 1)
        rhs[-1] = 1.0
        return np.linalg.lstsq(lhs, rhs, rcond=None)[0]

    def entropy_rate(self) -> float:
        """Nats per token of the stationary chain: H(class step) + H(word | class)."""
        pi, A = self.stationary(), self.trans
        with np.errstate(divide="ignore", invalid="ignore"):
            h_trans = -np.nansum(A * np.log(A), axis=1)  # [K]
            h_emit = np.bincount(self.word_class, -np.nan_to_num(self.emit * np.log(self.emit)))  # [K]
        return float(pi @ (h_trans + A @ h_emit))

    def sample(self, n: int, rng) -> np.ndarray:
        """[n] word ids (generation order), the chain started from its stationary law."""
        K = len(self.trans)
        u = rng.random(n)
        # The class chain is inherently sequential; one C-level bisect per step
        # over cumulative rows keeps it ~0.2 us/token. Last cdf entry forced to
        # 1.0 so u < 1 always lands in a valid class.
        cdf = np.cumsum(self.trans, axis=1)
        cdf[:, -1] = 1.0
        rows = cdf.tolist()
        c0 = min(int(np.searchsorted(np.cumsum(self.stationary()), u[0], side="right")), K - 1)
        cls = [c0] * n
        c = c0
        for t, ut in enumerate(u[1:].tolist(), start=1):
            c = bisect_right(rows[c], ut)
            cls[t] = c
        cls = np.asarray(cls, dtype=np.int64)
        # Emissions are independent given the classes: vectorised per class.
        v = rng.random(n)
        words = np.empty(n, dtype=np.int64)
        for k in range(K):
            at = np.flatnonzero(cls == k)
            members = np.flatnonzero(self.word_class == k)
            ecdf = np.cumsum(self.emit[members])
            ecdf[-1] = 1.0
            words[at] = members[np.searchsorted(ecdf, v[at], side="right")]
        return words

    def log_prob(self, ids: np.ndarray) -> np.ndarray:
        """[n-1] log P(ids[t] | ids[t-1]) for t >= 1 (the first token is context)."""
        c = self.word_class[ids]
        return np.log(self.trans[c[:-1], c[1:]]) + np.log(self.emit[ids[1:]])


CONSONANTS, VOWELS = "bdfgklmnprstvz", "aeiou"


def spell(word_class: np.ndarray, classes: int, rng) -> list[str]:
    """A spelling for each word (generation ids), as morphology would give it:
    a stem of 2-3 consonant-vowel syllables drawn the same way for every class
    (the stem says nothing of the class) and its class's own suffix, two or
    more consonants (the suffix says everything). Words are unique: stems are
    unique within a class, and the suffix ends every word. Its own random
    stream: the corpus's draws, and so its ids and oracle, are untouched."""
    n = len(CONSONANTS)
    width = 2 + max(0, int(np.ceil(np.log(max(classes, 1)) / np.log(n))) - 2)
    suffix = ["".join(CONSONANTS[(k // n**i) % n] for i in range(width)) for k in range(classes)]
    syllables = [c + v for c in CONSONANTS for v in VOWELS]  # 70
    names, used = [], [set() for _ in range(classes)]
    for k in word_class.tolist():
        while True:
            stem = "".join(syllables[i] for i in rng.integers(len(syllables), size=rng.integers(2, 4)))
            if stem not in used[k]:
                used[k].add(stem)
                break
        names.append(stem + suffix[k])
    return names


def oracle_ppl(model: ClassMarkovModel, ids: np.ndarray) -> float:
    """Exact perplexity of the true model on a stream, every token after the first scored."""
    return float(np.exp(-model.log_prob(ids).mean()))


def check_params(**params) -> dict:
    """The parameters over DEFAULTS, each checked (what `generate` refuses,
    found before any generating: bench/checks.py runs it up front)."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"synthetic got unknown parameters {unknown}; valid: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    for k, v in p.items():  # bool is an int to Python, "abc" reaches int() as a ValueError of its own
        number = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not number or (k not in ("alpha", "zipf") and v != int(v)):
            kind = "a finite number" if k in ("alpha", "zipf") else "an integer"
            raise ValueError(f"synthetic {k}={v!r}: must be {kind}")
    V, K = int(p["vocab_size"]), int(p["classes"])
    if not 1 <= K <= V:
        raise ValueError(f"synthetic needs 1 <= classes <= vocab_size, got classes={K}, vocab_size={V}")
    sizes = [int(p[f"{s}_tokens"]) for s in SPLITS]
    if min(sizes) < 2:
        raise ValueError(f"synthetic needs at least 2 tokens per split, got {dict(zip(SPLITS, sizes, strict=True))}")
    if p["alpha"] <= 0:
        raise ValueError(f"synthetic needs alpha > 0, got {p['alpha']}")
    return p


def generate(**params) -> Corpus:
    """Build the synthetic corpus; same parameters (seed included) -> same bytes."""
    return generate_with_model(**params)[0]


def generate_with_model(**params) -> tuple[Corpus, ClassMarkovModel]:
    """The corpus and its true generative model, both in vocabulary ids."""
    p = check_params(**params)
    V, K = int(p["vocab_size"]), int(p["classes"])
    sizes = [int(p[f"{s}_tokens"]) for s in SPLITS]

    rng = np.random.default_rng(int(p["seed"]))
    gen_model = ClassMarkovModel.random(V, K, float(p["alpha"]), float(p["zipf"]), rng)
    # One continuous chain cut into train | valid | test, as real corpora are
    # one text; each split's first token is context only.
    stream = gen_model.sample(sum(sizes), rng)
    gen = dict(zip(SPLITS, np.split(stream, np.cumsum(sizes)[:-1]), strict=True))

    # Re-number words by training frequency (ties by string) like every vocabulary.
    names = spell(gen_model.word_class, K, np.random.default_rng([int(p["seed"]), 1]))
    counts = Counter(dict.fromkeys(names, 0))
    counts.update(dict(zip(names, np.bincount(gen["train"], minlength=V).tolist(), strict=True)))
    vocab = Vocab.from_counts(counts, min_count=0)
    new_id = np.array([vocab.stoi[w] for w in names], dtype=np.int64)  # [V] generation -> vocab id
    streams = {s: new_id[gen[s]].astype(np.int32) for s in SPLITS}
    old_id = np.argsort(new_id)  # [V] vocab id -> generation id
    model = ClassMarkovModel(gen_model.word_class[old_id], gen_model.trans, gen_model.emit[old_id])

    info = {
        "source": "synthetic class-based Markov model",
        "params": p,
        "oracle_ppl": oracle_ppl(model, streams["test"]),
        "oracle_ppl_valid": oracle_ppl(model, streams["valid"]),
        "entropy_rate_ppl": float(np.exp(model.entropy_rate())),
        "oov_rate": {s: 0.0 for s in SPLITS},  # every word of the model is in the vocabulary
        "sha256": {f"{s}.ids": hashlib.sha256(streams[s].tobytes()).hexdigest() for s in SPLITS},
    }
    corpus = Corpus("synthetic", vocab, streams["train"], streams["valid"], streams["test"], info, model.word_class)
    return corpus, model
