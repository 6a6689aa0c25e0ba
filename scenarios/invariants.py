"""The library of named invariants a scenario may ask for, each with its parameters.

Each is a pydantic model (the scenario file's ``invariants:`` entries, discriminated by ``name``)
with ``check(log) -> Violation | None``: the first moment it breaks, or None. Checks read the
venue's truth where they can (sampled positions, resting orders, quota), and the agent's commands
as they left it. Triggers are named in ``scenarios.runlog.TRIGGER_HELP``.
"""
from __future__ import annotations

import math
from typing import Annotated, Literal, NamedTuple, Union

import numpy as np
from pydantic import ConfigDict, Field, field_validator

from common.files import FileModel
from agent.gateway.events import FOR_SNAPSHOT, CancelAll, CancelOrder, ModifyOrder, PlaceOrder, Side
from scenarios.runlog import TRIGGER_HELP, RunLog, SentCommand, VenueFill, trigger_level
from twin.instruments import price_is_valid, size_is_valid

_LEVELS = ("GREEN", "YELLOW", "ORANGE", "RED", "KILL")
_EXPOSURE = ("SHADOW", "MICRO_LIVE", "RAMPING", "CAUTIOUS", "FULL", "OPTIMIZED")
EPS = 1e-9
# Bounds of the numbers a scenario file gives (schema.py takes them too): a typo breaks them, no real scenario does.
MAX_RUN_S = 86_400.0  # the longest run (a scenario's duration_s), s: no window of a run need be longer
MIN_WINDOW_S = 1e-3  # the shortest window that must be positive, s: the venue's clock counts whole milliseconds
MIN_SHARE = 1e-6  # the least share that must be positive (a drawdown of a millionth of the equity)


class Violation(NamedTuple):
    invariant: str
    t: float  # seconds after the agent started
    message: str


class _Invariant(FileModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("trigger", "after", check_fields=False)
    @classmethod
    def _valid_trigger(cls, v: str) -> str:
        return validate_trigger(v)

    def _trigger(self, log: RunLog, spec: str) -> tuple[float | None, Violation | None]:
        t = log.trigger_time(spec)
        if t is None:
            return None, Violation(self.name, log.duration_s, f"its trigger {spec!r} never happened: the scenario "
                                                              f"did not exercise what it tests")
        return t, None

    def check(self, log: RunLog) -> Violation | None:  # pragma: no cover - each subclass defines it
        raise NotImplementedError


def _trigger_field(default: str) -> str:
    return Field(default, description=f"When it starts to apply: {TRIGGER_HELP}.")


def validate_trigger(v: str) -> str:
    """Syntax of a trigger, checked when the file is read (whether it happens is checked after the run)."""
    s = v.strip()
    if s in ("start", "kill", "disconnect", "reconnect"):
        return s
    if s.startswith("t="):
        try:
            float(s[2:])
        except ValueError:
            raise ValueError(f"trigger {v!r}: 't=' needs seconds") from None
        return s
    if s.startswith("safety>="):
        if s[len("safety>="):].upper() not in _LEVELS:
            raise ValueError(f"trigger {v!r}: a safety level is one of {_LEVELS}")
        return s
    if s.startswith(("fault:", "fault_end:")) and s.split(":", 1)[1]:
        return s
    raise ValueError(f"unknown trigger {v!r}; use {TRIGGER_HELP}")


def _orders_sent(log: RunLog, t_from: float = -np.inf, t_to: float = np.inf):
    for c in log.commands:
        if t_from - EPS <= c.t < t_to and isinstance(c.cmd, (PlaceOrder, ModifyOrder)):
            yield c


def _increases(side: Side, position: float) -> bool:
    """A fill on ``side`` would grow |position| (anything does when flat)."""
    return position == 0.0 or (position > 0) == (side is Side.BUY)


# ---------------------------------------------------------------------------------------------- positions


class WorstCasePositionWithinLimit(_Invariant):
    """The venue's position plus every same-side order of ours resting there never exceeds the limit."""

    name: Literal["worst_case_position_within_limit"]
    limit: float | None = Field(None, ge=1e-8, le=1e12, description="Coin units (default: the agent's "
                                                                    "risk.max_position; within its range).")
    after: str = _trigger_field("start")
    grace_s: float = Field(0.0, ge=0, le=MAX_RUN_S, description="Not checked for this long after the trigger, s.")

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.after)
        if v:
            return v
        limit = self.limit or log.limit
        s = log.samples
        wc = np.maximum(np.abs(s["pos"] + s["bid_sz"]), np.abs(s["pos"] - s["ask_sz"]))
        bad = np.nonzero((wc > limit + EPS) & (s["t"] >= t0 + self.grace_s))[0]
        if len(bad):
            i = bad[0]
            return Violation(self.name, float(s["t"][i]),
                             f"worst-case position {wc[i]:.6g} > limit {limit:.6g} (position {s['pos'][i]:.6g}, "
                             f"bids resting {s['bid_sz'][i]:.6g}, asks resting {s['ask_sz'][i]:.6g}); "
                             f"max over the run {wc.max():.6g} = {wc.max() / limit:.2f}x the limit")
        return None


