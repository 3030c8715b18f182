"""The two-tower model: towers, the buy-again term, gradient statistics, the trained-model folder, serving export."""
