"""Agent cost, as ratios to baselines measured in the same run.

Two profiles, each a twin session with every fault model on, the agent starting at exposure level Full
and capped there (as shipped, graduation starts in Shadow, which places nothing: timing that would
flatter it). Graduation still demotes on evidence: at 10 Hz to Cautious at once and to Ramping within
two minutes, where it still quotes every level, at smaller sizes (back up to Cautious at some 25
minutes, down to MicroLive at 45 and Shadow at 50: the day is projected from the first minutes, the
busiest):
- ``default``: the agent as shipped (3 levels a side, a 500 ms quote cycle);
- ``stress``: 5 levels a side requoting every 100 ms, with extra stochastic rejections.

Prints, per profile:
- the agent core's cost per quote cycle (p50, p99 in µs) (goal: p99 < 100 µs), and, from the replays,
  the same by kind of cycle (commands sent or not) with each kind's share of the p99 tail; and the same
  for the work each cycle leaves until its commands are sent (its AFTER_CYCLE timer: the commands booked into
  the order tracker and the request budgets, forecasts recorded, and every few seconds the graduation evaluated);
- the cost of one raw SimPy timeout, and the cycle p50 as a multiple of it;
- full-stack simulated seconds per wall second for that session, the projected wall time of a
  simulated day (goal: < 60 s on one core), and the twin's market-only rate as the baseline ratio;
  and where the session's time goes: the core's share (every event it handled, timed in the session),
  the same session's with a core that does nothing (the twin's market and feed, SimPy, the driver), and
  the rest, the orders' path through the gateway and the twin.

Wall-clock figures on a shared machine include time the process spent descheduled (a 4 ms time
slice lands in the p99 as 4 ms), so each figure is also given in this process's CPU time. Even CPU
time is noisy on a shared virtual machine (caches and cores shared with other tenants), so the
session's events are then replayed into fresh cores (the same commands come out: the core is
deterministic) and each cycle's minimum over the replays is reported: the program's own cost, which
the machine can only inflate, as a multiple of a raw SimPy timeout timed the same way (this thread's
CPU time, the least of several measured beside the replays: one wall-clock measurement at the start
left the ratio to the machine's state in that second). Beside it, each replay's own p99 and one more replay's with Python's
garbage collector off: between them and the minimum, what the collector and the machine add to the
tail. (The events are recorded in a second session alike, not the timed one: see full_stack.) Last, the
machine's own tail, measured: for each cycle a fixed piece of Python as long as that cycle's minimum,
timed the same way. Whatever it adds at the p99 (timer interrupts, the hypervisor) any code of those
lengths gets on this machine, however it is written.

Run: python bench/bench_agent.py [--minutes 30]
"""
from __future__ import annotations

import argparse
import gc
import sys
import time

import numpy as np

from agent.config import AgentConfig
from agent.core import AgentCore
from agent.gateway.events import AFTER_CYCLE, Timer
from agent.session import build_session
from common.cli_errors import print_out
from twin.faults.rejections import RejectionParams
from common.files import ArgumentParser
from twin.params import TwinParams
from common.units import MAX_DURATION_S, bounded, positive_float, positive_int
from bench_twin import market_only, raw_simpy_timeouts, raw_timeout_cpu_us


# The benches time the agent trading: both profiles start at Full, and the mean net edge criterion is opened
# (graduation.promotion.min_net_edge_bps), as promotion ran until 6 December: in the twin's default market the agent's
# fills lose, and with it shut the shipped agent, once demoted, is never promoted out of Shadow again (README's
# Quickstart), so a day (bench_day) spent 23 of its 24 hours in Shadow: a cheaper path, not a faster program. Since
# Shadow's paper fills pay the venue's fee in the evidence (graduation.paper_maker_fee_bps, as promotion ran until
# stop 58) the day fell to Shadow in its first hours again (4 of 24 sending): the paper fee is 0 here, as it was.
_TRADING = {"start_level": "FULL", "ceiling": "FULL", "promotion": {"min_net_edge_bps": -100.0, "net_edge_z": 0.0},
            "paper_maker_fee_bps": 0.0}
PROFILES = {
    "default": ({"graduation": _TRADING}, None),
    "stress": ({"session": {"cycle_s": 0.1}, "quoting": {"ladder": {"n_levels": 5, "size_ratio": 1.2}},
                "risk": {"max_position": 0.1}, "graduation": _TRADING},
               {"Oracle": 0.002, "PerpMargin": 0.001}),
}


def profile_session(profile: str) -> tuple[AgentConfig, TwinParams]:
    """A profile's agent config and twin parameters (``bench_day`` runs the same profiles)."""
    overrides, rates = PROFILES[profile]
    return (AgentConfig.model_validate(overrides),
            TwinParams(rejections=RejectionParams(rates=rates)) if rates else TwinParams())


