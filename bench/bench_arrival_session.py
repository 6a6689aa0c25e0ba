"""The arrival fit in the agent's own twin sessions: the k its core fitted, and the same prints fitted again from
other mids, against the twin market's k (``depth_decay_per_usd``, 2 per dollar on its BTC).

A session of one of bench_agent's profiles (the agent at Full) runs ``--minutes`` a seed; every print the core fed
its ArrivalEstimator is kept with the mid it was measured from (the core's: the bbo feed's touch, session.bbo_feed,
or the last l2Book's), and the twin's own at the print's venue time: its market's book (the touch, whole ticks) and
its latent mid, from which the market draws each print's reach (Exp(k)). Per seed: the prints, the share that were
the agent's own fills (a print whose tid is a fill's), the share measured from a mid that was not the twin's book's
then, and k fitted at the session's end (``EstimatorConfig()``, as the core's) from each mid, over every print and
over the market's prints alone (the agent's fills left out). "none": no fit (at k = 2 on BTC's $1 tick, most prints
are at the touch, and the counts seldom fall across two grid steps). Usage:

    python bench/bench_arrival_session.py [--seeds 3] [--minutes 10] [--profile both|default|stress]
"""
from __future__ import annotations

import argparse
import bisect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agent.gateway.events import Side, TradeObserved  # noqa: E402
from agent.quoting.estimators import ArrivalEstimator, EstimatorConfig  # noqa: E402
from agent.session import build_session  # noqa: E402
from bench_agent import PROFILES, profile_session, session_minutes, session_seeds  # noqa: E402
from common.cli_errors import print_out  # noqa: E402
from common.files import ArgumentParser  # noqa: E402
import twin.exchange  # noqa: E402
from twin.market import BOOK  # noqa: E402

MIDS = ("core", "l2Book", "twin book", "twin latent")


def session_prints(profile: str, seed: int, minutes: float):
    """(the core, the twin's k, prints): each print the core fed its arrival estimator as (ts, px, side, own fill,
    {mid's name: the mid})."""
    cfg, params = profile_session(profile)
    ex, _, core, driver = build_session(cfg, seed, params)
    coin = cfg.session.coin
    market = ex.markets[coin]
    book_ms: list[float] = []  # the twin market's book changes: venue ms since the epoch, latent mid, book mid
    books: list[tuple[float, float]] = []
    chunk_of = market.next_chunk

    def next_chunk():
        c = chunk_of()
        if c is not None:
            for t, kind, j, mid in zip(c.t.tolist(), c.kind.tolist(), c.idx.tolist(), c.mid.tolist()):
                if kind == BOOK:
                    book_ms.append(t * 1000.0)
                    books.append((mid, 0.5 * (float(c.bid_px[j, 0]) + float(c.ask_px[j, 0]))))
        return c
    market.next_chunk = next_chunk
    # each print's making, by its tid: its `time` is its block's end (the venue's stamp), up to a block after it
    made_at: dict[int, float] = {}
    make = twin.exchange._new_trade_push  # (the exchange makes its prints by TradePush.make, bound once)

    def made(*args):
        p = make(*args)
        made_at[p.tid] = ex.env._now * 1000.0
        return p
    twin.exchange._new_trade_push = made
    fed = []
    on_trade = core._dispatch[TradeObserved]

    def watched(ev, cmds):
        # (fed to the estimator unless made long before the newest book, or before a mid: core._on_trade)
        stale, mid, book_mid = core.stale_prints, core.mid, core.book_mid
        on_trade(ev, cmds)
        if core.stale_prints == stale and mid == mid:
            fed.append((ev.ts, ev.px, 1 if ev.side is Side.BUY else -1, ev.tid in core.tracker.seen_tids,
                        made_at[ev.tid & (1 << 64) - 1], mid, book_mid))
    core._dispatch[TradeObserved] = watched
    driver.start()
    try:
        ex.env.run(until=minutes * 60.0)
    finally:
        twin.exchange._new_trade_push = make
    prints = []
    for ts, px, side, own, made_ms, mid, book_mid in fed:
        # the twin's book then: its last change at or before the print's making
        latent, twin_book = books[bisect.bisect_right(book_ms, made_ms) - 1]
        prints.append((ts, px, side, own, dict(zip(MIDS, (mid, book_mid, twin_book, latent)))))
    return core, ex.params.markets[coin].depth_decay_per_usd, prints


def fit_k(prints, mid: str, t_end: float) -> float | None:
    est = ArrivalEstimator(EstimatorConfig())
    for ts, px, side, _, mids in prints:
        est.on_trade(ts, px, mids[mid], side)
    f = est.fit(t_end)
    return None if f is None else f[1]


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=session_seeds, default=3,
                    help="sessions a profile, seeds 1 on (default 3)")
    ap.add_argument("--minutes", type=session_minutes, default=10.0,
                    help="simulated minutes a session (default 10)")
    ap.add_argument("--profile", choices=["both", *PROFILES], default="both",
                    help="bench_agent's agent profile, at Full (default both: default, then stress)")
    a = ap.parse_args()
    t_end = a.minutes * 60.0

    def k(v: float | None) -> str:
        return "none" if v is None else f"{v:.2f}"
    for profile in PROFILES if a.profile == "both" else [a.profile]:
        for seed in range(1, a.seeds + 1):
            core, k_twin, prints = session_prints(profile, seed, a.minutes)
            fitted = core.arrivals.fit(t_end) if core.arrivals is not None else None
            market = [p for p in prints if not p[3]]
            n = max(len(prints), 1)
            stale = sum(p[4]["core"] != p[4]["twin book"] for p in prints)
            stale_market = sum(p[4]["core"] != p[4]["twin book"] for p in market)
            own = sum(p[3] for p in prints) / n
            print_out(f"{profile} seed {seed}: {len(prints)} prints, {own:.0%} the agent's fills; the core's mid off "
                      f"the twin's book at {stale / n:.0%} ({stale_market / max(len(market), 1):.0%} of the market's "
                      f"prints); k (twin {k_twin:g}) fitted by the core {k(fitted and fitted[1])}", flush=True)
            print_out("  every print:   " + "  ".join(f"{m} {k(fit_k(prints, m, t_end))}" for m in MIDS), flush=True)
            print_out("  market prints: " + "  ".join(f"{m} {k(fit_k(market, m, t_end))}" for m in MIDS), flush=True)


if __name__ == "__main__":
    main()
