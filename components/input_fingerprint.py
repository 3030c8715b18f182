"""input_fingerprint: what the input files are right now, as one string for data_prep's cache key."""


def input_fingerprint(input_uri: str = "") -> str:
    """Lists the input's files (no download) and digests their names, sizes and generations
    (modification times locally). Never cached itself, so a scheduled run on rewritten or new
    files gives data_prep a new input, and Vertex prepares the data again instead of reusing a
    cached result; unchanged files keep data_prep's cache hit.

    Args:
        input_uri: Interactions to train on: a CSV or Parquet file, a glob (gs://bucket/orders/*.parquet) or a folder, local or
            gs://. Empty: the embedded synthetic B2B data.
    """
    from recs_pipeline.data import sources

    return sources.fingerprint(input_uri)
