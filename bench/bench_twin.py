"""Twin throughput, as ratios to raw SimPy measured in the same run (the machines are noisy).

Prints:
- raw SimPy: timeout events per second (the floor any SimPy design pays per scheduled event);
- twin, market only: market events (book updates + trades) per second of wall time, and the
  per-event cost as a multiple of a raw SimPy timeout (goal: within 4x); with no observer the
  twin jumps over unobserved events, so the same figure is also given with a trades subscriber
  that forces every event through SimPy;
- twin with a probe client quoting and cancelling every second, 1 simulated hour: simulated
  seconds per wall second, and the projected wall time of 24 simulated hours (goal: < 60 s).

Run: python bench/bench_twin.py [--hours 1] [--market-minutes 30]
"""
from __future__ import annotations

import argparse
import time

import simpy

from common.cli_errors import print_out
from twin.exchange import Exchange
from common.files import ArgumentParser
from twin.params import TwinParams
from common.units import MAX_DURATION_S, bounded, positive_float
from twin.session import run_probe_session


def raw_simpy_timeouts(n: int = 1_000_000) -> float:
    return n / (_timed_timeouts(n, time.perf_counter_ns) / 1e9)


def raw_timeout_cpu_us(n: int = 200_000) -> float:
    """One raw SimPy timeout's cost in this thread's CPU time, µs. ``bench_agent`` times its replayed cycles so
    (the minimum over several replays, on CPU time): measured beside each replay, the same way, the baseline
    moves with the machine as the cycles do, where one wall-clock run at the start left the ratio to the
    machine's state in that second."""
    return _timed_timeouts(n, time.thread_time_ns) / 1000.0 / n


def _timed_timeouts(n: int, clock) -> int:
    """``n`` bare SimPy timeouts in one process, timed on ``clock`` (ns)."""
    env = simpy.Environment()

    def proc():
        for _ in range(n):
            yield env.timeout(0.001)

    env.process(proc())
    t0 = clock()
    env.run()
    return clock() - t0


def market_only(minutes: float, seed: int = 1, observed: bool = False) -> tuple[float, int]:
    """No client: the twin may jump over events nobody observes. ``observed``: a trades subscriber
    forces every event through SimPy one by one (the path taken while clients have orders resting)."""
    ex = Exchange.build(TwinParams(), seed)
    if observed:
        ex.connect(lambda push: None).subscribe("trades", "BTC")
    t0 = time.perf_counter()
    ex.env.run(until=minutes * 60.0)
    wall = time.perf_counter() - t0
    n = ex.counters["trades"] + ex.counters["book_updates"]
    return n / wall, n


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    year = "a year, the longest run the twin takes"
    ap.add_argument("--hours", type=bounded(positive_float, MAX_DURATION_S / 3600, year), default=1.0,
                    help="simulated hours with the probe client (default 1, at most a year)")
    ap.add_argument("--market-minutes", type=bounded(positive_float, MAX_DURATION_S / 60, year), default=30.0,
                    help="simulated minutes, market only (default 30, at most a year)")
    args = ap.parse_args()

    raw = raw_simpy_timeouts()
    mkt_rate, n_mkt = market_only(args.market_minutes)
    obs_rate, _ = market_only(args.market_minutes, observed=True)
    stats = run_probe_session(args.hours * 3600.0, seed=2)
    rate = stats["sim_s_per_wall_s"]
    print_out(f"raw SimPy timeouts            {raw:12,.0f} events/s   (baseline 1.00)")
    print_out(f"twin market-only              {mkt_rate:12,.0f} events/s   per-event cost {raw / mkt_rate:5.2f}x raw "
              f"(goal <= 4x; {n_mkt:,} events)")
    print_out(f"twin market, every event     {obs_rate:12,.0f} events/s   per-event cost {raw / obs_rate:5.2f}x raw "
              f"(a trades subscriber: each event scheduled and pushed)")
    print_out(f"twin + probe, {args.hours:g} h simulated   {rate:12,.0f} sim s/wall s  "
              f"24 h projected {86400 / rate:6.1f} s wall (goal < 60 s); "
              f"{stats['market_events'] / stats['wall_s'] / raw:5.2f}x raw rate in market events")


if __name__ == "__main__":
    main()
