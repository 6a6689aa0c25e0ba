"""Run the twin for a stretch of simulated time with a progress bar, a signal's handler held to the end of the event
it came in; used by ``python -m twin run``, the agent's sessions, the scenarios and calibration."""
from __future__ import annotations

import signal
import time

from twin.calls import drop_stop, run_to_stop, stop_at
from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule
from twin.params import TwinParams
from twin.probe import ProbeClient


# the signals whose handlers set in Python (Ctrl-C's KeyboardInterrupt, agent.session's StopSignal) are held
_HELD = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class SignalsBetweenEvents:
    """Inside the block, SIGINT, SIGTERM and SIGHUP are noted as they come, and their handlers run at ``deliver``,
    which ``advance`` calls between two events: a KeyboardInterrupt raised where the signal landed cut an event's
    handling anywhere (an agent's quote cycle counted and its record never made, a command sent and its record never
    written: a decision log that disagreed with the summary, and did not name what the venue was sent). A run still
    ends promptly: an event's handling takes microseconds.

    Only handlers set in Python are held (a signal left to its default still ends the process, an ignored one is
    still ignored); the ones before are put back on leaving, and a signal that came after the last event is
    delivered then. A block inside another shares the outer one's; outside the main thread (where no handler can
    be set) nothing is held."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, object]] = []  # (signal number, frame), as they came
        self._held: dict[int, object] = {}  # each signal held: the handler it had
        self._owner = True  # False: an outer block holds them (its pending and handlers shared)

    def _note(self, signum: int, frame) -> None:
        self.pending.append((signum, frame))

    def __enter__(self) -> "SignalsBetweenEvents":
        for s in _HELD:
            outer = getattr(signal.getsignal(s), "__self__", None)
            if isinstance(outer, SignalsBetweenEvents):
                self.pending, self._held, self._owner = outer.pending, outer._held, False
                return self
        try:
            for s in _HELD:
                handler = signal.getsignal(s)
                if callable(handler):
                    signal.signal(s, self._note)
                    self._held[s] = handler
        except ValueError:  # not the main thread: a signal's handler runs where it lands, as without the block
            pass
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._owner:
            return
        for s, handler in self._held.items():
            signal.signal(s, handler)
        # a signal that came after the last event, or beside a crash (raised from here, its context the crash); not
        # one after a delivered signal's KeyboardInterrupt: that one is already ending the run
        if exc_type is None or not issubclass(exc_type, KeyboardInterrupt):
            self.deliver()

    def deliver(self) -> None:
        """Run the held signals' handlers, in the order the signals came (where they raise: Ctrl-C's
        KeyboardInterrupt); once one raises, the rest are dropped, as a second Ctrl-C is while the first ends a run."""
        pending = self.pending
        while pending:
            signum, frame = pending.pop(0)
            self._held[signum](signum, frame)


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
