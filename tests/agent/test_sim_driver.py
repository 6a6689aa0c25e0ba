"""SimDriver without a record sink drops the core's records once a cycle, not after every event: none may outlive the
cycle that follows them (a day's records, kept, were the process's memory), and the decisions are those of a session
that drops them after every event (the core never reads its records back)."""
from __future__ import annotations

from agent.config import AgentConfig
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