def recorded_events(cfg: AgentConfig, params: TwinParams, minutes: float) -> tuple[list, object]:
    """The events a session of ``minutes`` (seed 1) gives its core, and its coin's instrument (tick, size decimals):
    what the benches that replay a session into fresh cores feed them."""
    events: list = []
    ex, _, _, driver = build_session(cfg, 1, params, event_log=events)
    driver.start()
    ex.env.run(until=minutes * 60.0)
    return events, ex.instruments[cfg.session.coin]


# a --minutes of a session the bench runs (session_options', bench_arrival_session's, bench_feed_blocks',
# bench_p_fill's): a minute at the least, the longest run the twin takes at the most; and a --seed, or a --seeds
# (seeds 1 on), of theirs
session_minutes = bounded(positive_float, MAX_DURATION_S / 60, "a minute to a year, the longest run the twin takes",
                          lowest=1.0)
session_seeds = bounded(positive_int, 10_000, "seeds 1 to 10000")


def session_options(ap: argparse.ArgumentParser, minutes: float) -> None:
    """--minutes (``minutes`` by default) and --profile (stress by default) for a script that runs one profile's
    session to measure or hash it (bench_bytecodes, decisions_hash)."""
    ap.add_argument("--minutes", type=session_minutes, default=minutes,
                    help=f"simulated minutes of the session (default {minutes:g}; 1 to a year)")
    ap.add_argument("--profile", choices=list(PROFILES), default="stress",
                    help="bench_agent's agent profile, at Full: stress (the default: a 100 ms cycle, 5 levels a "
                         "side) or default (the config as shipped, a 500 ms cycle)")


def check_recording(path: str) -> None:
    """Exit 2 naming ``--replay PATH`` unless it is a file holding a pickle, as ``recorded_events`` pickled by
    bench_bytecodes and bench_instructions: a path not there, or a file of something else, was a FileNotFoundError's
    or an UnpicklingError's traceback, exit 1. (Read to its first byte alone: the replay it precedes is measured.)"""
    from common.cli_errors import fail
    try:
        with open(path, "rb") as f:
            first = f.read(1)
    except OSError as e:
        sys.exit(fail(f"--replay {path}: {e.strerror or e}"))
    if first != b"\x80":  # (pickle's PROTO opcode, which every protocol from 2 on writes first)
        sys.exit(fail(f"--replay {path}: not a recording of a session's events (a pickle the script wrote; run it "
                      "without --replay to record one)"))


def full_stack(minutes: float, profile: str = "stress"):
    """Two sessions alike (the same seed): one timed, as a user runs it (no event log: a log of a whole
    session is millions of objects, and Python's garbage collector would scan them all, slowing the very
    session it times, by a fifth at 10 Hz), then one recording its events, for the replays."""
    cfg, params = profile_session(profile)
    ex, gw, core, driver = build_session(cfg, 1, params)
    cycle: list[int] = []  # quote cycles: wall ns, CPU ns
    cycle_cpu: list[int] = []
    after: list[int] = []  # their AFTER_CYCLE work (CPU ns)
    real = core.handle
    clock = time.perf_counter_ns
    cpu = time.thread_time_ns  # this thread's CPU time: blind to preemption by other processes

    def timed(ev):
        if type(ev) is Timer:
            c0 = cpu()
            t0 = clock()
            out = real(ev)
            t1 = clock()
            if ev.name == AFTER_CYCLE:
                after.append(cpu() - c0)
            else:
                cycle_cpu.append(cpu() - c0)
                cycle.append(t1 - t0)
            handled[0] += t1 - t0
            return out
        t0 = clock()
        out = real(ev)
        handled[0] += clock() - t0
        return out
    handled = [0]  # wall ns in the core, every event
    core.handle = timed
    driver.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    ex.env.run(until=minutes * 60.0)
    wall = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    split = (wall, handled[0] / 1e9, idle_core_session(cfg, params, minutes))
    events, inst = recorded_events(cfg, params, minutes)
    baseline: list = []
    replayed = (*replay_min(cfg, events, inst.tick, inst.sz_decimals, baseline=baseline), np.array(baseline))
    return (np.array(cycle) / 1000.0, np.array(cycle_cpu) / 1000.0, np.array(after) / 1000.0,
            minutes * 60.0 / wall, minutes * 60.0 / cpu_s, core, gw, replayed, split)


def idle_core_session(cfg: AgentConfig, params: TwinParams, minutes: float) -> float:
    """Wall seconds of the same twin session with a core that handles nothing and sends nothing: the twin's
    market and feed, SimPy and the driver, with no orders. Beside the session's own time and its core's, what
    is left is the orders' path through the gateway and the twin (matching, margin, order-status frames,
    their latency timers)."""
    ex, _, core, driver = build_session(cfg, 1, params)
    core.handle = lambda ev: ()
    driver.start()
    t0 = time.perf_counter()
    ex.env.run(until=minutes * 60.0)
    return time.perf_counter() - t0


