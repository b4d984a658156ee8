"""asv benchmarks (`nox -s asv`): time, peak memory and tracked figures per
model and vocabulary size, CPU-sized so a full run fits ~10 min on 2 cores."""
