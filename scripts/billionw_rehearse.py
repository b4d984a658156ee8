"""The model side of the One Billion Word rehearsal, on the archive that
scripts/billionw_like.py generates (its checksum replaced, as `build` does).

    python scripts/billionw_rehearse.py run --out DIR -- [bench run arguments]
    python scripts/billionw_rehearse.py tables --out DIR [--tokens N] [--checkpoint FILE]

`run` is `python -m bench run --dataset billionw --data-dir DIR ...`: the real
command, trainer, checkpoints and records, e.g. a few dozen steps of the
paper-billionw LightRNN with `--models lightrnn --preset paper-billionw
--max-steps 40`.

`tables` is LightRNN's end of round on the first N training tokens (a full
pass over 792M tokens is a GPU's job): the paper-billionw LightRNN (the
weights of a `run` checkpoint if given), its loss tables [V, R] and [V, C]
summed over the slice, the matching at V = 793,471 and the pass after the
move, each timed. It prints one JSON object with where the tables lived,
their size and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _trust_archive(out: Path) -> None:
    """The synthetic archive cannot match the release's published sha256."""
    from datasets import fetch, registry

    registry.BILLIONW_SHA256 = fetch.sha256_file(out / registry.BILLIONW_FILE)


def run(out: Path, bench_args: list[str]) -> int:
    from bench.cli import main

    _trust_archive(out)
    return main(["run", "--dataset", "billionw", "--data-dir", str(out), *bench_args])


def tables(out: Path, tokens: int, checkpoint: Path | None, batch_size: int, bptt: int) -> dict:
    import torch

    import datasets
    import models
    from bench import meters
    from bench.presets import preset_config
    from models.bootstrap.passes import empty_tables
    from models.bootstrap.round import reallocation_round

    torch.set_num_threads(1)
    _trust_archive(out)
    start = time.perf_counter()
    corpus = datasets.load("billionw", data_dir=out, download=False)
    load_s = time.perf_counter() - start
    torch.manual_seed(0)
    model = models.build("lightrnn", len(corpus.vocab), **preset_config("lightrnn", "paper-billionw"))
    if checkpoint is not None:
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["model"])
    model.eval()
    probe = empty_tables(model)  # where reallocation_round's tables will live, and their size
    where, table_bytes = str(probe[0].device), sum(t.numel() * t.element_size() for t in probe)
    del probe
    rss_before = meters.cpu_rss_mb()
    figures = reallocation_round(model, corpus.train[:tokens], batch_size, bptt)
    keep = ("method", "cost", "lower_bound", "gap", "converged", "fallback", "moved", "seconds_accumulate", "seconds_match",
            "seconds_measure", "nll_per_token_old", "nll_per_token_predicted", "nll_per_token_after")
    return {"V": model.vocab_size, "R": model.rows, "C": model.cols, "slice_tokens": tokens,
            "batch_size": batch_size, "bptt": bptt, "checkpoint": str(checkpoint) if checkpoint else None,
            "params": model.param_counts()["total"], "tables_device": where, "tables_gb": table_bytes / 1e9,
            "corpus_load_s": round(load_s, 1), "rss_before_mb": round(rss_before),
            "peak_rss_mb": round(meters.cpu_peak_rss_mb()), **{k: figures.get(k) for k in keep}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["run", "tables"])
    p.add_argument("--out", type=Path, required=True, help="the data dir billionw_like.py gen wrote into")
    p.add_argument("--tokens", type=int, default=50_000, help="tables: training tokens in the slice")
    p.add_argument("--checkpoint", type=Path, help="tables: a trainer checkpoint of the paper-billionw LightRNN")
    p.add_argument("--batch-size", type=int, default=20, help="tables: streams of the pass")
    p.add_argument("--bptt", type=int, default=35, help="tables: steps per segment of the pass")
    args, rest = p.parse_known_args(argv)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if args.command == "run":
        return run(args.out.resolve(), rest)
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.tokens < args.batch_size * 2:
        p.error(f"--tokens must be at least {args.batch_size * 2} (two rows of the batch)")
    print(json.dumps(tables(args.out.resolve(), args.tokens, args.checkpoint, args.batch_size, args.bptt),
                     indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
