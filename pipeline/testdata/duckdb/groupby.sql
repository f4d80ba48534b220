-- The one-level GROUP BY that BenchmarkFeatures10M times DuckDB on: per
-- customer first and last purchase, orders, distinct purchase days, spend
-- and the 30/90/365-day windows, sorted by customer, written as Parquet.
COPY (
SELECT customer_id,
    min(ts) AS first_purchase, max(ts) AS last_purchase, count(*) AS orders,
    count(DISTINCT epoch_us(ts) // 86400000000) - 1 AS frequency,
    sum(amount) AS total_spend,
    count(*) FILTER (epoch_us(ts) // 86400000000 > @ASOF@ - 30) AS orders_30d,
    count(*) FILTER (epoch_us(ts) // 86400000000 > @ASOF@ - 90) AS orders_90d,
    count(*) FILTER (epoch_us(ts) // 86400000000 > @ASOF@ - 365) AS orders_365d,
    coalesce(sum(amount) FILTER (epoch_us(ts) // 86400000000 > @ASOF@ - 30), 0) AS spend_30d,
    coalesce(sum(amount) FILTER (epoch_us(ts) // 86400000000 > @ASOF@ - 90), 0) AS spend_90d,
    coalesce(sum(amount) FILTER (epoch_us(ts) // 86400000000 > @ASOF@ - 365), 0) AS spend_365d
FROM read_parquet('@WH@/transactions/*/*.parquet', hive_partitioning = false)
WHERE epoch_us(ts) // 86400000000 <= @ASOF@ AND amount >= 0
GROUP BY customer_id
ORDER BY customer_id
) TO '@OUT@' (FORMAT parquet, COMPRESSION snappy);