class PositionNeverGrowsAfter(_Invariant):
    """|position| at the venue never exceeds what it was at the trigger (+ fills landing in grace_s), and the
    position never crosses to the other side of the one held then, unless a race made it.

    A flip is judged by the venue's fills that made it, as reduce_only_never_increases judges one in its mode
    (``_flip_not_excused``): orders placed before the trigger whose cancels had left by the agent's first command
    after it (and within ``race_s`` before they filled, or were lost in transport as the log shows, and were not
    heard refused) may fill before the cancels land, and nothing the agent did after the trigger made that; a fill of
    an order sent after it, or of one from before it left resting or pulled late, is the agent's. The side a flip so
    excused left the position on is held to the same account: growth there is judged by the fills that made it. The
    position held at the trigger is the last sampled at or before it (a sample at its instant was taken before it),
    moved by the venue's fills made after that sample and by the trigger: those fills are none of this check's. Flat
    there, its side is the last non-zero position held before (an exit that filled just before the trigger left no
    side, and a stale order filling past it in the grace, or before the sample after a trigger between two, set the
    reference and went unjudged; growth from a flat reference itself is the first check's).

    |position| is judged by the venue's fills (``_grew``), the only thing that moves a position at the venue (a
    liquidation is one), from that position held at the trigger (``_position_at``). The reference was once the first
    sample at or after the grace's end, which a fill between the trigger and that sample had already moved (samples are
    50 ms apart): growth there, on the side held, was never judged. ``grace_s`` excuses what it always did, fills of
    orders already on their way at the trigger (placed before it, or left by an earlier run) made within it, and nothing
    else: each raises the reference to the |position| it left, and a fill of an order the agent sent after the trigger
    is judged in the grace as after it. After the grace the reference is the position held at its end (so that growth
    back after an exit in the grace is judged, as it was). A log without the fills (a hand-made one) is judged by its
    samples: from the last at or before the trigger with no grace, from the first at or after the grace's end with one
    (a fill in the grace may have made it, and the samples cannot say whose it was)."""

    name: Literal["position_never_grows_after"]
    trigger: str = _trigger_field("kill")
    grace_s: float = Field(0.0, ge=0, le=MAX_RUN_S, description="Fills of orders already on their way in this "
                                                                "window after the trigger set the reference, s.")
    race_s: float = Field(2.0, ge=0, le=MAX_RUN_S, description=(
                          "For a flip past the position held at the trigger: how long after its cancel left a fill "
                          "of an order from before the trigger still raced it, s (latency spikes included)."))

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.trigger)
        if v:
            return v
        s = log.samples
        if t0 + self.grace_s > s["t"][-1]:  # (the reference was the last sample, compared with itself)
            return Violation(self.name, log.duration_s, f"the run ended within grace_s {self.grace_s:g} s of "
                                                        f"{self.trigger} at t={t0:.2f}: nothing was checked")
        v = self._grew(log, t0) if log.fills else self._grew_sampled(log, t0)
        return v or self._flipped(log, t0)

    def _grew(self, log: RunLog, t0: float) -> Violation | None:
        """The first venue fill after the trigger that left |position| past the reference: the position held at the
        trigger, raised in the grace by each fill of an order on its way then (``_on_its_way``) to what it left;
        after the grace, the position held at its end. (A fill's time is the ms it was made in: one in the trigger's
        ms, or the grace end's, is read as made by then, the benefit of that doubt the agent's; but a fill in the
        trigger's ms of an order sent after it, at its instant and level or later, was made after it, beyond doubt,
        and so was each the venue made after that one: judged from the position before it, as in the grace, and with no
        grace as a fill after it is, one of an order on its way then included.)"""
        t1 = t0 + self.grace_s
        lvl = trigger_level(self.trigger) or 0  # (commands at the trigger's instant below its level came before it)
        placed = _placed(log)
        fills = log.fills
        first = next((i for i, f in enumerate(fills) if f.t > t0 + EPS), len(fills))
        # (folded into the position held at the trigger, such a fill set the reference itself, and went unjudged: an
        # order sent with the trigger's cycle fills in its ms when the order entry takes less than a ms)
        mine = None
        i = first - 1
        while i >= 0 and fills[i].t > t0 - _VENUE_MS + EPS:  # (the fills in the trigger's ms, the venue's last first)
            if not _on_its_way(placed.get(fills[i].cloid), t0, lvl):
                mine = i
            i -= 1
        if mine is None:
            ref = abs(_position_at(log, t0))
        else:
            first = mine
            ref = abs(fills[mine].start_position)
        for f in fills[first:]:
            if f.t > t1 + EPS:
                break
            end = abs(_fill_end(f))
            sent = placed.get(f.cloid)
            if _on_its_way(sent, t0, lvl):
                if self.grace_s > 0:
                    ref = max(ref, end)  # what grace_s is for: it sets the reference
                elif end > ref + EPS:
                    # (no grace: one the venue made after the agent's own fill in the trigger's ms was made after the
                    # trigger, beyond doubt, as one a ms later is, and is judged as that one would be)
                    return Violation(self.name, f.t, f"|position| grew to {end:.6g} after {self.trigger} at "
                                                     f"t={t0:.2f} (it was {ref:.6g}): a fill of {f.cloid} at "
                                                     f"t={f.t:.3f}, after one in its ms of an order sent after it "
                                                     f"({fills[mine].cloid})")
            elif end > ref + EPS:
                return Violation(self.name, f.t, f"|position| grew to {end:.6g} after {self.trigger} at t={t0:.2f} "
                                                 f"(it was {ref:.6g}), in its grace of {self.grace_s:g} s: a fill of "
                                                 f"{_fmt(sent.cmd)} ({f.cloid}) at t={f.t:.3f}, sent after it at "
                                                 f"t={sent.t:.3f}")
        ref = abs(_position_at(log, t1))
        after = [f for f in log.fills if f.t > t1 + EPS]
        for f in after:
            end = abs(_fill_end(f))
            if end > ref + EPS:
                most = max(abs(_fill_end(g)) for g in after)
                return Violation(self.name, f.t, f"|position| grew to {end:.6g} after {self.trigger} at t={t0:.2f} "
                                                 f"(it was {ref:.6g}); max {most:.6g}: a fill of {f.cloid} at "
                                                 f"t={f.t:.3f}")
        return None

    def _grew_sampled(self, log: RunLog, t0: float) -> Violation | None:
        """A log without the venue's fills: |position| sampled past the reference, the last sample at or before the
        trigger (with no grace) or the first at or after the grace's end (with one: the samples cannot tell the grace's
        fills from others)."""
        s = log.samples
        if self.grace_s > 0:
            i0 = log.sample_at(t0 + self.grace_s)
        else:
            i0 = max(int(np.searchsorted(s["t"], t0 + EPS, side="right")) - 1, 0)  # (a sample at its instant: before)
        ref = abs(s["pos"][i0])
        bad = np.nonzero(np.abs(s["pos"][i0:]) > ref + EPS)[0]
        if len(bad):
            i = i0 + bad[0]
            return Violation(self.name, float(s["t"][i]),
                             f"|position| grew to {abs(s['pos'][i]):.6g} after {self.trigger} at t={t0:.2f} "
                             f"(it was {ref:.6g}); max {np.abs(s['pos'][i0:]).max():.6g}")
        return None

    def _flipped(self, log: RunLog, t0: float) -> Violation | None:
        """A flip to a smaller opposite position is no growth of |position|, but it is a new position: against the
        side held at the trigger, however far in the grace it came (a flatten's orders summed past the position)."""
        ts, pos = log.samples["t"], log.samples["pos"]
        b = log.sample_at(t0)
        if b == len(ts) or ts[b] > t0 + EPS:
            b = max(b - 1, 0)  # the last sample before the trigger
        # the last non-zero position, and when it was sampled: flat at the trigger (an exit filled just before it), the
        # one before, whose other side a fill after the trigger crosses to as much as from the sample itself; moved by
        # the venue's fills made after it and before the trigger (a flip there, before the trigger, left the
        # position on the other side, which a stale order filling after it, before the next sample, took back across
        # unjudged)
        held, held_t = _held_by(log, *_last_held(ts, pos, b), t0)
        first, side = held, float(np.sign(held))
        if not side:
            return None  # (flat since the start: no side to cross; |position| past the reference is the check above)
        lvl = trigger_level(self.trigger) or 0  # (its commands "in the mode" for _flip_not_excused; 0: all after it)
        for i in range(b + 1, len(ts)):
            p, t = float(pos[i]), float(ts[i])
            if held * p < 0:
                why = _flip_not_excused(log, lvl, t0, held_t, t, held, t0, self.race_s)
                if why is not None:
                    return Violation(self.name, t, f"position flipped to {p:.6g} after {self.trigger} at t={t0:.2f} "
                                                   f"(it was {held:.6g}){why}")
            elif side * p < -EPS and abs(p) > abs(held) + EPS:
                why = _flip_not_excused(log, lvl, t0, held_t, t, side, t0, self.race_s)
                if why is not None:
                    return Violation(self.name, t, f"position grew from {held:.6g} to {p:.6g} after {self.trigger} "
                                                   f"at t={t0:.2f}, on the other side of the {first:.6g} "
                                                   f"held then{why}")
            if abs(p) > EPS:
                held, held_t = p, t
        return None


class InventoryReducedWithin(_Invariant):
    """|position| falls by ``fraction`` of what it was at the trigger within ``within_s``."""

    name: Literal["inventory_reduced_within"]
    after: str = _trigger_field("start")
    within_s: float = Field(..., ge=MIN_WINDOW_S, le=MAX_RUN_S, description="Bound, s.")
    fraction: float = Field(0.5, ge=MIN_SHARE, le=1, description="Share of the inventory that must be gone.")
    require_exercise: bool = Field(True, description="Fail when the run never put the agent where this checks it "
                                                     "(no inventory at the trigger): the invariant would hold vacuously.")

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.after)
        if v:
            return v
        s = log.samples
        i0 = min(log.sample_at(t0), len(s["t"]) - 1)
        ref = abs(s["pos"][i0])
        if self.require_exercise and ref <= EPS:
            return Violation(self.name, t0, f"no inventory at {self.after} (t={t0:.2f}): the scenario did not exercise "
                                            f"its reduction")
        target = (1.0 - self.fraction) * ref
        i1 = log.sample_at(t0 + self.within_s)
        if np.any(np.abs(s["pos"][i0:i1 + 1]) <= target + EPS):
            return None
        return Violation(self.name, min(t0 + self.within_s, log.duration_s),
                         f"|position| still above {target:.6g} ({self.fraction:.0%} below {ref:.6g}) "
                         f"{self.within_s:g} s after {self.after}; it is {abs(s['pos'][min(i1, len(s['t']) - 1)]):.6g}")


