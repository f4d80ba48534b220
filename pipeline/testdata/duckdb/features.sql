-- Every column of features.parquet but the segment names, computed the way
-- DuckDB would be asked to: purchase days, then customers, gaps by LAG,
-- RFM scores by rank. BenchmarkFeatures10M runs it with BENCH_DUCKDB_FULL=1.
COPY (
WITH tx AS (
  SELECT customer_id, ts, amount, store, category, epoch_us(ts) // 86400000000 AS day
  FROM read_parquet('@WH@/transactions/*/*.parquet', hive_partitioning = false)
  WHERE epoch_us(ts) // 86400000000 <= @ASOF@
),
purchase_days AS (
  SELECT customer_id, day, sum(amount) AS spend,
         day - lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap
  FROM tx WHERE amount >= 0 GROUP BY customer_id, day
),
by_day AS (
  SELECT customer_id, count(*) AS days, min(day) AS first_day, max(day) AS last_day,
         arg_min(spend, day) AS first_day_spend, sum(gap * gap) AS gap_sq
  FROM purchase_days GROUP BY customer_id
),
by_tx AS (
  SELECT customer_id,
    min(ts) FILTER (amount >= 0) AS first_purchase, max(ts) FILTER (amount >= 0) AS last_purchase,
    count(*) FILTER (amount >= 0) AS orders, sum(amount) FILTER (amount >= 0) AS total_spend,
    count(*) FILTER (amount < 0) AS refunds, coalesce(-sum(amount) FILTER (amount < 0), 0) AS refund_amount,
    count(*) FILTER (amount >= 0 AND day > @ASOF@ - 30) AS orders_30d,
    count(*) FILTER (amount >= 0 AND day > @ASOF@ - 90) AS orders_90d,
    count(*) FILTER (amount >= 0 AND day > @ASOF@ - 365) AS orders_365d,
    coalesce(sum(amount) FILTER (amount >= 0 AND day > @ASOF@ - 30), 0) AS spend_30d,
    coalesce(sum(amount) FILTER (amount >= 0 AND day > @ASOF@ - 90), 0) AS spend_90d,
    coalesce(sum(amount) FILTER (amount >= 0 AND day > @ASOF@ - 365), 0) AS spend_365d,
    coalesce(sum(amount) FILTER (amount >= 0 AND day > @ASOF@ - 180 AND day <= @ASOF@ - 90), 0) AS spend_prev_90d,
    count(DISTINCT store) AS stores, count(DISTINCT category) AS categories
  FROM tx GROUP BY customer_id
),
f AS (
  SELECT t.customer_id, first_purchase, last_purchase, orders, days - 1 AS frequency,
    (last_day - first_day) / 7.0 AS recency, (@ASOF@ - first_day) / 7.0 AS "T",
    CASE WHEN days > 1 THEN (total_spend - first_day_spend) / (days - 1) ELSE 0 END AS monetary_value,
    total_spend / orders AS monetary_avg, total_spend, total_spend - refund_amount AS net_spend, refunds, refund_amount,
    orders_30d, orders_90d, orders_365d, spend_30d, spend_90d, spend_365d, spend_90d - spend_prev_90d AS spend_trend_90d,
    @ASOF@ - last_day AS days_since_last,
    CASE WHEN days > 1 THEN (last_day - first_day) / (days - 1) ELSE 0 END AS gap_mean_days,
    CASE WHEN days > 1 THEN sqrt(greatest(0, gap_sq / (days - 1) - ((last_day - first_day) / (days - 1)) ^ 2)) ELSE 0 END AS gap_std_days,
    @ASOF@ - first_day AS tenure_days, stores, categories,
    1 + floor(5 * (rank() OVER (ORDER BY last_day) - 1) / count(*) OVER ()) AS r_score,
    1 + floor(5 * (rank() OVER (ORDER BY orders) - 1) / count(*) OVER ()) AS f_score,
    1 + floor(5 * (rank() OVER (ORDER BY total_spend) - 1) / count(*) OVER ()) AS m_score
  FROM by_tx t JOIN by_day d USING (customer_id)
  WHERE orders > 0
)
SELECT * FROM f ORDER BY customer_id
) TO '@OUT@' (FORMAT parquet, COMPRESSION snappy);
