"""The quote cycle's decision record, built without CycleDecisionRecord's __init__ (its defaults would each be
overwritten by the cycle): every field is set, and the record reads as one built by __init__ with the same values."""
from __future__ import annotations

import pytest

from agent.audit.records import CycleDecisionRecord, describe_command
from agent.config import AgentConfig

from recorded_session import fresh_core, recorded_session


@pytest.mark.parametrize("level", ["SHADOW", "FULL"])
def test_each_cycle_record_is_one_built_by_init_with_its_values(level):
    """A replayed twin session, at Shadow (its note) and at Full: each cycle's record has every slot set, and its
    dict is that of a record made by ``__init__`` and given the same values."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": level, "ceiling": level}})
    events, inst = recorded_session(cfg, 2, 60.0)
    core = fresh_core(cfg, inst)
    n = 0
    notes = set()
    for ev in events:
        core.handle(ev)
        for r in core._records:
            if type(r) is not CycleDecisionRecord:
                continue
            n += 1
            afresh = CycleDecisionRecord(r.cycle, r.ts)
            for name in CycleDecisionRecord.__slots__:
                assert hasattr(r, name), name
                if name not in ("cycle", "ts"):
                    setattr(afresh, name, getattr(r, name))
            assert r.to_dict(describe_command) == afresh.to_dict(describe_command)
            notes.add(r.note)
        core.discard_records()
    assert n > 100 and notes == ({"shadow"} if level == "SHADOW" else {""})
