"""The chaos schedule: validation by kind, sorting, JSON round trip, errors that name field and value."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from twin.faults.chaos import ChaosSchedule, chaos_event_adapter
from twin.faults.rejections import RejectReason

EVENTS = [
    {"kind": "quota_set", "at_s": 30.0, "remaining_requests": 5},
    {"kind": "latency_spike", "at_s": 10.0, "duration_s": 5, "path": "feed", "multiplier": 4, "extra_ms": 50},
    {"kind": "http_429_burst", "at_s": 12.5, "duration_s": 3},
    {"kind": "rejection_burst", "at_s": 0.0, "duration_s": 2, "rate": 0.5, "reason": "Oracle"},
    {"kind": "disconnect", "at_s": 20.0, "duration_s": 4},
    {"kind": "price_jump", "at_s": 25.0, "fraction": -0.03},
    {"kind": "regime", "at_s": 26.0, "regime": 1, "duration_s": 60},
    {"kind": "market_param", "at_s": 27.0, "name": "informed_share", "value": 0.4},
]


def test_default_is_empty():
    assert ChaosSchedule().events == []


def test_events_are_sorted_typed_and_round_trip():
    s = ChaosSchedule(events=EVENTS)
    assert [e.at_s for e in s.events] == sorted(e["at_s"] for e in EVENTS)
    assert [e.kind for e in s.events][:2] == ["rejection_burst", "latency_spike"]
    spike = s.events[1]
    assert (spike.path, spike.multiplier, spike.extra_ms, spike.duration_s) == ("feed", 4.0, 50.0, 5.0)
    assert RejectReason(s.events[0].reason) is RejectReason.Oracle
    again = ChaosSchedule.from_json(s.to_json())
    assert again == s


def test_latency_spike_defaults_to_all_paths_unchanged():
    ev = chaos_event_adapter.validate_python({"kind": "latency_spike", "at_s": 1, "duration_s": 5, "multiplier": 3})
    assert (ev.path, ev.extra_ms) == ("all", 0.0)


def test_errors_name_the_field_and_the_value():
    with pytest.raises(ValidationError) as e:
        ChaosSchedule(events=[{"kind": "latency_spike", "at_s": 1, "duration_s": 5, "path": "uplink"}])
    assert "path" in str(e.value) and "uplink" in str(e.value)
    with pytest.raises(ValidationError) as e:
        ChaosSchedule(events=[{"kind": "disconnect", "at_s": -2.0, "duration_s": 1}])
    assert "at_s" in str(e.value) and "-2.0" in str(e.value)
    with pytest.raises(ValidationError, match="Oracel"):
        ChaosSchedule(events=[{"kind": "rejection_burst", "at_s": 0, "duration_s": 1, "rate": 1, "reason": "Oracel"}])
    with pytest.raises(ValidationError, match="meteor"):
        ChaosSchedule(events=[{"kind": "meteor", "at_s": 0}])
    with pytest.raises(ValidationError, match="surprise"):
        ChaosSchedule(events=[{"kind": "disconnect", "at_s": 0, "duration_s": 1, "surprise": True}])


def test_rejection_burst_takes_only_per_order_reasons():
    with pytest.raises(ValidationError, match="RateLimited"):
        ChaosSchedule(events=[{"kind": "rejection_burst", "at_s": 0, "duration_s": 1, "rate": 1,
                               "reason": "RateLimited"}])
