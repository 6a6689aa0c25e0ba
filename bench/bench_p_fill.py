"""The per-order P(fill) score (summary ``shadow.p_fill``, ``agent.shadow.p_fill``) over twin sessions: how well the
fill model GLFT quotes on forecasts which of the agent's quotes fill within T (``shadow.p_fill_horizon_s``, 1 s).

Three setups, seeds 1 on, ``--minutes`` each: bench_agent's two profiles at Full (stress: a 100 ms cycle, 5 levels a
side; default: the shipped config), and the shipped config at MicroLive (``python -m agent --duration 10m --seed N``
with graduation.start_level MICRO_LIVE; the shipped start, Shadow, places no order in 10 minutes). Per session: the
quotes scored, the weighted mean P and fill rate, the Brier beside the base rate's, the skill (1 − Brier / base: < 0
worse than the rate alone) and the calibration slopes; then the mean skill and how many sessions are above 0. With
--by-delta, the reliability by the quote's distance from the mid (ticks of the twin's $1 BTC). With --crossed, the
share of the quotes acknowledged (post-only, the session's last T left out) whose price the twin's book crossed within
T of the ack, cancelled or not (the book sampled every 20 ms), and the forecast scored against what the twin says each
of them would have done had it rested T: filled when it filled or the book crossed its price within T of its ack (a
quote the book moves through fills in full), else not. No quote is censored there, so no weight: the agent's own
score cannot see past a quote's cancel, and its weights fail where the agent moves a quote because the mid came to
it (agent.shadow.p_fill). On the twin fills are crossings (the quotes left resting T: 0.40 filled, 0.40 crossed at
the stress bench), so that outcome is the one the model forecasts, not a floor on it. Usage:

    python bench/bench_p_fill.py [--seeds 3] [--minutes 10] [--by-delta] [--crossed]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from agent.config import AgentConfig  # noqa: E402
from agent.gateway.events import Side, Tif  # noqa: E402
from agent.report import trading_summary  # noqa: E402
from agent.session import build_session  # noqa: E402
from agent.shadow import p_fill  # noqa: E402
from agent.shadow.p_fill import PFillScore  # noqa: E402
from bench_agent import profile_session, session_minutes, session_seeds  # noqa: E402
from common.cli_errors import print_out  # noqa: E402
from common.files import ArgumentParser  # noqa: E402

SETUPS = ("stress", "default", "micro")
_EDGES = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, float("inf"))


def session(setup: str, seed: int, minutes: float, crossed: bool = False):
    """(the core, its summary's shadow.p_fill, ``counterfactual``'s figures or None) after a session of ``setup``."""
    if setup == "micro":
        cfg, params = AgentConfig.model_validate({"graduation": {"start_level": "MICRO_LIVE"}}), None
    else:
        cfg, params = profile_session(setup)
    ex, _, core, driver = build_session(cfg, seed, params)
    coin = cfg.session.coin
    book: list[tuple[float, float, float]] = []  # (time, best bid, best ask) every 20 ms
    quoted: dict[str, tuple] = {}  # cloid → (A, k, δ, σ) as the scorer took the quote
    made: dict[str, float] = {}  # cloid → when its first fill was made

    def sample(env):
        while True:
            book.append((env.now, ex.best_bid[coin], ex.best_ask[coin]))
            yield env.timeout(0.02)
    on_cycle, on_fill = PFillScore.on_cycle, PFillScore.on_fill

    def seen_cycle(self, commands, mid, A, k, orders, sigma=0.0):
        before = set(self._pending)
        on_cycle(self, commands, mid, A, k, orders, sigma)
        quoted.update((c, e) for c, e in self._pending.items() if c not in before)

    def seen_fill(self, cloid, made_ts):
        made.setdefault(cloid, made_ts)
        on_fill(self, cloid, made_ts)
    if crossed:  # (a process and two wrappers that only read: the agent's decisions are those of a session without)
        ex.env.process(sample(ex.env))
        PFillScore.on_cycle, PFillScore.on_fill = seen_cycle, seen_fill
    try:
        driver.start()
        ex.env.run(until=minutes * 60.0)
    finally:
        PFillScore.on_cycle, PFillScore.on_fill = on_cycle, on_fill
    s = trading_summary(core)["shadow"]["p_fill"]
    return core, s, counterfactual(core, book, quoted, made, minutes * 60.0) if crossed else None


def counterfactual(core, book: list, quoted: dict, made: dict, end: float) -> dict | None:
    """Each acknowledged post-only quote the scorer took (the session's last T left out) against what the twin says it
    would have done had it rested T, cancelled or not: filled at its first fill or when the book first crossed its
    price within T of its ack, whichever came first, else rested T unfilled (no censoring). The share the book crossed,
    the score (``p_fill.score``) and the quotes' (δ, P, outcome) for the table by δ."""
    t, bid, ask = (np.array(c) for c in zip(*book))
    T = core.graduation.p_fill.horizon_s
    rows, hits = [], 0
    for cloid, entry in quoted.items():
        o = core.tracker.orders.get(cloid)
        if o is None or o.tif is not Tif.ALO or o.foreign or o.acked_ts < 0.0 or o.acked_ts + T > end:
            continue
        i, j = np.searchsorted(t, (o.acked_ts, o.acked_ts + T))
        through = (ask[i:j] <= o.px) if o.side is Side.BUY else (bid[i:j] >= o.px)
        first = t[i + int(through.argmax())] - o.acked_ts if through.any() else np.inf
        hits += first < np.inf
        first = min(first, max(made.get(cloid, np.inf) - o.acked_ts, 0.0))
        rows.append((*entry, o.acked_ts - o.sent_ts, min(first, T), float(first <= T)))
    if not rows:
        return None
    A, k, d, sigma, trip, when, y = np.array(rows).T
    p = p_fill.fill_probability(A, k, d, sigma, trip, T)
    return {"crossed": hits / len(rows), "score": p_fill.score(p, when, y, T), "delta": d, "p": p, "y": y}


def delta_table(d, p, y, w) -> str:
    """The weighted mean P and outcome per band of δ (those of 20 quotes or more)."""
    cells = []
    for lo, hi in zip(_EDGES[:-1], _EDGES[1:]):
        m = (d >= lo) & (d < hi)
        if m.sum() >= 20:
            W = w[m].sum()
            cells.append(f"[{lo:g},{hi:g}) {m.sum()}: P {w[m] @ p[m] / W:.2f} obs {w[m] @ y[m] / W:.2f}")
    return "; ".join(cells)


def by_delta(core) -> str:
    """The reliability by δ: the ring's orders not censored, weighted as the score weighs them."""
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
    return "  δ " + delta_table(np.array(pf.delta)[known], p[known], y[known], w)


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=session_seeds, default=3,
                    help="sessions a setup, seeds 1 on (default 3)")
    ap.add_argument("--minutes", type=session_minutes, default=10.0,
                    help="simulated minutes a session (default 10)")
    ap.add_argument("--by-delta", action="store_true", help="also the reliability by the quote's distance")
    ap.add_argument("--crossed", action="store_true", help="also the share of the quotes the twin's book crossed "
                    "within T of their ack, cancelled or not, and the forecast scored against what each would have "
                    "done had it rested T (filled, or the book crossed its price), no quote censored")
    a = ap.parse_args()
    skills, against = [], []
    for setup in SETUPS:
        for seed in range(1, a.seeds + 1):
            core, s, cf = session(setup, seed, a.minutes, a.crossed)
            if s["skill"] is None:
                print_out(f"{setup} seed {seed}: {s['orders']} quotes, not scored", flush=True)
                continue
            skills.append(s["skill"])
            print_out(f"{setup} seed {seed}: {s['orders']} quotes ({s['filled']} filled, {s['censored']} censored); "
                      f"P {s['predicted']:.3f} observed {s['observed']:.3f}; Brier {s['brier']:.4f} base "
                      f"{s['brier_base']:.4f} skill {s['skill']:+.3f}; slope {s['calibration_slope']} Cox "
                      f"{s['logit_slope']}", flush=True)
            if a.by_delta:
                print_out(by_delta(core), flush=True)
            if cf is not None:
                c = cf["score"]
                against.append(c["skill"])
                print_out(f"  had each rested T: the book crossed {cf['crossed']:.3f}; {c['orders']} quotes, P "
                          f"{c['predicted']:.3f} observed {c['observed']:.3f}; Brier {c['brier']:.4f} base "
                          f"{c['brier_base']:.4f} skill {c['skill']:+.3f}; Cox {c['logit_slope']}", flush=True)
                if a.by_delta:
                    print_out("  δ " + delta_table(cf["delta"], cf["p"], cf["y"], np.ones(len(cf["y"]))), flush=True)
    for name, x in (("skill", skills), ("skill had each rested T", [v for v in against if v is not None])):
        if x:
            print_out(f"{name} over {len(x)} sessions: mean {sum(x) / len(x):+.3f}, min {min(x):+.3f}, "
                      f"max {max(x):+.3f}, above 0 in {sum(v > 0 for v in x)}")


if __name__ == "__main__":
    main()
