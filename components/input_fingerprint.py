"""input_fingerprint: what the input is right now, as one string for data_prep's cache key."""


def input_fingerprint(input_uri: str = "", query: str = "", pipeline_job_name: str = "", users_input: str = "",
                      items_input: str = "") -> str:
    """Lists the input's files (no download) and digests their names, sizes and generations
    (modification times locally); for a BigQuery table, its last modified time, rows and streaming
    buffer; and the customers and products tables' files. Never cached itself, so a scheduled run
    on rewritten or new data gives data_prep a new input and Vertex prepares the data again;
    unchanged data keeps data_prep's cache hit. A query (or a view) gets a fingerprint of its own
    per pipeline job: its result is read fresh every run.

    Args:
        input_uri: Interactions to train on: a CSV or Parquet file, a glob (gs://bucket/orders/*.parquet) or a folder, local or
            gs://, or a BigQuery table (bq://project.dataset.table). Empty: the embedded synthetic B2B data.
        query: BigQuery SQL whose result is the interactions (instead of input_uri). Empty: read input_uri.
        pipeline_job_name: The run's pipeline job: a query's fingerprint is unique to it.
        users_input: A customers table, CSV or Parquet (a file, glob or folder, local or gs://): the customer id column
            (user_column) and the customer feature columns, which then come from it instead of the purchase rows; its customers
            with no purchase join the catalog. A customer buying in training but missing from it stops data prep; one first
            buying after training has no feature values. Empty: the features come from the purchase rows.
        items_input: A products table, CSV or Parquet (a file, glob or folder, local or gs://): the product id column
            (item_column) and the product feature columns, which then come from it instead of the purchase rows; its products
            nobody bought join the catalog, embedded by the towers from their features. A product bought in training but missing from
            it stops data prep; one first bought after training has no feature values. Empty: the features come from the
            purchase rows.
    """
    from recs_pipeline.data import sources

    return sources.fingerprint(input_uri, query=query, run=pipeline_job_name, tables=(users_input, items_input))
