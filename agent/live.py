"""``LiveDriver``: the same AgentCore on asyncio, with wall-clock timestamps, against an async gateway.

It feeds every gateway event to the core and sends the core's commands, ticks a quote-cycle
timer, and on stop (duration over, SIGINT/SIGTERM/SIGHUP, a core failure, a Kill whose work is done) pulls every
order, waits for the venue to confirm none of ours rests, and closes. ``DryRunGateway`` wraps a gateway for
execution level 2: every order goes far from the touch and is cancelled as soon as it rests.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import signal
import time
from pathlib import Path
from typing import Callable, Protocol

from agent.cycle_cost import CycleCost
from agent.drivers import Core, RecordSink
from agent.report import coin_amounts, trading_summary
from agent.gateway.base import EventSink, RecentOrders
from agent.gateway.events import (
    AFTER_CYCLE, AccountSnapshot, Batch, BookUpdated, CancelAcknowledged, CancelAll, CancelOrder, CancelRejected,
    Command, Event, IpWeightSpent, ModifyAcknowledged, ModifyOrder, OrderAcknowledged, PlaceOrder, QuotaStatus,
    RateLimited, RequestAccountSnapshot, Side, Timer,
)
from agent.execution.weights import SNAPSHOT_SENT_WEIGHT, request_cost
from agent.quoting.ladder import round_px_to_venue, venue_min_size
from common.files import read_text, short_repr

log = logging.getLogger(__name__)
_perf_ns = time.perf_counter_ns  # the core's cost per cycle (the clock events carry may be a test's or scaled)


def live_core(config, seed: int, tick: float, sz_decimals: int, cloid_prefix: int = 1):
    """A live run's core: its generator is the first of two spawned from the run's seed (the gateway's jitter
    takes the second). The live CLI and a replay of its journal both build it here, so they build the same
    (the prefix from the run's start line: logs written before it was recorded used 1)."""
    import numpy as np

    from agent.core import AgentCore
    core_seq, _ = np.random.SeedSequence(seed).spawn(2)
    return AgentCore(config, np.random.default_rng(core_seq), tick=tick, sz_decimals=sz_decimals,
                     cloid_prefix=cloid_prefix)


def live_core_of(start: dict):
    """The core a live run's start line describes, as the live CLI built it: the replay, calibration and
    bench_live rebuild it here (the journal's acks name the cloids it issued: another prefix and the rebuilt
    core knows none of its orders)."""
    from agent.config import AgentConfig
    missing = [k for k in START_FIELDS if k not in start]
    if missing:  # ValueError: the callers name the file and the line
        raise ValueError(f"start record without {', '.join(missing)}: the run's core cannot be rebuilt")
    prefix = int(start.get("cloid_prefix", "0x1"), 16)  # as the cloids show it ("0x8ee6f578"); older logs: 1
    return live_core(AgentConfig.model_validate(start["config"]), start["seed"], start["tick"], start["sz_decimals"],
                     prefix)


START_FIELDS = ("config", "seed", "tick", "sz_decimals")  # what live_core_of rebuilds the core from


def run_cloid_prefix() -> int:
    """A live run's cloid prefix (the first 32 of a cloid's 128 bits; a counter is the rest): 32 random bits
    from the OS, drawn once per run at the edge and written in the run's start line, which the replay reads.
    With the same prefix every run, a restart issues the cloids of the last run again: the orders it left
    resting, their fills in the account's history and the log's earlier runs would share them, and so would
    the orders of two agents trading two coins from one account."""
    import secrets
    return secrets.randbits(32)


def live_jitter_rng(seed: int):
    """The gateway's generator for a live run (the second spawned from its seed)."""
    import numpy as np
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])


class AsyncGateway(Protocol):
    """A Gateway that runs on an asyncio loop and can be drained and closed (HyperliquidGateway)."""

    def start(self, sink: EventSink) -> None: ...

    def send(self, cmd: Command) -> None: ...

    async def drain(self, timeout_s: float) -> bool: ...

    async def close(self) -> None: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def placing_in_flight(self) -> int: ...  # (of in_flight, the places and modifies: those that may rest an order)

    @property
    def stats(self) -> dict: ...


# the shutdown's own snapshots, at most one a second: each costs 42 of the IP's 1,200 weight a minute
_SHUTDOWN_POLL_S = 1.0
_FLATTEN_TICK_S = 0.25  # the core's timer while it closes the position at a stop (its retries are 2 s apart)
_FINAL_READ_S = 5.0  # the most a stop still flattening at the grace's end waits past it for the venue's account
_POLL_WAIT_S = 5.0  # the most one of the stop's polls waits for its answer (none comes to one refused, a 429)
KILL_STOP = "kill"  # the stop_reason of a run a Kill ended: its work done (no order of ours listed, flat or held)


def _positive_s(name: str, value: float) -> float:
    """``value`` (seconds), which must be positive and finite: a 0 poll_wait_s timed every stop poll out at once (the
    stop read no account, and reported orders that may rest), a 0 shutdown_poll_s polled as fast as answers came (42
    of the IP's weight each), an inf one polled once, and nan compares false with every time. ValueError naming the
    parameter and the value."""
    if not 0.0 < value < math.inf:  # (nan fails it too)
        raise ValueError(f"LiveDriver: {name} must be a positive, finite number of seconds, got {value!r}")
    return value