def replay_min(cfg: AgentConfig, events: list, tick: float, sz_decimals: int, n: int = 5, make_core=None,
               clock=time.thread_time_ns, baseline: list | None = None):
    """Each quote cycle's and each AFTER_CYCLE's time on ``clock`` (this thread's CPU time unless given), µs:
    the minimum over ``n`` replays of the session's events into fresh cores (``make_core()``, else as
    build_session makes them; fed as the SimDriver feeds them, records discarded); and each one's kind
    (_KINDS, _AFTER_KINDS), to say what the slow ones do. Then where the session's tail comes from: the
    quote cycles' p99 in each replay alone, and in one more with Python's garbage collector off. ``baseline``: a
    list to append a raw SimPy timeout's CPU time (µs) to, measured just before each of the ``n`` replays."""
    cpu = clock
    runs = []
    kinds: list[int] = []
    is_after = np.array([ev.name == AFTER_CYCLE for ev in events if type(ev) is Timer])
    for r in range(n + 1):
        collector_off = r == n
        if baseline is not None and not collector_off:
            baseline.append(raw_timeout_cpu_us())
        if collector_off:
            gc.collect()
            gc.disable()
        try:
            core = (make_core() if make_core is not None
                    else AgentCore(cfg, np.random.default_rng(0), tick=tick, sz_decimals=sz_decimals))
            handle, discard, g = core.handle, core.discard_records, core.graduation
            ns = []
            for ev in events:
                if type(ev) is Timer:
                    e0 = g._next_eval_ts
                    c0 = cpu()
                    out = handle(ev)
                    ns.append(cpu() - c0)
                    if r == 0:  # the same in every replay (the core is deterministic)
                        kinds.append(g._next_eval_ts != e0 if ev.name == AFTER_CYCLE else bool(out))
                else:
                    handle(ev)
                discard()
        finally:
            if collector_off:
                gc.enable()
        runs.append(ns)
    each = np.array(runs) / 1000.0
    us = np.min(each[:n], axis=0)
    kinds_a = np.array(kinds, dtype=int)
    single_p99 = np.percentile(each[:n, ~is_after], 99, axis=1)
    return (us[~is_after], kinds_a[~is_after], us[is_after], kinds_a[is_after], single_p99,
            float(np.percentile(each[n, ~is_after], 99)))


def machine_tail(lengths_us: np.ndarray, rounds: int = 3) -> np.ndarray:
    """The machine's tail for work of these lengths: for each cycle, a fixed, deterministic piece of Python
    (the same bytecodes on every call, its data always in cache) sized to that cycle's replayed minimum,
    timed as the replays time a cycle (this thread's CPU time), in the cycles' order, ``rounds`` times.
    Returns each round's p99 (µs). What it adds above the cycles' own p99 is not the program's: this code
    never changes, so it is what any code of these lengths gets on this machine."""
    cpu = time.thread_time_ns
    per_us = fixed_work_per_us(cpu)
    sizes = [max(1, round(x * per_us)) for x in lengths_us]
    return np.array([np.percentile([timed_fixed(cpu, n) for n in sizes], 99) for _ in range(rounds)]) / 1000.0


def fixed_work_per_us(clock) -> float:
    """The fixed code's iterations per µs on ``clock`` (ns): from its minimum over many calls of 50 µs or more."""
    k = 1024
    while True:
        best = min(timed_fixed(clock, k) for _ in range(200))
        if best >= 50_000:
            return k * 1000.0 / best
        k *= 2


def timed_fixed(cpu, k: int) -> int:
    """The fixed code of ``k`` iterations, timed on ``cpu`` (ns)."""
    c0 = cpu()
    _fixed_work(k)
    return cpu() - c0


def _fixed_work(k: int) -> float:
    """Float arithmetic, a dict and a list: the kinds of work a cycle does, in a fixed amount."""
    acc = 0.0
    d: dict = {}
    xs: list = []
    for i in range(k):
        acc += i * 0.5
        d[i & 7] = acc
        xs.append(acc)
    return acc + len(xs) + len(d)


