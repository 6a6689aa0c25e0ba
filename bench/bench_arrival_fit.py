"""The arrival fit's accuracy on twin data with known A and k: the bias and rms of its log error over seeds.

Each case is the twin's synthetic market with informed flow and regime switches off (the last two with the regimes
on), so the truth is A = half the calm trade rate (per side per s) and k = ``depth_decay_per_usd``; with the regimes
on, A moves with them and its figures are against the calm rate's, a yardstick only. The estimator as shipped
(``EstimatorConfig()``, the market's own grid) is fed the market's trades against its book's mid, as the tests of
tests/agent/test_estimators.py feed it, and fitted every ``--every`` s after the first hour; per case: the mean
(bias) and rms of log(fit / truth) for A and k over all fits of all seeds, and how many fits came out (at k = 2
per dollar, most trades print at BTC's touch and few fit). Usage:

    python bench/bench_arrival_fit.py [--seeds 20] [--hours 6] [--every 300] [--case NAME ...]
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agent.quoting.estimators import ArrivalEstimator, EstimatorConfig  # noqa: E402
from twin.market import BOOK, SyntheticMarket, SyntheticMarketParams  # noqa: E402
from common.cli_errors import print_out  # noqa: E402
from common.files import ArgumentParser  # noqa: E402
from common.units import MAX_DURATION_S, bounded, positive_float, positive_int  # noqa: E402

_OFF = {"informed_share": 0.0, "calm_to_stressed_per_s": 0.0}
CASES = {  # name: (params, tick, lot)
    "btc07": (SyntheticMarketParams(depth_decay_per_usd=0.7, **_OFF), 1.0, 1e-5),
    "btc1": (SyntheticMarketParams(depth_decay_per_usd=1.0, **_OFF), 1.0, 1e-5),
    "btc2": (SyntheticMarketParams(**_OFF), 1.0, 1e-5),
    "btc07w": (SyntheticMarketParams(depth_decay_per_usd=0.7, half_spread_ticks_calm=0.5, **_OFF), 1.0, 1e-5),
    "hip3": (SyntheticMarketParams.thin_hip3().model_copy(update=_OFF), 1e-4, 0.1),
    # regimes on (A then moves with them: its figures are against the calm rate's, k's against the truth)
    "btc07r": (SyntheticMarketParams(depth_decay_per_usd=0.7, informed_share=0.0), 1.0, 1e-5),
    "hip3r": (SyntheticMarketParams.thin_hip3().model_copy(update={"informed_share": 0.0}), 1e-4, 0.1),
}


def run_case(p: SyntheticMarketParams, tick: float, lot: float, seed: int, hours: float, every: float):
    """(log A error, log k error) per fit; None where the fit gave none."""
    m = SyntheticMarket(p, np.random.default_rng(seed), tick=tick, lot=lot)
    est = ArrivalEstimator(EstimatorConfig())
    A, k = 0.5 * p.trade_rate_calm_per_s, p.depth_decay_per_usd
    mid = math.nan
    next_fit = 3600.0
    out = []
    while True:
        c = m.next_chunk()
        t, kind, idx = c.t.tolist(), c.kind.tolist(), c.idx.tolist()
        tpx, tside = c.trade_px.tolist(), c.trade_side.tolist()
        bb, ba = c.bid_px[:, 0].tolist(), c.ask_px[:, 0].tolist()
        for i in range(len(t)):
            ti = t[i]
            while ti >= next_fit:
                f = est.fit(next_fit)
                out.append(None if f is None else (math.log(f[0] / A), math.log(f[1] / k)))
                next_fit += every
            j = idx[i]
            if kind[i] == BOOK:
                mid = 0.5 * (bb[j] + ba[j])
            elif mid == mid:
                est.on_trade(ti, tpx[j], mid, tside[j])
        if c.t_end >= hours * 3600.0:
            return out


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=bounded(positive_int, 10_000, "seeds 0 to 9999"), default=20,
                    help="seeds a case, 0 on (default 20)")
    ap.add_argument("--hours", type=bounded(positive_float, MAX_DURATION_S / 3600, "a year, the longest run the twin "
                                            "takes; fits start after the first hour", lowest=1.0), default=6.0,
                    help="simulated hours a seed (default 6)")
    ap.add_argument("--every", type=bounded(positive_float, 86_400.0, "a day"), default=300.0,
                    help="seconds between fits (default 300)")
    ap.add_argument("--case", nargs="*", choices=list(CASES), default=None, help="cases (default: all)")
    a = ap.parse_args()
    for name in a.case or CASES:
        p, tick, lot = CASES[name]
        fits = []
        for seed in range(a.seeds):
            fits += run_case(p, tick, lot, seed, a.hours, a.every)
        got = np.array([f for f in fits if f is not None]).reshape(-1, 2)
        if not len(got):
            print_out(f"{name:7s}: no fit of {len(fits)}", flush=True)
            continue
        la, lk = got[:, 0], got[:, 1]
        print_out(f"{name:7s} k={p.depth_decay_per_usd:g} A={0.5 * p.trade_rate_calm_per_s:g}: "
                  f"fits {len(got)}/{len(fits)}  A bias {la.mean():+.3f} rms {math.sqrt((la ** 2).mean()):.3f}"
                  f"  k bias {lk.mean():+.3f} rms {math.sqrt((lk ** 2).mean()):.3f}", flush=True)


if __name__ == "__main__":
    main()
