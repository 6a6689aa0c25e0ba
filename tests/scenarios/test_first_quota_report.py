"""After a 429 storm that refused the first quota poll, the agent places the exits of its position soon after the
storm ends. Until the venue's first quota report the core sends only cancels (RequestBudget.awaiting_report); the
gateways polled again only at the regular period (10 s), so chaos_snapshot_refused_429 (a 20.6 s storm, 0.021 BTC
short) placed nothing until the 30 s poll, where before the cancel-only hold it placed its exits at 22.5 s. The
polls refused in the storm are now sent again 1, 2, 4, 8 and 10 s after each (QuotaPollBackoff): the first after it
reports, within the 8 s of the storm's end the scenario's description promises its exits."""
from __future__ import annotations

from pathlib import Path

from agent.gateway.events import PlaceOrder
from scenarios.runner import run_scenario
from scenarios.schema import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "chaos_snapshot_refused_429.yaml"


def test_the_exits_are_placed_within_a_few_seconds_of_a_storm_that_refused_the_first_quota_poll():
    scenario = load_scenario(SCENARIO)
    storm = next(ev for ev in scenario.chaos if ev.kind == "http_429_burst")
    storm_end = storm.at_s + storm.duration_s
    result = run_scenario(scenario, 0)
    assert result.ok, result.report()
    places = [c for c in result.log.commands if isinstance(c.cmd, PlaceOrder)]
    assert places, "no order placed in the session"
    first = places[0]
    assert first.cmd.reduce_only and storm_end < first.t < storm_end + 8.0, (first.t, storm_end)
