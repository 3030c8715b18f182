"""Exact retrieval metrics for the model and the baselines, and the evaluate step's output format."""