class ReduceOnlyNeverIncreases(_Invariant):
    """In reduce-only mode (safety at ``from_level`` or above), every order sent is flagged reduce-only and
    on the side that shrinks the venue's position; the position never changes sign while in the mode.

    A reduce-only order is judged against what the agent could know when it sent it, as in
    ``no_risk_increasing_order_after``: one on the reducing side of the agent's position is excused when the venue
    held that position within ``race_s`` before the send, or when the venue's position at the send differed from it
    only by fills that had already happened and whose news reached the agent within ``race_s`` after the send (its
    position plus the fills it heard of next is the venue's). Those fills were orders placed before the mode and
    being cancelled at its start, filled before their cancels landed (feb12_emergency_paralysis seed 15: a short of
    0.00384, three bids of 0.00608 cancelled at Red and all filled in one trade, two fills heard at once; the exit
    bid sent on the remaining 0.00064 short met a venue long 0.00224, the third fill's news 13 ms from the agent).
    Such an order cannot grow the position: the venue refuses a reduce-only order on the side that grows it, and
    cancels a resting one when the position flips (the venue's rule, as the twin's ``Exchange`` models it); holding
    the exits back while a cancel is in flight on their side would delay every Red's exits by a round trip. An order
    sent on a position the agent never came to know through fills (a guess, or one a snapshot corrected) is still a
    violation; so is a plain order, which the venue would fill.

    The same race can flip the venue's position with no order the agent sent in the mode: the bids it is cancelling
    as the mode begins fill past a short before the cancels land. The flip is judged by the venue's fills that made
    it (``_flip_not_excused``): excused when each that left the position on the other side was of an order placed
    before the mode whose cancel had left by the agent's first command in the mode, within ``race_s`` before the fill
    (or was lost in transport: ``_flip_not_excused``); a fill of an order sent in the mode, or of one from before it
    left resting or pulled late, is a violation. A stretch of the mode flips from the position sampled just before it
    (the last non-zero one, when that sample is flat: long, flat at the boundary, short in the mode is a flip through
    a flat sample as one inside the mode is): a trade between that sample and the first in the mode
    (feb12_emergency_paralysis seed 15's came there) is judged so, but for the fills made before the mode began,
    which move the position it flips from (``_held_by``: one that flipped it there, taken back across in the mode
    before its first sample, left the sampled side where it was, and went unjudged).

    |position| never increases in the mode either: every venue fill made in it that grew |position| (from flat, on
    the side held, or across it past its size) is judged as a flip's fills are (``_fills_not_excused``): judged by
    the sign alone, a stale bid opening a long from flat in the mode, or growing one, went unjudged. A stretch of the
    mode runs from when it began (``_mode_began``) to when it ended (``_mode_ended``); a log without the fills (a
    hand-made one) fails any growth of the sampled |position| into the mode. The flips are asked first: a run that
    flipped is told so."""

    name: Literal["reduce_only_never_increases"]
    from_level: Literal["ORANGE", "RED", "KILL"] = Field("RED", description="Safety level that means reduce-only.")
    require_mode: bool = Field(True, description="Fail if the agent never reached the level.")
    race_s: float = Field(2.0, ge=0, le=MAX_RUN_S, description=(
                          "For reduce-only orders: how recently the venue must have held the agent's position, or how "
                          "soon after the send the fills making up the difference must have reached the agent, for the "
                          "order to be excused; for a flip: how long after its cancel left a fill of an order from "
                          "before the mode still raced it (unless the log shows that cancel lost in transport), s "
                          "(latency spikes included)."))

    def check(self, log: RunLog) -> Violation | None:
        lvl = _LEVELS.index(self.from_level)
        in_mode = log.samples["safety"] >= lvl
        if self.require_mode and not in_mode.any() and not any(c.safety_level >= lvl for c in log.commands):
            return Violation(self.name, log.duration_s, f"the agent never reached {self.from_level}: the scenario "
                                                        "did not exercise reduce-only mode")
        for c in _orders_sent(log):
            if c.safety_level < lvl:
                continue
            if not c.cmd.reduce_only:
                return Violation(self.name, c.t, f"{_fmt(c.cmd)} sent at {_LEVELS[c.safety_level]} without the "
                                                 f"reduce-only flag (venue position {c.venue_position:.6g})")
            if c.venue_position != 0.0 and _increases(c.cmd.side, c.venue_position) \
                    and not (_news_in_flight(log, c, self.race_s) or _fills_in_flight(log, c, self.race_s)):
                return Violation(self.name, c.t, f"{_fmt(c.cmd)} sent at {_LEVELS[c.safety_level]} on the side that "
                                                 f"grows the venue position {c.venue_position:.6g}")
        s = log.samples
        ts, pos = s["t"], s["pos"]
        held = 0.0  # the last non-zero position of this stretch of the mode: a flip through a flat sample is one too
        held_t = t_mode = t_enter = -np.inf  # when it was sampled; the sample before the stretch; when the mode began
        prev = -2
        stretches: list[list] = []  # [first sample, last sample, t_mode, t_enter] of each stretch of the mode
        for b in np.nonzero(in_mode)[0]:
            if b != prev + 1:
                # a new stretch of the mode, which flips from the position just before it: a trade between that sample
                # and the first in the mode is the mode's once the mode had begun (feb12_emergency_paralysis seed 15's
                # came there, and went unjudged)
                held, held_t, t_mode, t_enter = 0.0, -np.inf, -np.inf, -np.inf
                if b:
                    t_mode = float(ts[b - 1])
                    # (flat there, the last non-zero one before: a flip through a flat sample at the boundary is one)
                    t_enter = _mode_began(log, lvl, t_mode, float(ts[b]))
                    # (and moved by the fills between that sample and the mode's start: a flip there, before the mode,
                    # taken back across in it before its first sample, went unjudged)
                    held, held_t = _held_by(log, *_last_held(ts, pos, b - 1), t_enter)
                stretches.append([b, b, t_mode, t_enter])
            stretches[-1][1] = prev = b
            if held * pos[b] < 0:
                why = _flip_not_excused(log, lvl, t_mode, held_t, float(ts[b]), held, t_enter, self.race_s)
                if why is not None:
                    return Violation(self.name, float(ts[b]), f"position flipped from {held:.6g} to {pos[b]:.6g} "
                                                              f"in reduce-only mode{why}")
            if abs(pos[b]) > EPS:
                held, held_t = pos[b], float(ts[b])
        return self._grew(log, lvl, stretches)

    def _grew(self, log: RunLog, lvl: int, stretches: list[list]) -> Violation | None:
        """Every venue fill that grew |position| in a stretch of the mode (from flat, on the side held, or across it
        past the size it had), judged as a flip's fills are (``_fills_not_excused``); and, in a log without the fills
        that made it (a hand-made one), any growth between two samples that ends in the mode."""
        ts, pos = log.samples["t"], log.samples["pos"]
        for b, e, t_mode, t_enter in stretches:
            t_leave = _mode_ended(log, lvl, float(ts[e]), float(ts[e + 1])) if e + 1 < len(ts) else np.inf
            growing = [f for f in log.fills if f.t + _VENUE_MS > t_enter + EPS and f.t <= t_leave + EPS
                       and _fill_grows(f)]  # (a fill's time is the ms it was made in)
            bad = _fills_not_excused(log, lvl, t_mode, growing, self.race_s)
            if bad is not None:
                f, why = bad
                return Violation(self.name, f.t, f"|position| grew from {f.start_position:.6g} to "
                                                 f"{_fill_end(f):.6g} in reduce-only mode{why}")
            for i in range(max(b, 1), e + 1):
                if abs(pos[i]) > abs(pos[i - 1]) + EPS and not any(
                        ts[i - 1] - _VENUE_MS < f.t <= ts[i] + _VENUE_MS and _fill_grows(f) for f in log.fills):
                    return Violation(self.name, float(ts[i]), f"|position| grew from {pos[i - 1]:.6g} to "
                                                              f"{pos[i]:.6g} in reduce-only mode, and no venue fill "
                                                              f"in the log made it")
        return None


def _position_at(log: RunLog, t: float) -> float:
    """The venue's position held at ``t``: the last sample at or before it (the start's before the first), moved by
    each venue fill made after that sample and by ``t`` (one in the sample's ms may have come before it: its end is
    the sample's position then, as nothing else moves it; one in ``t``'s ms is read as made by then)."""
    ts = log.samples["t"]
    b = int(np.searchsorted(ts, t + EPS, side="right")) - 1
    p, t_b = (float(log.samples["pos"][b]), float(ts[b])) if b >= 0 else (log.start_position, -np.inf)
    for f in log.fills:  # (in the order the venue made them)
        if f.t > t + EPS:
            break
        if f.t > t_b - _VENUE_MS:
            p = _fill_end(f)
    return p


def _placed(log: RunLog) -> dict[str, SentCommand]:
    """Each order's name → the command that placed it (a place, or the modify whose new order it is)."""
    out: dict[str, SentCommand] = {}
    for c in log.commands:
        if isinstance(c.cmd, PlaceOrder):
            out.setdefault(c.cmd.cloid, c)
        elif isinstance(c.cmd, ModifyOrder):
            out.setdefault(c.cmd.new_cloid, c)
    return out


def _on_its_way(sent: SentCommand | None, t0: float, lvl: int) -> bool:
    """An order already on its way at a trigger at ``t0`` (of safety level ``lvl``, 0 for one that is none): placed
    before it, or in its instant at a level below it (that cycle's commands left before the transition), or not by
    this run (an earlier one's, left resting)."""
    return sent is None or sent.t < t0 - EPS or (sent.t <= t0 + EPS and sent.safety_level < lvl)


def _fill_end(f: VenueFill) -> float:
    return f.start_position + (f.sz if f.is_buy else -f.sz)


def _fill_grows(f: VenueFill) -> bool:
    """The fill left |position| larger than it found it: from flat, on the side held, or across it past its size."""
    return abs(_fill_end(f)) > abs(f.start_position) + EPS


def _mode_ended(log: RunLog, lvl: int, t_from: float, t_to: float) -> float:
    """When the agent's safety first fell below ``lvl`` between the samples at ``t_from`` (at it or above) and ``t_to``
    (below it), from its transitions; ``t_from`` when they do not say (a fill after the last sample in the mode is
    then none of the mode's: the orders sent after it are not held to the mode's rules)."""
    ended = [tr["t"] for tr in log.safety if tr["from"] >= lvl > tr["to"] and t_from - EPS <= tr["t"] <= t_to + EPS]
    return min(ended, default=t_from)


def _last_held(ts: np.ndarray, pos: np.ndarray, b: int) -> tuple[float, float]:
    """The last non-zero position sampled at or before sample ``b``, and when; (0.0, -inf) when there is none. A flip
    through flat samples is a flip wherever the mode's boundary falls among them: long, flat at the last sample before
    the mode (an exit filled), then short in it (a stale ask filled) is the Feb 10 mechanism as much as one flat sample
    inside the mode is. (Fills before the mode began are none of its: ``_flip_not_excused`` leaves them out.)"""
    nz = np.flatnonzero(np.abs(pos[:b + 1]) > EPS)
    if not len(nz):
        return 0.0, -np.inf
    i = int(nz[-1])
    return float(pos[i]), float(ts[i])


_VENUE_MS = 1e-3  # a venue fill's time is to the ms (its floor): the slack in comparing it with samples and sends


