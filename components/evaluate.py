"""evaluate: recall@K, NDCG@K and MRR over the whole catalog, for the model and the baselines."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def evaluate(
    prepared_data: Input[Dataset],
    model: Input[Model],
    training_log: Input[Artifact],
    evaluation: Output[Artifact],
):
    """Exact brute-force ranking of the test split; baselines scored by the same ranker.

    Args:
        prepared_data: Prepared splits, vocabularies and stats (from data_prep).
        model: The trained towers to rank with.
        training_log: The run's training log; its params set the test loss.
        evaluation: Recall/NDCG@K and MRR of the model and of the baselines (evaluation.json).
    """
    import os

    from recs_pipeline.core import progress
    from recs_pipeline.steps import evaluate

    with progress.task("evaluate"):
        evaluate.run(
            prepared_dir=prepared_data.path,
            model_dir=model.path,
            training_log_file=os.path.join(training_log.path, "training_metrics.json"),
            output_dir=evaluation.path,
        )
