"""A One-Billion-Word-sized stand-in, to rehearse the BillionW pipeline without the download.

    python scripts/billionw_like.py gen --out DIR [--tokens N] [--seed S]
    python scripts/billionw_like.py build --out DIR

`gen` writes DIR/billionw/1-billion-word-language-modeling-benchmark-r13output.tar.gz
in the release's layout, which the repo's reader (datasets/readers.py) streams
as it is: 99 training shards news.en-000NN-of-00100 (NN = 01..99) and 50
heldout shards news.en.heldout-000NN-of-00050, each shard 1/100 of the corpus
(heldout = the 100th shard cut in 50, as in the release). One sentence per
line, words separated by spaces, ~25 words a sentence.

Words are drawn from a Zipf-Mandelbrot law p(r) ~ (r + Q)^-S over V ranks.
S, Q, V are fitted at the default 800M words so that, like the release
(Chelba et al. 2013), ~793K words occur >= 3 times in training (the vocabulary
the builder keeps), the rest give a ~0.28% OOV rate, and the top word has the
~4% share of "the"; `expected_kept` is that fit's formula, printed at any scale.

`build` runs the real builder (datasets.load) on that archive; only the
published sha256, which a synthetic archive cannot match, is replaced by the
archive's own. Output never goes inside the repository.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = "billionw/1-billion-word-language-modeling-benchmark-r13output.tar.gz"  # = registry.BILLIONW_FILE
TOP = "1-billion-word-language-modeling-benchmark-r13output"
TRAIN = TOP + "/training-monolingual.tokenized.shuffled/news.en-{:05d}-of-00100"
HELDOUT = TOP + "/heldout-monolingual.tokenized.shuffled/news.en.heldout-{:05d}-of-00050"
TOKENS = 800_000_000  # words over all shards; the release has ~0.8B
V, S, Q = 4_000_000, 1.4804, 10.0  # see the module doc and expected_kept
MEAN_WORDS = 25.4  # the release: ~768M training words in ~30.3M sentences
SPREAD = 4  # negative-binomial shape of sentence lengths: sd ~13 words, a long right tail
CHUNK = 1 << 20  # words per vectorised step: bounds memory at any --tokens
WIDTH = 10  # letters of the longest word: 3 + ln(V)/2 < 11, and 25^5 > V ranks fit in 5


def probabilities() -> np.ndarray:
    p = (np.arange(1, V + 1) + Q) ** -S
    return p / p.sum()


def expected_kept(train_words: float, min_count: int = 3) -> float:
    """Expected number of distinct words seen >= min_count times in `train_words`
    draws: sum over ranks of P(Poisson(n p_r) >= min_count)."""
    lam = train_words * probabilities()
    term, below = np.exp(-lam), np.zeros_like(lam)
    for k in range(min_count):
        below += term
        term = term * lam / (k + 1)
    return float((1 - below).sum())


def spellings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes, offset, length) of every rank's word plus its trailing space, all
    in one buffer so a chunk of ids becomes text with one gather. Rank r is r in
    bijective base 25 (a..y), padded to 3 + ln(r)/2 letters by a z and random
    letters: ~4.5 letters a running word, ~9.6 a vocabulary entry, roughly as in
    English text, so the bytes to read and (de)compress are realistic too. The
    first z ends the unique part, so words stay distinct, and none can be one of
    the specials <S>, </S>, <UNK>."""
    r = np.arange(1, V + 1)
    letters = np.random.default_rng(V).integers(ord("a"), ord("z") + 1, (V, WIDTH + 1), dtype=np.uint8)
    digits, n = np.zeros(V, dtype=np.int64), r.copy()
    for col in range(WIDTH):
        live = n > 0
        n = n - live
        letters[live, col] = ord("a") + n[live] % 25
        digits += live
        n //= 25
    length = np.maximum(digits, (3 + np.log(r) / 2).astype(np.int64))
    padded = np.flatnonzero(length > digits)
    letters[padded, digits[padded]] = ord("z")
    letters[np.arange(V), length] = ord(" ")
    length += 1
    blob = letters[np.arange(WIDTH + 1) < length[:, None]]
    return blob, np.cumsum(length) - length, length


