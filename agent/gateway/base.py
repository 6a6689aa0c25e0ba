"""The one interface between the agent and any venue.

A ``Gateway`` turns commands into venue requests and venue messages into events; it calls the
sink it was given with each event. Drivers own the gateway and the clock; nothing above this
interface knows which venue it is talking to.
"""
from __future__ import annotations

import math

from collections import OrderedDict
from typing import Callable, Protocol

from agent.gateway.events import (
    Batch, CancelAll, CancelOrder, Command, Event, ModifyOrder, PlaceOrder, RequestAccountSnapshot, ScheduleCancel,
)

EventSink = Callable[[Event], None]

# the venue refuses a whole action of more items than this: "Signed action over weight limit of 200." (a cancel batch
# of 201, measured; hyperliquid.md §2.4, §5). For orders the cap is unconfirmed, "probably the same weight rule", and
# the twin refuses any kind past it: every kind goes out in actions of at most this many (``in_actions``)
MAX_ITEMS_PER_ACTION = 200


# a scheduleCancel that got no answer may still land this many action ttls after its failure was seen: its own
# expiresAfter (the ttl from its send, before then, by this host's clock) and the clock skew the live start allows
# (preflight.clock_skew refuses past half the ttl either way): ScheduleCancelUnanswered.late_ts. The venue reads
# expiresAfter by its own clock, so a host clock d s ahead of it lets a request land until ttl + d s after its send:
# the half ttl covers d while the skew stays within what the start checked. A clock stepped during the run (NTP
# after a suspend, a VM moved) can break that; the live gateway measures the skew at each account snapshot and widens
# the bound by what it finds past the half ttl (``clock_ahead_s``), warning of it (HyperliquidGateway._check_clock)
LATE_TTLS = 1.5

# the most that lead (``clock_ahead_s``) may widen it by, in action ttls: one snapshot's word is all it rests on, and
# an answer with an old or wrong ``time`` (a lagging node, a cached reply) would read as this host's clock far ahead,
# the bound pushed out as far: a clear held back that long behind an arm in doubt, and a stop's wind-down waiting it
# out (to its whole grace). One ttl (the bound at most 2 ttls, 10 s at the default ttl, the default shutdown grace) is
# twice the skew the start refuses past; a clock really further ahead breaks more than this bound (an order the agent
# counts gone after its ttl may land as long again), and the live gateway warns of it as past the cap
CLOCK_AHEAD_CAP_TTLS = 1.0


def schedule_cancel_late_ts(now: float, action_ttl_s: float, clock_ahead_s: float = 0.0) -> float:
    """The latest a scheduleCancel that got no answer at ``now`` may still land (ScheduleCancelUnanswered.late_ts):
    ``LATE_TTLS`` action ttls on (every action carries one: ``action_ttl``), or its ttl and ``clock_ahead_s`` (how far
    this host's clock may be ahead of the venue's, as last measured) when that is more than the half ttl."""
    return now + max(LATE_TTLS * action_ttl_s, action_ttl_s + clock_ahead_s)


def action_ttl(action_ttl_s: float | None) -> float:
    """A gateway's ``action_ttl_s`` (every action's expiresAfter = now + it), checked: a positive number of seconds.

    None (no expiresAfter) is refused, as no safe bound stands in for it. Without one, a request that got no answer
    may land for as long as its nonce stays acceptable (the venue takes a nonce up to two days old while it is above
    the 100 highest it keeps, which only the account's own traffic moves on): an order or a scheduleCancel lost on its
    way could land hours later, a clear after the arm the core sent behind it (no switch while orders rest) or an arm
    after the stop's clear (a firing on nothing). The core waits out an unanswered scheduleCancel before sending its
    wanted state again (``AgentCore._dead_man_settle``), and the order tracker trusts a listing without an order only
    a ttl after its send: neither can wait two days. The config gives ``risk.ack_timeout_s`` (0.1 s to 600 s) to
    every gateway it builds; this holds one built by hand to the same."""
    if action_ttl_s is None or not 0.0 < action_ttl_s < math.inf:
        raise ValueError(f"action_ttl_s must be a positive, finite number of seconds (every action's expiresAfter), "
                         f"got {action_ttl_s!r}")
    return float(action_ttl_s)


