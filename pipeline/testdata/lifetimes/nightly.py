"""The Python stack churn users come from, as BenchmarkRun10M runs it side
by side with `churn run` on the same export (pipeline/bench_test.go):
pandas read_csv -> lifetimes summary_data_from_transaction_data -> BG/NBD and
Gamma-Gamma fits -> P(alive) and expected purchases in the horizon per customer.

usage: nightly.py EXPORT.csv AS_OF [--horizon-days 90]

The export has customer_id, ordered_at and amount columns. Nothing is
written: the benchmark times the work only, in lifetimes' favour.
"""
import argparse
import sys
import time
import warnings

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("export")
    ap.add_argument("as_of")
    ap.add_argument("--horizon-days", type=float, default=90.0)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.time()
    df = pd.read_csv(args.export, usecols=["customer_id", "ordered_at", "amount"])
    df["ordered_at"] = pd.to_datetime(df["ordered_at"], utc=True, format="ISO8601").dt.tz_localize(None)
    t1 = time.time()
    end = pd.Timestamp(args.as_of) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    summary = summary_data_from_transaction_data(df, "customer_id", "ordered_at", monetary_value_col="amount",
                                                 observation_period_end=end, freq="W")
    t2 = time.time()
    bg = BetaGeoFitter(penalizer_coef=0.0)
    bg.fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg = GammaGammaFitter(penalizer_coef=0.0)
    gg.fit(repeat["frequency"], repeat["monetary_value"])
    t3 = time.time()
    summary["p_alive"] = bg.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
    summary["expected_purchases"] = bg.conditional_expected_number_of_purchases_up_to_time(
        args.horizon_days / 7, summary["frequency"], summary["recency"], summary["T"])
    summary["expected_spend"] = gg.conditional_expected_average_profit(summary["frequency"], summary["monetary_value"])
    t4 = time.time()
    print(f"customers {len(summary)} read {t1-t0:.1f}s summary {t2-t1:.1f}s fit {t3-t2:.1f}s score {t4-t3:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
