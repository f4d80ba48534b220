"""Fit lifetimes to the same customer summaries churn fits, for the
cross-check test and the side-by-side benchmark in model/lifetimes_test.go.

usage: crosscheck.py IN.csv OUT.json MODEL[,MODEL...] [--horizon H] [--no-predictions] [--tol T]

IN.csv has frequency, recency, T (and monetary_value for gamma-gamma), in the
time unit of the fit. OUT.json has, per model: params, log_likelihood (the
sum over customers), seconds (the fit alone) and, unless --no-predictions,
p_alive and expected purchases in (T, T + H] per customer.
"""
import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd
from lifetimes import (BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter,
                       ParetoNBDFitter)

FITTERS = {
    "bgnbd": (BetaGeoFitter, ["r", "alpha", "a", "b"]),
    "mbgnbd": (ModifiedBetaGeoFitter, ["r", "alpha", "a", "b"]),
    "pareto": (ParetoNBDFitter, ["r", "alpha", "s", "beta"]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("models")
    ap.add_argument("--horizon", type=float, default=13.0)
    ap.add_argument("--no-predictions", action="store_true")
    ap.add_argument("--tol", type=float, default=None,
                    help="Pareto/NBD's optimiser tolerance; default: lifetimes' own (what users run)")
    args = ap.parse_args()
    df = pd.read_csv(args.inp)
    out = {}
    for name in args.models.split(","):
        # lifetimes warns about its own convergence heuristics; keep them
        # visible on stderr rather than silenced.
        if name == "gamma-gamma":
            rep = df[(df.frequency > 0) & (df.monetary_value > 0)]
            f = GammaGammaFitter(penalizer_coef=0.0)
            t0 = time.perf_counter()
            f.fit(rep.frequency, rep.monetary_value)
            secs = time.perf_counter() - t0
            res = {"params": {"p": f.params_["p"], "q": f.params_["q"], "gamma": f.params_["v"]},
                   "log_likelihood": -f._negative_log_likelihood_ * len(rep), "seconds": secs}
            if not args.no_predictions:
                res["expected_spend"] = f.conditional_expected_average_profit(rep.frequency, rep.monetary_value).tolist()
            out[name] = res
            continue
        cls, names = FITTERS[name]
        f = cls(penalizer_coef=0.0)
        # Only Pareto/NBD's Nelder–Mead needs it; the others use BFGS, which
        # reports a tighter tolerance than floating point allows as a failure.
        kw = {"tol": args.tol, "maxiter": 20000} if args.tol and name == "pareto" else {}
        t0 = time.perf_counter()
        f.fit(df["frequency"], df["recency"], df["T"], **kw)
        secs = time.perf_counter() - t0
        res = {"params": {n: float(f.params_[n]) for n in names},
               "log_likelihood": float(-f._negative_log_likelihood_ * len(df)), "seconds": secs}
        if not args.no_predictions:
            res["p_alive"] = np.asarray(f.conditional_probability_alive(df["frequency"], df["recency"], df["T"])).tolist()
            res["expected"] = np.asarray(f.conditional_expected_number_of_purchases_up_to_time(
                args.horizon, df["frequency"], df["recency"], df["T"])).tolist()
        out[name] = res
    with open(args.out, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    warnings.simplefilter("default")
    main()
