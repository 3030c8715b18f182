"""The training loop's machinery: callbacks, resume from checkpoints, distribution strategy, preemption."""