def _held_by(log: RunLog, held: float, held_t: float, t: float) -> tuple[float, float]:
    """The last non-zero position held before ``t``, and when: ``held`` as the last non-zero sample (at ``held_t``;
    -inf: none) had it, moved by the venue's fills made after that sample and before ``t``. From that sample, not from
    the last one before ``t``: a flat sample between them hides a flip made before it (long, a fill to short, one
    to flat, then the sample). A fill in that sample's ms may have come before it (its end is then the sample's own
    position); one in ``t``'s ms may have come after ``t``, and is not held before it (``_flip_not_excused`` judges
    it as made in the mode, as ``ReduceOnlyNeverIncreases._grew`` does)."""
    for f in log.fills:  # (in the order the venue made them)
        if f.t + _VENUE_MS > t + EPS:
            break
        if f.t > held_t - _VENUE_MS and abs(_fill_end(f)) > EPS:
            held, held_t = _fill_end(f), f.t
    return held, held_t


def _mode_began(log: RunLog, lvl: int, t_from: float, t_to: float) -> float:
    """When the agent's safety last rose to ``lvl`` or above between the samples at ``t_from`` (below it) and ``t_to``
    (at it), from its transitions; ``t_from`` when they do not say (a log without them: all of it judged)."""
    began = [tr["t"] for tr in log.safety if tr["to"] >= lvl > tr["from"] and t_from - EPS <= tr["t"] <= t_to + EPS]
    return max(began, default=t_from)


def _flip_not_excused(log: RunLog, lvl: int, t_mode: float, t_from: float, t_to: float, held: float,
                      t_enter: float, race_s: float) -> str | None:
    """Why the venue's position crossing from ``held`` (sampled at ``t_from``) to the other side by ``t_to``, in a
    stretch of reduce-only mode that began after the sample at ``t_mode`` (a command at that time and in the mode
    came after it, in the same instant), is the agent's doing (a suffix for the message), or None
    when it is not: every venue fill in between that left the position on the other side was of an order placed
    before the mode (or before the agent started) whose cancel had already left the agent, at the latest with its
    first command in the mode, when the fill was made (and had not been heard refused by then: a cancel refused,
    for the quota say, pulled nothing, and the order rests until the agent sends another). Those fills beat
    cancels on their way (the race ``_fills_in_flight`` excuses the reduce-only exits sent on the position they
    changed): nothing the agent did in the mode made them, and it had pulled the orders as the mode began. A fill
    of an order sent in the mode is the agent's (a reduce-only one cannot cross at the venue: a log that says it did
    is judged against the agent), and so is one of an order from before the mode that it left resting, or pulled
    late. With no venue fill to explain the flip (a log without them), nothing excuses it. (The orders the agent
    sent in the mode are all reduce-only and on the reducing side, or excused as such, before this is asked:
    ``check`` fails any other first.)

    A fill made before the mode began (``t_enter``: ``held`` sampled before it, the flip sampled in it) is none of
    the mode's. A fill more than ``race_s`` after its cancel left raced nothing: the cancel had landed (or been
    refused, which is answered), unless the log shows it lost in transport (``_pull_lost``), which the agent is told
    nothing of: that fill is excused until the agent heard the order still resting (``_heard_resting``: a snapshot it
    asked for after the cancel left, which the core does at its ack timeout and every audit interval, heard once that
    timeout had passed) and race_s more went by without another pull of it (not race_s after the lost pull:
    ``_fills_not_excused`` says why), and never past ``_lost_pull_s`` after the lost pull, heard or not, or after the
    last snapshot request the agent sent or 429 it heard since (``_lost_pull_since``): its ack timeout, a tick, a
    snapshot's retry, the IP weight's minute and a tick, an audit interval and race_s (the run log's config; 108 s at
    the defaults; no bound where its quoting may hold the snapshots' IP gate shut).

    A CancelAll pulls every order placed before it, and is heard refused for one of them as a cancel of it is, or
    when its listing (openOrders) is refused: it then pulled none of the orders it had not cancelled by name (those
    it named, its ``known``, were cancelled at once, each refused only as a cancel of it is). A snapshot's openOrders
    refusal (RateLimited ``for_command`` FOR_SNAPSHOT) refuses no CancelAll; one that names no command (a log from
    before the gateways named it) is read as the CancelAll's, which excuses nothing by mistake."""
    lo, hi = t_from - _VENUE_MS, t_to + _VENUE_MS
    crossing = [f for f in log.fills if lo < f.t <= hi and f.is_buy == (held < 0)
                and held * (f.start_position + (f.sz if f.is_buy else -f.sz)) < -EPS]
    if not crossing:
        return ""
    crossing = [f for f in crossing if f.t + _VENUE_MS > t_enter + EPS]  # (its time is the ms it was made in)
    bad = _fills_not_excused(log, lvl, t_mode, crossing, race_s)
    return None if bad is None else bad[1]


def _fills_not_excused(log: RunLog, lvl: int, t_mode: float, fills: list[VenueFill],
                       race_s: float) -> tuple[VenueFill, str] | None:
    """The first of ``fills`` (venue fills made in a stretch of the mode at ``lvl`` or above that began after the
    sample at ``t_mode``) that is the agent's doing, with why (a suffix for the message); None when each was of an order
    from before the mode whose pull had left in time and was on its way, as ``_flip_not_excused`` tells. Shared by the
    flip checks and reduce_only_never_increases' judgement of every growth of |position| in the mode."""
    if not fills:
        return None
    sent_at = _placed(log)
    cancelled_at: dict[str, list[float]] = {}  # name → when each cancel (or modify) of it left
    # when each CancelAll left (one of them pulls every order placed before it), and the orders it cancelled by name
    # (``known``: those the gateway cancels at once; its listing, openOrders, covers only the rest)
    cancel_all_at: list[tuple[float, tuple[str, ...]]] = []
    first_in_mode = np.inf  # the agent's first command in this stretch of the mode
    for c in log.commands:
        cmd = c.cmd
        if c.safety_level >= lvl and c.t >= t_mode - EPS and first_in_mode == np.inf:
            first_in_mode = c.t
        if isinstance(cmd, (ModifyOrder, CancelOrder)):
            cancelled_at.setdefault(cmd.cloid, []).append(c.t)
        elif isinstance(cmd, CancelAll):
            cancel_all_at.append((c.t, cmd.known))
    refused: dict[str, list[float]] = {}  # name → when the agent heard a cancel or modify of it was refused
    listing_refused: list[float] = []  # when it heard a CancelAll's listing (openOrders) refused
    for t, ev in log.events:
        kind = type(ev).__name__
        if kind in ("CancelRejected", "ModifyRejected"):
            refused.setdefault(ev.cloid, []).append(t)
        elif kind == "RateLimited" and ev.request == "openOrders":
            if ev.for_command != FOR_SNAPSHOT:  # (a snapshot's listing pulls nothing)
                listing_refused.append(t)
        elif kind == "RateLimited" and ev.request != "order":  # (an "order" action's cloids are places)
            for name in ev.cloids:
                refused.setdefault(name, []).append(t)
    for f in fills:
        sent = sent_at.get(f.cloid)
        if sent is not None and sent.safety_level >= lvl and sent.t >= t_mode - EPS:
            return f, f": a fill of {_fmt(sent.cmd)} ({f.cloid}), sent in the mode at t={sent.t:.3f}"
        placed = sent.t if sent is not None else -np.inf  # (not sent in this run: an earlier one left it resting)
        # (when it left, whether it pulled the order through a CancelAll's listing: one that named it cancelled it by
        # name, as a CancelOrder does, and a refusal of its listing refused none of that)
        pulls = sorted([(t, False) for t in cancelled_at.get(f.cloid, [])]
                       + [(t, f.cloid not in known) for t, known in cancel_all_at if t >= placed - EPS])
        head = f": a fill of {f.cloid} at t={f.t:.3f}, an order from before the mode whose cancel "
        before = [p for p in pulls if p[0] <= f.t + _VENUE_MS]
        if not before:
            return f, head + "had not left by then"
        if pulls[0][0] > first_in_mode + EPS:
            return f, head + f"had not left by the agent's first command in the mode (t={first_in_mode:.3f})"
        # the last cancel before the fill was on its way unless the agent had already heard it refused (a refusal
        # heard after the fill is the race's own: "already filled"); of several that left in that instant, each
        last = before[-1][0]
        named = any(last < t < f.t for t in refused.get(f.cloid, ()))
        listing = any(last < t < f.t for t in listing_refused)
        if named or (listing and all(is_all for t, is_all in before if t >= last - EPS)):
            return f, head + f"sent at t={last:.3f} had been refused before it filled"
        if f.t - last > race_s + _VENUE_MS:
            # (a pull through a CancelAll's listing, an info request charged nothing, is never read as lost)
            if any(is_all for t, is_all in before if t >= last - EPS) or not _pull_lost(log, f.cloid, last):
                return f, head + f"sent at t={last:.3f} had left {f.t - last:.3f} s before it filled (race_s " \
                                 f"{race_s:g} s): no race"
            # Lost, the excuse lasts until the agent heard the order still resting (and at most _lost_pull_s, below),
            # not race_s from the lost pull: race_s bounds a request's way to the venue, and before the agent could know
            # this one was lost it needs the answer that never came, a round trip later (two latencies, each with its
            # spikes). The gateways give no event for a request whose transport failed (a reset, a timeout: at the venue
            # its outcome is unknown, and the action may land until its expiresAfter, 5 s after it left: the agent's
            # risk.ack_timeout_s), so the core learns it at that ack timeout, asks for a snapshot, and pulls again what
            # it lists. Ended at race_s, a pull lost would be the agent's fault before its answer was even due, which
            # only re-sending every pull still unanswered within race_s would meet: no rule of the agent's, nor one the
            # venue asks for. Where the core does re-send unasked (stopped after a Kill, or blind: _pull_again every
            # risk.pull_retry_s, 2 s), each re-send is a pull of its own, bounded by race_s as any is.
            heard = _heard_resting(log, f.cloid, last, f.t - race_s - _VENUE_MS)
            if heard is not None:
                return f, head + f"sent at t={last:.3f} was lost in transport, and the agent heard the order " \
                                 f"still resting at t={heard:.3f} (a snapshot), {f.t - heard:.3f} s before it filled " \
                                 f"(race_s {race_s:g} s)"
            # Nor does it last past _lost_pull_s after the lost pull, heard or not (no snapshot listing the order:
            # each lost too, or never asked for), or after the last of the agent's snapshot requests and the 429s it
            # heard since (_lost_pull_since): the venue losing or refusing those is not the agent's doing. An agent
            # that never resolves a lost pull was excused for good before this bound.
            since, what = _lost_pull_since(log, last, f.t)
            bound = _lost_pull_s(log, race_s)
            if f.t - since > bound + _VENUE_MS:
                return f, head + f"sent at t={last:.3f} was lost in transport, and the agent had not pulled the " \
                                 f"order again {f.t - since:.3f} s after {what} at t={since:.3f}, when it filled " \
                                 f"(past {bound:g} s: ack_timeout_s {log.ack_timeout_s:g} + cycle_s {log.cycle_s:g} " \
                                 f"+ a snapshot's retry {log.snapshot_retry_s:g} + the IP weight's window " \
                                 f"{_IP_WINDOW_S:g} + cycle_s {log.cycle_s:g} + audit_interval_s " \
                                 f"{log.audit_interval_s:g} + race_s {race_s:g} s)"
    return None