def schedule_cancel_name(at_ts: float, sent_ts: float) -> str:
    """A scheduleCancel as a log line names it: an arm by its time, a clear by its send (nan: not said)."""
    return f"the arm for {at_ts:.3f}" if at_ts == at_ts else f"the clear sent at {sent_ts:.3f}"


_OID = "oid:"  # the name of an order listed without a cloid: oid:N (order_name, listed_oid)


def order_name(cloid: str, oid: int) -> str:
    """The name the core knows a venue's order by: its cloid, or ``oid:N`` for one listed without (placed by someone
    else, by hand), which ``listed_oid`` reads back."""
    return cloid or f"{_OID}{oid}"


def listed_oid(cloid: str) -> int | None:
    """The venue's oid that a cloid of the form ``oid:N`` names, or None for any other cloid. ``oid:N`` is how an order
    the venue lists without a cloid (placed by someone else, by hand) is named to the core; a cancel of it goes by oid
    (a cancel by the cloid "oid:N" finds none). The one test of that form, everywhere: ``oid:`` and ``oid:x1`` are no
    oid (sent by cloid, or refused unsent), nor ``oid:²`` (a digit to str.isdigit, not to int)."""
    if cloid.startswith(_OID):
        digits = cloid[len(_OID):]
        if digits.isascii() and digits.isdigit():
            return int(digits)
    return None


def in_actions(items: list) -> list[list]:
    """``items`` in consecutive runs of at most MAX_ITEMS_PER_ACTION, one venue action each (none for none). A
    batch of 201 cancels sent as one was refused whole: none of them done, on a Kill's pull."""
    n = MAX_ITEMS_PER_ACTION
    if len(items) <= n:
        return [items] if items else []
    return [items[i:i + n] for i in range(0, len(items), n)]


# the first wait before a quota poll that brought no report is sent again, doubling up to the regular period: a
# poll weighs 20 of the IP's 1200 a minute, counted as charged when refused, and the refused snapshot's own retries
# spend in the same minute (core.snapshot_backoff_cap). At 10 s: polls at 0, 1, 3, 7, 15, 25 s..., three more than
# the period's in the first minute of a storm
QUOTA_RETRY_S = 1.0


class QuotaPollBackoff:
    """When a gateway polls the venue's quota (userRateLimit) next. Until its first report the core sends only cancels
    (RequestBudget.awaiting_report): a poll that brings none (a 429, a 5xx, no answer, a body that does not read)
    is sent again after QUOTA_RETRY_S, doubling up to the period, as the core retries a refused snapshot.
    Left to the regular period (10 s), a first poll refused in a 429 storm held even the reduce-only exits of a
    position back up to 10 s after the storm ended. Once a report has come, every poll waits the period."""

    __slots__ = ("period_s", "reported", "_backoff_s")

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.reported = False
        self._backoff_s = QUOTA_RETRY_S

    def wait_after(self, answered: bool) -> float:
        """The wait before the next poll, after one that brought a report (``answered``) or none."""
        if answered:
            self.reported = True
        if self.reported:
            return self.period_s
        wait = min(self._backoff_s, self.period_s)
        self._backoff_s = min(2.0 * self._backoff_s, self.period_s)
        return wait


class RecentOrders:
    """Something of each of the newest ``keep`` orders a gateway sent, by a key: a side by cloid (a ``ModifyOrder``
    need not say its side: the order it replaces had one), or a cloid by the venue's oid (a fill that comes with
    the oid alone). An OrderedDict, so the oldest goes in O(1) (a dict's first key, after many deletions at its
    front, is a scan to find)."""

    __slots__ = ("_of", "keep")

    def __init__(self, keep: int = 10_000) -> None:
        self._of: OrderedDict = OrderedDict()
        self.keep = keep

    def remember(self, key, value) -> None:
        self._of[key] = value
        if len(self._of) > self.keep:
            self._of.popitem(last=False)

    def get(self, key):
        return self._of.get(key)

    def __len__(self) -> int:
        return len(self._of)


class Gateway(Protocol):
    def start(self, sink: EventSink) -> None:
        """Connect, subscribe to the market and the account's channels, and begin delivering events."""

    def send(self, cmd: Command) -> None:
        """Send one command (a Batch is venue actions of one kind each, at most MAX_ITEMS_PER_ACTION items each)."""

    @property
    def stats(self) -> dict:
        """Counters for the summary: requests sent, rate-limited, disconnects, malformed messages."""


