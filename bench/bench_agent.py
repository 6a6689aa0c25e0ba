"""Agent cost, as ratios to baselines measured in the same run.

Prints:
- the agent core's cost per quote cycle (p50, p99 in µs), measured inside a twin session with
  every fault model on, 5 levels a side, requoting every 100 ms (goal: p99 < 100 µs);
- the cost of one raw SimPy timeout, and the cycle p50 as a multiple of it;
- full-stack simulated seconds per wall second for that session, the projected wall time of a
  simulated day (goal: < 60 s on one core), and the twin's market-only rate as the baseline ratio.

Wall-clock figures on a shared machine include time the process spent descheduled (a 4 ms time
slice lands in the p99 as 4 ms), so each figure is also given in this process's CPU time.

Run: python bench/bench_agent.py [--minutes 30]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from agent.config import AgentConfig
from agent.gateway.events import Timer
from agent.session import build_session
from twin.faults.rejections import RejectionParams
from twin.params import TwinParams
from bench_twin import market_only, raw_simpy_timeouts


def full_stack(minutes: float):
    # graduation starts a session in Shadow (nothing placed): start it at Full, or this would time
    # an agent that never sends an order
    cfg = AgentConfig.model_validate({"session": {"cycle_s": 0.1},
                                      "quoting": {"ladder": {"n_levels": 5, "size_ratio": 1.2}},
                                      "risk": {"max_position": 0.1},
                                      "graduation": {"start_level": "FULL", "ceiling": "FULL"}})
    params = TwinParams(rejections=RejectionParams(rates={"Oracle": 0.002, "PerpMargin": 0.001}))
    ex, gw, core, driver = build_session(cfg, 1, params)
    cycle_ns: list[int] = []
    cycle_cpu_ns: list[int] = []
    real = core.handle
    clock = time.perf_counter_ns
    cpu = time.thread_time_ns  # this thread's CPU time: blind to preemption by other processes

    def timed(ev):
        if type(ev) is Timer:
            c0 = cpu()
            t0 = clock()
            out = real(ev)
            t1 = clock()
            cycle_cpu_ns.append(cpu() - c0)
            cycle_ns.append(t1 - t0)
            return out
        return real(ev)
    core.handle = timed
    driver.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    ex.env.run(until=minutes * 60.0)
    wall = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    return (np.array(cycle_ns) / 1000.0, np.array(cycle_cpu_ns) / 1000.0, minutes * 60.0 / wall,
            minutes * 60.0 / cpu_s, core, gw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="simulated minutes of the full-stack session")
    args = ap.parse_args()
    raw = raw_simpy_timeouts()
    mkt_rate, _ = market_only(10.0)
    us, cpu_us, rate, cpu_rate, core, gw = full_stack(args.minutes)
    raw_us = 1e6 / raw
    p50, p99 = np.percentile(us, 50), np.percentile(us, 99)
    c50, c99 = np.percentile(cpu_us, 50), np.percentile(cpu_us, 99)
    print(f"raw SimPy timeout             {raw_us:8.2f} µs        (baseline 1.00)")
    print(f"agent quote cycle p50         {p50:8.1f} µs        {p50 / raw_us:6.1f}x raw   (CPU time {c50:6.1f} µs)")
    print(f"agent quote cycle p99         {p99:8.1f} µs        {p99 / raw_us:6.1f}x raw   (CPU time {c99:6.1f} µs; "
          f"goal < 100 µs; {len(us):,} timer events, {core.cycle:,} requotes)")
    print(f"full stack, faults on         {rate:8.0f} sim s/wall s   a day in {86400 / rate:6.1f} s wall (goal < 60 s); "
          f"{cpu_rate:.0f} sim s/CPU s, a day in {86400 / cpu_rate:.1f} CPU s")
    print(f"twin market-only baseline     {mkt_rate:8,.0f} events/s")
    print(f"requests sent {gw.counters['request_items']:,}, fills {core.ledger.fills:,}, "
          f"disconnects {gw.counters['disconnects']}, exposure level at the end {core.graduation.level.name}")


if __name__ == "__main__":
    main()
