"""ACLW layouts (Kim et al.'s mapping, Botha's tarball, large.zip) end to end
through a local HTTP server, BillionW processing on a small archive in the
real layout, and bad text files."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from collections import Counter
from functools import partial

import numpy as np
import pytest

import datasets
from datasets import DatasetError, readers, registry

TRAIN = "le chat est noir\nle chien est blanc\nun chat\n"
VALID = "le chat est blanc\n"
TEST = "un chien noir <unk>\nle chat\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    """(url prefix, folder it serves): a plain static server on 127.0.0.1."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(www)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


def add(tf: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def check_small_corpus(corpus) -> None:
    """Vocabulary from train only; <eos> per line; test words outside train -> <unk>."""
    words = [corpus.vocab.words[i] for i in corpus.test]
    assert words == ["un", "chien", "noir", "<unk>", "<eos>", "le", "chat", "<eos>"]
    assert corpus.summary()["tokens"] == {"train": 13, "valid": 5, "test": 8}
    assert corpus.info["oov_rate"] == {"train": 0.0, "valid": 0.0, "test": 0.0}
    assert corpus.vocab.words[:3] == ["<eos>", "chat", "est"]  # by count, ties by string


def test_aclw_small_from_botha_tarball(server, tmp_path, monkeypatch):
    url, www = server
    with tarfile.open(www / "icml14.tar.bz2", "w:bz2") as tf:
        for name, text in (("train.in", TRAIN), ("test.in", VALID), ("finaltest.in", TEST)):
            add(tf, f"en-fr/1m-mono/{name}", text)
    monkeypatch.setattr(registry, "BOTHA_URL", f"{url}/icml14.tar.bz2")
    monkeypatch.setattr(registry, "ACLW_SMALL_SHA256", {})  # our text is not the published valid/test
    corpus = datasets.load("aclw-small-fr", data_dir=tmp_path)
    check_small_corpus(corpus)
    assert (tmp_path / "aclw-small/en-fr/1m-mono/finaltest.in").exists()
    assert (tmp_path / "aclw-small/icml14-data.tar.bz2.sha256").exists()  # no published checksum: recorded


def test_aclw_small_mapped_layout_offline(tmp_path, monkeypatch):
    folder = tmp_path / "aclw-small/de"
    folder.mkdir(parents=True)
    for name, text in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        (folder / f"{name}.txt").write_text(text)
    with pytest.raises(DatasetError, match="checksum mismatch .*aclw-small/de/valid.txt"):
        datasets.load("aclw-small-de", data_dir=tmp_path, download=False)  # not the published valid file
    monkeypatch.setattr(registry, "ACLW_SMALL_SHA256", {})
    check_small_corpus(datasets.load("aclw-small-de", data_dir=tmp_path, download=False))


def test_aclw_large_from_zip(server, tmp_path, monkeypatch):
    url, www = server
    with zipfile.ZipFile(www / "large.zip", "w") as z:
        for lang in ("cs", "English"):  # folders named by code or by language
            for name, text in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
                z.writestr(f"data/large/{lang}/{name}.txt", text)
    monkeypatch.setattr(registry, "ACLW_URL", f"{url}/large.zip")
    corpus = datasets.load("aclw-czech", data_dir=tmp_path)
    assert corpus.name == "aclw-czech"
    check_small_corpus(corpus)
    assert sorted(p.name for p in (tmp_path / "aclw").iterdir() if p.is_dir() and p.name[0] != ".") == ["cs", "en"]
    (www / "large.zip").unlink()  # already unpacked: the English set loads offline
    assert datasets.load("aclw-english", data_dir=tmp_path, download=False).summary()["tokens"]["test"] == 8
    with pytest.raises(DatasetError, match=r"aclw-german: .*holds no de/train.txt.*data/large/"):
        datasets.load("aclw-german", data_dir=tmp_path)  # large.zip is kept; it has no German


def test_empty_binary_and_non_utf8_files_are_named(tmp_path):
    empty, binary, latin = tmp_path / "empty.txt", tmp_path / "bin.txt", tmp_path / "latin.txt"
    empty.write_bytes(b"")
    binary.write_bytes(b"\x7fELF\x00\x00\x01")
    latin.write_bytes("caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=f"{empty} is empty"):
        readers.lines(empty)
    with pytest.raises(DatasetError, match=f"{binary} looks binary"):
        readers.lines(binary)
    with pytest.raises(DatasetError, match=f"{latin}: line 1 is not UTF-8"):
        list(readers.lines(latin)())


# --- BillionW ------------------------------------------------------------------

BW_TRAIN = ["a b c", "a b d", "a c e", "b a"]  # counts: a 4, b 4, c 2, d 1, e 1 (+ </S> 4)
BW_TRAIN2 = ["c a", "f"]  # c reaches 3 only across shards
BW_TEST = ["a z c", "b"]  # heldout-00000: the test set
BW_VALID = ["c c"]  # heldout-00001


def make_billionw(root) -> str:
    top = "1-billion-word-language-modeling-benchmark-r13output"
    path = root / registry.BILLIONW_FILE
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as tf:
        add(tf, f"{top}/README", "not data\n")
        add(tf, f"{top}/heldout-monolingual.tokenized.shuffled/news.en.heldout-00001-of-00050", "\n".join(BW_VALID) + "\n")
        add(tf, f"{top}/training-monolingual.tokenized.shuffled/news.en-00001-of-00100", "\n".join(BW_TRAIN) + "\n")
        add(tf, f"{top}/heldout-monolingual.tokenized.shuffled/news.en.heldout-00000-of-00050", "\n".join(BW_TEST) + "\n")
        add(tf, f"{top}/training-monolingual.tokenized.shuffled/news.en-00002-of-00100", "\n".join(BW_TRAIN2) + "\n")
        add(tf, f"{top}/heldout-monolingual.tokenized.shuffled/news.en.heldout-00002-of-00050", "x y\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_billionw_processing(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "BILLIONW_SHA256", make_billionw(tmp_path))
    corpus = datasets.load("billionw", data_dir=tmp_path, download=False)
    counts = Counter(w for s in BW_TRAIN + BW_TRAIN2 for w in s.split())
    kept = {w for w, c in counts.items() if c >= 3}
    assert kept == {"a", "b", "c"}
    assert set(corpus.vocab.words) == kept | {"<S>", "</S>", "<UNK>"}  # count >= 3 plus the three specials
    assert corpus.vocab.words[0] == "</S>"  # counted like a word: 6 sentence ends
    words = {s: [corpus.vocab.words[i] for i in corpus.split(s)] for s in datasets.SPLITS}
    # <S> opens each stream once (context only); every sentence ends with a predicted </S>.
    assert words["test"] == ["<S>", "a", "<UNK>", "c", "</S>", "b", "</S>"]
    assert words["valid"] == ["<S>", "c", "c", "</S>"]
    assert words["train"][:5] == ["<S>", "a", "b", "c", "</S>"]
    for s in datasets.SPLITS:
        assert words[s].count("<S>") == 1
        assert isinstance(corpus.split(s), np.memmap)  # ids stream from disk
    assert corpus.info["oov_rate"]["test"] == pytest.approx(1 / 7)
    assert len(words["train"]) == 1 + 14 + 6  # <S>, 14 words, 6 </S>
    assert corpus.info["oov_rate"]["train"] == pytest.approx(3 / 21)  # d, e, f
