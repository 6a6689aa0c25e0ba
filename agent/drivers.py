"""Drivers: they own the clock and the gateway, feed events to the core and send its commands.

``SimDriver`` runs on SimPy time beside the twin. ``RecordedDriver`` feeds a list of recorded
events with no venue at all (an independent second driver: the same core must produce the same
commands from the same events). The live driver (asyncio) lives with the live gateway.
"""
from __future__ import annotations

from heapq import heappush
from typing import Callable, Iterable, Protocol

from agent.gateway.events import AFTER_CYCLE, Command, Event, Timer

_new_timer = Timer.make  # (two a cycle: common.message's ``make``, a Timer without the class call)


class Core(Protocol):
    winding_down: bool  # stopped, with orders it still counts live: it needs its timer until they are gone
    stopped: bool  # quoting stopped for good: a Kill (while a driver runs it), or its shutdown
    clock_fault: str  # the events' clock stepped back too far to go on (AgentCore._stepped_back): the run must stop
    clock_step_back_max_s: float

    def handle(self, event: Event) -> list[Command]: ...

    def drain_records(self) -> list[dict]: ...

    def shutdown(self, ts: float, flatten: bool = False) -> list[Command]: ...

    def discard_records(self) -> None: ...


RecordSink = Callable[[dict], None]


def _keep_records() -> None:
    """SimDriver's cycles' drop of the core's records when it has a record sink: nothing (they went to it)."""


class SimDriver:
    """Run a core against a gateway on a ``simpy.Environment``; a quote-cycle timer every ``cycle_s``, each
    followed by its ``AFTER_CYCLE`` timer once its commands are sent."""

    def __init__(self, env, gateway, core: Core, cycle_s: float, record_sink: RecordSink | None = None,
                 event_log: list | None = None, command_log: list | None = None) -> None:
        self.env = env
        self.gateway = gateway
        self.core = core
        self.cycle_s = cycle_s
        self.record_sink = record_sink
        self.event_log = event_log  # when a list: every event fed to the core, in order
        # when a list: every command sent, in order. Off unless asked for: kept for a whole session it is
        # the process's largest memory (a 10 Hz day sends ~400,000 commands) and slows the garbage collector
        self.command_log = command_log
        self.stopped = False
        self.dead = False
        self._sink = self.on_event  # what the gateway and the cycles feed (start)

    def start(self) -> None:
        # (imported here, by the one driver that runs on the twin's loop: the live driver imports this module's Core
        # and RecordSink, and the live path loads without the twin, tests/agent/test_layering.py)
        from twin.calls import start_waking

        # with no event log, record sink or command log (a session as a user runs it), the events go to _on_event_bare:
        # on_event without its three tests of them, some 8 of its 22 bytecodes an event (the logs are given at
        # construction: nothing sets them later)
        bare = self.event_log is None and self.record_sink is None and self.command_log is None
        self._sink = self._on_event_bare if bare else self.on_event
        self.gateway.start(self._sink)
        start_waking(self.env, self._cycles)  # (a SimPy process's queue entries, without its bookkeeping)

    def _cycles(self, wake):
        """The quote cycles, a loop of twin.calls.start_waking: it schedules its own waits (``wake``'s)."""
        env = self.env
        core = self.core
        on_event = self._sink
        queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
        # (the period, and what drops a cycle's records, in names: both are given at construction and nothing sets
        # them later; with a record sink the records went to it after every event, and a cycle drops none: a call of
        # nothing. 6 bytecodes a cycle fewer than reading the period and testing the sink at each)
        cycle_s = self.cycle_s
        drop_records = core.discard_records if self.record_sink is None else _keep_records
        while not self.dead:
            wake.callbacks = arm  # (the wait start_loop made of ``yield self.cycle_s``: start_waking)
            heappush(queue, (env._now + cycle_s, normal, next(eid), wake))
            yield
            if self.stopped and not core.winding_down:
                drop_records()  # (what the events since the last wake made: see on_event)
                continue  # stopped with nothing left to pull: the core is not woken (see stop)
            now = env._now  # (the attribute behind the property)
            on_event(_new_timer(now))
            on_event(_new_timer(now, AFTER_CYCLE))  # the cycle's commands are sent: the rest of its work
            drop_records()
        from twin.calls import loop_ended  # (the twin's, as start)
        loop_ended(env)
        yield  # (for good: nothing wakes it)

    def stop(self, flatten: bool = False) -> None:
        """End the session: no more quotes, and every order cancelled at the venue. The core's shutdown sends
        the pull, and while the core counts orders live (``winding_down``) its timer keeps ticking, so that a
        cancel the venue refuses (it arrived after its expiry, say) or that is lost in transport is sent again
        every ``risk.pull_retry_s`` until the venue answers it; a stopped core never quotes. (Its ticks stopped
        here once, and one refused cancel left an order resting at the venue until it filled, 50 s after the
        end.) Only the core's own retries: unlike the live driver's shutdown, no snapshot is asked for on its
        behalf, so the scenarios still see what a core that loses track of its orders leaves behind. With
        ``flatten`` the core also closes the position through the book, its timer ticking until it is flat."""
        self.stopped = True
        for cmd in self.core.shutdown(self.env.now, flatten):
            self._send(cmd)
        self._records()  # the shutdown's own (what it sent): no later event may come to carry them

    def die(self) -> None:
        """The process is gone (a crash, kill -9, its host off the network): from now on nothing is handled or
        sent, and no shutdown runs; what still happens to its orders is the venue's doing (its dead-man's
        switch)."""
        self.dead = True

    def on_event(self, event: Event) -> None:
        # (every event of a session passes here, some 50 a second at stress: no count of them is kept, nothing read
        # one, and the core is read once)
        if self.dead:
            return
        if self.event_log is not None:
            self.event_log.append(event)
        cmds = self.core.handle(event)
        if cmds:
            if self.command_log is None:  # (_send inlined: every event of the run passes here)
                send = self.gateway.send
                for cmd in cmds:
                    send(cmd)
            else:
                for cmd in cmds:
                    self._send(cmd)
        # records go to the sink after every event; with none, they are dropped once a cycle (_cycles), not after
        # each of the cycle's dozen events: the core never reads them back, and a cycle's are few
        if self.record_sink is not None:
            self._records()

    def _on_event_bare(self, event: Event) -> None:
        """on_event for a driver with no event log, record sink or command log (start): the same calls."""
        if self.dead:
            return
        cmds = self.core.handle(event)
        if cmds:
            send = self.gateway.send
            for cmd in cmds:
                send(cmd)

    def _records(self) -> None:
        if self.record_sink is not None:
            for rec in self.core.drain_records():
                self.record_sink(rec)
        else:
            self.core.discard_records()

    def _send(self, cmd: Command) -> None:
        if self.command_log is not None:
            self.command_log.append(cmd)
        self.gateway.send(cmd)


class RecordedDriver:
    """Feed recorded events to a core and collect its commands: no venue, no clock, no SimPy."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def run(self, events: Iterable[Event]) -> list[Command]:
        out: list[Command] = []
        for ev in events:
            out.extend(self.core.handle(ev))
            self.core.drain_records()
        return out
