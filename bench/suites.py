"""The suites: named grids of equal-budget runs (corpus x model x preset x
seed), what `python -m bench suite NAME` runs (bench/commands/suite.py)."""

from __future__ import annotations

from bench.presets import KN, ORDER, PRESETS

SUITES = {
    # Every model on the two real corpora at hand, on one thread each: 30 minutes
    # a run is ~2-3 epochs of PTB for the softmax baselines at the CPU preset
    # (past their first lr halving) and the same wall clock for every model.
    # LightRNN moves words by the paper's plateau rounds, its bootstrap default
    # (results/bootstrap-real), on the same lr schedule as every other model.
    # Under "cpu" its rounds split the suite's 100 epochs evenly: the only move
    # would come at epoch 50, past any 30-minute budget. It starts from the
    # clusters table (cpu-rounds-clusters), which beat the paper's random table
    # held fixed on both corpora, its cost charged (results/suite-allocation-cpu);
    # that table held fixed beside it. Its clusters cells are allocation-cpu's
    # records, copied: the same code path. The paper's random start stays as
    # cells: its rounds (cpu-rounds), the control (the same training, the table
    # never moved), cpu-bootstrap (rounds that also end at a decayed lr, the
    # suite's first LightRNN runs) and, on PTB, two more embedding sizes (Table
    # 2's axis; 400 is ~4x the LSTM work of 200).
    "real-cpu": dict(datasets=["ptb", "brown"], models=ORDER, seeds=[0, 1], budget_s=1800.0, presets=["cpu"],
                     model_presets={"lightrnn": "cpu-rounds-clusters"}, epochs=100,
                     extra=[dict(model="lightrnn", preset="cpu-fixed-clusters"),
                            dict(model="lightrnn", preset="cpu-rounds"),
                            dict(model="lightrnn", preset="cpu-no-move"),
                            dict(model="lightrnn", preset="cpu-bootstrap"),
                            dict(model="lightrnn", preset="cpu-rounds-100", datasets=["ptb"]),
                            dict(model="lightrnn", preset="cpu-rounds-400", datasets=["ptb"])],
                     sizes=["cpu-rounds-100", "cpu-rounds", "cpu-rounds-400"],
                     # Runs of these models (on this corpus: "model@corpus") count only from this
                     # commit on. c6c6b22: the HSM's CPU output became one GEMM per class (2-3x the
                     # tokens/s). 0e5f672: sparse gradients for the V-row input table, ~1.2x the HSM's
                     # tokens/s at Brown's V = 44K; within noise at PTB's 10K and for the full softmax.
                     renewed={"hsm": "c6c6b22", "chsm": "c6c6b22", "hsm@brown": "0e5f672"}),
    # Where LightRNN's perplexity goes (results/suite-allocation-cpu/README.md): start tables
    # held fixed (bench/presets.py: cpu-fixed-*), the fresh start after a move, and the ablations
    # that split LightRNN into its halves, at real-cpu's budget and sizes. Its random fixed table
    # (cpu-no-move) and HSM cells are real-cpu's records, copied: the same code path.
    "allocation-cpu": dict(datasets=["ptb", "brown"], models=["lightrnn"], seeds=[0, 1], budget_s=1800.0,
                           presets=["cpu-fixed-frequency", "cpu-fixed-clusters"], epochs=100,
                           extra=[dict(model="lightrnn", preset="cpu-no-move"), dict(model="hsm", preset="cpu"),
                                  *(dict(model=m, preset="cpu-ablations") for m in
                                    ("ablation-table-input", "ablation-table-output", "ablation-argmax-row")),
                                  dict(model="lightrnn", preset="cpu-rounds-clusters"),
                                  dict(model="lightrnn", preset="cpu-fresh"),
                                  dict(model="ablation-argmax-row", preset="cpu-rounds-argmax", epochs=2)],
                           seed_first=True, report="allocation"),  # every cell's seed 0 before any seed 1
    # LightRNN's bootstrap variants (bench/train/schedule.py) at equal time: the control
    # (random table held fixed), the paper's rounds, CNTK's restart, a trust region.
    # 20 minutes a run: ~8 PTB epochs of LightRNN, room for 2-3 plateau rounds.
    "bootstrap-real": dict(datasets=["ptb", "brown"], models=["lightrnn"], seeds=[0], budget_s=1200.0,
                           presets=["cpu-fixed", "cpu-paper", "cpu-rows-first", "cpu-trust", "cpu-train-tables",
                                    "cpu-restart"],
                           epochs=100),
    # The same on a corpus whose best table is known: 45 x 45 words in 45 hidden
    # classes of 45, so one class can fill one row; plus that table held fixed.
    "bootstrap-synthetic": dict(datasets=["synthetic"], models=["lightrnn"], seeds=[0, 1], budget_s=600.0,
                                presets=["cpu-fixed", "cpu-paper", "cpu-rows-first", "cpu-oracle", "cpu-trust",
                                         "cpu-train-tables", "cpu-restart"],
                                epochs=100, args=["--dataset-opt", "vocab_size=2025", "--dataset-opt", "classes=45"]),
    # Seconds, for the tests: the same machinery on the embedded corpus.
    "smoke": dict(datasets=["synthetic"], models=["lstm", "lightrnn"], seeds=[0, 1], budget_s=30.0, presets=["cpu"],
                  epochs=2, args=["--dataset-opt", "vocab_size=60", "--dataset-opt", "classes=6",
                                  "--dataset-opt", "train_tokens=3000", "--dataset-opt", "valid_tokens=400",
                                  "--dataset-opt", "test_tokens=400", "--set", "embedding_dim=16",
                                  "--set", "hidden_dim=16", "--set", "layers=1", "--bptt", "10",
                                  "--batch-size", "8"]),
}



def plan(name: str) -> list[dict]:
    """Every run: corpus x seed x preset x model (the models each preset configures),
    then the suite's extra (model, preset) pairs over their corpora and the seeds."""
    s = SUITES[name]
    own = s.get("model_presets", {})  # a model's own preset in place of the suite's
    grid = [dict(dataset=d, model=m, seed=seed, preset=own.get(m, p)) for d in s["datasets"] for seed in s["seeds"]
            for p in s["presets"] for m in s["models"] if m == KN or m in PRESETS[own.get(m, p)].models]
    runs = grid + [dict(dataset=d, model=e["model"], seed=seed, preset=e["preset"],
                        **({"epochs": e["epochs"]} if "epochs" in e else {}))  # its own epochs, not the suite's
                   for e in s.get("extra", []) for d in e.get("datasets", s["datasets"]) for seed in s["seeds"]]
    if s.get("seed_first"):  # a first answer from every cell (seed 0, each corpus) before the second seeds
        runs.sort(key=lambda r: (r["seed"], s["datasets"].index(r["dataset"])))
    return runs
