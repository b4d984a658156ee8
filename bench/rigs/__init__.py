"""Fixed workloads that commands and benchmarks time: a model with one batch, GPU phases, instances."""
