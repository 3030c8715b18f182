"""One body per pipeline step (data_prep, train, evaluate, publish_metrics); no step imports another."""
