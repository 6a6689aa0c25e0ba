"""Run the twin for a stretch of simulated time with a progress bar, a signal's handler held to the end of the event
it came in; used by ``python -m twin run``, the agent's sessions, the scenarios and calibration."""
from __future__ import annotations

import time

from common.stop_signals import SignalsBetweenEvents
from twin.calls import drop_stop, run_to_stop, stop_at
from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule
from twin.params import TwinParams
from twin.probe import ProbeClient


def advance(env, until: float, held: SignalsBetweenEvents) -> None:
    """``env.run(until=until)``, with ``held``'s signals delivered between two events (raising there, when their
    handlers raise): the same events in the same order, the same clock and queue (its ids, and the stop event SimPy
    leaves on it), the same market path. The stop is scheduled first, as ``env.run`` does, and is on the queue while
    the events run: the twin's market loop jumps over the events nobody can observe up to ``env.peek()``, and
    without it jumped past ``until`` (the caller then saw a book from after ``until``) or, with nothing else
    scheduled, never returned. Cut short by an exception (a delivered signal's KeyboardInterrupt, a crash), the stop
    is taken off the queue (SimPy's run leaves it live), so that it cannot end a later run early."""
    stop = stop_at(env, until)  # (ValueError for an until not after the clock, as env.run)
    try:
        while not run_to_stop(env, held.pending):
            held.deliver()
    except BaseException:
        drop_stop(env, stop)
        raise


def run_until(env, until: float, progress: bool, desc: str = "simulating") -> None:
    """Advance ``env`` to ``until`` in 1% steps, drawing a tqdm bar of simulated seconds; a signal that comes meanwhile
    is handled between two events (SignalsBetweenEvents)."""
    with SignalsBetweenEvents() as held:
        if not progress:
            advance(env, until, held)
            return
        from tqdm import tqdm

        steps = 100
        with tqdm(total=round(until), unit="sim s", desc=desc, leave=False) as bar:
            done = 0
            for k in range(1, steps + 1):
                advance(env, until * k / steps, held)
                now = round(env.now)
                bar.update(now - done)
                done = now


def run_probe_session(duration_s: float, seed: int = 0, params: TwinParams | None = None,
                      schedule: ChaosSchedule | None = None, progress: bool = False,
                      probe_interval_s: float = 1.0) -> dict:
    """One twin session with a probe client; returns its statistics."""
    ex = Exchange.build(params, seed, schedule)
    probe = ProbeClient(ex, "0x" + "11" * 20, interval_s=probe_interval_s)
    wall0 = time.perf_counter()
    run_until(ex.env, duration_s, progress)
    wall = time.perf_counter() - wall0
    acct = ex.accounts[probe.user]
    return {
        "simulated_s": duration_s,
        "wall_s": wall,
        "sim_s_per_wall_s": duration_s / wall if wall > 0 else float("inf"),
        "market_events": ex.counters["trades"] + ex.counters["book_updates"],
        "counters": dict(ex.counters),
        "probe_replies": dict(probe.replies),
        "probe_errors": dict(probe.errors),
        "probe_fills": probe.fills,
        "probe_position": acct.position("BTC").szi,
        "probe_account_value": acct.account_value(ex.marks),
        "quota": ex.user_rate_limit(probe.user),
    }
