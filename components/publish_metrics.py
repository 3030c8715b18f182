"""publish_metrics: the final training_metrics.json, Vertex metrics, a Markdown summary, the HTML report."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output


def publish_metrics(
    prepared_data: Input[Dataset],
    training_history: Input[Artifact],
    evaluation: Input[Artifact],
    training_metrics: Output[Artifact],
    metrics: Output[Metrics],
    summary: Output[Markdown],
    report: Output[HTML],
    metrics_uri: str = "",
    experiment: str = "",
    experiment_tensorboard: str = "",
    project: str = "",
    location: str = "",
):
    """Reads the JSON files themselves (artifact metadata can be lost around CustomJobs, kfp #7234)."""
    from recs_pipeline.core import progress
    from recs_pipeline.steps import publish

    with progress.task("publish-metrics"):
        final = publish.run(
            prepared_dir=prepared_data.path,
            history_dir=training_history.path,
            evaluation_dir=evaluation.path,
            training_metrics_path=training_metrics.path,
            summary_path=summary.path,
            report_path=report.path,
            metrics_uri=metrics_uri,
            experiment=experiment,
            experiment_tensorboard=experiment_tensorboard,
            project=project,
            location=location,
        )
        for name, value in publish.scalar_metrics(final).items():
            metrics.log_metric(name, value)
