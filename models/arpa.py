"""ARPA export of a KneserNey model, so outside tools (KenLM's query module,
SRILM) can load and score it.

Each stored n-gram is written with its full interpolated probability
p_n(w | h) and, below the top order, its backoff weight gamma_{n+1} (1 where it
is never a context): a back-off query of this file gives exactly the
interpolated model's probabilities. Words are the vocabulary's strings; the
vocabulary's unknown token is written as `<unk>` (KenLM's name for it), BOS as
`<s>` (probability 0: log10 -99 by convention), and `</s>`, which KenLM
requires, is added with probability 0 when the vocabulary lacks it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .kn import KneserNey

NEVER = -99.0  # log10 probability written for tokens that are never predicted


def arpa_words(words: list[str], unk: str | None) -> list[str]:
    """The vocabulary's strings as the ARPA file spells them, BOS (`<s>`) last."""
    out = ["<unk>" if w == unk else w for w in words]
    clash = sorted({"<s>", "<unk>"} & set(words) - ({unk} if unk == "<unk>" else set()))
    if clash or len(set(out)) != len(out):
        raise ValueError(f"vocabulary words {clash or 'after renaming'} collide with ARPA's reserved tokens")
    bad = [w for w in out if not w or any(ch.isspace() for ch in w)]
    if bad:
        raise ValueError(f"words with whitespace cannot be written to ARPA: {bad[:5]}")
    return [*out, "<s>"]


def full_probs(kn: KneserNey) -> list[np.ndarray]:
    """Per order, [G_n] interpolated probability of each stored n-gram (bottom up)."""
    V1, o1 = kn.vocab_size + 1, kn.orders[0]
    out = [o1.numer / o1.denom[0] + o1.gamma[0] / kn.vocab_size]
    for o in kn.orders[1:]:
        prefix = o.keys // V1
        out.append(o.numer / o.denom[prefix] + o.gamma[prefix] * out[-1][o.suffix])
    return out


def write_arpa(kn: KneserNey, path: str | os.PathLike, words: list[str], unk: str | None) -> Path:
    """Write `kn` as an ARPA file (atomically); returns the path."""
    if len(words) != kn.vocab_size:
        raise ValueError(f"{len(words)} words for a model of vocabulary {kn.vocab_size}")
    tok = np.array(arpa_words(words, unk), dtype=object)  # id -> string, BOS = V
    V1 = kn.vocab_size + 1
    probs = full_probs(kn)
    # Unigrams: every vocabulary word (unseen ones get the uniform share), <s>, and </s> if absent.
    uni_p = np.full(kn.vocab_size, kn.orders[0].gamma[0] / kn.vocab_size)
    seen = kn.orders[0].keys < kn.vocab_size
    uni_p[kn.orders[0].keys[seen]] = probs[0][seen]
    lines_by_order = []
    uni_bo = np.zeros(V1)
    if kn.order > 1:
        o2 = kn.orders[1]
        bo = np.where(o2.denom > 0, o2.gamma, 1.0)
        uni_bo[kn.orders[0].keys] = np.log10(bo)
    uni_lp = np.append(np.log10(uni_p), NEVER)
    uni = [f"{lp:.6f}\t{tok[i]}\t{uni_bo[i]:.6f}" for i, lp in enumerate(uni_lp)]
    if "</s>" not in tok:
        uni.append(f"{NEVER:.6f}\t</s>")
    lines_by_order.append(uni)
    words_of = [kn.orders[0].keys[:, None]]  # [G_n, n] word ids of each stored n-gram
    for n in range(2, kn.order + 1):
        o = kn.orders[n - 1]
        w = np.concatenate([words_of[-1][o.keys // V1], (o.keys % V1)[:, None]], axis=1)
        words_of.append(w)
        lp = np.log10(probs[n - 1])
        text = [" ".join(tok[row]) for row in w]
        if n < kn.order:
            nxt = kn.orders[n]
            bo = np.log10(np.where(nxt.denom > 0, nxt.gamma, 1.0))
            lines_by_order.append([f"{a:.6f}\t{t}\t{b:.6f}" for a, t, b in zip(lp, text, bo, strict=True)])
        else:
            lines_by_order.append([f"{a:.6f}\t{t}" for a, t in zip(lp, text, strict=True)])
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for n, lines in enumerate(lines_by_order, start=1):
            f.write(f"ngram {n}={len(lines)}\n")
        for n, lines in enumerate(lines_by_order, start=1):
            f.write(f"\n\\{n}-grams:\n")
            f.write("\n".join(lines))
            f.write("\n")
        f.write("\n\\end\\\n")
    os.replace(tmp, path)
    return path
