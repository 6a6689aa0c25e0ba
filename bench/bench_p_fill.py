"""The per-order P(fill) score (summary ``shadow.p_fill``, ``agent.shadow.p_fill``) over twin sessions: how well the
fill model GLFT quotes on forecasts which of the agent's quotes fill within T (``shadow.p_fill_horizon_s``, 1 s).

Three setups, seeds 1 on, ``--minutes`` each: bench_agent's two profiles at Full (stress: a 100 ms cycle, 5 levels a
side; default: the shipped config), and the shipped config at MicroLive (``python -m agent --duration 10m --seed N``
with graduation.start_level MICRO_LIVE; the shipped start, Shadow, places no order in 10 minutes). Per session: the
quotes scored, the weighted mean P and fill rate, the Brier beside the base rate's, the skill (1 − Brier / base: < 0
worse than the rate alone) and the calibration slopes; then the mean skill and how many sessions are above 0. With
--by-delta, the reliability by the quote's distance from the mid (ticks of the twin's $1 BTC). With --crossed, the
share of the quotes acknowledged (post-only, the session's last T left out) whose price the twin's book crossed within
T of the ack, cancelled or not (the book sampled every 20 ms): a quote the book moves through fills in full, so that is
a floor on the rate they would have filled at had each rested T, against which the scored rate (the censored quotes
weighed out) can be read. Usage:

    python bench/bench_p_fill.py [--seeds 3] [--minutes 10] [--by-delta] [--crossed]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agent.config import AgentConfig  # noqa: E402
from agent.report import trading_summary  # noqa: E402
from agent.session import build_session  # noqa: E402
from bench_agent import profile_session  # noqa: E402
from common.cli_errors import print_out  # noqa: E402
from common.files import ArgumentParser  # noqa: E402
from common.units import MAX_DURATION_S, bounded, positive_float, positive_int  # noqa: E402

SETUPS = ("stress", "default", "micro")
_EDGES = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, float("inf"))


def session(setup: str, seed: int, minutes: float, crossed: bool = False):
    """(the core, its summary's shadow.p_fill, the share the book crossed or None) after a session of ``setup``."""
    if setup == "micro":
        cfg, params = AgentConfig.model_validate({"graduation": {"start_level": "MICRO_LIVE"}}), None
    else:
        cfg, params = profile_session(setup)
    ex, _, core, driver = build_session(cfg, seed, params)
    coin = cfg.session.coin
    book: list[tuple[float, float, float]] = []  # (time, best bid, best ask) every 20 ms

    def sample(env):
        while True:
            book.append((env.now, ex.best_bid[coin], ex.best_ask[coin]))
            yield env.timeout(0.02)
    if crossed:  # (a process that only reads: the agent's decisions are those of a session without it)
        ex.env.process(sample(ex.env))
    driver.start()
    ex.env.run(until=minutes * 60.0)
    s = trading_summary(core)["shadow"]["p_fill"]
    return core, s, crossed_share(core, book, minutes * 60.0) if crossed else None


def crossed_share(core, book: list, end: float) -> float | None:
    """The share of the acknowledged post-only quotes the book crossed within T of their ack."""
    import numpy as np

    from agent.gateway.events import Side, Tif
    t, bid, ask = (np.array(c) for c in zip(*book))
    T = core.graduation.p_fill.horizon_s
    hits = []
    for o in core.tracker.orders.values():
        if o.tif is not Tif.ALO or o.foreign or o.acked_ts < 0.0 or o.acked_ts + T > end:
            continue
        i, j = np.searchsorted(t, (o.acked_ts, o.acked_ts + T))
        hits.append(bool((ask[i:j] <= o.px).any() if o.side is Side.BUY else (bid[i:j] >= o.px).any()))
    return sum(hits) / len(hits) if hits else None


def by_delta(core) -> str:
    """The reliability by δ: the ring's orders not censored, weighted as the score weighs them."""
    import numpy as np

    from agent.shadow import p_fill
    pf = core.graduation.p_fill
    t, y = np.array(pf.time), np.array(pf.filled, float)
    T = pf.horizon_s
    censored = (y == 0) & (t < T)
    known = ~censored
    w = 1.0 / p_fill._censoring_survival(t, censored)(np.where(y == 1, t, T))[known]
    if hasattr(p_fill, "fill_probability"):
        p = p_fill.fill_probability(pf.A, pf.k, pf.delta, pf.sigma, pf.trip, T)
    else:  # (before 7 December: the mid held still over T)
        p = -np.expm1(-np.array(pf.A) * np.exp(-np.array(pf.k) * np.array(pf.delta)) * T)
    p, y, d = p[known], y[known], np.array(pf.delta)[known]
    cells = []
    for lo, hi in zip(_EDGES[:-1], _EDGES[1:]):
        m = (d >= lo) & (d < hi)
        if m.sum() >= 20:
            W = w[m].sum()
            cells.append(f"[{lo:g},{hi:g}) {m.sum()}: P {w[m] @ p[m] / W:.2f} obs {w[m] @ y[m] / W:.2f}")
    return "  δ " + "; ".join(cells)


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=bounded(positive_int, 10_000, "seeds 1 to 10000"), default=3,
                    help="sessions a setup, seeds 1 on (default 3)")
    ap.add_argument("--minutes", type=bounded(positive_float, MAX_DURATION_S / 60, "a minute to a year, the longest "
                                              "run the twin takes", lowest=1.0), default=10.0,
                    help="simulated minutes a session (default 10)")
    ap.add_argument("--by-delta", action="store_true", help="also the reliability by the quote's distance")
    ap.add_argument("--crossed", action="store_true", help="also the share of the quotes the twin's book crossed "
                    "within T of their ack, cancelled or not (a floor on their rate had they rested)")
    a = ap.parse_args()
    skills = []
    for setup in SETUPS:
        for seed in range(1, a.seeds + 1):
            core, s, crossed = session(setup, seed, a.minutes, a.crossed)
            if s["skill"] is None:
                print_out(f"{setup} seed {seed}: {s['orders']} quotes, not scored", flush=True)
                continue
            skills.append(s["skill"])
            print_out(f"{setup} seed {seed}: {s['orders']} quotes ({s['filled']} filled, {s['censored']} censored); "
                      f"P {s['predicted']:.3f} observed {s['observed']:.3f}; Brier {s['brier']:.4f} base "
                      f"{s['brier_base']:.4f} skill {s['skill']:+.3f}; slope {s['calibration_slope']} Cox "
                      f"{s['logit_slope']}" + ("" if crossed is None else f"; the book crossed {crossed:.3f}"),
                      flush=True)
            if a.by_delta:
                print_out(by_delta(core), flush=True)
    if skills:
        print_out(f"skill over {len(skills)} sessions: mean {sum(skills) / len(skills):+.3f}, min {min(skills):+.3f}, "
                  f"max {max(skills):+.3f}, above 0 in {sum(x > 0 for x in skills)}")


if __name__ == "__main__":
    main()
