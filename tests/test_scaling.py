"""`python -m bench scaling`: parameter scaling laws (exact, counted on the
meta device), the report, and one real measured point per model (slow)."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.commands import scaling as cmd_scaling
from bench.report import scaling_report


@pytest.fixture(scope="module")
def counted():
    """Every grid point counted on meta, none measured (max_vocab 0)."""
    return cmd_scaling.sweep(["lstm", "lightrnn"], 0, 1.0, 1.0, "cpu", 1, log=lambda s: None)


def test_parameter_slopes(counted):
    assert {r["V"] for r in counted} == set(cmd_scaling.COUNT_GRID)
    assert all(r["source"].startswith("counted on meta") for r in counted)
    # Full softmax: embedding V x 200 + output 200 x V + V biases = 401 V exactly.
    assert cmd_scaling.slope(counted, "lstm", "params_vocab") == pytest.approx(1.0, abs=1e-6)
    # LightRNN: (R + C) row/column vectors with R, C ~ sqrt(V).
    assert cmd_scaling.slope(counted, "lightrnn", "params_vocab") == pytest.approx(0.5, abs=0.01)
    ten_m = {r["model"]: r["params_vocab"] for r in counted if r["V"] == 10_000_000}
    assert ten_m["lstm"] == 401 * 10_000_000
    # C = ceil(sqrt(10M)) = 3163, R = ceil(10M / C) = 3162; in vectors 200 wide, out 200 + bias.
    assert ten_m["lightrnn"] == (3162 + 3163) * (200 + 201)


def test_slope_needs_two_points():
    rows = [{"model": "m", "V": 100_000, "x": 5.0}, {"model": "m", "V": 200_000, "x": None}]
    assert cmd_scaling.slope(rows, "m", "x") is None


def test_report_from_counted_rows(counted, tmp_path):
    slopes = {m: {k: cmd_scaling.slope(counted, m, k) for k in scaling_report.SLOPE_KEYS}
              for m in ("lstm", "lightrnn")}
    meta = {"device": "cpu", "threads": 1, "cpus": 2, "loadavg_before": (0.5, 0, 0),
            "loadavg_after": (0.7, 0, 0), "seconds": 1.0, "time_budget_s": 1.0, "mem_budget_mb": 1.0}
    md = scaling_report.markdown(counted, slopes, meta)
    assert "| 10,000,000 |" in md and "4,010,643,200" in md  # lstm's params at 10M
    assert "| lstm     | 0.99" in md  # slopes printed with two decimals
    assert "(none measured)" in md and "(not measured)" in md  # no tokens/s, no ratio
    scaling_report.plot(counted, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_ratios_at_200k():
    rows = [{"model": m, "V": 200_000, "tokens_per_s": t}
            for m, t in (("lightrnn", 8000.0), ("lstm", 200.0), ("adaptive", 1000.0))]
    assert scaling_report.ratios(rows) == {"lstm": 40.0, "adaptive": 8.0}


@pytest.mark.parametrize("args, message", [
    (["--models", "nope"], "unknown models ['nope']"),
    (["--max-vocab", "10"], "--max-vocab must be >= 1000"),
])
def test_bad_input_is_one_line(args, message, tmp_path, capsys):
    assert main(["scaling", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_one_measured_point_per_model(tmp_path):
    assert main(["scaling", "--max-vocab", "1000", "--models", "lstm", "lightrnn",
                 "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "scaling.json").read_text())
    measured = [r for r in data["rows"] if r["source"] == "measured"]
    assert [(r["model"], r["V"]) for r in measured] == [("lstm", 1000), ("lightrnn", 1000)]
    assert all(r["tokens_per_s"] > 0 and r["peak_mb"] > 0 and r["eval_tokens_per_s"] > 0 and r["eval_peak_mb"] > 0
               for r in measured)
    assert data["meta"]["gemm_flops"] > 1e8 and all(0 < r["of_limit"] for r in measured)
    assert all(r["limit_tokens_per_s"] == pytest.approx(data["meta"]["gemm_flops"] / (6 * r["macs_per_token"]))
               for r in measured)
    assert "share of the compute limit" in (md := (tmp_path / "scaling.md").read_text())
    assert "Evaluation tokens/s" in md and "Peak memory of evaluation" in md
    assert (tmp_path / "scaling.md").exists() and (tmp_path / "scaling.png").exists()
