"""data_prep: interactions (or the embedded synthetic default) in; splits, vocabularies and stats out."""

from kfp.dsl import Dataset, Metrics, Output


def data_prep(
    prepared_data: Output[Dataset],
    data_stats: Output[Metrics],
    input_uri: str = "",
    user_column: str = "customer_id",
    item_column: str = "product_id",
    timestamp_column: str = "timestamp",
    user_features: str = "",
    item_features: str = "",
    where: str = "",
    dedupe: bool = False,
    split: str = "temporal",
    test_start: str = "",
    test_fraction: float = 0.1,
    val_fraction: float = 0.1,
    timestamp_format: str = "",
    delimiter: str = "",
    encoding: str = "utf-8",
    synthetic_purchases: int = 200000,
    synthetic_customers: int = 5000,
    synthetic_products: int = 2000,
    seed: int = 42,
):
    """Read (or generate, when input_uri is empty), clean, split by time, index."""
    from recs_pipeline.core import progress
    from recs_pipeline.steps import prep

    with progress.task("data-prep"):
        stats = prep.run(
            output_dir=prepared_data.path,
            input_uri=input_uri,
            prep_settings=dict(
                user_column=user_column,
                item_column=item_column,
                timestamp_column=timestamp_column,
                user_features=user_features,
                item_features=item_features,
                where=where,
                dedupe=dedupe,
                split=split,
                test_start=test_start,
                test_fraction=test_fraction,
                val_fraction=val_fraction,
                timestamp_format=timestamp_format,
                delimiter=delimiter,
                encoding=encoding,
                seed=seed,
            ),
            synthetic_settings=dict(
                num_purchases=synthetic_purchases,
                num_customers=synthetic_customers,
                num_products=synthetic_products,
                seed=seed,
            ),
        )
        for name, value in prep.numeric_stats(stats).items():
            data_stats.log_metric(name, value)
        prepared_data.metadata.update({"users": stats["users"], "items": stats["items"], "source": stats["source"]})
