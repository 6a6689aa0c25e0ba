"""The chaos schedule: validation by kind, sorting, JSON round trip, errors that name field and value."""
from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from twin.faults.chaos import ChaosSchedule, chaos_event_adapter, market_param_misfit
from twin.faults.rejections import RejectReason
from twin.market.base import Shock
from twin.market.synthetic import SHOCKABLE_PARAMS, SyntheticMarket, SyntheticMarketParams

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


def test_market_param_takes_only_a_shockable_name_and_a_value_in_its_range():
    """Any name or value passed, and the market refused it when the run built it (`scenarios run`, `twin serve
    --scenario`: a traceback after `scenarios check` had said ok). The error names the field and the value."""
    with pytest.raises(ValidationError) as e:
        ChaosSchedule(events=[{"kind": "market_param", "at_s": 5, "name": "bogus", "value": 1}])
    assert "events.0.market_param.name" in str(e.value) and "'bogus' cannot be shocked" in str(e.value)
    with pytest.raises(ValidationError) as e:
        ChaosSchedule(events=[{"kind": "market_param", "at_s": 5, "name": "informed_share", "value": 7}])
    assert "events.0.market_param.value" in str(e.value) and "informed_share 7.0 is out of its range" in str(e.value)
    assert "less than or equal to 1" in str(e.value)


def test_market_param_events_are_checked_on_the_market_the_events_before_them_made():
    """Each event was checked alone on the start's market: a volatility of 0.015, then drift_coupling 300, are each
    in bounds and together move the mid 0.0225 in log per √s, past the 0.02 that keeps it finite over a year; the
    file's check, ``twin serve``'s and the market's build all took them. Now the later one is refused, named, with
    the one before it; in the other order the volatility is the one that crosses."""
    vol = {"kind": "market_param", "at_s": 5, "name": "vol_calm_per_sqrt_s", "value": 0.015}
    drift = {"kind": "market_param", "at_s": 10, "name": "drift_coupling", "value": 300}
    for first, second in ((vol, drift), (drift, vol)):
        second = {**second, "at_s": 10}
        first = {**first, "at_s": 5}
        events = ChaosSchedule(events=[second, first]).events  # (given out of order: the market applies by at_s)
        for ev in events:
            assert market_param_misfit([ev], SyntheticMarketParams()) is None  # each alone fits
        i, ev, why = market_param_misfit(events, SyntheticMarketParams())
        assert (i, ev.name) == (1, second["name"]) and "0.0225 in log per √s" in why, why
        assert f"after the market_param events before it ({first['name']} {first['value']:g} at_s 5)" in why
        with pytest.raises(ValueError, match=rf"shock at t=10.0: {second['name']}=.* is invalid after "
                                             rf"{first['name']}={first['value']:g} at t=5: the calm mid would move"):
            SyntheticMarket(SyntheticMarketParams(), np.random.default_rng(0),
                            shocks=[Shock(ev.at_s, "param", ev.value, name=ev.name) for ev in events])
    back = {**vol, "at_s": 20, "value": 8.5e-5}  # a third event that lowers it again does not excuse the crossing
    assert market_param_misfit(ChaosSchedule(events=[vol, drift, back]).events, SyntheticMarketParams())[0] == 1
    calm = [vol, {**drift, "value": 100}]  # together in bounds (0.0153): taken
    assert market_param_misfit(ChaosSchedule(events=calm).events, SyntheticMarketParams()) is None


def test_market_param_events_at_one_instant_are_checked_on_the_market_they_make_together():
    """Events at the same at_s reach the market at once (it applies every shock due before it draws on): a
    volatility raised at 5 s and restored at 10 s, with drift_coupling 300 set at 10 s too, never moves the mid at
    0.0225 per √s. Walked one event at a time in file order, the drift met the raised volatility and the file was
    refused (scenario check, twin serve, the market's build), though no instant of its run crosses the bound. A
    crossing at one instant names the event whose change crosses it, after the events before it."""
    vol = {"kind": "market_param", "at_s": 5, "name": "vol_calm_per_sqrt_s", "value": 0.015}
    drift = {"kind": "market_param", "at_s": 10, "name": "drift_coupling", "value": 300}
    back = {**vol, "at_s": 10, "value": 8.5e-5}
    events = ChaosSchedule(events=[vol, drift, back]).events
    assert market_param_misfit(events, SyntheticMarketParams()) is None
    SyntheticMarket(SyntheticMarketParams(), np.random.default_rng(0),
                    shocks=[Shock(ev.at_s, "param", ev.value, name=ev.name) for ev in events])
    share = {"kind": "market_param", "at_s": 10, "name": "informed_share", "value": 0.1}
    events = ChaosSchedule(events=[vol, share, drift]).events  # together at 10 s past the bound: the drift crosses
    i, ev, why = market_param_misfit(events, SyntheticMarketParams())
    assert (i, ev.name) == (2, "drift_coupling") and "0.0225 in log per √s" in why, why
    assert "(vol_calm_per_sqrt_s 0.015 at_s 5, informed_share 0.1 at_s 10)" in why


@pytest.mark.parametrize("name", SHOCKABLE_PARAMS + ("bogus", "initial_mid", "levels", "book_interval_s"))
def test_a_market_param_event_is_valid_exactly_when_the_market_takes_its_shock(name):
    """The file's check and the market's, at its build, agree: what the file accepts the run can build, on the
    default market and the thin HIP-3 preset alike."""
    for value in (-1.0, 0.0, 1e-9, 0.5, 1.0, 7.0, 1e6):
        try:
            chaos_event_adapter.validate_python({"kind": "market_param", "at_s": 5, "name": name, "value": value})
            in_file = True
        except ValidationError:
            in_file = False
        for params in (SyntheticMarketParams(), SyntheticMarketParams.thin_hip3()):
            try:
                SyntheticMarket(params, np.random.default_rng(0), shocks=[Shock(5.0, "param", value, name=name)])
                in_market = True
            except ValueError:
                in_market = False
            assert in_file == in_market, (name, value, params.initial_mid)
