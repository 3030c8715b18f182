"""publish_metrics: the final training_metrics.json, Vertex metrics, a Markdown summary, the HTML report."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output


def publish_metrics(
    prepared_data: Input[Dataset],
    training_log: Input[Artifact],
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
    run_project: str = "",
    run_location: str = "",
):
    """Reads the JSON files themselves (artifact metadata can be lost around CustomJobs, kfp #7234).
    Never cached: it writes to metrics_uri and the experiment, outside the pipeline root.

    Args:
        prepared_data: Prepared splits, vocabularies and stats (from data_prep).
        training_log: The run's training log, as the train step left it.
        evaluation: Test figures of the model and the baselines (from evaluate).
        training_metrics: The published training_metrics.json (from publish_metrics).
        metrics: Final metrics and baseline recall, for the console's run comparison.
        summary: Markdown summary of the run.
        report: Self-contained HTML report of the run.
        metrics_uri: Also write training_metrics.json, the status and checkpoints here (gs:// or a folder); {run_id} becomes the
            run id, so a schedule gives each run its own folder. Empty: only the pipeline's artifacts.
        experiment: Log the run to this Vertex AI experiment. Empty: no experiment.
        experiment_tensorboard: Vertex AI TensorBoard resource backing the experiment's time series.
        project: Google Cloud project for the experiment. Empty: the pipeline run's (locally: the environment's).
        location: Google Cloud region for the experiment. Empty: the pipeline run's (locally: the environment's).
        run_project: The pipeline run's project (Vertex fills it in): the experiment's when project is empty.
        run_location: The pipeline run's region (Vertex fills it in): the experiment's when location is empty.
    """
    from recs_pipeline.core import progress
    from recs_pipeline.steps import publish

    with progress.task("publish-metrics"):
        final = publish.run(
            prepared_dir=prepared_data.path,
            training_log_dir=training_log.path,
            evaluation_dir=evaluation.path,
            training_metrics_path=training_metrics.path,
            summary_path=summary.path,
            report_path=report.path,
            metrics_uri=metrics_uri,
            experiment=experiment,
            experiment_tensorboard=experiment_tensorboard,
            project=project,
            location=location,
            run_project=run_project,
            run_location=run_location,
        )
        for name, value in publish.scalar_metrics(final).items():
            metrics.log_metric(name, value)
