"""The latency fits' errors against the truth on the twin's own draws, seed by seed: the measurement behind the
mixture fits' figures in the README and the commits (not a test: pytest does not collect it).

    python tests/calibration/mixture_errors.py --out head.json [--seeds 30] [--only feed]
    python tests/calibration/mixture_errors.py --compare base.json head.json
    python tests/calibration/mixture_errors.py --two-hours


Round trips as ``test_calibration._twin_round_trips`` draws them (two legs, each by the twin's own sampler), book
updates as ``_twin_feed`` does (delivered in order, held behind the one before). Each shape's line: over the seeds,
the mean |error| of the leg's spike sigma (the seeds that fitted two parts), its range, the spike's median (log) and
share, the body's median (log) and sigma; the seeds fitted one part; with --compare, the seeds better/worse.
--two-hours: the calibration test's two-hour run (its ``fitted`` fixture, TRUTH's legs and FEED): the fitted legs,
the lags' fit with the holds taken as latency, and the fitted twin replayed as long (the README's feed figures)."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from test_calibration import CFG, FEED, LEG, SEED, TRUTH, _twin_feed, _twin_round_trips, observed_run  # noqa: E402

from calibration.fit import fit, fit_feed, fit_latency, fit_mixture, replay_check  # noqa: E402
from twin.faults.latency import PathLatencyParams  # noqa: E402

DEFAULT_LEG = {**PathLatencyParams().model_dump(), "burst_rate_per_hour": 0.0}  # 60 ms, 0.35; 2% at 400 ms, 0.5
DEFAULT_FEED = {**DEFAULT_LEG, "median_ms": 40.0}  # the twin's shipped feed
SHAPES = {  # name: (what, leg, n)
    "rt LEG 60": ("rt", LEG, 60), "rt LEG 150": ("rt", LEG, 150), "rt LEG 2000": ("rt", LEG, 2000),
    "rt default 60": ("rt", DEFAULT_LEG, 60), "rt default 150": ("rt", DEFAULT_LEG, 150),
    "rt default 2000": ("rt", DEFAULT_LEG, 2000),
    "rt LEG 150 no spikes": ("rt", {**LEG, "spike_prob": 0.0}, 150),
    "feed FEED 150": ("feed", FEED, 150), "feed FEED 400": ("feed", FEED, 400), "feed FEED 3000": ("feed", FEED, 3000),
    "feed default 150": ("feed", DEFAULT_FEED, 150), "feed default 400": ("feed", DEFAULT_FEED, 400),
    "feed default 3000": ("feed", DEFAULT_FEED, 3000),
    "feed FEED 150 no spikes": ("feed", {**FEED, "spike_prob": 0.0}, 150),
    "feed FEED 300 no spikes": ("feed", {**FEED, "spike_prob": 0.0}, 300),
}


def one(what: str, leg: dict, n: int, seed: int) -> dict:
    f = fit_latency(_twin_round_trips(leg, n, seed)) if what == "rt" else fit_feed(*_twin_feed(seed, n, leg))
    got = f.leg
    return {"two": got.spike_prob > 0.0, "held": bool(f.roles),
            "spike_sigma": abs(got.spike_sigma - leg["spike_sigma"]), "spike_sigma_at": got.spike_sigma,
            "spike_median": abs(math.log(got.spike_median_ms / leg["spike_median_ms"])),
            "spike_share": abs(got.spike_prob - leg["spike_prob"]),
            "body_median": abs(math.log(got.median_ms / leg["median_ms"])), "body_sigma": abs(got.sigma - leg["sigma"])}


def measure(seeds: int, only: str) -> dict:
    return {name: [one(what, leg, n, seed) for seed in range(seeds)]
            for name, (what, leg, n) in SHAPES.items() if only in name}


def line(rows: list[dict], base: list[dict] | None = None) -> str:
    two = [r for r in rows if r["two"]]
    out = f"two parts {len(two)}, held {sum(r['held'] for r in rows)}"
    if two:
        at = [r["spike_sigma_at"] for r in two]
        out += (f"; spike sigma {np.mean([r['spike_sigma'] for r in two]):.4f} (range {min(at):.3f}-{max(at):.3f}), "
                f"spike median {np.mean([r['spike_median'] for r in two]):.4f}")
    out += (f", share {np.mean([r['spike_share'] for r in rows]):.4f}, body median "
            f"{np.mean([r['body_median'] for r in rows]):.4f}, sigma {np.mean([r['body_sigma'] for r in rows]):.4f}")
    if base is not None:
        pairs = [(b, r) for b, r in zip(base, rows) if b["two"] and r["two"]]
        better = sum(r["spike_sigma"] < b["spike_sigma"] - 1e-9 for b, r in pairs)
        worse = sum(r["spike_sigma"] > b["spike_sigma"] + 1e-9 for b, r in pairs)
        out += f"; spike sigma better/worse {better}/{worse}"
    return out


def two_hours() -> None:
    """The calibration test's ``fitted`` and its feed test's replay, printed (about 2 minutes)."""
    f = fit(observed_run(CFG, SEED, TRUTH, 2 * 3600.0)[1])
    obs = f.observations
    for name, got, truth in (("round trips, each leg", f.latency.leg, LEG), ("feed", f.feed.leg, FEED)):
        print(f"{name}: median {got.median_ms:.1f} ms, sigma {got.sigma:.3f}; spikes {got.spike_prob:.2%}, median "
              f"{got.spike_median_ms:.0f} ms, sigma {got.spike_sigma:.3f} (truth {truth['median_ms']:g} ms, "
              f"{truth['sigma']:g}; {truth['spike_prob']:.0%} at {truth['spike_median_ms']:g} ms, "
              f"{truth['spike_sigma']:g})")
    naive = fit_mixture(np.log(obs.feed_lag_s * 1000.0))
    print(f"feed: {f.feed.n} updates, {obs.feed_held.mean():.0%} held; the lags as they were (the holds taken as "
          f"latency): median {math.exp(naive[0]):.0f} ms, spikes {naive[2]:.0%}")
    for what, seen, again in replay_check(f, CFG, max_s=2 * 3600.0).rows:
        if what.startswith(("book update lag", "round trip")):
            print(f"replayed: {what} {seen:.1f} seen, {again:.1f} replayed ({again / seen - 1:+.1%})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--only", default="")
    ap.add_argument("--compare", nargs=2)
    ap.add_argument("--two-hours", action="store_true")
    a = ap.parse_args()
    if a.two_hours:
        two_hours()
        return
    if a.compare:
        base, head = (json.loads(Path(p).read_text()) for p in a.compare)
        for name, rows in head.items():
            if name in base:
                print(f"{name:24s} base: {line(base[name])}\n{'':24s} head: {line(rows, base[name])}")
        return
    got = measure(a.seeds, a.only)
    for name, rows in got.items():
        print(f"{name:24s} {line(rows)}")
    if a.out:
        Path(a.out).write_text(json.dumps(got))


if __name__ == "__main__":
    main()
