"""Run records: single-write appends under a lock, torn lines, meters."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest
import torch

from bench import meters
from bench.report import records


def _record(i: int, pad: int = 0) -> dict:
    return {"schema": records.SCHEMA, "run_id": f"r{i}", "status": "ok", "pad": "x" * pad}


def _writer(path, start, n, pad):
    for i in range(start, start + n):
        records.append(path, _record(i, pad))


def test_concurrent_writers_never_interleave(tmp_path):
    # 200 KB lines: far above PIPE_BUF, so only the lock + single write keep them whole.
    path = tmp_path / "records.jsonl"
    procs = [mp.get_context("fork").Process(target=_writer, args=(path, k * 100, 25, 200_000)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    got = records.read(path)
    assert sorted(r["run_id"] for r in got) == sorted(f"r{k * 100 + i}" for k in range(4) for i in range(25))
    assert all(len(r["pad"]) == 200_000 for r in got)


def test_append_never_rewrites_older_lines(tmp_path):
    path = tmp_path / "records.jsonl"
    records.append(path, _record(0))
    before = path.read_bytes()
    records.append(path, _record(1))
    assert path.read_bytes().startswith(before)
    assert [r["run_id"] for r in records.read(path)] == ["r0", "r1"]


def test_torn_last_line_is_skipped_and_the_next_append_stays_whole(tmp_path):
    path = tmp_path / "records.jsonl"
    records.append(path, _record(0))
    with open(path, "ab") as f:
        f.write(json.dumps(_record(1)).encode()[:20])  # a writer killed mid-write
    with pytest.warns(UserWarning, match="torn"):
        assert [r["run_id"] for r in records.read(path)] == ["r0"]
    records.append(path, _record(2))
    with pytest.warns(UserWarning, match="torn"):
        assert [r["run_id"] for r in records.read(path)] == ["r0", "r2"]


@pytest.mark.parametrize("junk", [b"\x8f\xff garbage \xc3", b"[1, 2, 3]", b"null", b"\x00" * 40, b"[" * 5000])
def test_a_line_that_is_not_a_record_is_skipped_wherever_it_is(tmp_path, junk):
    """Garbage (non-UTF-8 bytes, a JSON list, nesting past the recursion limit) in
    the middle of the file: a warning naming the file and line, not "torn"; the
    records around it and the appends after it are read."""
    path = tmp_path / "records.jsonl"
    records.append(path, _record(0))
    with open(path, "ab") as f:
        f.write(junk + b"\n")
    records.append(path, _record(1))
    with pytest.warns(UserWarning, match=f"{path}:2: skipping a line that is not a JSON object"):
        assert [r["run_id"] for r in records.read(path)] == ["r0", "r1"]
    with open(path, "ab") as f:
        f.write(junk)  # last, with no newline: the next append starts its own line
    records.append(path, _record(2))
    with pytest.warns(UserWarning) as seen:
        assert [r["run_id"] for r in records.read(path)] == ["r0", "r1", "r2"]
    assert [str(w.message).split(": ")[0] for w in seen] == [f"{path}:2", f"{path}:4"]


def test_bad_status_and_foreign_schema_are_refused(tmp_path):
    path = tmp_path / "records.jsonl"
    with pytest.raises(ValueError, match="not one of"):
        records.append(path, {**_record(0), "status": "crashed"})
    assert not path.exists()  # nothing half-written
    path.write_text(json.dumps({**_record(0), "schema": 99}) + "\n")
    with pytest.raises(ValueError, match="schema 99"):
        records.read(path)


def test_missing_file_reads_as_empty(tmp_path):
    assert records.read(tmp_path / "none.jsonl") == []


def test_meters_on_cpu():
    cpu = torch.device("cpu")
    assert meters.gpu_peak_alloc_mb(cpu) is None and meters.gpu_nvml_used_mb(cpu) is None
    big = torch.ones(64 * 2**20 // 4)  # 64 MiB resident
    assert meters.cpu_peak_rss_mb() >= 64
    del big
    watch = meters.Stopwatch(cpu)
    watch.start()
    assert watch.running and watch.now() >= 0
    span = watch.stop()
    assert not watch.running and watch.elapsed == span >= 0


def test_cpu_share_tells_working_from_waiting():
    import os
    import time

    asleep = meters.CpuShare()
    time.sleep(meters.CpuShare.MIN_WALL_S)
    idle = asleep.summary()
    assert idle["cpu_share"] < 0.2  # a sleeping process uses no core
    busy = meters.CpuShare()
    t = time.perf_counter()
    while time.perf_counter() - t < meters.CpuShare.MIN_WALL_S:  # one thread spinning: at most one core
        pass
    work = busy.summary()
    assert 0.5 < work["cpu_share"] <= 1.02  # a tick (10 ms) is 1% of the wall
    # the machine's busy cores include this process's own
    assert work["cpu_share"] - 0.05 <= work["host_busy_cores"] <= os.cpu_count() + 0.02
    assert work["gemm_gflops_start"] > 0.1 and work["gemm_gflops_end"] > 0.1  # a core does GFLOP/s


def test_cpu_share_is_not_guessed_from_a_few_ticks():
    short = meters.CpuShare().summary()  # CPU time comes in 10 ms ticks: 0 or 2.3 cores over 0.02 s
    assert short["cpu_share"] is None and short["host_busy_cores"] is None


def test_git_sha_is_dirty_for_code_changes_not_for_results(tmp_path, monkeypatch):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "records.jsonl").write_text("{}\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "a.py").write_text("")
    git("add", ".")
    git("commit", "-qm", "c")
    monkeypatch.setattr(records, "REPO", tmp_path / "bench")  # as in the package: git runs from a subfolder
    clean = records.git_sha()
    assert len(clean) == 40
    (tmp_path / "results" / "records.jsonl").write_text("{}\n{}\n")  # a suite appended a record
    assert records.git_sha() == clean
    (tmp_path / "code.py").write_text("x = 2\n")  # code outside the folder git runs from
    assert records.git_sha() == clean + "+dirty"
