"""A live run's events carry the host's clock, which can step back (NTP, an operator): the core is handed an event
stamped before one it has handled. It handles it at the latest time it has handled (time never goes back inside it,
and the journal's replay, fed the same stamps, does the same), counts it, and past a bound says the run must stop."""
from __future__ import annotations

import pytest

from agent.config import AgentConfig
from agent.drivers import RecordedDriver
from agent.gateway.events import AFTER_CYCLE, Timer

from recorded_session import fresh_core, recorded_session


def _stepped(overrides: dict, step_s: float):
    """A twin session's first 4 s (at FULL, where a position past 1% of the limit is Orange, which demotes: a
    demotion ~1.5 s in), replayed into a fresh core with one quote cycle, the first at or past 1 s, stamped
    ``step_s`` later and the events after it as they were: the clock stepped forward there and back after it.
    (the core, its records, the stepped cycle's time)."""
    data = {"graduation": {"start_level": "FULL", **overrides}, "safety": {"position_orange_frac": 0.01}}
    cfg = AgentConfig.model_validate(data)
    events, inst = recorded_session(cfg, 3, 4.0)
    i = next(i for i, e in enumerate(events) if type(e) is Timer and e.name == "cycle" and e.ts >= 1.0)
    ahead = events[i].ts + step_s
    core = fresh_core(cfg, inst)
    records: list = []
    drain = core.drain_records
    core.drain_records = lambda: records.extend(drain())  # (RecordedDriver drains after each event)
    RecordedDriver(core).run(events[:i] + [Timer(ahead), Timer(ahead, AFTER_CYCLE)] + events[i:])
    return core, records, ahead


def test_an_event_stamped_before_one_handled_is_handled_at_the_latest_time():
    """An evaluation at the stepped time, then a demotion on an event stamped before it: the exposure controller
    raised "ts went backwards" (a live run stopped on it as a core error). Held at the latest time it demotes there,
    the step counted and recorded once, and the run goes on (a 1 s step: under the bound)."""
    core, records, ahead = _stepped({"eval_interval_s": 0.5}, 1.0)
    demotions = [t for t in core.graduation.controller.history if "safety" in t.reason]
    assert demotions and all(t.ts >= ahead for t in demotions)
    assert core.clock_steps_back > 10 and core.clock_step_back_max_s == pytest.approx(1.0, abs=0.2)
    steps = [r for r in records if r["type"] == "clock_step_back"]
    assert len(steps) == 1 and steps[0]["ts"] == ahead and not steps[0]["stop"] and "stepped back" in steps[0]["text"]
    assert core.clock_fault == ""
    ts = [r["ts"] for r in records]
    assert ts == sorted(ts)  # no record (the decision log) goes back in time either


def test_a_step_back_past_the_bound_says_the_run_must_stop_and_why():
    """The reported case: a step forward of graduation.eval_interval_s (5 s) or more, back, and a demotion. Past the
    bound (min of risk.stale_book_s and half of risk.ack_timeout_s, 2.5 s as shipped) the core's clock would stand
    still too long: it goes on at the latest time, and its clock_fault names the step and the fix."""
    core, records, ahead = _stepped({}, 6.0)
    assert core.clock_step_back_max_s > 2.5
    assert "stepped back" in core.clock_fault and "sync" in core.clock_fault and "2.5" in core.clock_fault
    assert [r["stop"] for r in records if r["type"] == "clock_step_back"][0] is True
    assert all(t.ts >= ahead for t in core.graduation.controller.history if "safety" in t.reason)


def test_a_twin_session_never_steps_back():
    core, records, _ = _stepped({}, 0.0)
    assert core.clock_steps_back == 0 and core.clock_fault == "" and not any(r["type"] == "clock_step_back"
                                                                             for r in records)


def test_an_after_cycle_behind_an_event_that_came_between_is_no_clock_step():
    """The live driver lets a cycle's requests start before its AFTER_CYCLE, stamped with the cycle's time: an event
    that came meanwhile is stamped later. The AFTER_CYCLE is no step: its work is the cycle's, at the cycle's time
    (test_core's test_a_cycles_bookkeeping_waits_until_its_commands_are_out), and it is not counted."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    events, inst = recorded_session(cfg, 3, 4.0)
    i = next(i for i, e in enumerate(events) if type(e) is Timer and e.name == "cycle")  # graduation evaluates after it
    j = next(j for j in range(i + 2, len(events)) if type(events[j]) is not Timer)  # the next event from the venue
    core = fresh_core(cfg, inst)
    RecordedDriver(core).run(events[:i + 1] + [events[j], events[i + 1]] + events[i + 2:j] + events[j + 1:])
    assert events[j].ts > events[i + 1].ts and core.clock_steps_back == 0 and core.clock_fault == ""
    g, next_eval = core.graduation, events[i].ts + core.cfg.graduation.eval_interval_s
    assert g.evaluate_due(next_eval) and not g.evaluate_due(next_eval - 1e-9)  # evaluated at the cycle's time