def split_batch(batch: Batch) -> tuple[list[CancelOrder], list[ModifyOrder], list[PlaceOrder], list[Command]]:
    """A batch's commands by kind: each of the first three goes to the venue as actions of its kind (``in_actions``),
    in this order (cancels first: they reduce risk); the rest (rare in a batch) are sent one by one."""
    cancels: list[CancelOrder] = []
    modifies: list[ModifyOrder] = []
    places: list[PlaceOrder] = []
    rest: list[Command] = []
    for c in batch.commands:
        if isinstance(c, CancelOrder):
            cancels.append(c)
        elif isinstance(c, PlaceOrder):
            places.append(c)
        elif isinstance(c, ModifyOrder):
            modifies.append(c)
        else:
            rest.append(c)
    return cancels, modifies, places, rest


def cancel_actions(cancels: list[CancelOrder]) -> list[tuple[list[CancelOrder], bool]]:
    """The venue actions ``cancels`` go out in, each (its cancels, by oid): by cloid, then by oid (``listed_oid``: a
    cancel by the cloid "oid:N" finds none, so a Kill never pulled such orders), each at most MAX_ITEMS_PER_ACTION. The
    router sends a command's cancels so, and the live cancel-all the orders it knows of, before its listing."""
    by_cloid: list[CancelOrder] = []
    by_oid: list[CancelOrder] = []
    for c in cancels:
        (by_cloid if listed_oid(c.cloid) is None else by_oid).append(c)
    return [(part, False) for part in in_actions(by_cloid)] + [(part, True) for part in in_actions(by_oid)]


class KnownCancels:
    """A cancel-all's first leg, the cancels of the orders the core counts live (``cancel_actions``), as its actions'
    answers come in: once all are, whether the listing (openOrders, then a cancel action for what it lists) goes. Not
    when the venue refused one of them for the address budget: that is past the cancels' limit, min(cap + 100000,
    2 x cap), where it lets one request through every 10 s from the last that passed (hyperliquid.md §5), and the
    refusal says its lane is shut. The listing's cancels, sent a round trip later, were refused there every time: two
    refusals for every Kill or stop past the limit (and 20 of the IP's weight for the listing). What is left goes with
    the core's pulls again, which wait for the lane (RequestBudget.pull_room). Both gateways' cancel-all use it."""

    __slots__ = ("waiting", "lane_shut")

    def __init__(self, n_actions: int) -> None:
        self.waiting = n_actions
        self.lane_shut = False

    def answered(self, rate_limited: bool) -> bool:
        """One action's answer is in (``rate_limited``: refused whole for the address budget): whether it is the
        last."""
        if rate_limited:
            self.lane_shut = True
        self.waiting -= 1
        return self.waiting <= 0


