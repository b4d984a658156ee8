"""Turn a dataset's sentence sources into a cached Corpus.

Two streaming passes, so no split is ever held as a list of strings:
  1. count: token counts per split, word counts over train -> the vocabulary;
  2. encode: ids written straight into a preallocated .npy (np.memmap), in
     chunks, so BillionW's 800M tokens never sit in Python lists.

The cache folder is keyed by the source checksums (plus a format version),
`<data_dir>/.cache/<name>-<sha12>/` or, when the data dir is read-only (like
../shared/data), `~/.cache/lightrnn-bench/ids/<name>-<sha12>/`. It holds
vocab.tsv, {train,valid,test}.npy and info.json, and appears atomically
(built in a temp folder, then renamed), so an interrupted build never leaves a
cache that loads. A build killed outright (SIGKILL, OOM killer) cannot clean
up its temp folder, gigabytes at BillionW's size: the folder is named after
its builder, `.<key>.<host>-<pid>.<random>`, and the next load of that key on
that host removes it once that process is gone (a live build is left alone).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .corpus import SPLITS, Corpus
from .paths import DatasetError
from .vocab import Vocab

FORMAT_VERSION = 1  # bump when the processing below changes what ids come out
CHUNK = 1 << 20  # tokens per write into the memmap

Sentences = Callable[[], Iterator[list[str]]]  # called once per pass


@dataclass
class Recipe:
    """How to read one dataset. `eos` follows every sentence; `bos`, if set,
    opens each split's stream once (BillionW's <S>: context, never a target)."""

    name: str
    splits: dict[str, Sentences]
    sha256: dict[str, str]  # source file (relative to the data dir) -> checksum
    eos: str = "<eos>"
    bos: str | None = None
    unk: str = "<unk>"
    min_count: int = 1
    specials: tuple[str, ...] = ()  # always in the vocabulary (appended if rarer than min_count)
    mmap: bool = False  # load ids as read-only memmaps (BillionW) instead of into memory
    notes: dict = field(default_factory=dict)  # extra JSON facts for `info`

    def key(self) -> str:
        h = hashlib.sha256(json.dumps(
            [FORMAT_VERSION, self.name, sorted(self.sha256.items()), self.eos, self.bos,
             self.unk, self.min_count, list(self.specials)]).encode())
        return f"{self.name}-{h.hexdigest()[:12]}"


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lightrnn-bench" / "ids"


def writable(path: Path) -> bool:
    """Whether we may create files under `path`. A folder whose permission bits
    deny writing (like ../shared/data) counts as read-only even for root, who
    could write there anyway."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists())
    return os.access(existing, os.W_OK) and bool(existing.stat().st_mode & 0o222)


def load_or_build(recipe: Recipe, data_dir: Path) -> Corpus:
    key = recipe.key()
    places = [data_dir / ".cache" / key, user_cache_dir() / key]
    for place in places:
        sweep_dead_builds(place.parent, key)
    for place in places:
        if (place / "info.json").exists():
            return _load(recipe, place)
    target = next((p for p in places if writable(p.parent)), None)
    if target is None:
        raise PermissionError(f"no writable cache folder for {recipe.name}: tried {[str(p.parent) for p in places]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.{_host()}-{os.getpid()}.", dir=target.parent))
    try:
        _build(recipe, tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as the data
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "info.json").exists():  # not a concurrent build that won
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _load(recipe, target)


def _host() -> str:
    # Alphanumerics only, so the name parses back; the host matters because a
    # cache on a shared filesystem may hold live builds of other machines,
    # whose pids mean nothing here.
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def sweep_dead_builds(folder: Path, key: str) -> None:
    """Remove temp folders of `key` whose builder (on this host) has died. A
    reused pid only keeps a dead build's folder; it never removes a live one."""
    prefix = f".{key}.{_host()}-"
    try:
        entries = [e for e in folder.iterdir() if e.name.startswith(prefix)]
    except OSError:  # no such folder, or one we may not list: nothing of ours there
        return
    for entry in entries:
        pid = entry.name[len(prefix):].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _load(recipe: Recipe, folder: Path) -> Corpus:
    info = json.loads((folder / "info.json").read_text())
    vocab = Vocab.load(folder / "vocab.tsv")
    mode = "r" if recipe.mmap else None
    ids = {s: np.load(folder / f"{s}.npy", mmap_mode=mode) for s in SPLITS}
    info["cache"] = str(folder)
    return Corpus(recipe.name, vocab, ids["train"], ids["valid"], ids["test"], info)


def _tokens(recipe: Recipe, split: str) -> Iterator[list[str]]:
    """Sentences of a split with the stream convention applied."""
    if recipe.bos is not None:
        yield [recipe.bos]
    eos = [recipe.eos]
    for words in recipe.splits[split]():
        yield words + eos


def _build(recipe: Recipe, out: Path) -> None:
    # Pass 1: lengths of every split, counts over train only.
    counts: Counter = Counter()
    lengths = {}
    for split in SPLITS:
        n = 0
        for sent in _tokens(recipe, split):
            n += len(sent)
            if split == "train":
                counts.update(sent)
        lengths[split] = n
    specials = [*recipe.specials, recipe.unk]
    vocab = Vocab.from_counts(counts, recipe.min_count, specials=specials, unk=recipe.unk)
    vocab.save(out / "vocab.tsv")

    # Pass 2: encode into preallocated .npy files. -1 marks an out-of-vocabulary
    # token so the OOV rate is counted exactly, then it becomes <unk>.
    unk_id = vocab.stoi[recipe.unk]
    lookup = _OOVMinusOne(vocab.stoi).__getitem__  # a C-level call per token: ~2x a .get listcomp
    oov, unk_rate = {}, {}
    for split in SPLITS:
        arr = np.lib.format.open_memmap(out / f"{split}.npy", mode="w+", dtype=np.int32, shape=(lengths[split],))
        pos, n_oov, buf = 0, 0, []
        for sent in _tokens(recipe, split):
            buf.extend(map(lookup, sent))
            if len(buf) >= CHUNK:
                pos, n_oov = _flush(arr, pos, buf, unk_id, n_oov)
                buf = []
        pos, n_oov = _flush(arr, pos, buf, unk_id, n_oov)
        if pos != lengths[split]:
            raise DatasetError(f"{recipe.name}: {split} had {lengths[split]} tokens when counted and "
                               f"{pos} when encoded; did its files change during the build?")
        unk_rate[split] = float(np.count_nonzero(arr == unk_id) / max(len(arr), 1))
        arr.flush()
        del arr
        oov[split] = n_oov / max(lengths[split], 1)

    info = {
        "source_files": sorted(recipe.sha256),
        "sha256": recipe.sha256,
        "oov_rate": oov,  # tokens not in the training vocabulary (before mapping to unk)
        "unk_rate": unk_rate,  # tokens that are unk after mapping (incl. unk already in the text)
        "conventions": {"eos": recipe.eos, "bos": recipe.bos, "unk": recipe.unk,
                        "min_count": recipe.min_count},
        **recipe.notes,
    }
    (out / "info.json").write_text(json.dumps(info, indent=1))


class _OOVMinusOne(dict):
    def __missing__(self, key: str) -> int:
        return -1


def _flush(arr: np.ndarray, pos: int, buf: list[int], unk_id: int, n_oov: int) -> tuple[int, int]:
    if not buf:
        return pos, n_oov
    chunk = np.asarray(buf, dtype=np.int32)
    miss = chunk < 0
    chunk[miss] = unk_id
    arr[pos : pos + len(chunk)] = chunk
    return pos + len(chunk), n_oov + int(miss.sum())