def shard_text(rng: np.random.Generator, words: int, cdf: np.ndarray, spelled) -> Iterator[bytes]:
    """`words` words as sentences, one per line, in chunks of about CHUNK words."""
    blob, offset, length = spelled
    while words > 0:
        lens = 1 + rng.negative_binomial(SPREAD, SPREAD / (SPREAD + MEAN_WORDS - 1), int(CHUNK / MEAN_WORDS) + 1)
        ends = np.cumsum(lens)
        if ends[-1] >= words:  # the shard's last sentence is cut to land exactly on `words`
            ends = np.append(ends[ends < words], words)
        ids = np.searchsorted(cdf, rng.random(ends[-1]), side="right")
        n = length[ids]
        stop = np.cumsum(n)
        text = blob[np.arange(stop[-1]) + np.repeat(offset[ids] - (stop - n), n)]
        text[stop[ends - 1] - 1] = ord("\n")  # the space after a sentence's last word
        yield text.tobytes()
        words -= int(ends[-1])


def gen(out: Path, tokens: int, seed: int) -> Path:
    path = out / ARCHIVE
    if path.exists():  # DIR may be a real data dir: never replace the real release
        raise SystemExit(f"{path} exists; delete it or choose another --out")
    shard = tokens // 100
    shards = [(TRAIN.format(i), shard) for i in range(1, 100)] + [(HELDOUT.format(i), shard // 50) for i in range(50)]
    total = sum(words for _, words in shards)
    print(f"{len(shards)} shards, {shard:,} words per training shard; expected words with count >= 3: "
          f"{expected_kept(99 * shard):,.0f}", flush=True)
    cdf = np.cumsum(probabilities())
    cdf /= cdf[-1]
    spelled = spellings()
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.part-{os.getpid()}")  # a killed run leaves no archive that looks whole
    start, done = time.perf_counter(), 0
    try:
        # gzip level 1: 93 MB/s against 13 at tarfile's default 9 (measured on this
        # text, 2.2x against 2.5x smaller) and read the same; mtime=0 and no file
        # name keep the archive's bytes a function of --tokens and --seed.
        with open(part, "wb") as raw, gzip.GzipFile("", "wb", compresslevel=1, fileobj=raw, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w|") as tf:
            readme = f"Synthetic BillionW-like corpus: scripts/billionw_like.py --tokens {tokens} --seed {seed}\n".encode()
            add(tf, f"{TOP}/README", [readme], out)
            for i, (name, words) in enumerate(shards):
                add(tf, name, shard_text(np.random.default_rng([seed, i]), words, cdf, spelled), out)
                done += words
                rate = done / (time.perf_counter() - start)
                print(f"[{i + 1}/{len(shards)}] {name.rsplit('/', 1)[1]}: {done:,} words, {rate:,.0f} words/s, "
                      f"eta {(total - done) / rate:,.0f} s", flush=True)
        part.rename(path)
    finally:
        part.unlink(missing_ok=True)
    print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def add(tf: tarfile.TarFile, name: str, chunks: Iterable[bytes], out: Path) -> None:
    """A tar member needs its size before its bytes: spool to disk, not memory."""
    with tempfile.TemporaryFile(dir=out) as f:
        for chunk in chunks:
            f.write(chunk)
        info = tarfile.TarInfo(name)
        info.size = f.tell()
        f.seek(0)
        tf.addfile(info, f)


def build(out: Path) -> dict:
    sys.path.insert(0, str(REPO))
    import datasets
    from datasets import fetch, registry

    registry.BILLIONW_SHA256 = fetch.sha256_file(out / ARCHIVE)
    start = time.perf_counter()
    summary = datasets.load("billionw", data_dir=out, download=False).summary()
    summary["load_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary, indent=1), flush=True)
    return summary


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["gen", "build"])
    p.add_argument("--out", type=Path, required=True, help="data dir to write into (outside the repository)")
    p.add_argument("--tokens", type=int, default=TOKENS, help=f"words over all shards (default {TOKENS:,})")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        raise SystemExit(f"--out {out} is inside the repository {REPO}; choose a folder outside it")
    if args.tokens < 5000:  # 100 shards, the 100th cut in 50: below that, heldout shards are empty
        raise SystemExit("--tokens must be at least 5000")
    if args.command == "gen":
        gen(out, args.tokens, args.seed)
    else:
        build(out)


if __name__ == "__main__":
    main()