_IP_WINDOW_S = 60.0  # the venue's IP weight is counted over a rolling minute, and so is the core's gate on it


def _lost_pull_s(log: RunLog, race_s: float) -> float:
    """How long after a pull lost in transport (or after the agent's last snapshot request, or a 429 it heard, since:
    ``_lost_pull_since``) a fill of the order is still excused, s, at the most: the longest the shipped core may take,
    from there, to pull the order again on a snapshot that lists it (or to hear one that does not), with the venue
    answering what it sends (the log's config; 108 s at the defaults; unbounded where the config lets quoting hold the
    snapshots' IP gate shut). A new pull of the order resets the clock (it is then the last before the fill)."""
    # From the lost pull at t (AgentCore, agent/core.py and agent/execution/orders.py):
    #   ack_timeout_s + cycle_s  the gateways report no failed transport: the tracker finds the pull stale on the
    #                            first tick more than ack_timeout_s after it (check_timeouts), and from that tick on
    #                            the core asks for a snapshot every tick until one comes (needs_snapshot, set once
    #                            the stale order is past settle_s, 1 s) -- but each ask may be held:
    #   + snapshot_retry_s       by a request already out (asked before t: waited for until overdue, 2 x
    #                            ack_timeout_s after it left), or, from a request of its own that the venue lost
    #                            or refused, until it is overdue or its refusal's backoff ends (doubling up to
    #                            agent.core.snapshot_backoff_cap): the runner records the longer of the two;
    #   + _IP_WINDOW_S + cycle_s by the IP weight's gate (budget.ip_allows_snapshot: the minute's weight past the
    #                            snapshots' share, ip_snapshot_frac): every request noted by then has left the window
    #                            a minute later, and what the core sends meanwhile stays below the share (quoting
    #                            stops at ip_quote_frac, whose weight leaves a snapshot room: below, the condition;
    #                            the quota polls and background weight below it by the config's own check, cancels
    #                            each end an order), unless refused requests it counts as
    #                            charged and sends again keep the minute full: a storm of 429s, each heard, which
    #                            restarts the clock (_lost_pull_since); then the next tick asks;
    #   + audit_interval_s       the slack for the rest: the answer's way back (two latencies and their spikes) and the
    #                            tick that pulls the order it lists; the core's own promise to look at the account at
    #                            least that often, so an agent a whole audit interval past that is not resolving it;
    #   + race_s                 for that pull to reach the venue, as after any pull.
    # Defaults: 5 + 0.5 + 10 + 60 + 0.5 + 30 + 2 = 108 s (47.5 s without the IP weight's minute blamed a correct core
    # whose weight was spent; a run of snapshot requests each lost, 10 s apart, took it past 47.5 s too). From the
    # agent's last snapshot request since, or the last 429 it heard, the same sum holds: the next ask comes once that
    # one is overdue or its backoff ends, and is held by the gate at most as long.
    # The IP weight's minute holds only where the snapshots' gate is open at every weight quoting goes on at
    # (agent.execution.budget.quoting_leaves_snapshot_room, which the run log records from the agent's config). Where
    # it is not (budget.ip_quote_frac 1.0, as chaos_refused_place_snapshot_storm sets: quoting may take the minute's
    # weight to the limit, past the snapshots' share), a correct core's quoting alone, with no 429 to restart the
    # clock, can hold every snapshot back as long as it quotes: no bound is the core's to meet, and the excuse lasts
    # until the agent heard the order still resting (_heard_resting), as before this bound.
    if not log.quoting_leaves_snapshot_room:
        return math.inf
    return log.ack_timeout_s + log.cycle_s + log.snapshot_retry_s + _IP_WINDOW_S + log.cycle_s \
        + log.audit_interval_s + race_s


def _lost_pull_since(log: RunLog, t_pull: float, t_fill: float) -> tuple[float, str]:
    """When the clock of a fill at ``t_fill``, excused by the pull at ``t_pull`` lost in transport, starts
    (``_lost_pull_s`` bounds it), and what started it: the last, before the fill, of that pull, the snapshot requests
    the agent sent since (each lost, refused, or still on its way: the agent doing its part, the venue not
    answering), and the HTTP 429s it heard since (a storm: refused requests the core counts as charged, and sends
    again, can hold the IP weight's gate past its minute). An agent that asks for nothing and is refused nothing has
    the lost pull's bound."""
    since, what = t_pull, "it"
    for c in log.commands:
        if c.t > t_fill + EPS:
            break
        if c.t > since and type(c.cmd).__name__ == "RequestAccountSnapshot":
            since, what = c.t, "a snapshot request"
    for t, ev in log.events:
        if t > t_fill + EPS:
            break
        if t > since and type(ev).__name__ == "RateLimited" and ev.kind == "ip":
            since, what = t, "a 429"
    return since, what


# the twin's actions that pull an order (QuotaCharge.action; " (expired)" appended to one that came too late)
_PULL_ACTIONS = ("CancelAction", "CancelByCloidAction", "ModifyAction")
_ANSWERS = ("CancelAcknowledged", "CancelRejected", "ModifyAcknowledged", "ModifyRejected")  # each names its cloid


def _pull_lost(log: RunLog, name: str, t_sent: float) -> bool:
    """Whether the log shows the pull (cancel, modify) of ``name`` sent at ``t_sent`` lost in transport, never at the
    venue: no action pulling orders that the agent sent in that instant was charged at the venue (every one that
    arrived is, but one refused for the quota or the IP limit, or too large, and those are answered), and the agent
    never heard an answer naming the order's pull (acknowledged, rejected, rate-limited). A log without the venue's
    charges (a hand-made one) shows nothing lost. Of several pull actions sent in one instant, one charged leaves
    which was lost unknown: none is read as lost. (The venue's open-orders listing of a CancelAll is an info request,
    charged nothing: whether it was lost the log cannot tell, and a pull through it is never read as lost.)"""
    if not log.quota_charges:
        return False
    for q in log.quota_charges:
        if abs(q.sent_t - t_sent) <= EPS and q.action.split(" ", 1)[0] in _PULL_ACTIONS:
            return False
    for t, ev in log.events:
        if t < t_sent - EPS:
            continue
        kind = type(ev).__name__
        if (kind in _ANSWERS and ev.cloid == name) or (kind == "RateLimited" and name in ev.cloids):
            return False
    return True


