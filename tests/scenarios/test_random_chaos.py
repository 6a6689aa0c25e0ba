"""Beyond the named incidents: random chaos schedules and starting states (within
``scenarios.random_chaos.BOUNDS``) run the real agent, and the universal invariants hold on each.

A failing example is saved as a scenario file (``scenarios/found/`` or $SCENARIOS_FOUND_DIR) that
reproduces it; a naive agent shows the saving works. More examples: RANDOM_CHAOS_EXAMPLES=500.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings, strategies as st
from pydantic import ValidationError

from agent.core import AgentCore
from naive_agents import NaiveColdStart
from scenarios.conftest import pytest_collect_file
from scenarios.random_chaos import (
    BOUNDS, DEFAULT_FOUND_DIR, ChaosBounds, KNOWN_FAILURES, UNIVERSAL, check_universal, found_dir, save_found,
    universal_invariants,
)
from scenarios.runner import ScenarioResult, run_scenario
from scenarios.schema import Scenario, load_scenario

EXAMPLES = int(os.environ.get("RANDOM_CHAOS_EXAMPLES", "12"))
UNIT = {"BTC": 0.001, "hyna:LIT": 2.0}  # sizes drawn on this grid, per market (a few $ to a few tens of $)


def _r(x: float, nd: int = 2) -> float:
    return round(float(x), nd)


@st.composite
def _fault(draw, duration_s: float, earliest_s: float) -> dict:
    b = BOUNDS
    kind = draw(st.sampled_from(["latency_spike", "http_429_burst", "rejection_burst", "disconnect", "quota_set",
                                 "price_jump", "regime", "slide", "quota_pinned"]))
    at = _r(draw(st.floats(earliest_s, b.start_frac * duration_s)))
    room = duration_s - b.settle_s - at  # ≥ (1 - start_frac) × the shortest run - settle_s: > the shortest fault
    length = _r(draw(st.floats(b.fault_s[0], min(b.fault_s[1], room))))
    quota = st.integers(*b.quota_remaining)
    if kind == "latency_spike":
        return {"kind": kind, "at_s": at, "duration_s": length,
                "path": draw(st.sampled_from(["order_entry", "response", "feed", "all"])),
                "multiplier": _r(draw(st.floats(*b.latency_multiplier))),
                "extra_ms": _r(draw(st.floats(*b.latency_extra_ms)), 0)}
    if kind in ("http_429_burst", "disconnect"):
        return {"kind": kind, "at_s": at, "duration_s": length}
    if kind == "rejection_burst":
        return {"kind": kind, "at_s": at, "duration_s": length, "rate": _r(draw(st.floats(*b.rejection_rate))),
                "reason": draw(st.sampled_from(b.rejection_reasons))}
    if kind == "quota_set":
        return {"kind": kind, "at_s": at, "remaining_requests": draw(quota)}
    if kind == "price_jump":
        return {"kind": kind, "at_s": at, "fraction": _r(draw(st.floats(-b.price_jump, b.price_jump)), 4)}
    if kind == "regime":
        return {"kind": kind, "at_s": at, "duration_s": length, "regime": draw(st.sampled_from([0, 1]))}
    if kind == "slide":
        return {"kind": kind, "at_s": at, "duration_s": length, "fraction": _r(draw(st.floats(-b.slide, b.slide)), 4),
                "steps": draw(st.integers(*b.slide_steps))}
    return {"kind": kind, "at_s": at, "duration_s": length, "remaining_requests": draw(quota),
            "every_s": _r(draw(st.floats(*b.pin_every_s)))}


_PATHS = {"order_entry", "response", "feed"}


def _spikes_apart(events: list[dict]) -> list[dict]:
    """Drop each latency spike that overlaps an earlier one on a shared path (BOUNDS: they do not overlap)."""
    kept, busy = [], []
    for e in events:
        if e["kind"] == "latency_spike":
            paths = _PATHS if e["path"] == "all" else {e["path"]}
            a, z = e["at_s"], e["at_s"] + e["duration_s"]
            if any(paths & p and a < z1 and a1 < z for p, a1, z1 in busy):
                continue
            busy.append((paths, a, z))
        kept.append(e)
    return kept


@st.composite
def _start(draw, limit: float, unit: float) -> dict:
    b = BOUNDS
    reach = int(b.start_position_frac * limit / unit)
    pos = _r(draw(st.integers(-reach, reach)) * unit, 3)
    orders, bids, asks = [], 0.0, 0.0
    for _ in range(draw(st.integers(0, b.resting_orders))):
        side = draw(st.sampled_from(["buy", "sell"]))
        # the worst case at start stays inside the limit: the agent cannot be blamed for the state it finds
        room = limit - (pos + bids) if side == "buy" else limit + (pos - asks)
        sz = _r(min(draw(st.integers(1, 10)), int(room / unit + 1e-9)) * unit, 3)
        if sz <= 0:
            continue
        off = _r(draw(st.floats(*b.resting_offset_bps)), 1)
        orders.append({"side": side, "sz": sz, "offset_bps": -off if side == "buy" else off})
        bids, asks = (bids + sz, asks) if side == "buy" else (bids, asks + sz)
    start = {"position": pos, "resting_orders": orders,
             "quota_remaining": draw(st.none() | st.integers(*b.quota_remaining)),
             "models": draw(st.sampled_from(["cold", "warm"]))}
    if start["models"] == "warm":
        start["warmup_s"] = draw(st.sampled_from(b.warmup_s))
    return start


@st.composite
def chaos_bodies(draw) -> dict:
    """A scenario without its name, story, seeds and invariants: market, twin, start, agent, chaos, duration."""
    b = BOUNDS
    duration = float(draw(st.integers(int(b.duration_s[0]), int(b.duration_s[1]))))
    coin = draw(st.sampled_from(b.markets))
    hip3 = coin != "BTC"
    limit = draw(st.sampled_from(b.hip3_max_position if hip3 else b.max_position))
    start = draw(_start(limit, UNIT[coin]))
    fresh = start["position"] == 0 and not start["resting_orders"]
    earliest = 0.0 if fresh else b.quiet_start_s  # the known failures (KNOWN_FAILURES) left out
    agent = {"session": {"collateral_usd": draw(st.sampled_from(b.collateral_usd)),
                         "cycle_s": draw(st.sampled_from(b.cycle_s))},
             "risk": {"max_position": limit},
             "safety": {"kill_action": draw(st.sampled_from(["flatten", "hold"]))},
             "graduation": {"start_level": draw(st.sampled_from(b.start_levels))}}
    agent["quoting"] = {"ladder": {"n_levels": draw(st.sampled_from(b.n_levels))}}
    agent["reconcile"] = {"modify_moves": draw(st.sampled_from(b.modify_moves))}
    if hip3:
        agent["quoting"]["order_size"] = b.hip3_order_size
    return {
        "market": {"coin": coin, "preset": "thin_hip3"} if hip3 else {"coin": coin},
        "twin": {"connection": {"hazard_per_hour": 0}},  # disconnects come from the schedule only
        "start": start,
        "agent": agent,
        "chaos": _spikes_apart(draw(st.lists(_fault(duration, earliest), max_size=b.max_events))),
        "duration_s": duration,
    }


@st.composite
def chaos_cases(draw) -> tuple[dict, int]:
    """A body (chaos_bodies) and the seed it runs on (its market path and the twin's draws), a hash of the body and
    a drawn salt: a seed drawn on its own (``st.integers(0, 2**16)``) was 0 in a third of the examples and took 61
    values in 300, as hypothesis favours an integer's ends and copies or zeroes a choice from one example to the
    next whatever its range (``st.randoms``, bytes, a 64-bit integer mixed: the same); hashed, the seeds are as
    many as the bodies. Shrinking a body moves its seed too: the minimal example is one failing example, not the
    first one made smaller (the saved file reproduces it all the same)."""
    body = draw(chaos_bodies())
    salt = draw(st.integers(0, 2 ** 32 - 1))
    digest = hashlib.sha256(json.dumps([body, salt], sort_keys=True).encode()).digest()
    return body, int.from_bytes(digest[:4], "big")


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=chaos_cases(), killed=st.booleans())
def test_every_drawn_scenario_is_a_valid_file_within_the_schemas_bounds(case, killed):
    """What the strategy draws lies inside the scenario file's bounds (scenarios.schema, scenarios.invariants): a
    range of BOUNDS past a bound made every example of the test above an error, and bench/decisions_diff.py, which
    writes them out as files, a corpus that does not load. Checked as the file is read back (YAML, then the
    schema), without running the agent; save_found's file is this one with a name and a story."""
    body, seed = case
    data = {"name": "random_chaos", "incident": "random chaos", "description": "generated", **body, "seeds": [seed],
            "invariants": universal_invariants(killed)}
    # (libyaml's parser and emitter where PyYAML has them: the same safe constructors, representers and resolver,
    # so the same data back; the pure-Python round trip took 9 of this test's 10 CPU seconds)
    text = yaml.dump(data, Dumper=_SAFE_DUMPER, sort_keys=False)
    sc = Scenario.model_validate(yaml.load(text, Loader=_SAFE_LOADER))
    assert sc.duration_s == body["duration_s"] and len(sc.chaos) == len(body["chaos"])
    assert all(ev.at_s + getattr(ev, "duration_s", 0.0) <= sc.duration_s - BOUNDS.settle_s + 0.01
               for ev in sc.chaos)  # (times are drawn rounded to 0.01 s)


def test_each_drawn_body_runs_on_a_seed_of_its_own():
    """The market paths the random chaos covers are as many as the scenarios it draws: with the seed drawn on its
    own, 100 examples (91 bodies) ran on 27 seeds, over a third of them on seed 0 (under CI's derandomized profile,
    each run)."""
    drawn = []

    @settings(max_examples=100, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=chaos_cases())
    def draw(case):
        drawn.append(case)

    draw()
    bodies = {json.dumps(body, sort_keys=True) for body, _ in drawn}
    seeds = Counter(seed for _, seed in drawn)
    assert len(seeds) >= 0.95 * len(bodies) and max(seeds.values()) <= 3, seeds.most_common(3)


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _ev(kind: str, **kw) -> dict:
    return {"kind": kind, "at_s": 1.0, **kw}


_INTERVAL = [_ev("latency_spike"), _ev("http_429_burst"), _ev("rejection_burst", rate=1.0), _ev("disconnect"),
             _ev("regime", regime=1), _ev("slide", fraction=-0.01), _ev("quota_pinned")]
_HIP3 = {"market": {"coin": "hyna:LIT", "preset": "thin_hip3"}}
# Where the strategy puts each value of BOUNDS in the file (the fields that are no value of the file: ROLES).
FEEDS = {
    "duration_s": lambda v: {"duration_s": v},
    "fault_s": lambda v: {"chaos": [{**e, "duration_s": v} for e in _INTERVAL]},
    "latency_multiplier": lambda v: {"chaos": [_ev("latency_spike", duration_s=1.0, multiplier=v)]},
    "latency_extra_ms": lambda v: {"chaos": [_ev("latency_spike", duration_s=1.0, extra_ms=v)]},
    "rejection_rate": lambda v: {"chaos": [_ev("rejection_burst", duration_s=1.0, rate=v)]},
    "rejection_reasons": lambda v: {"chaos": [_ev("rejection_burst", duration_s=1.0, rate=1.0, reason=v)]},
    "quota_remaining": lambda v: {"chaos": [_ev("quota_set", remaining_requests=v),
                                            _ev("quota_pinned", duration_s=1.0, remaining_requests=v)],
                                  "start": {"quota_remaining": v}},
    "pin_every_s": lambda v: {"chaos": [_ev("quota_pinned", duration_s=1.0, every_s=v)]},
    "price_jump": lambda v: {"chaos": [_ev("price_jump", fraction=v), _ev("price_jump", fraction=-v)]},
    "slide": lambda v: {"chaos": [_ev("slide", duration_s=1.0, fraction=v), _ev("slide", duration_s=1.0, fraction=-v)]},
    "slide_steps": lambda v: {"chaos": [_ev("slide", duration_s=1.0, fraction=-0.01, steps=v)]},
    "markets": lambda v: {"market": {"coin": v, **({"preset": "thin_hip3"} if v != "BTC" else {})}},
    "max_position": lambda v: {"agent": {"risk": {"max_position": v}},
                               "start": {"position": round(-BOUNDS.start_position_frac * v, 3)}},
    "hip3_max_position": lambda v: {**_HIP3, "agent": {"risk": {"max_position": v}},
                                    "start": {"position": round(BOUNDS.start_position_frac * v, 3)}},
    "hip3_order_size": lambda v: {**_HIP3, "agent": {"quoting": {"order_size": v}}},
    "collateral_usd": lambda v: {"agent": {"session": {"collateral_usd": v}}},
    "cycle_s": lambda v: {"agent": {"session": {"cycle_s": v}}},
    "n_levels": lambda v: {"agent": {"quoting": {"ladder": {"n_levels": v}}}},
    "modify_moves": lambda v: {"agent": {"reconcile": {"modify_moves": v}}},
    "start_levels": lambda v: {"agent": {"graduation": {"start_level": v}}},
    "warmup_s": lambda v: {"start": {"models": "warm", "warmup_s": v}},
    "resting_offset_bps": lambda v: {"start": {"resting_orders": [{"side": "buy", "sz": 0.001, "offset_bps": -v},
                                                                  {"side": "sell", "sz": 0.001, "offset_bps": v}]}},
}
ROLES = {"max_events", "start_frac", "settle_s", "start_position_frac", "resting_orders", "quiet_start_s"}


def test_both_ends_of_every_range_of_the_random_chaos_bounds_load():
    """The hypothesis test above draws from BOUNDS and may miss a range's end; here each end (each choice) goes into
    a file where the strategy puts it, and the file loads: a range widened past a bound of the schema fails here.
    A field of BOUNDS added without a place here fails too."""
    base = {"name": "ends", "incident": "bounds", "description": "each end of each range", "duration_s": 60.0,
            "twin": {"connection": {"hazard_per_hour": 0}}, "start": {}, "agent": {}, "chaos": [],
            "invariants": universal_invariants(False)}
    names = {f.name for f in fields(ChaosBounds)}
    assert set(FEEDS) | ROLES == names and not set(FEEDS) & ROLES
    for name, feed in FEEDS.items():
        value = getattr(BOUNDS, name)
        for v in value if isinstance(value, tuple) else (value,):
            Scenario.model_validate(_merged(base, feed(v)))
    with pytest.raises(ValidationError, match="every_s"):  # a range past a bound is caught
        Scenario.model_validate(_merged(base, FEEDS["pin_every_s"](0.001)))


def run_body(body: dict, seed: int, agent_cls: type = AgentCore) -> ScenarioResult:
    sc = Scenario.model_validate({"name": "random_chaos", "incident": "random chaos", "description": "generated",
                                  **body, "seeds": [seed], "invariants": universal_invariants(False)})
    return run_scenario(sc, seed, agent_cls=agent_cls)


@dataclass
class Found:
    path: Path
    body: dict
    seed: int
    result: ScenarioResult


# A long position on a small account and a 6% drop: Kill is reached for certain (random chaos reaches it
# in a few percent of examples), so every run of the test checks the invariant that applies after Kill.
KILL_EXAMPLE = {
    "market": {"coin": "BTC"}, "twin": {"connection": {"hazard_per_hour": 0}},
    "start": {"position": 0.04, "resting_orders": [{"side": "buy", "sz": 0.01, "offset_bps": -300.0}],
              "quota_remaining": 500, "models": "warm", "warmup_s": 30},
    "agent": {"session": {"collateral_usd": 1500.0, "cycle_s": 0.25}, "risk": {"max_position": 0.06},
              "safety": {"kill_action": "flatten"}, "graduation": {"start_level": "FULL"}},
    "chaos": [{"kind": "latency_spike", "at_s": 15.0, "duration_s": 10.0, "path": "all", "multiplier": 5.0,
               "extra_ms": 300.0},
              {"kind": "slide", "at_s": 20.0, "duration_s": 3.0, "fraction": -0.06, "steps": 3}],
    "duration_s": 60.0,
}


def search(agent_cls: type, max_examples: int, folder: Path, examples: tuple = (), **kw) -> Found | None:
    """Run ``agent_cls`` on random chaos (after the explicit ``examples``, (body, seed) pairs); on a failure
    save the example hypothesis ends with (its minimal one: hypothesis replays it last) to ``folder`` and
    return it. None: every example held."""
    failures: list[tuple[dict, int, ScenarioResult]] = []

    def one(case: tuple[dict, int]) -> None:
        body, seed = case
        result = run_body(body, seed, agent_cls)
        broken = check_universal(result)
        if broken:
            failures.append((body, seed, result))
            raise AssertionError("\n".join(f"{v.invariant} at t={v.t:.2f}: {v.message}" for v in broken))

    one = given(case=chaos_cases())(one)
    for case in examples:
        one = example(case=case)(one)
    one = settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow], **kw)(one)
    try:
        one()
    except Exception:
        if not failures:
            raise  # not an invariant: a bug of this test
        body, seed, result = failures[-1]
        return Found(save_found(body, seed, result, folder), body, seed, result)
    return None


