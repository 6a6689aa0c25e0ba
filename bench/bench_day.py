"""A whole simulated day, run rather than projected, as a ratio to the twin's market alone over the same day
(measured in the same run: the machines are noisy).

``bench_agent`` projects the day from its first minutes, the busiest: the agent starts at exposure level
Full and places orders throughout them. A whole day is what DESIGN §10's target names, and it is cheaper,
because graduation demotes on evidence (to Shadow, which places nothing but still quotes on paper every
cycle). So this prints both the day's wall time and how the agent spent it: the hours in which it sent
requests, and the exposure level at each hour's end, with the process's peak memory.

How much of the day the agent places orders in depends on the session (its seed, and any change to the
code that moves its decisions): the per-hour costs it prints let a reader work out a day of any mix. Each
hour's cost is split too: the agent core's share (every event it handled, timed in the session: two clock
reads an event, some 0.5 s a day), and what the day would take with the core at no cost, the rest being the
twin, SimPy and the driver: what a faster core alone could buy. The day is also given in DESIGN's units (raw SimPy timeouts of
wall time, measured before and after it in the same run), in which its target is stated.

Run: python bench/bench_day.py [--profile stress|default] [--hours 24] [--seed 1]
"""
from __future__ import annotations

import argparse
import resource
import time

from agent.session import build_session
from bench_agent import PROFILES, profile_session
from bench_twin import market_only, raw_simpy_timeouts
from common.cli_errors import print_note, print_out
from common.files import ArgumentParser
from common.units import MAX_DURATION_S, bounded, parse_seed, positive_int


def whole_day(profile: str, hours: int, progress: bool,
              seed: int = 1) -> tuple[float, list[tuple[int, float, str, int, float]]]:
    """Wall seconds for ``hours`` of the profile's session, and per hour: (hour, wall so far, exposure level
    at its end, request items sent in it, wall seconds in the agent core so far)."""
    cfg, params = profile_session(profile)
    ex, gw, core, driver = build_session(cfg, seed, params)
    in_core = [0.0]
    real = core.handle
    clock = time.perf_counter

    def timed(ev):
        t = clock()
        out = real(ev)
        in_core[0] += clock() - t
        return out
    core.handle = timed
    driver.start()
    hourly = []
    sent = 0
    t0 = time.perf_counter()
    for h in range(1, hours + 1):
        ex.env.run(until=h * 3600.0)
        if progress:
            print_note(f"  {profile}: hour {h}/{hours} done, {time.perf_counter() - t0:.0f} s wall")
        items = gw.counters["request_items"]
        hourly.append((h, time.perf_counter() - t0, core.graduation.level.name, items - sent, in_core[0]))
        sent = items
    return time.perf_counter() - t0, hourly


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=list(PROFILES), default="stress",
                    help="bench_agent's profile (default stress)")
    ap.add_argument("--hours", type=bounded(positive_int, MAX_DURATION_S // 3600, "a year, the longest run the twin "
                                            "takes"), default=24, help="simulated hours (default 24, a day; at most a year)")
    ap.add_argument("--seed", type=parse_seed, default=1, help="the session's seed: how much of the day the agent "
                    "places orders (and so what the day costs) depends on it (default 1)")
    ap.add_argument("--quiet", action="store_true", help="no progress line per simulated hour")
    args = ap.parse_args()
    seconds = args.hours * 3600.0
    raw_before = raw_simpy_timeouts()  # timeouts a second, before the day and after it: the machine drifts
    rate, n_events = market_only(seconds / 60.0, observed=True)  # every event scheduled, as with an agent attached
    base = n_events / rate
    wall, hourly = whole_day(args.profile, args.hours, not args.quiet, args.seed)
    raw_after = raw_simpy_timeouts()
    raw_rate = 0.5 * (raw_before + raw_after)
    placing = [h for h, _, _, n, _ in hourly if n]
    print_out(f"twin market alone, {args.hours} h      {base:7.1f} s wall   (baseline 1.00)")
    print_out(f"[{args.profile}] full stack, {args.hours} h  {wall:7.1f} s wall   {wall / base:5.1f}x the market alone "
              f"(goal for a day at stress: < 60 s); peak memory "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print_out(f"  requests sent in {len(placing)} of {args.hours} hours ({sum(h[3] for h in hourly):,} request items "
              f"against the address quota); exposure level at each hour's end:")
    print_out("  " + " ".join(level[:4] for _, _, level, _, _ in hourly))
    # each hour's wall and core seconds: from the last hour's end
    prev = [(0.0, 0.0)] + [(w, c) for _, w, _, _, c in hourly]
    quiet = [(w - pw, c - pc) for (_, w, _, n, c), (pw, pc) in zip(hourly, prev) if not n]
    busy = [(w - pw, c - pc) for (_, w, _, n, c), (pw, pc) in zip(hourly, prev) if n]
    for hours_of, what in ((quiet, "an hour with no requests (Shadow)"), (busy, "an hour sending requests")):
        # the day's cost is mostly how many hours it places orders in, which the session's seed decides
        if hours_of:
            w = sum(x for x, _ in hours_of) / len(hours_of)
            c = sum(y for _, y in hours_of) / len(hours_of)
            print_out(f"  {what} costs {w:.1f} s wall, the agent core {c / w:.0%} of it: {24 * w:.0f} s a day of them")
    in_core = hourly[-1][4]
    print_out(f"  the agent core {in_core:.1f} s of the {wall:.1f} s; with the core at no cost the run would take "
              f"{wall - in_core:.1f} s (the twin, SimPy and the driver): what a faster core alone could buy")
    # DESIGN §10 states its targets for a machine where a raw SimPy timeout takes about 1.0 µs: in its units a day
    # at stress must cost under 60 M raw timeouts of wall time, whatever this machine's speed
    print_out(f"  in DESIGN's units: {wall * raw_rate / 1e6:.0f} M raw SimPy timeouts of wall time (goal for a day at "
              f"stress: < 60 M), {(wall - in_core) * raw_rate / 1e6:.0f} M with the core at no cost; a raw timeout "
              f"{1e6 / raw_before:.2f} µs before the day, {1e6 / raw_after:.2f} µs after")


if __name__ == "__main__":
    main()