def _heard_resting(log: RunLog, name: str, t_sent: float, t_by: float) -> float | None:
    """When the agent first heard, by ``t_by``, that ``name`` still rested after its pull sent at ``t_sent``, and could
    tell from it that the pull was lost: an account snapshot asked for after the pull left (one asked for before may
    show the order as it was before the pull landed) that lists it, heard after the first tick past the pull's ack
    timeout (``ack_timeout_s + cycle_s`` after it); None if it had not. (Before then a listing cannot tell a lost pull
    from a slow one, which may land until its expiresAfter, ack_timeout_s after it left; the core keeps the order
    pending its cancel until the tracker finds it stale (check_timeouts), and pulls it again only on a listing heard
    after that. Counted from a snapshot asked 0.2 s after the pull, the excuse ended race_s after its answer, and a
    correct core, still rightly waiting for its ack timeout, was blamed for the fill.)"""
    stale = t_sent + log.ack_timeout_s + log.cycle_s  # (the tick then may read the listing before it finds it stale)
    for t, ev in log.events:
        if t > t_by + EPS:
            break
        if t <= stale + EPS or type(ev).__name__ != "AccountSnapshot":
            continue
        asked = ev.requested_ts - log.t0 if ev.requested_ts >= 0 else t  # (not told: as if asked as it came)
        if asked >= t_sent - EPS and any(o.cloid == name for o in ev.open_orders):
            return t
    return None


# ---------------------------------------------------------------------------------------------- orders


class NoRiskIncreasingOrderAfter(_Invariant):
    """From the trigger on, no order that could grow |position|: every order is on the reducing side of
    the venue's position and, unless flagged reduce-only, no larger than it.

    A reduce-only order sent on a position the agent was right about a moment ago is excused: it is on the
    reducing side of the agent's position, and the venue held exactly that position at some sample within
    ``race_s`` before the order left (``_news_in_flight``), or the venue's position at the send was the agent's
    plus fills already made whose news reached it within ``race_s`` after (``_fills_in_flight``: one trade filling
    several of our orders takes the venue through the agent's position between two samples, as in
    reduce_only_never_increases). The position changed under it (a liquidation, a fill) and the news was
    still on the wire; the venue refuses a reduce-only order that would grow the position. One sent on a
    position the venue did not hold (the agent guessed), or that no fills on their way make up, is still a
    violation."""

    name: Literal["no_risk_increasing_order_after"]
    trigger: str = _trigger_field("kill")
    race_s: float = Field(2.0, ge=0, le=MAX_RUN_S, description=(
                          "For reduce-only orders: how recently the venue must have held the agent's position, or how "
                          "soon after the send the fills making up the difference must have reached the agent, for the "
                          "order to be excused, s (latency spikes included)."))

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.trigger)
        if v:
            return v
        together: dict[float, float] = {}  # send time → size of the plain (not reduce-only) orders sent then
        for c in _orders_sent(log, t0):
            pos = c.venue_position
            if c.cmd.reduce_only:
                bad = _increases(c.cmd.side, pos) and not (_news_in_flight(log, c, self.race_s)
                                                           or _fills_in_flight(log, c, self.race_s))
            else:
                # each no larger than the position, and those sent together neither: two plain IOCs of 0.9x the
                # position each, sent at once, flipped a Kill's long to a short and each passed alone
                together[c.t] = together.get(c.t, 0.0) + c.cmd.sz
                bad = _increases(c.cmd.side, pos) or together[c.t] > abs(pos) + EPS
            if bad:
                return Violation(self.name, c.t, f"{_fmt(c.cmd)} sent {c.t - t0:.2f} s after {self.trigger} with the "
                                                 f"venue position at {pos:.6g}"
                                                 + (f" ({together[c.t]:.6g} in plain orders sent at once)"
                                                    if not c.cmd.reduce_only and together[c.t] > c.cmd.sz else ""))
        return None


def _news_in_flight(log: RunLog, c: SentCommand, race_s: float) -> bool:
    """``c`` is on the reducing side of the agent's position, which the venue held at some sample within
    ``race_s`` before it left: the position changed under it and the news was still on the wire."""
    belief = c.agent_position
    if _increases(c.cmd.side, belief):
        return False  # wrong even by the agent's own account
    s = log.samples
    ts = s["t"]
    window = (ts >= c.t - race_s - EPS) & (ts <= c.t + EPS)
    return bool(np.any(np.abs(s["pos"][window] - belief) <= 0.5 * log.lot))


def _fills_in_flight(log: RunLog, c: SentCommand, race_s: float) -> bool:
    """``c`` is on the reducing side of the agent's position, and the fills the agent heard of within ``race_s``
    after it left, added to that position in the order they came, reach the venue's position at the send: the
    difference was fills already made, their news on the wire (a position the venue passed through between two
    samples, as several of our orders filled by one trade, is not caught by ``_news_in_flight``). A snapshot that
    corrected a wrong belief is no fill: that order is not excused."""
    belief = c.agent_position
    if _increases(c.cmd.side, belief):
        return False
    tol = 0.5 * log.lot
    pos = belief
    for t, ev in log.events:
        if t <= c.t + EPS or type(ev).__name__ != "FillReceived":
            continue
        if t > c.t + race_s + EPS:
            break
        pos += ev.sz if ev.side is Side.BUY else -ev.sz
        if abs(pos - c.venue_position) <= tol:
            return True
    return False


class OrdersOnTheVenueGrid(_Invariant):
    """Every order sent has a size and a price the venue accepts as numbers (szDecimals; 5 significant
    figures and 6 − szDecimals decimals): the agent controls both entirely, so an "invalid size" or "invalid
    price" refusal is always its own bug (a size summed from fills keeps their float residue)."""

    name: Literal["orders_on_the_venue_grid"]

    def check(self, log: RunLog) -> Violation | None:
        szd = round(-math.log10(log.lot))
        for c in _orders_sent(log):
            if not size_is_valid(c.cmd.sz, szd):
                return Violation(self.name, c.t, f"{_fmt(c.cmd)}: size {c.cmd.sz!r} is off the venue's grid "
                                                 f"({szd} decimals)")
            if not price_is_valid(c.cmd.px, szd):
                return Violation(self.name, c.t, f"{_fmt(c.cmd)}: price {c.cmd.px!r} breaks the venue's price rule")
        return None


class NoLiquidation(_Invariant):
    """The venue never liquidates the account (from the trigger on): the limits, the safety ladder and a
    Kill's flatten get the position out first. A liquidation is the exit nobody chose, at the worst price."""

    name: Literal["no_liquidation"]
    after: str = _trigger_field("start")

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.after)
        if v:
            return v
        for t in log.liquidations:
            if t >= t0 - EPS:
                i = min(log.sample_at(t), len(log.t) - 1)
                pos = log.samples["pos"][i - 1] if i > 0 else log.start_position
                return Violation(self.name, t, f"the venue liquidated the account (position {pos:.6g} before)")
        return None


class AllOrdersCancelledWithin(_Invariant):
    """Within ``within_s`` of the trigger nothing of ours rests at the venue, and nothing does until ``until``."""

    name: Literal["all_orders_cancelled_within"]
    trigger: str = _trigger_field("kill")
    within_s: float = Field(..., ge=MIN_WINDOW_S, le=MAX_RUN_S, description="Bound, s.")
    until: str = Field("end", description=f"Until when none may rest: 'end', or a trigger ({TRIGGER_HELP}).")

    @field_validator("until")
    @classmethod
    def _valid_until(cls, v: str) -> str:
        return v if v == "end" else validate_trigger(v)

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.trigger)
        if v:
            return v
        t1 = log.duration_s + 1.0 if self.until == "end" else log.trigger_time(self.until)
        if t1 is None:
            t1 = log.duration_s + 1.0
        s = log.samples
        mask = (s["t"] >= t0 + self.within_s) & (s["t"] < t1)
        if not mask.any():  # the window ran past the run's end, or the until came first: nothing was checked
            return Violation(self.name, min(t0 + self.within_s, log.duration_s),
                             f"no sample from {self.within_s:g} s after {self.trigger} (t={t0:.2f}) "
                             f"{'to the end' if self.until == 'end' else 'to ' + self.until}: the run did not "
                             f"exercise it")
        bad = np.nonzero(mask & (s["n_orders"] > 0))[0]
        if len(bad):
            i = bad[0]
            rest = ", ".join(_fmt_resting(o) for o in log.orders[i][:5])
            return Violation(self.name, float(s["t"][i]),
                             f"{int(s['n_orders'][i])} order(s) still resting {s['t'][i] - t0:.2f} s after "
                             f"{self.trigger} (bound {self.within_s:g} s): {rest}")
        return None


class NoStaleQuoteOlderThan(_Invariant):
    """No order of ours rests with the market past it (a bid above the mid, an ask below it) by more than
    ``past_bps`` for longer than ``max_age_s``: such a quote is only there to be picked off."""

    name: Literal["no_stale_quote_older_than"]
    max_age_s: float = Field(..., ge=MIN_WINDOW_S, le=MAX_RUN_S, description="Longest a stale quote may rest, s.")
    past_bps: float = Field(..., ge=0.01, le=1e6, description="How far the mid has moved past the quote, bps (0.01 "
                                                              "to 1e6: a hundred times the price).")
    require_exercise: bool = Field(True, description="Fail when the run never put the agent where this checks it "
                                                     "(no order of ours ever rested): the invariant would hold vacuously.")

    def check(self, log: RunLog) -> Violation | None:
        since: dict[int, float] = {}
        t_arr, mid = log.samples["t"], log.samples["mid"]
        for i, orders in enumerate(log.orders):
            m = mid[i]
            if not m == m or m <= 0:
                continue
            t = float(t_arr[i])
            now = set()
            for o in orders:
                past = (o.px - m) / m * 1e4 if o.is_buy else (m - o.px) / m * 1e4
                if past > self.past_bps:
                    now.add(o.oid)
                    first = since.setdefault(o.oid, t)
                    if t - first > self.max_age_s:
                        return Violation(self.name, t, f"{_fmt_resting(o)} has had the mid {past:.1f} bps past it "
                                                       f"for {t - first:.2f} s (bound {self.max_age_s:g} s, "
                                                       f"{self.past_bps:g} bps)")
            for oid in list(since):
                if oid not in now:
                    del since[oid]
        if self.require_exercise and not any(log.orders):
            return Violation(self.name, log.duration_s, "no order of ours ever rested: the scenario did not exercise "
                                                        "stale quotes")
        return None