class LiveDriver:
    """Run a core against an async gateway until stopped; a ``Timer`` every ``cycle_s``.

    ``clock`` gives event timestamps in seconds (wall epoch by default). ``time_scale`` is clock
    seconds per wall second: 1 live; N against a twin served at N× speed, so that the core's
    periods (the cycle, the duration) are in the venue's time.
    """

    def __init__(self, gateway: AsyncGateway, core: Core, cycle_s: float, *, clock: Callable[[], float] = time.time,
                 time_scale: float = 1.0, record_sink: RecordSink | None = None,
                 event_log: list | None = None, command_log: list | None = None, journal=None,
                 on_kill: Callable[[dict], object] | None = None, shutdown_poll_s: float = _SHUTDOWN_POLL_S,
                 poll_wait_s: float = _POLL_WAIT_S) -> None:
        self.gateway = gateway
        # (wall s) the stop's (and a Kill's) own snapshot polls at most this often: the venue's IP weight sets the
        # shipped 1 s; a test against a twin with weight to spare gives a shorter one, not to wait out its spacing
        self.shutdown_poll_s = _positive_s("shutdown_poll_s", shutdown_poll_s)
        # (wall s) and waits at most this long for each one's answer
        self.poll_wait_s = _positive_s("poll_wait_s", poll_wait_s)
        self.core = core
        self.cycle_s = cycle_s
        self.clock = clock
        self.time_scale = time_scale
        self.record_sink = record_sink
        # told each Kill's postmortem record before the sink is given any record of its cycle: whether or not the sink
        # takes them, or is there at all (a log that failed in the Kill's cycle dropped the sink, and the live CLI's
        # Kill latch with it), and before a process killed outright as they are written could leave the log saying
        # Kill with no latch (the records and the postmortem file took ms)
        self.on_kill = on_kill
        self.event_log = event_log
        self.command_log = command_log  # when a list: every command sent (off by default: a session is days)
        # an agent.audit.event_log.EventJournal: every event written before the core handles it, and where the
        # run was shut down, so that the session replays exactly
        self.journal = journal
        self.events = 0
        self.core_errors = 0
        self.cycle_cost = CycleCost()  # the core's wall time on each cycle tick (requoting or not): core_cycle_us
        self.stopped = False
        self.stop_reason = ""
        # the run stopped itself on a fault (a core error, a log it could not write), not at its duration or on a
        # signal: the CLI's exit 4, so a supervisor sees it (as 0 it read as a run that went well)
        self.stopped_on_fault = False
        # the clock's time the run saw the core's Kill (None: none): the run then ends itself once the Kill's work is
        # done (_after_kill), and a stop before says the Kill in its reason (the CLI's exit 5)
        self.kill_ts: float | None = None
        self._kill_quiet_ts: float | None = None  # since when the core has had nothing left of the Kill to do
        self._kill_asked_ts = -math.inf  # the driver's last snapshot request to see the venue agree
        # the newest account state the venue has answered with (_newest_snapshot): what _after_kill judges
        self._last_snapshot: AccountSnapshot | None = None
        self.kill_held = False  # the Kill's own stop left the position held (kill_action hold), --flatten-on-stop given
        self.final_snapshot: AccountSnapshot | None = None
        self.wall_s = 0.0  # how long run() took, once it has returned (elapsed_wall_s() while it runs)
        self._wall0: float | None = None
        self._stop: asyncio.Event | None = None
        self._snapshot_waiters: list[tuple[float, asyncio.Future]] = []
        self._shutdown_done = False
        self._volume_told = False  # the first quota report's volume was read for the dead-man's switch (_dead_man_off)

    # ------------------------------------------------------------------ events and commands

    def on_event(self, event: Event) -> None:
        self.events += 1
        if self.event_log is not None:
            self.event_log.append(event)
        if self.journal is not None:
            self._journal(self.journal.event, event)
        if type(event) is AccountSnapshot:
            self._last_snapshot = _newest_snapshot(self._last_snapshot, event)
            if self.final_snapshot is not None:  # (the stop's, once one of its polls was answered: the newest since)
                self.final_snapshot = self._last_snapshot
            self._wake_snapshot_waiters(event)
        elif type(event) is QuotaStatus and not self._volume_told:
            self._volume_told = True
            self._dead_man_off(event.cum_volume_usd)
        try:
            if type(event) is Timer and event.name != AFTER_CYCLE:  # a quote cycle: timed
                t0 = _perf_ns()
                cmds = self.core.handle(event)
                self.cycle_cost.add(_perf_ns() - t0)
            else:
                cmds = self.core.handle(event)
        except Exception:  # a core bug must not leave orders resting unattended: stop and pull them
            self.core_errors += 1
            log.exception("the core failed on %s; stopping", type(event).__name__)
            self.request_stop("core error", fault=True)
            return
        for cmd in cmds:
            self._send(cmd)
        self._records()

    def _dead_man_off(self, cum_volume_usd: float) -> None:
        """The venue's first quota report, at the start: an account that has traded less than $1M is refused the
        dead-man's switch (hyperliquid.md §2.2, scheduleCancel: "Cannot set scheduled cancel time until enough volume
        traded. Required: $1000000"), so the heartbeat does not arm it (risk.dead_man_min_volume_usd), and a
        run's orders outlive the process. That was said only in the summary at the end ("never armed"): an operator
        who counted on the switch learnt it after the run. Said once, at the start."""
        risk = self.core.cfg.risk
        if risk.dead_man_heartbeat_s is None or not cum_volume_usd < risk.dead_man_min_volume_usd:
            return
        log.warning("the dead-man's switch (scheduleCancel) is not armed: the venue refuses it to an account that has "
                    "traded less than $%s (this account: $%s, userRateLimit's cumVlm; risk.dead_man_min_volume_usd), "
                    "so if this process dies or its host loses the network, its orders rest at the venue until "
                    "cancelled (a Kill's arm is refused too). The heartbeat arms it once the venue reports that volume",
                    f"{risk.dead_man_min_volume_usd:,.0f}", f"{cum_volume_usd:,.2f}")

    def _records(self) -> None:
        if self.record_sink is None and self.on_kill is None:
            self.core.discard_records()
            return
        records = self.core.drain_records()
        if self.on_kill is not None:
            for rec in records:
                if rec.get("type") == "postmortem":
                    self.on_kill(rec)
        if self.record_sink is None:
            return
        for rec in records:
            try:
                self.record_sink(rec)
            except Exception as e:
                self.record_sink = None
                self._cannot_write("the decision log", e)
                return

    def _journal(self, write: Callable, arg) -> None:
        try:
            write(arg)
        except Exception as e:
            self.journal = None
            self._cannot_write("the event journal", e)

    def _cannot_write(self, what: str, error: Exception) -> None:
        """A log that cannot be written (a full disk, a lost mount): trading on without the record of why is
        not an option with real money, and an exception out of here would leave orders unattended. So the
        run stops the way SIGTERM stops it (every order pulled); the caller has dropped the writer that failed.
        The system's refusal (an OSError) is said in one line with what it said (a full disk put a traceback on
        the console, the reason only in its last line); anything else is a bug, its traceback kept."""
        if isinstance(error, OSError):
            log.error("cannot write %s (a full disk?): %s: stopping, pulling every order", what,
                      error.strerror or error)
        else:
            log.exception("cannot write %s (a full disk?): stopping, pulling every order", what)
        self.request_stop(f"{what} could not be written", fault=True)

    def _send(self, cmd: Command) -> None:
        if self.command_log is not None:
            self.command_log.append(cmd)
        try:
            self.gateway.send(cmd)
        except Exception:
            log.exception("the gateway could not send %s", type(cmd).__name__)

    # ------------------------------------------------------------------ running

    def request_stop(self, reason: str = "stop requested", fault: bool = False) -> None:
        """Ask the run to end (safe to call from a signal handler or a callback); ``fault``: the run's own. After a
        Kill the reason says it first ("kill, then SIGTERM"): the Kill's work not done, the run was stopped all the
        same, and its end must not read as an ordinary stop."""
        if not self.stop_reason:
            self.stop_reason = reason if self.kill_ts is None or reason == KILL_STOP else f"{KILL_STOP}, then {reason}"
            self.stopped_on_fault = fault
        if self._stop is not None:
            self._stop.set()

    def install_signal_handlers(self) -> Callable[[], None]:
        """SIGINT, SIGTERM and SIGHUP → stop (cancel everything, then return from ``run``); returns an uninstaller.
        SIGHUP is a terminal closed or an ssh session dropped: by default it ends the process with orders resting."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is None:  # (Windows has no SIGHUP)
                continue
            try:
                loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no support
                log.warning("cannot install a %s handler here", signal.Signals(sig).name)

        def remove(hold: bool = False) -> None:
            """``hold``: leave the signals ignored instead of at their defaults. The live CLI holds them once its run
            has stopped: a second Ctrl-C (or a SIGTERM, a SIGHUP) was then a KeyboardInterrupt or the process's end
            in the middle of writing the end line, the summary and the exit status, whatever the run had done."""
            for s in installed:
                loop.remove_signal_handler(s)
                if hold:
                    signal.signal(s, signal.SIG_IGN)
        return remove

    async def run(self, duration_s: float | None = None, shutdown_grace_s: float = 10.0,
                  flatten_on_stop: bool = False) -> None:
        """Start the gateway, tick the core until ``duration_s`` (clock seconds) or a stop; then shut down (closing
        the position through the book too with ``flatten_on_stop``, but for a Kill's own stop that holds it)."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.stop_reason:
            self._stop.set()
        wall0 = self._wall0 = loop.time()
        self.gateway.start(self.on_event)
        timer = loop.create_task(self._cycles(), name="live-cycles")
        try:
            timeout = None if duration_s is None else duration_s / self.time_scale
            try:
                await asyncio.wait_for(self._stop.wait(), timeout)
            except asyncio.TimeoutError:
                self.request_stop("duration reached")
        finally:
            timer.cancel()
            # a Kill that holds (safety.kill_action hold) and ended the run itself holds at that stop too:
            # --flatten-on-stop is for a stop given (the duration, a signal), and at the Kill's own it flattened
            # through the book seconds after a Kill set to hold, in the falling or stale book that may have caused it
            self.kill_held = flatten_on_stop and self.stop_reason == KILL_STOP and \
                self.core.cfg.safety.kill_action == "hold"
            try:
                await self.shutdown(shutdown_grace_s, flatten_on_stop and not self.kill_held)
            finally:
                self.wall_s = loop.time() - wall0
                self._wall0 = None

    def elapsed_wall_s(self) -> float:
        """Wall seconds since ``run`` started while it runs; how long it took once it has returned."""
        if self._wall0 is None:
            return self.wall_s
        return asyncio.get_running_loop().time() - self._wall0

    async def _cycles(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.cycle_s / self.time_scale
        next_at = loop.time() + period
        while not self.stopped:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += period
            if loop.time() > next_at:  # fell behind (a long pause): skip the missed ticks
                next_at = loop.time() + period
            if self.core.clock_fault:  # the clock stepped back past the core's bound (AgentCore._stepped_back says)
                self.request_stop(f"the host's clock stepped back {self.core.clock_step_back_max_s:.3f} s: sync it",
                                  fault=True)
                break
            venue_reset = getattr(self.gateway, "venue_reset", None)
            if venue_reset:  # the venue lost the fills it gave the run (HyperliquidGateway._history_lost says)
                self.request_stop(venue_reset, fault=True)  # (before the core's next cycle: none quotes on it)
                break
            # (a stop asked is a stop: its run task, woken by it, may come after this one in the loop's turn, and a
            # cycle here quoted after an operator's stop, placing and modifying orders the stop then had to pull)
            if not self.stopped and not self._stop.is_set():
                now = self.clock()
                self.on_event(Timer(now))
                if self.kill_ts is None and self.core.stopped:  # (a running core stops only at a Kill, in a cycle)
                    self._killed(now)
                await asyncio.sleep(0)  # the requests just spawned get the loop first: each signs and starts its POST
                if not self.stopped:
                    self.on_event(Timer(now, AFTER_CYCLE))  # then the rest of the cycle's work
                if self.kill_ts is not None and not self.stopped:
                    self._after_kill(now)

    def _killed(self, now: float) -> None:
        """The core's Kill, seen in the cycle it came in (before a signal can land between the cycle's two halves)."""
        self.kill_ts = now
        if self.stop_reason:  # (a stop asked in the same cycle, before the Kill: its reason says it too)
            self.stop_reason = f"{self.stop_reason}, then {KILL_STOP}"
        log.warning("Kill: quoting stopped for good; the run ends once the venue lists none of our orders%s",
                    " and no position" if self.core.cfg.safety.kill_action == "flatten" else "")

    def _after_kill(self, now: float) -> None:
        """After a Kill, each cycle: end the run (``KILL_STOP``) once the Kill's work is done: the core has nothing
        of it left (no order counted live, no flatten working: ``kill_work_left``), no request is in flight, and a
        snapshot asked since says the venue lists none of our orders and, with ``safety.kill_action`` flatten, no
        position. Before, a Kill left the run up and idle until its duration (without one, for ever), then it ended
        as any run does: a supervisor could not tell a Kill happened. Until then the run stays up as it was: a
        flatten held by the address budget or a thin book goes on until the duration or a signal."""
        core = self.core
        if core.kill_work_left:
            self._kill_quiet_ts = None
            return
        if self._kill_quiet_ts is None:
            self._kill_quiet_ts = now
        snap = self._last_snapshot
        if snap is not None and snap.requested_ts >= self._kill_quiet_ts and not self.gateway.in_flight:
            if not snap.open_orders and (core.cfg.safety.kill_action == "hold" or not self._to_close(snap)):
                from agent.audit.inspect import plain_size
                log.warning("the Kill's work is done: the venue lists none of our orders%s; stopping",
                            " and no position" if not snap.position else
                            f", and the position of {snap.position:+g} is held (safety.kill_action hold)"
                            if self._to_close(snap) else
                            f", and the position of {plain_size(snap.position, True)} {core.cfg.session.coin} is held "
                            f"below one lot (no order can close it: close it another way, the venue's app)")
                self.request_stop(KILL_STOP)
                return
            self._kill_quiet_ts = now  # (the core has what it shows: its work again, or a snapshot after it)
        # the venue's word, asked at the shutdown's pace at most and within the IP weight the core keeps for itself
        if now - self._kill_asked_ts >= max(self.shutdown_poll_s * self.time_scale, core.cfg.risk.pull_retry_s) \
                and core.budget.ip_allows_snapshot(now, SNAPSHOT_SENT_WEIGHT):
            self._kill_asked_ts = now
            self._send_own(RequestAccountSnapshot(), SNAPSHOT_SENT_WEIGHT, "accountSnapshot")

    def _to_close(self, snap: AccountSnapshot) -> bool:
        """Whether ``snap`` lists a position a flatten can still close: none, or the one it ended on below one lot
        (``AgentCore.held_below_lot``), is done (waited for, a Kill's run stayed up until its duration, a stop
        until its grace was over)."""
        return bool(snap.position) and abs(snap.position - self.core.held_below_lot) > 1e-12

    async def shutdown(self, grace_s: float = 10.0, flatten: bool = False) -> None:
        """Stop quoting, pull every order, and wait (at most ``grace_s`` wall seconds) until the venue lists none of
        ours and no request is in flight; the newest account state answered once one of its polls is (by the venue's
        time, ``_newest_snapshot``) is ``final_snapshot``. With ``flatten``, the core also closes the position
        through the book (its retries on its timer, which ticks here until it is done), and the wait is also for
        the venue to list no position."""
        if self._shutdown_done:
            return
        self._shutdown_done = True
        self.stopped = True
        # said before the wait: an operator pressing Ctrl-C again sees that it is being done, and how long it may take
        log.info("stopping (%s): pulling every order%s; waiting up to %.0f s for the venue to list none of ours%s",
                 self.stop_reason or "shutdown", ", the position closed through the book" if flatten else "",
                 grace_s, " and no position" if flatten else "")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        ts = self.clock()
        if self.journal is not None:
            self._journal(functools.partial(self.journal.shutdown, flatten=flatten), ts)
        try:
            cmds = self.core.shutdown(ts, flatten)
        except Exception:
            log.exception("core.shutdown failed; cancelling everything anyway")
            cmds = [CancelAll()]
        for cmd in cmds:
            self._send(cmd)
        self._records()  # the shutdown's own (what it sent): written now, in case no event follows to carry them
        try:
            next_poll = loop.time()
            while loop.time() < deadline:
                await self.gateway.drain(max(0.0, deadline - loop.time()))
                if flatten and self.core.winding_down:
                    # closing the position: the core's flatten (and its pulls) run on its timer, asking for the
                    # snapshots they need at their own pace, the IP weight counted; the venue is polled here once
                    # the core is done (a poll every few ms while it waited out an outage spent the minute's IP
                    # weight, and after the reconnect every request was a 429)
                    self.on_event(Timer(self.clock()))
                    await asyncio.sleep(min(_FLATTEN_TICK_S, max(0.0, deadline - loop.time())))
                    continue
                if loop.time() < next_poll:
                    await asyncio.sleep(min(next_poll - loop.time(), max(0.0, deadline - loop.time())))
                    continue
                next_poll = loop.time() + self.shutdown_poll_s
                snap = await self._fresh_snapshot(deadline)
                if snap is not None:
                    # the newest account state answered, this answer or one newer that came before it or comes after
                    # it (an earlier request's, held up on its way): the last poll's answer was kept, and a poll
                    # unanswered after it left the end reporting it, a position the venue no longer held, an order
                    # it no longer listed (tests/agent/test_live_shutdown_snapshot.py)
                    self.final_snapshot = snap = self._last_snapshot
                    # (and no clear of the dead-man's switch left unacknowledged: the core sends it again on these
                    # snapshots, every risk.pull_retry_s; ended before, the switch fired later on nothing; nor one
                    # unanswered that may yet land after it: the core sends the clear again once none can)
                    if not snap.open_orders and self.gateway.in_flight == 0 \
                            and not (flatten and self._to_close(snap)) \
                            and self.core.dead_man_state != "clearing" and not self.core.dead_man_in_doubt:
                        break
                    if snap.open_orders:
                        weight, items, _ = request_cost(CancelAll(), len(snap.open_orders))
                        self._send_own(CancelAll(), weight, "cancelAll", items)
            else:
                if flatten and self.core.winding_down:
                    # the core was still closing the position (a flatten held by the address budget, a book that
                    # took none of its IOCs), and the loop above reads the venue only once it is done: the end had
                    # no account of it, "could not confirm" the open orders, and exit 3 said orders may rest when
                    # none did. One read, bounded as each of the loop's is
                    snap = await self._fresh_snapshot(loop.time() + _FINAL_READ_S)
                    if snap is not None:
                        self.final_snapshot = self._last_snapshot  # (the newest, as above)
                snap = self.final_snapshot
                # (the venue's last listing holds, unless a request still out may rest an order after it: this stop's
                # own poll, unanswered at the grace's end on a loaded host, said "orders may still rest" of none)
                settled = _placing_in_flight(self.gateway) == 0
                if snap is not None and not snap.open_orders and self.core.dead_man_state == "clearing" \
                        and settled and not (flatten and self._to_close(snap)):
                    log.warning("shutdown grace of %.1f s over: the venue lists no order of ours, but has not "
                                "acknowledged the dead-man's switch cleared: it may still fire, on nothing (one of "
                                "the venue's ten a day)", grace_s)
                elif snap is not None and not snap.open_orders and self.core.dead_man_in_doubt \
                        and settled and not (flatten and self._to_close(snap)):
                    log.warning("shutdown grace of %.1f s over: the venue lists no order of ours, but a dead-man's "
                                "switch request that got no answer may still land after the last: the switch may "
                                "fire, on nothing (one of the venue's ten a day)", grace_s)
                elif flatten and snap is not None and not snap.open_orders:
                    log.warning("shutdown grace of %.1f s over: the venue lists no order of ours%s", grace_s,
                                ", and the position is left" if self._to_close(snap) else "")
                else:
                    log.warning("shutdown grace of %.1f s over: orders may still rest at the venue%s", grace_s,
                                ", or a position be left" if flatten else "")
        finally:
            await self.gateway.close()

    async def _fresh_snapshot(self, deadline: float) -> AccountSnapshot | None:
        """Ask for an account snapshot now and wait for it (None if it does not come before ``deadline``)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        self._snapshot_waiters.append((self.clock(), fut))
        self._send_own(RequestAccountSnapshot(), SNAPSHOT_SENT_WEIGHT, "accountSnapshot")
        try:
            return await asyncio.wait_for(fut, max(0.0, min(deadline - loop.time(), self.poll_wait_s)))
        except asyncio.TimeoutError:
            return None
        finally:
            self._snapshot_waiters = [(t, f) for t, f in self._snapshot_waiters if f is not fut]

    def _send_own(self, cmd: Command, weight: int, request: str, items: int = 0) -> None:
        """A request of the shutdown's own, which the core did not send: the core is told its IP weight and address
        items as it goes (an event, so the journal has it and the replay counts it too). Uncounted, a snapshot's 42
        and a cancel-all's listing went by the core's budget (only the fill rows past a snapshot's first 42 were, at
        its reply), and a flatten started again after them asked for its snapshots against a minute freer than the
        venue's; a cancel-all's cancels, one address item each, left the core's ``used`` below the venue's until the
        next quota poll."""
        self._send(cmd)
        self.on_event(IpWeightSpent(self.clock(), weight, request, items))

    def _wake_snapshot_waiters(self, ev: AccountSnapshot) -> None:
        for asked, fut in self._snapshot_waiters:
            if not fut.done() and ev.requested_ts >= asked:
                fut.set_result(ev)


def _placing_in_flight(gateway) -> int:
    """``gateway``'s requests in flight that may rest an order (all of them, for a gateway that cannot tell)."""
    return getattr(gateway, "placing_in_flight", gateway.in_flight)


def _newest_snapshot(last: AccountSnapshot | None, ev: AccountSnapshot) -> AccountSnapshot:
    """Of two account snapshots, the one of the newer account state, as the core's tracker takes them (by the venue's
    state time and its newest fill): the last to arrive was kept, so an earlier request's answer held up on its way
    (two in flight: the Kill's polls every 2 s, the core's own) replaced a newer one. A Kill's end, judged on it, said
    "the venue lists none of our orders and no position" from a state before a fill the newer answer held. Of two
    the venue's time cannot tell apart (one ms, or answers without it: 0), the later request's: the last to arrive
    was kept, and an earlier request's answer that came just after a stop's poll's, a state from before its pull,
    was the stop's final one (tests/agent/test_live_shutdown_snapshot.py)."""
    if last is not None and (ev.venue_time_ms < last.venue_time_ms or ev.last_fill_tid < last.last_fill_tid
                             or (ev.venue_time_ms == last.venue_time_ms and ev.last_fill_tid == last.last_fill_tid
                                 and ev.requested_ts < last.requested_ts)):
        return last
    return ev


# ---------------------------------------------------------------------------------------------- dry run


_CANCELS_KEPT = 10_000  # cloids with a cancel out a dry run keeps (one whose answer was lost in transport stays)


def _note(out: dict[str, None], cloid: str) -> None:
    out[cloid] = None
    if len(out) > _CANCELS_KEPT:
        del out[next(iter(out))]


class DryRunGateway:
    """Execution level 2: orders go ``far_frac`` beyond the touch (post-only) and are cancelled when they rest.

    The core runs unchanged and sees acks and cancel acks as the venue sends them; the venue sees
    real signed actions that cannot fill unless the market moves ``far_frac`` within a round trip.
    """

    def __init__(self, inner: AsyncGateway, sz_decimals: int, far_frac: float = 0.05,
                 min_notional_usd: float = 11.0) -> None:
        self.inner = inner
        self.sz_decimals = sz_decimals
        self.far_frac = far_frac
        self.min_notional_usd = min_notional_usd
        self.best_bid = math.nan
        self.best_ask = math.nan
        self.sink: EventSink | None = None
        self.dry_cancels = 0
        self._sides = RecentOrders()  # each order placed: a modify of one it did not place is cancelled instead
        # the orders with a cancel out, unanswered: this gateway's own (_dry_out) and the core's (_core_out), each
        # until an answer names it. One cancel an order: at a stop the core's pull named every order, those whose
        # dry cancel was on its way too, and an ack coming after the pull had the dry cancel sent beside the core's;
        # the venue answered the second "never placed, already canceled, or filled" (a CancelMissingOrder a stop)
        self._dry_out: dict[str, None] = {}
        self._core_out: dict[str, None] = {}

    def start(self, sink: EventSink) -> None:
        self.sink = sink
        self.inner.start(self._on_event)

    def _on_event(self, ev: Event) -> None:
        t = type(ev)
        if t is BookUpdated and ev.bids and ev.asks:
            self.best_bid, self.best_ask = ev.bids[0][0], ev.asks[0][0]
        elif t is CancelAcknowledged or t is CancelRejected:
            self._dry_out.pop(ev.cloid, None)
            self._core_out.pop(ev.cloid, None)
        elif t is RateLimited and ev.request == "cancel":
            for c in ev.cloids:
                self._dry_out.pop(c, None)
                self._core_out.pop(c, None)
        self.sink(ev)
        if t is OrderAcknowledged and ev.resting:
            self._dry_cancel(ev.cloid)
        elif t is ModifyAcknowledged and ev.resting:
            self._dry_cancel(ev.new_cloid)

    def _dry_cancel(self, cloid: str) -> None:
        """A dry run's order rests: cancelled, unless the core's own cancel of it is out (a pull sent before its ack),
        which pulls it, or tells the core it did not (its answer)."""
        if cloid in self._core_out:
            return
        self.dry_cancels += 1
        _note(self._dry_out, cloid)
        self.inner.send(CancelOrder(cloid))

    def _cancel_goes(self, cloid: str) -> bool:
        """Whether the core's cancel of ``cloid`` goes: not while this gateway's own is out, whose answer the core
        takes as its cancel's (the core sends none again until that comes, or its cancel times out: sent again then,
        as one lost, it goes)."""
        if cloid in self._dry_out:
            del self._dry_out[cloid]  # (once: the core's next cancel of it, after its timeout, goes)
            return False
        _note(self._core_out, cloid)
        return True

    def _far(self, side: Side, px: float, sz: float) -> tuple[float, float]:
        if side is Side.BUY:
            ref = self.best_bid if self.best_bid == self.best_bid else px
            far = round_px_to_venue(min(px, ref * (1.0 - self.far_frac)), self.sz_decimals, 1)
        else:
            ref = self.best_ask if self.best_ask == self.best_ask else px
            far = round_px_to_venue(max(px, ref * (1.0 + self.far_frac)), self.sz_decimals, -1)
        lot = 10.0 ** -self.sz_decimals
        if far > 0 and far * sz < self.min_notional_usd:  # keep the venue's $10 minimum at the far price
            sz = round(venue_min_size(self.min_notional_usd, far, lot), self.sz_decimals)
        return far, sz

    def _rewrite(self, cmd: Command) -> Command | None:
        if isinstance(cmd, PlaceOrder):
            self._sides.remember(cmd.cloid, cmd.side)
            px, sz = self._far(cmd.side, cmd.px, cmd.sz)
            return PlaceOrder(cmd.cloid, cmd.side, px, sz, cmd.tif, cmd.reduce_only)
        if isinstance(cmd, ModifyOrder):
            side = self._sides.get(cmd.cloid)
            if side is None:  # not ours to move far: cancel it instead of modifying near the touch
                return CancelOrder(cmd.cloid)
            self._sides.remember(cmd.new_cloid, side)
            px, sz = self._far(side, cmd.px, cmd.sz)
            return ModifyOrder(cmd.cloid, cmd.new_cloid, px, sz, cmd.tif, cmd.reduce_only, side)
        if isinstance(cmd, CancelOrder):
            return cmd if self._cancel_goes(cmd.cloid) else None
        if isinstance(cmd, CancelAll):
            return CancelAll(tuple(filter(self._cancel_goes, cmd.known)))
        if isinstance(cmd, Batch):
            parts = tuple(c for c in map(self._rewrite, cmd.commands) if c is not None)
            return Batch(parts) if parts else None
        return cmd

    def send(self, cmd: Command) -> None:
        cmd = self._rewrite(cmd)
        if cmd is not None:
            self.inner.send(cmd)

    @property
    def nonces(self):
        return getattr(self.inner, "nonces", None)

    @property
    def venue_reset(self) -> str | None:
        return getattr(self.inner, "venue_reset", None)

    async def drain(self, timeout_s: float) -> bool:
        return await self.inner.drain(timeout_s)

    async def close(self) -> None:
        await self.inner.close()

    @property
    def in_flight(self) -> int:
        return self.inner.in_flight

    @property
    def placing_in_flight(self) -> int:
        return _placing_in_flight(self.inner)

    @property
    def stats(self) -> dict:
        out = dict(self.inner.stats)
        out["dry_run_cancels"] = self.dry_cancels
        return out


# ---------------------------------------------------------------------------------------------- outputs


def live_summary(core, gateway: AsyncGateway, driver: LiveDriver, *, coin: str, network: str,
                 execution_level: int, start_level: str, listed_maker_fee_bps: float | None = None) -> dict:
    """The run's summary: the keys of the twin session's summary where they apply, plus the venue's view."""
    led = core.ledger
    stats = gateway.stats
    snap = driver.final_snapshot
    out = {
        "venue": "live", "network": network, "coin": coin, "execution_level": execution_level,
        "start_level": start_level, "stop_reason": driver.stop_reason if driver.stopped else None,  # null: still running
        "wall_s": round(driver.elapsed_wall_s(), 3),
        **trading_summary(core),
        "position": coin_amounts({"final": core.tracker.position, "ledger": led.position,
                                  "max_abs": led.max_abs_position, "max_worst_case": core.max_worst_case,
                                  "limit": core.cfg.risk.max_position}),
        "venue_position": snap.position if snap is not None else None,
        "venue_open_orders": len(snap.open_orders) if snap is not None else None,
        "rate_limited": {"ip_429": stats.get("rate_limited_ip", 0), "address": stats.get("rate_limited_address", 0)},
        "disconnects": stats.get("disconnects", 0),
        "requests": {"sent": stats.get("requests", 0), "items": stats.get("request_items", 0)},
        "gateway": stats,
        "core_errors": driver.core_errors,
        "core_cycle_us": driver.cycle_cost.summary(),
        "dead_man_switch": core.dead_man_state,
        "dead_man_switch_why": core.dead_man_why,  # as last recorded: a refusal's is the venue's text
        # every refusal's text, the venue's, with its count (most first): rejections_by_reason only counts them
        "dead_man_switch_refusals": dict(core.dead_man_refusals.most_common()),
        "dead_man_switch_refused": core.dead_man_refusal,
    }
    out["fee_rate_bps"]["venue_listed"] = listed_maker_fee_bps  # userFees at the start (null: not read)
    return out


def state_of(core, gateway: AsyncGateway, driver: LiveDriver) -> dict:
    """What a restart needs to know and a person wants to check: position, fill watermark, live orders, and the
    last nonce signed (a run into the same folder starts its nonces above it: ``last_nonce_of``). No secrets. The run
    folder's ``state.json`` (written whole by the live CLI's checkpoints and its end)."""
    tr = core.tracker
    snap = driver.final_snapshot
    return {
        "ts": driver.clock(),
        "position": tr.position,
        "tid_watermark": tr.tid_watermark,
        "venue_position": snap.position if snap is not None else None,
        "venue_time_ms": snap.venue_time_ms if snap is not None else None,
        "live_orders": [{"cloid": o.cloid, "oid": o.oid, "side": o.side.name, "px": o.px, "remaining": o.remaining,
                         "state": o.state.value} for o in tr.live_orders()],
        "venue_open_orders": [{"cloid": o.cloid, "oid": o.oid, "side": o.side.name, "px": o.px, "sz": o.sz}
                              for o in (snap.open_orders if snap is not None else ())],
        "ledger": {"position": core.ledger.position, "realized": core.ledger.realized, "fees": core.ledger.fees,
                   "funding": core.ledger.funding, "fills": core.ledger.fills},
        "last_nonce": getattr(getattr(gateway, "nonces", None), "last", None),
        "safety_level": core.safety.level.name,
    }


NONCE_AHEAD_MAX_MS = 86_400_000  # the venue refuses a nonce a day or more past its block time (hyperliquid.md §3.3)


def last_nonce_of(path: Path, now_ms: int) -> int:
    """The highest nonce the last run into this run folder signed with, ``last_nonce`` in its state file
    (``path``), for this run's nonces to start above: the venue keeps the 100 highest nonces of each signer and
    refuses a nonce it holds or one below the smallest of them (docs nonces-and-api-wallets; hyperliquid.md
    §3.3), and a run's counter goes past the clock in a burst (one ahead per action in the same ms) or with the
    clock stepped back, so a restart's clock alone can give a nonce the venue has seen or one below its window.
    0 with no state file, or none in it (null: no action was signed). ValueError naming the file, the field and
    the value when it is not a whole number of ms from 0 to a day past ``now_ms`` (epoch ms): a nonce that far
    ahead would have every action refused as too high."""
    try:
        text = read_text(path)  # (a file not UTF-8 text raised the codec's error, which named no file)
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise ValueError(f"{path}: cannot read it ({e.strerror or e}): the last run's nonce (last_nonce) is in it; "
                         f"fix or remove the file") from None
    except ValueError as e:  # not UTF-8 text, or past read_text's size: "FILE: what"
        raise ValueError(f"{e}: the last run's nonce (last_nonce) is in it; fix or remove the file") from None
    try:
        state = json.loads(text)
    except (ValueError, RecursionError) as e:  # (RecursionError: nested past json's limit, no state the run wrote)
        raise ValueError(f"{path}: not JSON ({e}): the last run's nonce (last_nonce) is in it; fix or remove the "
                         f"file") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a JSON object (a run's state), got {type(state).__name__}; fix or "
                         f"remove the file")
    value = state.get("last_nonce")
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{path}: last_nonce {short_repr(value)} is not a nonce (a whole number of ms since the "
                         f"epoch); fix or remove the field")
    if value >= now_ms + NONCE_AHEAD_MAX_MS:
        raise ValueError(f"{path}: last_nonce {value} is {(value - now_ms) / 3_600_000:.1f} h past this host's clock: "
                         f"the venue refuses a nonce a day or more ahead of its time, so every action would be "
                         f"refused (a clock far off when it was written?); fix the clock, or remove the field")
    return value
