"""Each incident scenario fails its naive agent (the original bug put back) with the expected invariant,
and holds with the real agent: a scenario that cannot fail proves nothing (DESIGN §7)."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from naive_agents import (
    NaiveBlindOnDisconnect, NaiveColdStart, NaiveEmergencyPull, NaiveFillsBeforeSnapshot, NaiveFlattenOnce,
    NaiveFlattenOffGrid, NaiveFlattenRoom, NaiveGrossEdge, NaiveInFlightLimits, NaiveKillSwitch,
    NaiveLiquidationRoom, NaiveOptimisticCancel, NaiveQuotaBlind, NaiveReconnectWaits, NaiveReduceOnlyRoom,
    NaiveRefusedPlace, NaiveRefusedSnapshotOverdue, NaiveShadowHolds, NaiveSlowSnapshotBackoff, NaiveSnapshotRetry,
    NaiveSnapshotRetryPace,
)
from scenarios.conftest import real_agent_run
from scenarios.runner import WIND_DOWN_S, ScenarioResult, run_scenario
from scenarios.schema import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# scenario file, its naive agent, the invariant that must break
CASES = [
    ("feb09_kill_switch.yaml", NaiveKillSwitch, "all_orders_cancelled_within"),
    ("feb09_kill_switch.yaml", NaiveKillSwitch, "position_never_grows_after"),
    ("feb10_reduce_only_bypass.yaml", NaiveInFlightLimits, "worst_case_position_within_limit"),
    ("feb12_emergency_paralysis.yaml", NaiveEmergencyPull, "quoting_resumes_within"),
    ("feb12_emergency_paralysis.yaml", NaiveEmergencyPull, "inventory_reduced_within"),
    ("feb16_cold_start.yaml", NaiveColdStart, "reconciled_before_first_quote"),
    ("quota_spiral_hip3.yaml", NaiveQuotaBlind, "request_rate_within_quota"),
    ("quota_spiral_hip3.yaml", NaiveQuotaBlind, "request_rate_adapts_to_headroom"),
    ("ws_outage_during_move.yaml", NaiveBlindOnDisconnect, "reconciled_before_first_quote"),
    ("cancel_fill_race_storm.yaml", NaiveOptimisticCancel, "worst_case_position_within_limit"),
    ("chaos_reduce_only_beside_stale_bids.yaml", NaiveReduceOnlyRoom, "worst_case_position_within_limit"),
    ("chaos_fill_before_first_snapshot.yaml", NaiveFillsBeforeSnapshot, "no_risk_increasing_order_after"),
    ("chaos_snapshot_refused_429.yaml", NaiveSnapshotRetry, "orders_terminal_or_reconciled"),
    ("chaos_snapshot_lost_in_outage.yaml", NaiveReconnectWaits, "orders_terminal_or_reconciled"),
    ("chaos_flatten_into_a_crash.yaml", NaiveFlattenOnce, "no_liquidation"),
    ("chaos_snapshot_after_long_storm.yaml", NaiveSlowSnapshotBackoff, "orders_terminal_or_reconciled"),
    ("chaos_flatten_beside_stale_bids.yaml", NaiveFlattenRoom, "worst_case_position_within_limit"),
    ("chaos_flatten_off_grid.yaml", NaiveFlattenOffGrid, "orders_on_the_venue_grid"),
    ("chaos_flatten_off_grid.yaml", NaiveFlattenOffGrid, "inventory_reduced_within"),
    ("chaos_refused_place_snapshot_storm.yaml", NaiveRefusedPlace, "orders_terminal_or_reconciled"),
    ("chaos_refused_snapshot_sent_when_overdue.yaml", NaiveRefusedSnapshotOverdue, "orders_terminal_or_reconciled"),
    ("chaos_snapshot_retries_fill_the_minute.yaml", NaiveSnapshotRetryPace, "orders_terminal_or_reconciled"),
    ("chaos_ladder_lands_after_liquidation.yaml", NaiveLiquidationRoom, "worst_case_position_within_limit"),
    ("fees_exceed_spread.yaml", NaiveGrossEdge, "exposure_level_at_most"),
    ("shadow_holds_inventory.yaml", NaiveShadowHolds, "inventory_reduced_within"),
]


@functools.lru_cache(maxsize=1)
def _first_seed_run(filename: str, agent_cls: type) -> ScenarioResult:
    """A scenario file's run on its first seed by its naive agent ``agent_cls``, kept for the next case of the same
    file (a file listed for two invariants ran it twice, four files of CASES' 25 lines). The real agent's run is the
    file's own item's (scenarios/conftest.py's real_agent_run: made once for both)."""
    scenario = load_scenario(SCENARIOS / filename)
    return run_scenario(scenario, scenario.seeds[0], agent_cls=agent_cls)


@pytest.mark.parametrize("filename, naive, invariant", CASES,
                         ids=[f"{f.split('.')[0]}-{inv}" for f, _, inv in CASES])
def test_the_naive_agent_breaks_the_named_invariant_and_the_real_one_does_not(filename, naive, invariant):
    scenario = load_scenario(SCENARIOS / filename)
    bad = _first_seed_run(filename, naive)
    assert bad.error is None, bad.error
    v = bad.broke(invariant)
    assert v is not None, f"{naive.__name__} did not break {invariant}:\n{bad.report()}"
    assert 0.0 <= v.t <= scenario.duration_s + WIND_DOWN_S  # orders_terminal_or_reconciled: after the wind-down
    good = real_agent_run(SCENARIOS / filename, scenario.seeds[0])  # (the file's own item reads the same run)
    assert good.broke(invariant) is None, good.report()


@pytest.mark.parametrize("seed", load_scenario(SCENARIOS / "chaos_flatten_beside_stale_bids.yaml").seeds)
def test_the_flatten_beside_stale_bids_breaks_its_naive_agent_on_every_seed_it_runs(seed):
    """Its incident is a race (the Kill's cancels of the bids and its flatten IOC leave together; the IOC must land
    first), so its seeds are chosen where it does: each of them, not only the first, must show the naive agent's
    fault, and the real agent hold."""
    scenario = load_scenario(SCENARIOS / "chaos_flatten_beside_stale_bids.yaml")
    bad = run_scenario(scenario, seed, agent_cls=NaiveFlattenRoom)
    assert bad.broke("worst_case_position_within_limit") is not None, bad.report()
    assert real_agent_run(SCENARIOS / "chaos_flatten_beside_stale_bids.yaml", seed).ok


def test_every_incident_file_has_a_naive_case():
    incidents = {p.name for p in SCENARIOS.glob("*.yaml")}
    assert incidents == {f for f, _, _ in CASES}
