"""The training history: collector, sink, schema, reader, report and comparison of training_metrics.json."""
