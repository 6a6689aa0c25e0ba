"""Test helpers: a twin session recorded as its core was handed it, to be replayed. In memory (every event, in order),
with a fresh core to replay it through: the set-up of the tests that feed one session's events to cores of their own
and compare what those keep or send with what is made afresh. Or as a live run's folder is written (the decision
log, the event journal), for the audit's replay to read."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.audit.event_log import EventJournal
from agent.audit.records import JsonlWriter, start_record
from agent.config import AgentConfig
from agent.core import AgentCore
from agent.session import build_session
from twin.instruments import InstrumentSpec
from twin.params import TwinParams


def recorded_session(cfg: AgentConfig, seed: int, seconds: float,
                     params: TwinParams | None = None) -> tuple[list, InstrumentSpec]:
    """The events the core of a twin session of ``cfg`` (seed ``seed``, on ``params`` or the default twin) handled
    over its first ``seconds``, and the session's instrument (its tick and size decimals, for a core to replay
    them)."""
    events: list = []
    ex, _, _, driver = build_session(cfg, seed, params, event_log=events)
    driver.start()
    ex.env.run(until=seconds)
    return events, ex.instruments[cfg.session.coin]


def fresh_core(cfg: AgentConfig, inst: InstrumentSpec) -> AgentCore:
    """A core of ``cfg`` on ``inst``'s tick and size decimals, its generator seeded 0 (not the session's: the tests
    that replay compare cores fed the same events with one another, not with the session's own)."""
    return AgentCore(cfg, np.random.default_rng(0), tick=inst.tick, sz_decimals=inst.sz_decimals)


def journalled_session(folder: Path, cfg: AgentConfig, seed: int, params: TwinParams | None = None,
                       journal: bool = True):
    """A twin session of ``cfg`` (seed ``seed``, on ``params`` or the default twin) set up as the live CLI sets up its
    run folder ``folder`` (made if need be; a run already in it is appended to, as a restart's is): its core's decision
    records to decisions.jsonl, and (with ``journal``) every event its core handles to events.jsonl, each file begun
    with the run's start line. (The core draws nothing from its generator, so the live CLI's core rebuilt from the
    start line decides as this one does.) (exchange, driver, decision log, journal or None): the driver not started,
    both files open; the test runs the session, ends it as it wants, and closes them."""
    folder.mkdir(exist_ok=True)
    log = JsonlWriter(folder / "decisions.jsonl")
    j = EventJournal(JsonlWriter(folder / "events.jsonl")) if journal else None
    ex, _, _, driver = build_session(cfg, seed, params, record_sink=log.write)
    if j is not None:
        driver.event_log = type("Tap", (), {"append": staticmethod(j.event)})()
    inst = ex.instruments[cfg.session.coin]
    start = start_record(0.0, cfg, venue="live", seed=seed, tick=inst.tick, sz_decimals=inst.sz_decimals)
    log.write(start)
    if j is not None:
        j.start(start)
    return ex, driver, log, j
