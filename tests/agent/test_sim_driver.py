"""SimDriver without a record sink drops the core's records once a cycle, not after every event: none may outlive the
cycle that follows them (a day's records, kept, were the process's memory), and the decisions are those of a session
that drops them after every event (the core never reads its records back)."""
from __future__ import annotations

import types
from heapq import heappush

from hypothesis import given, settings, strategies as st

from agent.config import AgentConfig
from agent.gateway.events import AFTER_CYCLE, Timer
from agent.session import build_session

CFG = AgentConfig.model_validate({"session": {"cycle_s": 0.2}, "graduation": {"start_level": "FULL",
                                                                              "ceiling": "FULL"}})


def _session(seconds: float, per_event: bool) -> tuple[list, int]:
    """(commands sent, the most records the core held at a cycle's start) over ``seconds`` of a session;
    ``per_event``: the core's records dropped after every event, as the driver once did."""
    commands: list = []
    ex, gw, core, driver = build_session(CFG, 3, command_log=commands)
    handle = core.handle
    most = [0]

    def handled(ev):
        if type(ev).__name__ == "Timer" and ev.name == "cycle":
            most[0] = max(most[0], len(core._records))
        out = handle(ev)
        if per_event:
            core.discard_records()
        return out
    core.handle = handled
    driver.start()
    ex.env.run(until=seconds)
    driver.stop()
    ex.env.run(until=seconds + 2.0)  # stopped: its cycles no longer wake the core, and still drop what events make
    assert len(core._records) <= most[0] + 40
    return [(type(c).__name__, c) for c in commands], most[0]


def test_records_dropped_each_cycle_and_decisions_unchanged():
    cmds, most = _session(60.0, per_event=False)
    fresh, _ = _session(60.0, per_event=True)
    assert cmds == fresh and len(cmds) > 50
    # at a cycle's start the core holds only what the events since the last cycle made (a few fills, snapshots):
    # never the session's
    assert 0 < most < 40


def test_driver_without_logs_feeds_the_core_the_same_events():
    """A driver with no event log, record sink or command log feeds the core through its bare handler (start): the
    core gets the events and sends the commands a driver with an event log does, the same in number and order,
    with the driver stopped and its cycles winding down at the end."""
    def run(log: bool) -> tuple[list, list]:
        ex, gw, core, driver = build_session(CFG, 3, event_log=[] if log else None)
        seen: list = []
        sent: list = []
        handle, send = core.handle, gw.send

        def handled(ev):
            seen.append(ev)
            return handle(ev)

        def sending(cmd):
            sent.append(cmd)
            send(cmd)
        core.handle, gw.send = handled, sending
        driver.start()
        assert (driver._sink == driver.on_event) is log
        ex.env.run(until=60.0)
        driver.stop()
        ex.env.run(until=62.0)
        return seen, sent
    seen, sent = run(False)
    seen_logged, sent_logged = run(True)
    assert seen == seen_logged and sent == sent_logged and len(sent) > 50


def _cycles_before(self, wake):
    """SimDriver._cycles until 7 December 2026 (the period read and the record sink tested at every cycle), verbatim
    but for its docstring and comments: the reference the present one is held to."""
    env = self.env
    core = self.core
    on_event = self._sink
    queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
    while not self.dead:
        wake.callbacks = arm
        heappush(queue, (env._now + self.cycle_s, normal, next(eid), wake))
        yield
        if self.stopped and not core.winding_down:
            if self.record_sink is None:
                core.discard_records()
            continue
        now = env._now
        on_event(Timer(now))
        on_event(Timer(now, AFTER_CYCLE))
        if self.record_sink is None:
            core.discard_records()
    from twin.calls import loop_ended
    loop_ended(env)
    yield


def _driven(cycle_s: float, sink: bool, stop_s: float, die_s: float, seed: int, cycles) -> tuple[list, list, list]:
    """A session of ``seed`` whose driver runs ``cycles`` (a function of the driver and its wake; None: its own), a
    record sink or none, stopped at ``stop_s`` and dead at ``die_s``, to 12 s: what the core was given (and when
    its records were dropped, each a "drop" with the clock), the commands sent, and the records the sink got."""
    cfg = AgentConfig.model_validate({"session": {"cycle_s": cycle_s},
                                      "graduation": {"start_level": "FULL", "ceiling": "FULL"}})
    records: list = []
    ex, gw, core, driver = build_session(cfg, seed, record_sink=records.append if sink else None)
    seen: list = []
    sent: list = []
    handle, discard, send = core.handle, core.discard_records, gw.send

    def handled(ev):
        seen.append(repr(ev))
        return handle(ev)

    def dropped():
        seen.append(("drop", ex.env.now))
        discard()

    def sending(cmd):
        sent.append(repr(cmd))
        send(cmd)
    core.handle, core.discard_records, gw.send = handled, dropped, sending
    if cycles is not None:
        driver._cycles = types.MethodType(cycles, driver)
    driver.start()
    for at, then in sorted([(stop_s, driver.stop), (die_s, driver.die)]):
        ex.env.run(until=at)
        then()
    ex.env.run(until=12.0)
    return seen, sent, [repr(r) for r in records]


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([0.1, 0.25, 0.7]), st.booleans(), st.sampled_from([2.0, 5.5, 11.0]),
       st.sampled_from([3.0, 8.0, 11.5]), st.integers(1, 4))
def test_the_cycles_run_as_the_loop_they_replaced(cycle_s, sink, stop_s, die_s, seed):
    """SimDriver._cycles, its period and its drop of the records taken once, against _cycles_before: with a record
    sink or none, stopped (its cycles winding down) and dead at random times, the core is given the same events at
    the same times, drops its records at the same times, sends the same commands, and the sink gets the same
    records. (Dropping the records with a record sink too, ``core.discard_records`` whatever the sink, fails here:
    the drops differ.)"""
    ours = _driven(cycle_s, sink, stop_s, die_s, seed, None)
    assert ours == _driven(cycle_s, sink, stop_s, die_s, seed, _cycles_before)
    assert any("Timer" in e for e in ours[0] if isinstance(e, str))
