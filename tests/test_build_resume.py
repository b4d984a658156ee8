"""A BillionW build killed outright (SIGKILL) leaves no cache that loads, and the
next load rebuilds it, equal to a clean build; temp folders of dead builders are
swept, those of live ones kept. The archive comes from scripts/billionw_like.py
at a tiny scale, which also checks that the real loader reads its layout."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

import datasets
from datasets import build, fetch, registry

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "billionw_like.py"
_spec = importlib.util.spec_from_file_location("billionw_like", SCRIPT)
bwl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bwl)

TOKENS = 2_000_000  # a build of ~0.5-2 s: long enough to be killed in its encode pass


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("bwl")
    subprocess.run([sys.executable, str(SCRIPT), "gen", "--out", str(out), "--tokens", str(TOKENS), "--seed", "1"],
                   check=True, capture_output=True)
    return out / bwl.ARCHIVE


@pytest.fixture
def data(archive, tmp_path, monkeypatch):
    """A fresh data dir holding the archive, which the loader accepts."""
    d = tmp_path / "data"
    (d / "billionw").mkdir(parents=True)
    shutil.copyfile(archive, d / bwl.ARCHIVE)
    monkeypatch.setattr(registry, "BILLIONW_SHA256", fetch.sha256_file(archive))
    return d


def load(d):
    return datasets.load("billionw", data_dir=d, download=False)


def start_build(d, tmp_path) -> subprocess.Popen:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    return subprocess.Popen([sys.executable, str(SCRIPT), "build", "--out", str(d)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def encoding(d, proc):
    """The temp folder of `proc`'s build once it is writing ids (pass 2)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        hits = list((d / ".cache").glob(f".billionw-*-{proc.pid}.*/train.npy"))
        if hits:
            return hits[0].parent
        if proc.poll() is not None:
            pytest.fail(f"the build ended before its encode pass: {proc.stderr.read().decode()}")
        time.sleep(0.002)
    pytest.fail("the build never reached its encode pass")


def same(a, b) -> None:
    assert a.vocab.words == b.vocab.words and a.vocab.counts == b.vocab.counts
    for s in datasets.SPLITS:
        np.testing.assert_array_equal(a.split(s), b.split(s))
    assert {**a.info, "cache": None} == {**b.info, "cache": None}


def test_generated_layout_reads_as_billionw(archive, data):
    with tarfile.open(archive) as tf:
        names = {m.name.split("/", 1)[1] for m in tf}
    assert names == {"README"} | {f"training-monolingual.tokenized.shuffled/news.en-{i:05d}-of-00100" for i in range(1, 100)} \
        | {f"heldout-monolingual.tokenized.shuffled/news.en.heldout-{i:05d}-of-00050" for i in range(50)}
    corpus = load(data)
    words = {s: corpus.split(s) for s in datasets.SPLITS}
    eos, bos = corpus.vocab.stoi["</S>"], corpus.vocab.stoi["<S>"]
    shard = TOKENS // 100
    for s, n in {"train": 99 * shard, "valid": shard // 50, "test": shard // 50}.items():
        assert words[s][0] == bos and np.count_nonzero(words[s] == bos) == 1
        assert np.count_nonzero(words[s] != eos) - 1 == n  # every word of the split's shards, read once
    assert 23 < 99 * shard / np.count_nonzero(words["train"] == eos) < 28  # words a sentence
    # count >= 3 words, as the fitted Zipf law predicts (+ </S>, <S>, <UNK>)
    assert len(corpus.vocab) - 3 == pytest.approx(bwl.expected_kept(99 * shard), rel=0.02)
    assert 0 < corpus.info["oov_rate"]["test"] < 0.05


def test_generator_is_seeded_and_refuses_the_repo_and_existing_archives(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        bwl.main(["gen", "--out", str(d), "--tokens", "5000", "--seed", "3"])
    assert (a / bwl.ARCHIVE).read_bytes() == (b / bwl.ARCHIVE).read_bytes()
    with pytest.raises(SystemExit, match="exists"):
        bwl.main(["gen", "--out", str(a), "--tokens", "5000"])
    with pytest.raises(SystemExit, match="inside the repository"):
        bwl.main(["gen", "--out", str(REPO / "data"), "--tokens", "5000"])
    assert not (REPO / "data").exists()


def test_killed_build_leaves_no_cache_and_the_next_load_rebuilds(data, archive, tmp_path):
    proc = start_build(data, tmp_path)
    tmp = encoding(data, proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    cache = data / ".cache"
    assert [p for p in cache.iterdir() if not p.name.startswith(".")] == []  # no cache folder appeared
    assert not (tmp / "info.json").exists() and tmp.exists()  # only the dead builder's temp folder

    rebuilt = load(data)
    assert not tmp.exists()  # swept: its builder is dead
    assert [p.name for p in cache.iterdir()] == [Path(rebuilt.info["cache"]).name]
    clean = tmp_path / "clean"
    (clean / "billionw").mkdir(parents=True)
    shutil.copyfile(archive, clean / bwl.ARCHIVE)
    same(rebuilt, load(clean))


def test_a_live_concurrent_build_is_left_alone(data, tmp_path):
    proc = start_build(data, tmp_path)
    tmp = encoding(data, proc)
    proc.send_signal(signal.SIGSTOP)  # alive but making no progress while we build beside it
    try:
        ours = load(data)
        assert tmp.exists()
    finally:
        proc.send_signal(signal.SIGCONT)
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()  # it finishes; our cache stands
    assert not tmp.exists()
    same(ours, load(data))


def test_sweep_removes_only_dead_builders_of_this_key_on_this_host(tmp_path):
    key, host, live = "billionw-0123456789ab", build._host(), os.getpid()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid no longer runs
    names = {
        "dead": f".{key}.{host}-{dead.pid}.abc12345",
        "live": f".{key}.{host}-{live}.def12345",
        "other host": f".{key}.{host}x-{dead.pid}.ghi12345",
        "other key": f".billionw-ba9876543210.{host}-{dead.pid}.jkl12345",
        "cache": key,
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.npy").write_bytes(b"ids")
    build.sweep_dead_builds(tmp_path, key)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for k, n in names.items() if k != "dead")
    build.sweep_dead_builds(tmp_path / "missing", key)  # no folder yet: nothing to do


def test_rehearsal_runs_the_real_command_on_the_generated_archive(data, tmp_path):
    """scripts/billionw_rehearse.py run: `bench run --dataset billionw` on the
    synthetic archive (its own checksum trusted), stopped by --max-steps."""
    from bench.report import records

    spec = importlib.util.spec_from_file_location("billionw_rehearse", REPO / "scripts" / "billionw_rehearse.py")
    rehearse = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rehearse)
    results = tmp_path / "results"
    rc = rehearse.main(["run", "--out", str(data), "--", "--models", "lightrnn", "--set", "embedding_dim=8",
                        "--set", "hidden_dim=8", "--set", "layers=1", "--max-steps", "3", "--bptt", "5",
                        "--results", str(results), "--no-tables"])
    (rec,) = records.read(results / "records.jsonl")
    assert rc == 0 and rec["dataset"] == "billionw" and rec["status"] == "ok"
    assert rec["stop_reason"] == "max_steps" and rec["metrics"]["steps"] == 3
    assert rec["vocab_size"] == len(load(data).vocab)
