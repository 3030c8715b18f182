"""data_prep: interactions (or the embedded synthetic default) in; splits, vocabularies and stats out."""

from kfp.dsl import Dataset, Metrics, Output


def data_prep(
    prepared_data: Output[Dataset],
    data_stats: Output[Metrics],
    input_uri: str = "",
    input_fingerprint: str = "",
    user_column: str = "customer_id",
    item_column: str = "product_id",
    timestamp_column: str = "timestamp",
    user_features: str = "",
    item_features: str = "",
    user_numeric_features: str = "",
    item_numeric_features: str = "",
    user_text_features: str = "",
    item_text_features: str = "",
    users_input: str = "",
    items_input: str = "",
    where: str = "",
    dedupe: bool = False,
    split: str = "temporal",
    test_start: str = "",
    test_fraction: float = 0.1,
    val_fraction: float = 0.1,
    timestamp_format: str = "",
    delimiter: str = "",
    encoding: str = "utf-8",
    query: str = "",
    bq_staging_dataset: str = "",
    engine: str = "auto",
    synthetic_purchases: int = 200000,
    synthetic_customers: int = 5000,
    synthetic_products: int = 2000,
    seed: int = 42,
):
    """Read (or generate, when input_uri and query are empty), clean, split by time, index. Cached on its
    inputs, which include the input files' fingerprint: the same files and settings reuse the
    prepared data, changed files prepare it again.

    Args:
        prepared_data: Prepared splits, vocabularies and stats (from data_prep).
        data_stats: Row, customer and product counts and what cleaning dropped.
        input_uri: Interactions to train on: a CSV or Parquet file, a glob (gs://bucket/orders/*.parquet) or a folder, local or
            gs://, or a BigQuery table (bq://project.dataset.table). Empty: the embedded synthetic B2B data.
        input_fingerprint: Digest of the input files' names, sizes and generations, or the table's metadata (from
            input_fingerprint): part of the cache key, so changed data is prepared again.
        user_column: Column holding the customer id.
        item_column: Column holding the product id.
        timestamp_column: Column holding the purchase time. Empty: no timestamps (random split).
        user_features: Comma-separated customer feature columns (categorical), e.g. segment,country. Empty: none.
        item_features: Comma-separated product feature columns (categorical), e.g. category. Empty: none.
        user_numeric_features: Comma-separated numeric customer feature columns, e.g. employees; bucketised by the training
            split's quantiles. Empty: none.
        item_numeric_features: Comma-separated numeric product feature columns, e.g. price; bucketised by the training split's
            quantiles. Empty: none.
        user_text_features: Comma-separated customer text columns, e.g. trade; their words are pooled in the customer
            tower. Empty: none.
        item_text_features: Comma-separated product text columns, e.g. description; their words are pooled in the product
            tower. Empty: none.
        users_input: A customers table, CSV or Parquet (a file, glob or folder, local or gs://): the customer id column
            (user_column) and the customer feature columns, which then come from it instead of the purchase rows; its customers
            with no purchase join the catalog. A customer buying in training but missing from it stops data prep; one first
            buying after training has no feature values. Empty: the features come from the purchase rows.
        items_input: A products table, CSV or Parquet (a file, glob or folder, local or gs://): the product id column
            (item_column) and the product feature columns, which then come from it instead of the purchase rows; its products
            nobody bought join the catalog, embedded by the towers from their features. A product bought in training but missing from
            it stops data prep; one first bought after training has no feature values. Empty: the features come from the
            purchase rows.
        where: SQL condition rows must meet, e.g. "Quantity > 0". Empty: keep every row.
        dedupe: Keep only the first purchase of each customer-product pair (repeat purchases are kept by default; they carry
            signal in B2B).
        split: How to split train/validation/test: temporal (by time) or random.
        test_start: Date from which rows are the test split (temporal split only). Empty: the last test_fraction of rows by time.
        test_fraction: Share of rows in the test split, above 0 and below 0.5.
        val_fraction: Share of rows in the validation split, taken from the end of train by time; above 0 and below 0.5.
        timestamp_format: strptime format of the timestamp column, e.g. %m/%d/%Y %H:%M. Empty: ISO and common formats are tried.
        delimiter: CSV delimiter. Empty: detected.
        encoding: CSV text encoding, e.g. utf-8 or latin-1.
        query: BigQuery SQL whose result is the interactions (instead of input_uri). Empty: read input_uri.
        bq_staging_dataset: BigQuery dataset (project.dataset) where a query's result is written as a table that expires after a
            day. Empty: the query's own result table.
        engine: Where data prep runs: local (this step's process), bigquery (SQL in BigQuery, splits exported as Parquet to GCS)
            or auto (bigquery for BigQuery tables above 30M rows).
        synthetic_purchases: With no input_uri: purchases in the embedded synthetic data.
        synthetic_customers: With no input_uri: customers in the embedded synthetic data.
        synthetic_products: With no input_uri: products in the embedded synthetic data.
        seed: Seed of the split, the synthetic data and training.
    """
    from recs_pipeline.core import progress
    from recs_pipeline.steps import prep

    with progress.task("data-prep"):
        stats = prep.run(
            output_dir=prepared_data.path,
            output_uri=prepared_data.uri,
            input_uri=input_uri,
            prep_settings=dict(
                user_column=user_column,
                item_column=item_column,
                timestamp_column=timestamp_column,
                user_features=user_features,
                item_features=item_features,
                user_numeric_features=user_numeric_features,
                item_numeric_features=item_numeric_features,
                user_text_features=user_text_features,
                item_text_features=item_text_features,
                users_input=users_input,
                items_input=items_input,
                where=where,
                dedupe=dedupe,
                split=split,
                test_start=test_start,
                test_fraction=test_fraction,
                val_fraction=val_fraction,
                timestamp_format=timestamp_format,
                delimiter=delimiter,
                encoding=encoding,
                query=query,
                bq_staging_dataset=bq_staging_dataset,
                engine=engine,
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
        prepared_data.metadata.update({"users": stats["users"], "items": stats["items"], "source": stats["source"],
                                       "input_fingerprint": input_fingerprint})
