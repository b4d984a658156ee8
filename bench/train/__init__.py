"""What a run does: the trainer, its one step, evaluation, checkpoints, data parallelism."""
