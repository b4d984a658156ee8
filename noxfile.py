"""Nox sessions: tests, bench, lint, asv, perf, gpu.

All sessions share ONE virtualenv (.nox/shared) that is rebuilt only when its
inputs (pyproject.toml, constraints.txt) change, so a second `nox -s tests`
starts in seconds instead of reinstalling torch.

torch is pinned by constraints.txt (torch==2.13.0): an unpinned torch resolves
to a multi-GB CUDA build on CPU-only machines. GPU users who already have a
CUDA torch set LIGHTRNN_SYSTEM_TORCH=1: the venv then sees the interpreter's
site-packages and the pin is not applied.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "none"

ROOT = Path(__file__).parent
VENV = ROOT / ".nox" / "shared"
INPUTS = ("pyproject.toml", "constraints.txt")
SYSTEM_TORCH = os.environ.get("LIGHTRNN_SYSTEM_TORCH") == "1"


def _python() -> str:
    """Create or reuse the shared venv; return its interpreter path."""
    digest = hashlib.sha256(str(SYSTEM_TORCH).encode())
    for name in INPUTS:
        digest.update((ROOT / name).read_bytes())
    stamp = VENV / ".inputs-sha256"
    py = VENV / "bin" / "python"
    if stamp.exists() and stamp.read_text() == digest.hexdigest() and py.exists():
        return str(py)
    shutil.rmtree(VENV, ignore_errors=True)
    args = [sys.executable, "-m", "venv", str(VENV)]
    if SYSTEM_TORCH:
        args.append("--system-site-packages")
    subprocess.run(args, check=True)
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if not SYSTEM_TORCH:
        subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "torch"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    # KenLM builds from source (needs g++): a failed build is logged, not fatal,
    # and the ARPA cross-check tests skip, pointing at this log.
    with open(VENV / "kenlm-build.log", "w") as log:
        subprocess.run([*pip, "-e", f"{ROOT}[kenlm]"], stdout=log, stderr=subprocess.STDOUT, check=False)
    stamp.write_text(digest.hexdigest())
    return str(py)


def _env() -> dict[str, str]:
    # One torch thread unless told otherwise: 2 threads on a shared 2-core
    # machine were measured 20-180x slower than 1.
    return {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (real-data tests read LIGHTRNN_DATA_DIR)."""
    py = _python()
    session.run(py, "-m", "pytest", *session.posargs, external=True, env=_env())


@nox.session
def bench(session: nox.Session) -> None:
    """`nox -s bench -- ARGS` runs `python -m bench run ARGS`;
    `nox -s bench -- --suite NAME ARGS` runs `python -m bench suite NAME ARGS`."""
    py = _python()
    args = list(session.posargs)
    if args[:1] == ["--suite"]:
        session.run(py, "-m", "bench", "suite", *args[1:], external=True, env=_env())
    else:
        session.run(py, "-m", "bench", "run", *args, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check over the project."""
    py = _python()
    session.run(py, "-m", "ruff", "check", ".", *session.posargs, external=True)


# asv names stored results after the interpreter's path, so it always runs
# through this fixed link to the shared venv: results from any clone compare.
ASV_VENV_LINK = Path("/tmp/lightrnn-bench-asv")
ASV_MACHINE = os.environ.get("LIGHTRNN_ASV_MACHINE", "ci-2core")


@nox.session
def asv(session: nox.Session) -> None:
    """Run the asv suite on HEAD, store it in .asv/results, fail on a regression
    against the previous stored commit (`-- --factor 1.5` to change the bar)."""
    _python()
    if ASV_VENV_LINK.is_symlink() or ASV_VENV_LINK.exists():
        ASV_VENV_LINK.unlink()
    ASV_VENV_LINK.symlink_to(VENV)
    py = str(ASV_VENV_LINK / "bin" / "python")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    run = dict(external=True, env=_env())
    # The machine file, written without prompts under the fixed name (`asv machine
    # --yes --machine NAME` would store the name alone, not the hardware).
    session.run(py, "-c", "import sys; from asv.machine import Machine, MachineCollection as M; "
                "d = Machine.get_defaults(); d['machine'] = sys.argv[1]; M.save(sys.argv[1], d)",
                ASV_MACHINE, **run)
    session.run(py, "-m", "asv", "run", "--machine", ASV_MACHINE, "-E", f"existing:{py}",
                "--set-commit-hash", head, "--show-stderr", **run)
    session.run(py, "-m", "bench", "regress", "--machine", ASV_MACHINE, "--python", py,
                "--commit", head, *session.posargs, **run)


@nox.session
def perf(session: nox.Session) -> None:
    """pytest-benchmark microbenchmarks (tests/perf), saved under .benchmarks/;
    fails when a mean is 25% slower than the last save on this machine."""
    py = _python()
    args = ["tests/perf", "--perf", "--benchmark-enable", "--benchmark-autosave"]
    if any((ROOT / ".benchmarks").glob("*/*.json")):
        args += ["--benchmark-compare", "--benchmark-compare-fail=mean:25%"]
    session.run(py, "-m", "pytest", *args, *session.posargs, external=True, env=_env())


@nox.session
def gpu(session: nox.Session) -> None:
    """The prepared GPU run (bench/commands/gpu.py): correctness, throughput and
    memory of all four models at V = 206K and 793,471 (fp32 and bf16), the
    reallocation at 793,471, short PTB runs; < 8 minutes on one CUDA device.
    Set LIGHTRNN_SYSTEM_TORCH=1 to keep your CUDA torch. `-- ARGS` go to the script."""
    py = _python()
    session.run(py, "-m", "bench", "gpu", "--budget-s", "420", *session.posargs, external=True)
