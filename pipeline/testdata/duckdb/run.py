"""Times one DuckDB query: the reference of BenchmarkFeatures10M (over a
churn warehouse) and of BenchmarkIngest10M (over the benchmark CSV).
Usage: run.py WAREHOUSE|CSV AS_OF OUT.parquet QUERY.sql
The query's @WH@ and @SRC@ (both the first argument), @ASOF@ (days since
1970-01-01) and @OUT@ are filled in; prints the query's wall time in
seconds (Python's start-up excluded)."""
import datetime
import sys
import time

import duckdb

wh, as_of, out, query = sys.argv[1:5]
day = (datetime.date.fromisoformat(as_of) - datetime.date(1970, 1, 1)).days
sql = open(query).read().replace("@WH@", wh).replace("@SRC@", wh).replace("@ASOF@", str(day)).replace("@OUT@", out)
con = duckdb.connect()
start = time.perf_counter()
con.execute(sql)
print(f"{time.perf_counter() - start:.3f}")
