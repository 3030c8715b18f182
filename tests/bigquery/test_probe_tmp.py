def test_probe(bq_emulator):
    from google.cloud import bigquery
    c = bq_emulator.client()
    c.create_dataset("shop")
    c.query("""CREATE TABLE shop.orders AS SELECT * FROM UNNEST([
      STRUCT('c1' AS customer_id, 'p1' AS product_id, TIMESTAMP '2024-01-01 10:00:00' AS ts, 3 AS qty, 'DE' AS country),
      STRUCT('c2', 'p2', TIMESTAMP '2024-01-02 10:00:00', -1, 'PL')])""").result()
    print(list(c.list_rows("shop.orders")))
    from recs_pipeline.data import bigquery as b
    from recs_pipeline.core.config import PrepConfig
    r = b.read_table(b.parse_table("bq://test-project.shop.orders"), PrepConfig(timestamp_column="ts", where="qty > 0", user_features=("country",)))
    print(r)
    r = b.read_query("SELECT * FROM shop.orders", PrepConfig(timestamp_column="ts", where="qty > 0", bq_staging_dataset="test-project.shop"))
    print(r)
    job = c.query("EXPORT DATA OPTIONS(uri='gs://b/x/train-*.parquet', format='PARQUET', overwrite=true) AS SELECT * FROM shop.orders")
    job.result(); print(job._properties.get("statistics"))
    import os; print(list(bq_emulator.gcs_root.rglob("*")))
    try:
        b.read_query("SELECT * FROM `bad!project.shop.orders`", PrepConfig(timestamp_column="ts"))
    except Exception as e: print("ERR", type(e), e)
    try:
        b.read_table(b.parse_table("bq://test-project.shop.nothere"), PrepConfig(timestamp_column="ts"))
    except Exception as e: print("ERR", type(e), e)