class ReconciledBeforeFirstQuote(_Invariant):
    """The first order after the start (and after every reconnect) goes out only after an account
    snapshot that arrived since then: the venue's state is known before anything is added to it."""

    name: Literal["reconciled_before_first_quote"]
    after_reconnects: bool = Field(True, description="Also after every reconnection.")

    def check(self, log: RunLog) -> Violation | None:
        epochs = [0.0] + (log.event_times("ConnectionRestored") if self.after_reconnects else [])
        snaps = log.event_times("AccountSnapshot")
        orders = [c for c in _orders_sent(log)]
        for k, te in enumerate(epochs):
            nxt = epochs[k + 1] if k + 1 < len(epochs) else np.inf
            first = next((c for c in orders if te <= c.t < nxt), None)
            if first is None:
                continue
            if not any(te <= s <= first.t for s in snaps):
                what = "the start" if k == 0 else f"the reconnect at t={te:.2f}"
                return Violation(self.name, first.t, f"{_fmt(first.cmd)} sent before any account snapshot since "
                                                     f"{what}")
        return None


# ---------------------------------------------------------------------------------------------- money and quota


class MaxDrawdownBelow(_Invariant):
    """The account's value (at the venue's marks) never falls ``fraction`` of the starting equity below its
    peak (or below the start) within the window."""

    name: Literal["max_drawdown_below"]
    fraction: float = Field(..., ge=MIN_SHARE, lt=1, description="Fraction of the starting equity.")
    after: str = _trigger_field("start")
    until_s: float | None = Field(None, ge=MIN_WINDOW_S, le=MAX_RUN_S, description="Only this long after the "
                                                                                   "trigger, s (None: to the end).")
    reference: Literal["peak", "start"] = Field("peak", description="Drawdown from the peak or from the start.")

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.after)
        if v:
            return v
        s = log.samples
        t1 = log.duration_s + 1.0 if self.until_s is None else t0 + self.until_s
        mask = (s["t"] >= t0) & (s["t"] <= t1)
        eq = s["equity"][mask]
        if not len(eq):
            return None
        ref = np.maximum.accumulate(eq) if self.reference == "peak" else np.full_like(eq, eq[0])
        dd = (ref - eq) / log.start_equity
        bad = np.nonzero(dd >= self.fraction)[0]
        if len(bad):
            i = bad[0]
            return Violation(self.name, float(s["t"][mask][i]),
                             f"drawdown {dd[i]:.3%} ≥ {self.fraction:.3%} of the starting equity "
                             f"({log.start_equity:.2f}); worst {dd.max():.3%}")
        return None


class RequestRateWithinQuota(_Invariant):
    """The address budget is never exhausted: the venue's headroom stays above ``min_headroom_frac`` of the
    cap and no action is refused for quota."""

    name: Literal["request_rate_within_quota"]
    min_headroom_frac: float = Field(0.0, ge=0, lt=1, description="Headroom (cap − used) / cap must stay above "
                                                                  "this.")
    after: str = _trigger_field("start")

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.after)
        if v:
            return v
        s = log.samples
        frac = (s["cap"] - s["used"]) / np.maximum(s["cap"], 1)
        bad = np.nonzero((frac <= self.min_headroom_frac) & (s["t"] >= t0))[0]
        refused = [t for t, ev in log.events if type(ev).__name__ == "RateLimited" and ev.kind == "address"
                   and t >= t0]
        t_bad = float(s["t"][bad[0]]) if len(bad) else np.inf
        if refused and refused[0] < t_bad:
            return Violation(self.name, refused[0], "an action was refused for the address quota")
        if len(bad):
            i = bad[0]
            return Violation(self.name, t_bad, f"headroom {int(s['cap'][i] - s['used'][i])} of {int(s['cap'][i])} "
                                               f"({frac[i]:.2%}) ≤ {self.min_headroom_frac:.2%}")
        return None


_ORDER_ACTIONS = ("OrderAction", "ModifyAction")  # the twin's actions that carry places and modifies


class CancelReserveNeverSpentOnQuoting(_Invariant):
    """No order (place or modify) dips into the share of the cap kept for cancels: none is sent with the venue's
    headroom then inside it, nor with the headroom inside it once every request the agent sent before it is charged,
    in the order it sent them (as its request budget counts them). The headroom at the send misses the requests still
    on their way: three batches of 200 places sent a millisecond apart at 1000 of headroom all read as sent at 1000
    (and above a reserve of 500), and landed leaving 400. The order they land in is not the agent's: a cancel sent
    after places that stop at the reserve may overtake them, and spends the reserve it is kept for."""

    name: Literal["cancel_reserve_never_spent_on_quoting"]
    reserve_frac: float | None = Field(None, ge=0, lt=1, description="Share of the cap (default: the agent's "
                                                                     "budget.reserve_frac).")

    def check(self, log: RunLog) -> Violation | None:
        frac = self.reserve_frac if self.reserve_frac is not None else log.reserve_frac
        sent = landed = None
        for c in _orders_sent(log):
            reserve = frac * c.cap
            if c.headroom - 1 < reserve - EPS:
                sent = Violation(self.name, c.t, f"{_fmt(c.cmd)} sent with {c.headroom} requests of headroom, inside "
                                                 f"the cancel reserve of {reserve:.0f}")
                break
        charges = log.quota_charges
        for i, used in _used_in_send_order(charges):
            q = charges[i]
            reserve = frac * q.cap
            if q.action in _ORDER_ACTIONS and q.cap - used < reserve - EPS:
                landed = Violation(self.name, q.t, f"{q.action} of {q.n} requests sent at {q.sent_t:.3f} s left "
                                                   f"{q.cap - used} of headroom counting every request sent before "
                                                   f"it ({q.cap - q.used} as it landed), inside the cancel reserve "
                                                   f"of {reserve:.0f}")
                break
        return min((v for v in (sent, landed) if v is not None), key=lambda v: v.t, default=None)


def _used_in_send_order(charges: list) -> list[tuple[int, int]]:
    """(index, requests used) of each charge, in the order they landed, with ``used`` as if the actions had landed
    in the order they were sent (ties in the order they landed): the venue's count as it landed, less the requests
    charged before it that were sent after it, plus those sent before it that were charged after it. (Anything else
    that moved the count, a scripted drop of the headroom, say, stays where it landed.)"""
    by_send = sorted(range(len(charges)), key=lambda i: (charges[i].sent_t, i))
    sent_before = [0] * len(charges)  # requests of the charges sent up to and including each
    total = 0
    for i in by_send:
        total += charges[i].n
        sent_before[i] = total
    out = []
    landed_before = 0
    for i, q in enumerate(charges):
        landed_before += q.n
        out.append((i, q.used - landed_before + sent_before[i]))
    return out


class RequestRateAdaptsToHeadroom(_Invariant):
    """While the venue's headroom is at or below ``below_frac``, the agent sends at most ``max_items_per_min``
    request items (orders, cancels, modifies) in any minute. At or below, as exchange health's Red is
    (``safety.health_critical``): the pulls a Red sends at exactly that headroom are of the low-headroom rate.
    Exercised when items were sent that low, or when the venue's headroom fell to within ``reached_within_frac``
    of it after the agent had sent items above it: an agent that counts the requests still on their way to the
    venue (as it must, not to spend its cancel reserve) sees the line a few items early, pulls its quotes there,
    and then sends nothing (the rate this bounds, at its best)."""

    name: Literal["request_rate_adapts_to_headroom"]
    below_frac: float = Field(0.3, ge=MIN_SHARE, le=1, description="Headroom share at or under which the rate must "
                                                                   "adapt.")
    max_items_per_min: int = Field(..., ge=1, le=10**6, description="Bound on items sent at low headroom per "
                                                                    "rolling minute.")
    require_exercise: bool = Field(True, description="Fail when the run never put the agent where this checks it "
                                                     "(no request item sent with the headroom that low): the invariant would hold vacuously.")
    reached_within_frac: float = Field(0.001, ge=0, lt=1, description=(
        "The run exercised the bound also when the venue's headroom came this close to ``below_frac`` after "
        "items were sent above it: the agent's own count runs a few items ahead of the venue's."))

    def check(self, log: RunLog) -> Violation | None:
        low = np.array([c.t for c in log.commands if isinstance(c.cmd, (PlaceOrder, CancelOrder, ModifyOrder))
                        and c.headroom / max(c.cap, 1) <= self.below_frac + 1e-12])
        for k, t in enumerate(low):
            n = k + 1 - int(np.searchsorted(low, t - 60.0, side="right"))
            if n > self.max_items_per_min:
                return Violation(self.name, float(t), f"{n} request items sent with headroom at or below "
                                                      f"{self.below_frac:.0%} in the minute to t={t:.2f}; bound "
                                                      f"{self.max_items_per_min}")
        if self.require_exercise and not len(low) and not self._fell_below_after_sending(log):
            return Violation(self.name, log.duration_s, f"no request item sent with headroom at or below "
                                                        f"{self.below_frac:.0%}, nor did the headroom come within "
                                                        f"{self.reached_within_frac:.1%} of it after items were sent: "
                                                        f"the scenario did not exercise it")
        return None

    def _fell_below_after_sending(self, log: RunLog) -> bool:
        sent = [c.t for c in log.commands if isinstance(c.cmd, (PlaceOrder, CancelOrder, ModifyOrder))]
        s = log.samples
        if not sent or "cap" not in s:
            return False
        frac = (s["cap"] - s["used"]) / np.maximum(s["cap"], 1)
        return bool(np.any((frac <= self.below_frac + self.reached_within_frac + 1e-12) & (s["t"] > sent[0])))