def test_the_agent_keeps_the_universal_invariants_under_random_chaos():
    assert run_body(KILL_EXAMPLE, 1).log.trigger_time("kill") is not None  # the example does what it says
    found = search(AgentCore, EXAMPLES, found_dir(), examples=[(KILL_EXAMPLE, 1)])
    assert found is None, (f"random chaos broke the agent; the example is saved as {found.path} "
                           f"(review it, fix the agent, promote it to scenarios/):\n{found.result.report()}")


def test_a_failure_is_saved_as_a_scenario_file_that_reproduces_it(tmp_path):
    # the Feb 16 bug (stale orders from an earlier run left alone) is found by random chaos in a few examples. (20
    # found it, on a warm start, only while the runner's warm-up left a snapshot request counted out that it had
    # dropped: NaiveColdStart, reconciled from birth and never auditing, then sent none in the whole run. 30 find
    # it on its own defect)
    found = search(NaiveColdStart, 30, tmp_path, derandomize=True,
                   phases=[Phase.explicit, Phase.generate])
    assert found is not None, "random chaos did not find the naive agent's bug"
    assert found.path.parent == tmp_path and found.path.suffix == ".yaml"
    sc = load_scenario(found.path)
    assert sc.name == found.path.stem and sc.seeds == [found.seed]
    assert {i.name for i in sc.invariants} >= set(UNIVERSAL)
    again = run_scenario(sc, found.seed, agent_cls=NaiveColdStart)
    first = check_universal(found.result)[0]
    v = again.broke(first.invariant)
    assert v is not None and v.t == first.t, again.report()
    assert save_found(found.body, found.seed, again, tmp_path) == found.path  # one file per failure


def test_found_files_are_not_collected_with_the_committed_scenarios():
    assert pytest_collect_file(None, DEFAULT_FOUND_DIR / "found_x.yaml") is None
    assert found_dir() == DEFAULT_FOUND_DIR or "SCENARIOS_FOUND_DIR" in os.environ


def test_known_failures_are_listed_and_still_reproduce():
    """Every file random chaos saved (scenarios/found/) is a known agent bug listed in KNOWN_FAILURES, and
    each still breaks an invariant: once one stops reproducing it is fixed, and belongs in scenarios/ as a
    named incident (with the narrowing in BOUNDS dropped), not here."""
    saved = sorted(p.name for p in DEFAULT_FOUND_DIR.glob("*.yaml")) if DEFAULT_FOUND_DIR.is_dir() else []
    assert saved == sorted(KNOWN_FAILURES), "scenarios/found/ and KNOWN_FAILURES disagree"
    for filename in saved:
        sc = load_scenario(DEFAULT_FOUND_DIR / filename)
        broke = {v.invariant for v in check_universal(run_scenario(sc, sc.seeds[0]))}
        assert broke, f"{filename} no longer reproduces: the bug is fixed, promote the file to scenarios/"
