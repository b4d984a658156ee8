"""Real corpora from the data dir (../shared/data): PTB, Brown, ACLW-small."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import datasets
from datasets import DatasetError, readers
from datasets.build import user_cache_dir, writable

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """The real data dir is read-only, so ids go to the user cache: point that at a temp dir."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))
        yield


@pytest.fixture(scope="module")
def ptb(data_dir):
    return datasets.load("ptb", data_dir=data_dir, download=False)


def test_ptb_counts_and_vocabulary(ptb, data_dir):
    assert len(ptb.vocab) == 10_000
    assert ptb.summary()["tokens"] == {"train": 929_589, "valid": 73_760, "test": 82_430}
    eos = ptb.vocab.stoi["<eos>"]
    for split in datasets.SPLITS:
        lines = (data_dir / f"ptb/ptb.{split}.txt").read_text().splitlines()
        ids = ptb.split(split)
        assert ids.dtype == np.int32
        assert int((ids == eos).sum()) == len(lines)  # one <eos> per line end
        assert ids[-1] == eos
        first = lines[0].split() + ["<eos>"]
        assert [ptb.vocab.words[i] for i in ids[: len(first)]] == first
    assert ptb.info["oov_rate"] == {"train": 0.0, "valid": 0.0, "test": 0.0}  # PTB's <unk> is in the text
    assert ptb.info["sha256"]["ptb/ptb.train.txt"].startswith("fcea919f")


def test_ptb_vocabulary_is_frequency_sorted_and_cached(ptb, data_dir):
    counts = ptb.vocab.counts
    assert counts == sorted(counts, reverse=True)
    assert np.bincount(ptb.train, minlength=len(counts)).tolist() == counts
    cache = ptb.info["cache"]
    # where the ids went depends on the data dir (test below): wherever it is, a second load reads it
    assert cache.startswith(str(data_dir / ".cache") if writable(data_dir) else str(user_cache_dir()))
    again = datasets.load("ptb", data_dir=data_dir, download=False)
    assert again.info["cache"] == cache and np.array_equal(again.test, ptb.test)
    assert json.dumps(again.summary())  # JSON-ready


@pytest.mark.parametrize("read_only", [False, True])
def test_id_cache_goes_to_a_writable_data_dir_else_the_user_cache(data_dir, tmp_path, read_only, monkeypatch):
    """The cache goes beside the data when the data dir is writable, to the user
    cache when it is not; the data files are never modified either way."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # an empty user cache: nothing to reuse
    own = tmp_path / "data"
    (own / "ptb").mkdir(parents=True)
    for split in datasets.SPLITS:
        (own / f"ptb/ptb.{split}.txt").write_bytes((data_dir / f"ptb/ptb.{split}.txt").read_bytes())
    before = {p: p.read_bytes() for p in (own / "ptb").iterdir()}
    if read_only:
        for p in [*before, own / "ptb", own]:
            p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        corpus = datasets.load("ptb", data_dir=own, download=False)
        cache = corpus.info["cache"]
        if read_only:
            assert cache.startswith(str(user_cache_dir())) and not (own / ".cache").exists()
        else:
            assert cache.startswith(str(own / ".cache"))
        assert {p: p.read_bytes() for p in (own / "ptb").iterdir()} == before  # no file changed, none added
    finally:
        for p in [own, own / "ptb", *before]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_brown_from_the_zip(data_dir):
    zpath = data_dir / "brown/brown.zip"
    with zipfile.ZipFile(zpath) as z:
        split = readers.brown_split(z.namelist())
    assert [len(split[s]) for s in datasets.SPLITS] == [400, 50, 50]
    assert split == readers.brown_split(list(reversed(z.namelist())))  # deterministic
    corpus = datasets.load("brown", data_dir=data_dir, download=False)
    eos = corpus.vocab.stoi["<eos>"]
    words = sum(int((corpus.split(s) != eos).sum()) for s in datasets.SPLITS)
    assert words == 1_161_192  # tokens before the split, tags stripped: no word lost or split
    assert corpus.vocab.words[0] == "the" and "the/at" not in corpus.vocab.stoi  # tags stripped
    assert all(w == w.lower() for w in corpus.vocab.words)
    assert 0 < corpus.info["oov_rate"]["test"] < 0.1


def test_aclw_reader_on_real_valid_test(data_dir):
    for lang in ("cs", "ru"):
        for split in ("valid", "test"):
            path = data_dir / f"aclw-small/{lang}/{split}.txt"
            sents = list(readers.lines(path)())
            assert len(sents) == len(path.read_text(encoding="utf-8").splitlines())
            assert sum(len(s) for s in sents) > 60_000
            assert any("<unk>" in s for s in sents)


def test_aclw_small_loads_real_files_through_the_registry(data_dir, tmp_path):
    """The real valid/test (checksums verified) in the mapped layout, linked
    into a writable data dir; the real test text stands in for the absent train."""
    folder = tmp_path / "aclw-small/ru"
    folder.mkdir(parents=True)
    real = data_dir / "aclw-small/ru"
    for name, src in (("train", "test"), ("valid", "valid"), ("test", "test")):
        (folder / f"{name}.txt").symlink_to(real / f"{src}.txt")
    corpus = datasets.load("aclw-small-ru", data_dir=tmp_path, download=False)
    assert corpus.info["oov_rate"]["test"] == 0.0 and 0 < corpus.info["oov_rate"]["valid"] < 0.5
    assert corpus.info["sha256"]["aclw-small/ru/valid.txt"].startswith("a7e43647")
    assert (folder / "train.txt.sha256").exists()  # unpublished checksum recorded on first use
    n_lines = len((real / "valid.txt").read_text(encoding="utf-8").splitlines())
    assert int((corpus.valid == corpus.vocab.stoi["<eos>"]).sum()) == n_lines


def test_aclw_small_without_train_names_file_and_url(data_dir):
    with pytest.raises(DatasetError) as e:
        datasets.load("aclw-small-cs", data_dir=data_dir, download=False)
    msg = str(e.value)
    assert str(data_dir / "aclw-small/cs/train.txt") in msg
    assert "icml14-data.tar.bz2" in msg


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError, match="aclw-czech.*ptb.*synthetic"):
        datasets.load("ptbx")


def test_bench_info_prints_one_json_object(capsys, data_dir):
    from bench.cli import main

    assert main(["info", "--dataset", "synthetic"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "synthetic" and out["vocab_size"] == 2000
    assert out["oracle_ppl"] == pytest.approx(datasets.load("synthetic").info["oracle_ppl"])
    assert main(["info", "--dataset", "ptb", "--data-dir", str(data_dir), "--no-download"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"]["valid"] == 73_760 and set(out["oov_rate"]) == set(datasets.SPLITS)
    assert main(["info", "--dataset", "nope"]) == 2
    assert "choose from" in capsys.readouterr().err