# ---------------------------------------------------------------------------------------------- levels


class QuotingResumesWithin(_Invariant):
    """After the trigger (the cause cleared), quotes rest at the venue again within ``within_s``."""

    name: Literal["quoting_resumes_within"]
    after: str = _trigger_field("start")
    within_s: float = Field(..., ge=MIN_WINDOW_S, le=MAX_RUN_S, description="Bound, s.")
    sides: Literal["both", "any"] = Field("both", description="Quotes (not reduce-only) on both sides, or any.")
    require_exercise: bool = Field(True, description="Fail when quotes already rested as asked at the trigger: "
                                                     "nothing had to resume, and the invariant would hold vacuously.")

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.after)
        if v:
            return v
        s = log.samples
        if self.require_exercise:
            i0 = min(log.sample_at(t0), len(s["t"]) - 1)
            b0, a0 = s["n_quote_bids"][i0] > 0, s["n_quote_asks"][i0] > 0
            if (b0 and a0) if self.sides == "both" else (b0 or a0):
                return Violation(self.name, t0, f"quotes on {self.sides} side(s) already rested at {self.after} "
                                                f"(t={t0:.2f}): the scenario did not exercise their resumption")
        mask = (s["t"] >= t0) & (s["t"] <= t0 + self.within_s)
        qb, qa = s["n_quote_bids"][mask] > 0, s["n_quote_asks"][mask] > 0
        ok = (qb & qa) if self.sides == "both" else (qb | qa)
        if ok.any():
            return None
        return Violation(self.name, min(t0 + self.within_s, log.duration_s),
                         f"no quotes on {self.sides} side(s) within {self.within_s:g} s of {self.after} "
                         f"(t={t0:.2f})")


class DeescalatesLevelByLevel(_Invariant):
    """Once the cause clears, the safety level comes down one level at a time and reaches ``to_level``
    within ``within_s``."""

    name: Literal["deescalates_level_by_level"]
    after: str = _trigger_field("start")
    to_level: Literal["GREEN", "YELLOW", "ORANGE", "RED"] = Field("GREEN", description="Where it must get to.")
    within_s: float = Field(..., ge=MIN_WINDOW_S, le=MAX_RUN_S, description="Bound, s.")
    require_exercise: bool = Field(True, description="Fail when the run never put the agent where this checks it "
                                                     "(the safety level already at or below to_level at the trigger): the invariant would hold vacuously.")

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, self.after)
        if v:
            return v
        for tr in log.safety:
            if tr["to"] < tr["from"] - 1:
                return Violation(self.name, tr["t"], f"safety jumped down {_LEVELS[tr['from']]} → {_LEVELS[tr['to']]}")
        target = _LEVELS.index(self.to_level)
        s = log.samples
        i0 = min(log.sample_at(t0), len(s["t"]) - 1)
        if self.require_exercise and s["safety"][i0] <= target:
            return Violation(self.name, t0, f"safety already at {_LEVELS[int(s['safety'][i0])]} at {self.after} "
                                            f"(t={t0:.2f}): the scenario did not exercise de-escalation")
        mask = (s["t"] >= t0) & (s["t"] <= t0 + self.within_s)
        if np.any(s["safety"][mask] <= target):
            return None
        path = " → ".join(_LEVELS[tr["to"]] for tr in log.safety if tr["t"] >= t0) or "no change"
        return Violation(self.name, min(t0 + self.within_s, log.duration_s),
                         f"safety not back to {self.to_level} within {self.within_s:g} s of {self.after} "
                         f"(t={t0:.2f}); after it: {path}")


class ExposureLevelAtMost(_Invariant):
    """The exposure level stays at or below ``level`` for the first ``until_s`` (a restart starts small)."""

    name: Literal["exposure_level_at_most"]
    level: Literal[_EXPOSURE] = Field(..., description="Highest exposure level allowed.")
    until_s: float = Field(..., ge=MIN_WINDOW_S, le=MAX_RUN_S, description="Window from the start, s.")

    def check(self, log: RunLog) -> Violation | None:
        s = log.samples
        lv = s["exposure"]
        if not len(lv) or lv[0] < 0:
            return Violation(self.name, 0.0, "the agent has no exposure controller (graduation not wired)")
        cap = _EXPOSURE.index(self.level)
        bad = np.nonzero((lv > cap) & (s["t"] <= self.until_s))[0]
        if len(bad):
            i = bad[0]
            return Violation(self.name, float(s["t"][i]), f"exposure level {_EXPOSURE[int(lv[i])]} above "
                                                          f"{self.level} in the first {self.until_s:g} s")
        return None


# ---------------------------------------------------------------------------------------------- bookkeeping


class PostmortemWritten(_Invariant):
    """A Kill leaves a postmortem (reasons, transitions, state, last cycles) in the decision log, and in
    ``postmortem.json`` when the run has a folder."""

    name: Literal["postmortem_written"]

    def check(self, log: RunLog) -> Violation | None:
        t0, v = self._trigger(log, "kill")
        if v:
            return v
        pm = [r for r in log.records if r.get("type") == "postmortem"]
        if not pm or not pm[0].get("reasons"):
            return Violation(self.name, t0, "Kill without a postmortem record naming its reasons")
        if log.postmortem_file is False:
            return Violation(self.name, t0, "Kill without postmortem.json in the run folder")
        return None


class OrdersTerminalOrReconciled(_Invariant):
    """After the session's end pulls everything and the dust settles, nothing rests at the venue and the
    agent's position is the venue's."""

    name: Literal["orders_terminal_or_reconciled"]
    tolerance: float = Field(1e-9, ge=0, le=1e12, description="Position difference allowed, coin units.")

    def check(self, log: RunLog) -> Violation | None:
        f = log.final
        if f.get("open_orders"):
            return Violation(self.name, f["t"], f"{f['open_orders']} order(s) still resting after the wind-down")
        if abs(f["agent_position"] - f["venue_position"]) > self.tolerance:
            return Violation(self.name, f["t"], f"agent position {f['agent_position']:.6g} ≠ venue position "
                                                f"{f['venue_position']:.6g} after the wind-down")
        return None


class DecisionLogComplete(_Invariant):
    """One decision record per quote cycle: none lost."""

    name: Literal["decision_log_complete"]

    def check(self, log: RunLog) -> Violation | None:
        n = sum(1 for r in log.records if r.get("type") == "cycle")
        if n != log.cycles:
            return Violation(self.name, log.duration_s, f"{n} cycle records for {log.cycles} cycles")
        return None


INVARIANTS = (
    WorstCasePositionWithinLimit, PositionNeverGrowsAfter, InventoryReducedWithin, ReduceOnlyNeverIncreases,
    NoRiskIncreasingOrderAfter, NoLiquidation, OrdersOnTheVenueGrid, AllOrdersCancelledWithin,
    NoStaleQuoteOlderThan, ReconciledBeforeFirstQuote, MaxDrawdownBelow, RequestRateWithinQuota,
    CancelReserveNeverSpentOnQuoting, RequestRateAdaptsToHeadroom, QuotingResumesWithin, DeescalatesLevelByLevel,
    ExposureLevelAtMost, PostmortemWritten, OrdersTerminalOrReconciled, DecisionLogComplete,
)
InvariantSpec = Annotated[Union[INVARIANTS], Field(discriminator="name")]
NAMES: tuple[str, ...] = tuple(c.model_fields["name"].annotation.__args__[0] for c in INVARIANTS)


def _fmt(c) -> str:
    side = "B" if c.side is Side.BUY else "A"
    kind = "modify" if isinstance(c, ModifyOrder) else "place"
    return f"{kind} {side} {c.sz}@{c.px}{' RO' if c.reduce_only else ''} {c.tif.value}"


def _fmt_resting(o) -> str:
    return f"{'B' if o.is_buy else 'A'} {o.sz}@{o.px}{' RO' if o.reduce_only else ''} (oid {o.oid})"
