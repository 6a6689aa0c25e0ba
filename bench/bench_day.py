"""A whole simulated day, run rather than projected, as a ratio to the twin's market alone over the same day
(measured in the same run: the machines are noisy).

``bench_agent`` projects the day from its first minutes, the busiest: the agent starts at exposure level
Full and places orders throughout them. A whole day is what DESIGN §10's target names, and it is cheaper,
because graduation demotes on evidence (to Shadow, which places nothing but still quotes on paper every
cycle). So this prints both the day's wall time and how the agent spent it: the hours in which it sent
requests, and the exposure level at each hour's end, with the process's peak memory.

How much of the day the agent places orders in depends on the session (its seed, and any change to the
code that moves its decisions): the per-hour costs it prints let a reader work out a day of any mix.

Run: python bench/bench_day.py [--profile stress|default] [--hours 24] [--seed 1]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

from agent.session import build_session
from bench_agent import PROFILES, profile_session
from bench_twin import market_only
from twin.units import positive_int


def whole_day(profile: str, hours: int, progress: bool,
              seed: int = 1) -> tuple[float, list[tuple[int, float, str, int]]]:
    """Wall seconds for ``hours`` of the profile's session, and per hour: (hour, wall so far, exposure level
    at its end, request items sent in it)."""
    cfg, params = profile_session(profile)
    ex, gw, core, driver = build_session(cfg, seed, params)
    driver.start()
    hourly = []
    sent = 0
    t0 = time.perf_counter()
    for h in range(1, hours + 1):
        ex.env.run(until=h * 3600.0)
        if progress:
            print(f"  {profile}: hour {h}/{hours} done, {time.perf_counter() - t0:.0f} s wall", file=sys.stderr,
                  flush=True)
        items = gw.counters["request_items"]
        hourly.append((h, time.perf_counter() - t0, core.graduation.level.name, items - sent))
        sent = items
    return time.perf_counter() - t0, hourly


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=list(PROFILES), default="stress", help="bench_agent's profile")
    ap.add_argument("--hours", type=positive_int, default=24, help="simulated hours (a day: 24)")
    ap.add_argument("--seed", type=int, default=1, help="the session's seed: how much of the day the agent "
                    "places orders (and so what the day costs) depends on it (default 1)")
    ap.add_argument("--quiet", action="store_true", help="no progress line per simulated hour")
    args = ap.parse_args()
    seconds = args.hours * 3600.0
    rate, n_events = market_only(seconds / 60.0, observed=True)  # every event scheduled, as with an agent attached
    base = n_events / rate
    wall, hourly = whole_day(args.profile, args.hours, not args.quiet, args.seed)
    placing = [h for h, _, _, n in hourly if n]
    print(f"twin market alone, {args.hours} h      {base:7.1f} s wall   (baseline 1.00)")
    print(f"[{args.profile}] full stack, {args.hours} h  {wall:7.1f} s wall   {wall / base:5.1f}x the market alone "
          f"(goal for a day at stress: < 60 s); peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"  requests sent in {len(placing)} of {args.hours} hours ({sum(n for _, _, _, n in hourly):,} request items "
          f"against the address quota); exposure level at each hour's end:")
    print("  " + " ".join(level[:4] for _, _, level, _ in hourly))
    starts = [0.0] + [w for _, w, _, _ in hourly]  # each hour's wall time: from the last hour's end
    quiet = [w - s for (_, w, _, n), s in zip(hourly, starts) if not n]
    busy = [w - s for (_, w, _, n), s in zip(hourly, starts) if n]
    if quiet:
        print(f"  an hour with no requests (Shadow) costs {sum(quiet) / len(quiet):.1f} s wall: "
              f"{24 * sum(quiet) / len(quiet):.0f} s a day")
    if busy:
        # the day's cost is mostly how many hours it places orders in, which the session's seed decides
        print(f"  an hour sending requests costs {sum(busy) / len(busy):.1f} s wall: "
              f"{24 * sum(busy) / len(busy):.0f} s a day of them")


if __name__ == "__main__":
    main()