class CommandRouter:
    """``Gateway.send`` for any venue, and the one place a command becomes venue actions: a batch goes out as
    actions of one kind each (cancels first), at most MAX_ITEMS_PER_ACTION items an action; cancels by cloid and
    cancels by the oid an ``oid:N`` names (an order listed without a cloid) in actions apart. A gateway provides the
    handlers, each sending one venue action of the items it is given (``agent.execution.weights`` weighs them so)."""

    def send(self, cmd: Command) -> None:
        if isinstance(cmd, Batch):
            cancels, modifies, places, rest = split_batch(cmd)
            if cancels:
                self._route_cancels(cancels)
            for part in in_actions(modifies):
                self._send_modifies(part)
            for part in in_actions(places):
                self._send_places(part)
            for c in rest:
                self.send(c)
        elif isinstance(cmd, PlaceOrder):
            self._send_places([cmd])
        elif isinstance(cmd, CancelOrder):
            self._route_cancels([cmd])
        elif isinstance(cmd, ModifyOrder):
            self._send_modifies([cmd])
        elif isinstance(cmd, CancelAll):
            self._send_cancel_all(cmd.known)
        elif isinstance(cmd, ScheduleCancel):
            self._route_schedule_cancel(cmd.at_ts, cmd.sent_ts)
        elif isinstance(cmd, RequestAccountSnapshot):
            self._send_snapshot_request()
        else:
            raise TypeError(f"unknown command {cmd!r}")

    def _route_cancels(self, cancels: list[CancelOrder]) -> None:
        for part, by_oid in cancel_actions(cancels):
            self._send_cancels(part, by_oid)

    def _send_places(self, places: list[PlaceOrder]) -> None:
        raise NotImplementedError

    def _send_cancels(self, cancels: list[CancelOrder], by_oid: bool) -> None:
        """One cancel action: by cloid, or (``by_oid``) by the oid each ``oid:N`` names."""
        raise NotImplementedError

    def _send_modifies(self, modifies: list[ModifyOrder]) -> None:
        raise NotImplementedError

    def _send_cancel_all(self, known: tuple[str, ...] = ()) -> None:
        """Cancel every order the venue lists as ours; ``known`` (the cloids the core counts live) a gateway may cancel
        at once, in the actions ``cancel_actions`` cuts them into, as the router sends any cancels. The listing
        (openOrders) refused for the quota is RateLimited ``for_command`` FOR_CANCEL_ALL: a snapshot's is named
        FOR_SNAPSHOT, and only the cancel-all's left orders unpulled."""
        raise NotImplementedError

    # the dead-man's switch's requests, one on its way at a time (``_route_schedule_cancel``): whether one is, and the
    # command waiting for its answer (the newest)
    _schedule_cancel_busy = False
    _schedule_cancel_next: tuple | None = None

    def _route_schedule_cancel(self, at_ts: float | None, sent_ts: float | None) -> None:
        """One scheduleCancel on its way at a time, the next sent once the gateway says the last is answered (or
        failed: ``_schedule_cancel_done``): each replaces the venue's switch whole, so the venue's switch is the one
        the last to *arrive* set, and the core's intent the last *sent*. Sent side by side, as any REST requests (each
        its own connection), an arm could overtake the clear sent after it and leave the switch armed, with the core
        reading the clear's answer as "cleared" (it names the clear's send, which came after the arm's: no ordering by
        sent time sees that), to fire on nothing, one of the venue's ten a day. Only the newest command waits: one it
        supersedes, never sent (``_schedule_cancel_superseded``), would only have set a switch that the newest
        replaces (the core reads no answer to an arm since superseded, and one clear's answer as it reads another's).
        (A request that failed in transport may still reach the venue after the next: only its expiresAfter, the
        action's ttl, bounds how late. The gateway tells the core, ScheduleCancelUnanswered, which sends its wanted
        state again once that is past: ``AgentCore._dead_man_settle``.)"""
        if self._schedule_cancel_busy:
            if self._schedule_cancel_next is not None:
                self._schedule_cancel_superseded()
            self._schedule_cancel_next = (at_ts, sent_ts)
            return
        self._schedule_cancel_busy = True
        self._send_schedule_cancel(at_ts, sent_ts)

    def _schedule_cancel_done(self) -> tuple | None:
        """The gateway's word that the scheduleCancel on its way is answered, or failed: the command that waited for
        it, (at_ts, sent_ts), for the gateway to send now, or None, and then none is on its way."""
        job, self._schedule_cancel_next = self._schedule_cancel_next, None
        if job is None:
            self._schedule_cancel_busy = False
        return job

    def _schedule_cancel_abandoned(self) -> None:
        """The gateway's word that the scheduleCancel on its way, and any waiting, will not be sent (it closes): none
        waits, none is on its way."""
        self._schedule_cancel_busy, self._schedule_cancel_next = False, None

    def _schedule_cancel_superseded(self) -> None:
        """A waiting scheduleCancel replaced by a newer one, never sent (a gateway may count it)."""

    def _send_schedule_cancel(self, at_ts: float | None, sent_ts: float | None = None) -> None:
        """Arm (``at_ts``) or clear (None) the switch; the venue's taking either is told (ScheduleCancelAcknowledged
        naming ``at_ts``, ScheduleCancelCleared naming ``sent_ts``), its refusal (ScheduleCancelRefused naming
        either; for the quota RateLimited, as any action's, naming it likewise), and no answer (a transport failure, a
        5xx: ScheduleCancelUnanswered naming it, and the latest it may land). Called one at a time
        (``_route_schedule_cancel``): the gateway calls ``_schedule_cancel_done`` once this one is answered or
        failed, and sends what it returns."""
        raise NotImplementedError

    def _send_snapshot_request(self) -> None:
        """clearinghouseState, openOrders and the fills since the last; one AccountSnapshot when all are back. A part
        refused for the quota is RateLimited ``for_command`` FOR_SNAPSHOT (the core asks again)."""
        raise NotImplementedError
