"""What a scenario run leaves behind for the invariants: the venue sampled on a grid, every command
the agent sent (with the venue's state when it left), every event it got, its decision records.

All times here are seconds after the agent started (``t``), not SimPy's clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class SentCommand(NamedTuple):
    """One command as it left the agent (batches are flattened, each element its own row)."""

    t: float
    cmd: object  # agent.gateway.events command (never a Batch)
    batch_size: int  # elements in the batch it came in (1 alone)
    venue_position: float  # at the venue when it was sent
    agent_position: float  # the agent's belief when it was sent
    safety_level: int  # the agent's safety level when it was sent
    headroom: int  # address requests left below the cap at the venue when it was sent
    cap: int  # the address cap then


class QuotaCharge(NamedTuple):
    """One action the venue charged to the address quota, as it landed (twin.faults.quota.AddressQuota.charges)."""

    t: float
    n: int  # requests charged (one an item; five an item for an expired action)
    action: str  # the twin's action type: OrderAction, ModifyAction, CancelAction, ScheduleCancelAction, ...
    used: int  # the address's requests used, this charge included
    cap: int  # the cap then
    sent_t: float  # when the agent sent it (an action sent later may land first)


class VenueFill(NamedTuple):
    """One fill of the agent's address as the venue made it (the twin's userFills row), when it made it: the news of
    it reaches the agent later (``RunLog.events``), and one trade may fill several orders between two samples."""

    t: float  # seconds after the agent started, at the venue (its fill time, to the ms)
    cloid: str  # the name the agent knows the order by (agent.gateway.base.order_name: its cloid, or oid:N)
    oid: int
    is_buy: bool
    sz: float
    start_position: float  # the position just before it


class RestingOrder(NamedTuple):
    oid: int
    is_buy: bool
    px: float
    sz: float
    reduce_only: bool


@dataclass
class RunLog:
    """Columns of samples (numpy arrays, same length), plus the logs; see ``scenarios.runner``."""

    seed: int
    t0: float  # SimPy time at which the agent started
    duration_s: float
    limit: float  # the agent's max_position
    lot: float
    start_position: float
    start_equity: float
    reserve_frac: float = 0.05  # the agent's budget.reserve_frac
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    orders: list[tuple[RestingOrder, ...]] = field(default_factory=list)  # ours resting, per sample
    commands: list[SentCommand] = field(default_factory=list)
    quota_charges: list[QuotaCharge] = field(default_factory=list)  # the agent's address's, from its start
    events: list[tuple[float, object]] = field(default_factory=list)
    fills: list[VenueFill] = field(default_factory=list)  # the venue's, in the order it made them
    records: list[dict] = field(default_factory=list)  # each with "t" added
    safety: list[dict] = field(default_factory=list)  # transitions {t, from, to, reason}
    exposure: list[dict] | None = None  # exposure-level transitions, when the agent has graduation
    faults: list[tuple[str, float, float]] = field(default_factory=list)  # (kind, start, end)
    final: dict = field(default_factory=dict)  # after the wind-down: positions and orders left
    liquidations: list[float] = field(default_factory=list)  # times the venue liquidated the account
    cycles: int = 0
    postmortem_file: bool | None = None  # None: no run folder was written
    # the agent's timings that bound how long a fill of an order whose pull was lost in transport is excused
    # (invariants._lost_pull_s says how); a hand-made log has the config's defaults
    ack_timeout_s: float = 5.0  # risk.ack_timeout_s: a pull unanswered this long is stale, and a snapshot asked for
    audit_interval_s: float = 30.0  # risk.audit_interval_s: the core asks for a snapshot at least this often
    cycle_s: float = 0.5  # session.cycle_s: the tick on which the core finds a pull stale
    # the longest the core waits to ask again for a snapshot whose request went unanswered (overdue at 2 x
    # ack_timeout_s) or was refused (its backoff's cap, agent.core.snapshot_backoff_cap: 4.7 s as shipped)
    snapshot_retry_s: float = 10.0
    # whether the agent's budget lets a snapshot through at every minute's IP weight its quoting goes on at
    # (agent.execution.budget.quoting_leaves_snapshot_room; as the defaults do): where not, quoting alone can hold the
    # snapshots' gate shut, and _lost_pull_s bounds no wait
    quoting_leaves_snapshot_room: bool = True

    # ------------------------------------------------------------------ helpers for invariants

    @property
    def t(self) -> np.ndarray:
        return self.samples["t"]

    def sample_at(self, t: float) -> int:
        """Index of the first sample at or after ``t`` (len if none)."""
        return int(np.searchsorted(self.t, t - 1e-9))

    def first_safety(self, min_level: int) -> float | None:
        for tr in self.safety:
            if tr["to"] >= min_level > tr["from"]:
                return tr["t"]
        return None

    def event_times(self, type_name: str) -> list[float]:
        return [t for t, ev in self.events if type(ev).__name__ == type_name]

    def trigger_time(self, spec: str) -> float | None:
        """Resolve a trigger: 'start'; 't=60'; 'kill'; 'safety>=RED'; 'fault:KIND' / 'fault_end:KIND'
        (the first fault of that kind); 'disconnect' / 'reconnect' (as the agent saw them)."""
        s = spec.strip()
        if s == "start":
            return 0.0
        if s.startswith("t="):
            return float(s[2:])
        level = trigger_level(s)
        if level is not None:
            return self.first_safety(level)
        if s.startswith("fault:") or s.startswith("fault_end:"):
            kind = s.split(":", 1)[1]
            # the first in time, however the file lists them (the first listed was checked, and an outage before it
            # went unchecked)
            ours = sorted((a, b) for k, a, b in self.faults if k == kind)
            if not ours:
                return None
            return ours[0][0] if s.startswith("fault:") else ours[0][1]
        if s == "disconnect":
            ts = self.event_times("ConnectionLost")
            return ts[0] if ts else None
        if s == "reconnect":
            ts = self.event_times("ConnectionRestored")
            return ts[0] if ts else None
        raise ValueError(f"unknown trigger {spec!r}")

    def records_around(self, t: float, before: int = 6, after: int = 3) -> list[dict]:
        """The decision records nearest ``t``: up to ``before`` at or before it and ``after`` after."""
        ts = [r.get("t", math.nan) for r in self.records]
        k = int(np.searchsorted(np.asarray(ts, dtype=float), t, side="right")) if ts else 0
        return self.records[max(0, k - before):k + after]


def trigger_level(spec: str) -> int | None:
    """The safety level a trigger is ('kill', 'safety>=RED'), as an int; None for a trigger that is none."""
    from agent.safety import SafetyLevel

    s = spec.strip()
    if s == "kill":
        return int(SafetyLevel.KILL)
    if s.startswith("safety>="):
        return int(SafetyLevel[s[len("safety>="):].upper()])
    return None


TRIGGER_HELP = ("'start', 't=SECONDS', 'kill', 'safety>=LEVEL' (YELLOW, ORANGE, RED, KILL), 'fault:KIND' or "
                "'fault_end:KIND' (the first chaos event of that kind), 'disconnect', 'reconnect'")
