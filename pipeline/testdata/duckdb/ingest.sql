-- The reference of BenchmarkIngest10M: DuckDB reads the benchmark CSV and
-- writes it as one zstd Parquet file (no validation, no deduplication).
COPY (SELECT * FROM read_csv('@SRC@')) TO '@OUT@' (FORMAT parquet, COMPRESSION zstd);
