"""The LightRNN benchmark harness: trainer, meters, run records, tables, plots."""