# a quote cycle's kind: commands sent (a requote that changed orders) or not; an AFTER_CYCLE's: graduation
# evaluated or not
_KINDS = ("no commands", "commands")
_AFTER_KINDS = ("no evaluation", "graduation evaluation")


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # (a moment, 0.0001, had no cycle to time: a numpy TypeError in the replay, after the baselines' seconds)
    ap.add_argument("--minutes", type=bounded(positive_float, MAX_DURATION_S / 60, "a minute, for cycles to time, to "
                                              "a year, the longest run the twin takes", lowest=1.0), default=30.0,
                    help="simulated minutes of each full-stack session (default 30; 1 to a year)")
    ap.add_argument("--profile", choices=[*PROFILES, "both"], default="both",
                    help="which session(s) to time (default both)")
    args = ap.parse_args()
    raw = raw_simpy_timeouts()
    mkt_rate, _ = market_only(10.0)
    print_out(f"raw SimPy timeout             {1e6 / raw:8.2f} µs        (baseline 1.00)")
    print_out(f"twin market-only baseline     {mkt_rate:8,.0f} events/s")
    for profile in (PROFILES if args.profile == "both" else [args.profile]):
        print_out(f"\n[{profile}]")
        report(raw, *full_stack(args.minutes, profile))


def report(raw, us, cpu_us, after_us, rate, cpu_rate, core, gw, replayed, split) -> None:
    raw_us = 1e6 / raw
    p50, p99 = np.percentile(us, 50), np.percentile(us, 99)
    c50, c99 = np.percentile(cpu_us, 50), np.percentile(cpu_us, 99)
    print_out(f"agent quote cycle p50         {p50:8.1f} µs        {p50 / raw_us:6.1f}x raw   (CPU time {c50:6.1f} µs)")
    print_out(f"agent quote cycle p99         {p99:8.1f} µs        {p99 / raw_us:6.1f}x raw   (CPU time {c99:6.1f} µs; "
              f"goal < 100 µs; {len(us):,} quote cycles, {core.cycle:,} requotes)")
    print_out(f"  after each cycle (CPU)      p50 {np.percentile(after_us, 50):6.1f} µs, p99 "
              f"{np.percentile(after_us, 99):6.1f} µs: its AFTER_CYCLE work, once its commands are sent")
    rep, kinds, rep_after, after_kinds, single_p99, collector_off_p99, baseline = replayed
    r50, r99 = np.percentile(rep, 50), np.percentile(rep, 99)
    base = float(baseline.min())
    print_out(f"  replayed x5, per-cycle min  p50 {r50:6.1f} µs, p99 {r99:6.1f} µs ({r50 / base:.1f}x, "
              f"{r99 / base:.1f}x raw; goal p99 < 100x raw): the program's own cost, without the machine's noise")
    print_out(f"    its baseline              a raw SimPy timeout {base:.2f} µs of CPU time, the least of "
              f"{len(baseline)} measured beside the replays ({baseline.min():.2f}-{baseline.max():.2f} µs): "
              f"timed as they are")
    print_out(f"    each replay alone         p99 {single_p99.min():.1f}-{single_p99.max():.1f} µs; with the garbage "
              f"collector off {collector_off_p99:.1f} µs: what the collector and the machine add to the tail")
    m_p99 = machine_tail(rep)
    print_out(f"    the machine alone         p99 {m_p99.min():.1f}-{m_p99.max():.1f} µs: fixed Python code of each "
              f"cycle's length (its minimum above), timed alike: the tail any code of these lengths gets here")
    _by_kind(rep, kinds, _KINDS)
    a50, a99 = np.percentile(rep_after, 50), np.percentile(rep_after, 99)
    print_out(f"  replayed after-cycle work   p50 {a50:6.1f} µs, p99 {a99:6.1f} µs")
    _by_kind(rep_after, after_kinds, _AFTER_KINDS)
    print_out(f"full stack, faults on         {rate:8.0f} sim s/wall s   a day in {86400 / rate:6.1f} s wall "
              f"(goal < 60 s); {cpu_rate:.0f} sim s/CPU s, a day in {86400 / cpu_rate:.1f} CPU s")
    wall, in_core, idle = split
    print_out(f"  where its time goes         the core {in_core / wall:.0%} (every event it handled); the same session "
              f"with a core that does nothing {idle / wall:.0%} (the twin's market and feed, SimPy, the driver); the "
              f"rest, {max(0.0, wall - in_core - idle) / wall:.0%}, the orders' path through the gateway and the twin")
    print_out(f"requests sent {gw.counters['request_items']:,}, fills {core.ledger.fills:,}, "
              f"disconnects {gw.counters['disconnects']}, exposure level at the end {core.graduation.level.name}")


def _by_kind(us, kinds, names) -> None:
    """What the slowest (the p99 tail) are doing."""
    tail = us >= np.percentile(us, 99)
    for k, name in enumerate(names):
        sel = kinds == k
        if sel.any():
            x = us[sel]
            print_out(f"    {name:24s} {sel.mean():6.1%} of them, {tail[sel].sum() / max(1, tail.sum()):6.1%} of the "
                      f"p99 tail; p50 {np.percentile(x, 50):6.1f} µs, p99 {np.percentile(x, 99):6.1f} µs")


if __name__ == "__main__":
    main()
