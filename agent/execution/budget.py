"""The request budget: the venue's address quota, seen from the agent, with a reserve for cancels.

Fed by the venue's own numbers (``QuotaStatus`` from userRateLimit) and by local accounting of
every request sent in between (n per batch element, as the venue counts). The venue's count is taken
when the poll reaches it, so it misses requests still on their way then: those sent after the poll
left (and a margin before, as a request can overtake another) are added back to it. A reserve
(``reserve_frac`` of the cap, default 5%) may only be spent by cancels, so the agent can always
pull its quotes (Feb 9: the kill switch fired with no quota left to cancel). The requote
interval stretches as headroom falls below a knee: ``base × min(max_stretch, knee / frac)``,
which spends the budget no faster than volume refills it on a thin market (the quota spiral).
"""
from __future__ import annotations

import math
from collections import deque

from pydantic import Field, model_validator

from common.files import FileModel
from agent.execution.weights import INFO_WEIGHT, SNAPSHOT_SENT_WEIGHT, address_actions
from agent.gateway.events import (
    MODIFY_REQUESTS, Batch, CancelAll, CancelOrder, Command, IpWeightSpent, ModifyOrder, PlaceOrder, QuotaStatus,
    RateLimited, ScheduleCancel,
)


def poll_weight_per_minute(quota_poll_s: float) -> int:
    """The most IP weight a minute the gateway's quota polls (userRateLimit, 20 each) every ``quota_poll_s`` (0: none)
    can spend, rounded up: the config refuses a period whose polls alone would leave no weight to quote. The budget
    counts the polls actually sent (``IpWeightSpent``), fewer than this in live, where the next poll leaves a period
    after the last one's reply."""
    return math.ceil(INFO_WEIGHT * 60.0 / quota_poll_s) if quota_poll_s > 0 else 0


class BudgetConfig(FileModel):
    reserve_frac: float = Field(0.05, ge=0, le=0.5, description="Share of the cap only cancels may spend.")
    knee_frac: float = Field(0.3, ge=0.01, le=1, description="Below this headroom share, requoting slows down.")
    max_stretch: float = Field(20.0, ge=1, le=1000.0, description="Longest requote interval as a multiple of the base.")
    in_flight_s: float = Field(1.0, ge=0, le=60.0, description=(
        "A request sent up to this long before a quota poll may reach the venue after the poll does (a latency "
        "spike), so it is counted on top of the venue's figure too. Counting one twice only slows requoting "
        "until the next poll; missing one let places spend the cancels' reserve."))
    assumed_cap: int = Field(10000, ge=1, le=1_000_000_000_000,
                             description="Cap assumed until the venue reports one (venue buffer). "
                                         "With quota polls on, only cancels are sent until the first report.")
    cancel_extra: int = Field(100000, ge=0, le=1_000_000_000, description=(
        "Cancels may go on to min(cap + cancel_extra, 2 x cap) (the venue's rule: 100000). With the cap spent, "
        "the agent can still pull its quotes up to there."))
    slow_lane_s: float = Field(10.0, ge=0, le=60.0, description=(
        "Past the cancels' limit the venue lets one request through this often (its slow lane: 10 s, about 11 s "
        "measured) and refuses the rest: the pulls outside the quote cycle then send one request a period "
        "(RequestBudget.pull_room). At most 60 s: the budget keeps the last minute's requests, which the lane is "
        "timed from (a longer period found none, and let a request go that the lane would refuse); with "
        "exit_lane_margin_s, at most 60 s together."))
    exit_lane_margin_s: float = Field(1.0, ge=0, le=60.0, description=(
        "Past the cap the quote cycle's exits (a place or a modify) take the slow lane only this long after it opens "
        "by the core's clock: the venue times the lane from when each request lands, which a latency spike moves "
        "(the probe measured about 11 s between passes). Sent as it opened, one exit in three was refused on the "
        "twin, and the lane was counted taken for 10 s more. The pulls come first and take it as it opens. With "
        "slow_lane_s, at most 60 s together (the budget's minute)."))
    ip_weight_per_minute: int = Field(1200, ge=1, le=10_000_000,
                                      description="The venue's REST weight per IP per minute.")
    ip_quote_frac: float = Field(0.75, ge=0.01, le=1, description=(
        "Share of the IP weight requoting may bring the minute's up to, the quota polls and the background weight "
        "counted in it; the rest is kept for cancels and snapshots."))
    background_weight_per_minute: int = Field(0, ge=0, le=10_000_000, description=(
        "IP weight a minute that other programs spend from this IP, which the agent cannot see (a second agent, a "
        "dashboard, a script on the same host): the venue's limit is the IP's. Not the gateway's own quota polls: "
        "each is counted as it is sent (until December 2026 this field stood for them, at 120; a config that still "
        "sets it so counts them twice)."))
    ip_snapshot_frac: float = Field(0.9, ge=0.01, le=1, description=(
        "Share of the IP weight an account snapshot may bring the last minute's weight up to, when it is asked "
        "for by the audit or to settle stale orders (one a reconnect, a liquidation notice or a flatten needs "
        "goes regardless); the rest is kept for cancels. A snapshot weighs 42 (and 1 per 20 fills it reads, counted "
        "when it comes): asked for at every tick, they "
        "once spent the whole minute's weight, and the end's pull was refused with HTTP 429."))


    @model_validator(mode="after")
    def _lane_within_the_minute(self) -> "BudgetConfig":
        """The slow lane is timed from the requests the budget keeps, the last minute's (``RequestBudget.lane_open``,
        ``last_request_ts``): a lane, with the exits' margin, longer than that found no request and opened early. The
        venue's is 10 s (hyperliquid.md §5: about 11 s measured)."""
        if self.slow_lane_s + self.exit_lane_margin_s > 60.0:
            raise ValueError(f"budget: slow_lane_s {self.slow_lane_s:g} + exit_lane_margin_s "
                             f"{self.exit_lane_margin_s:g} must be at most 60 s (the venue's slow lane is 10 s; the budget times it from the last "
                             f"minute's requests)")
        return self


def quoting_leaves_snapshot_room(cfg: BudgetConfig) -> bool:
    """Whether every minute's IP weight at which requoting may still go on (``ip_allows_quoting``) lets an account
    snapshot through its gate too (``ip_allows_snapshot``, at ``SNAPSHOT_SENT_WEIGHT``). The core asks for a snapshot
    at the start of a tick, before the cycle quotes, and books the tick's commands only after both: the two gates read
    the same weight, so no cycle's weight enters. The weight is a whole number (weights and the background are ints),
    and quoting goes on while it is below ``ip_quote_frac x ip_weight_per_minute``: at most ceil of that, less 1.

    When it holds, the snapshots' gate is shut only while quoting is too, and what else is sent cannot keep the
    minute's weight up for longer than the minute: a snapshot the core needs goes within it. When it does not (as
    ``ip_quote_frac`` 1.0 does at the defaults: 1199 + 42 > 1080), quoting alone can hold the snapshots' gate shut,
    without a single 429. Allowed (a session may choose to spend its weight on quotes), but a pull lost in transport
    is then resolved only when quoting lets it: scenarios.invariants._lost_pull_s bounds no wait for such a config."""
    most = math.ceil(cfg.ip_quote_frac * cfg.ip_weight_per_minute) - 1
    return most + SNAPSHOT_SENT_WEIGHT <= cfg.ip_snapshot_frac * cfg.ip_weight_per_minute


def _refused_in(c: Command | IpWeightSpent, ev: RateLimited) -> bool:
    """Whether ``ev``, a refusal for the address budget, answers one of the actions command ``c`` went out in: the
    gateways name a refused place, cancel or modify by its orders' cloids (the first will do: an action is made of one
    command), and a scheduleCancel by its arm's time or its clear's send. ``c`` may be a cancel action of the gateway's
    own the core was told of (an ``IpWeightSpent`` naming its orders: a cancel-all's listed cancels), one action."""
    request = ev.request
    if request == "scheduleCancel":
        return type(c) is ScheduleCancel and (c.at_ts == ev.at_ts if c.at_ts is not None else c.sent_ts == ev.sent_ts)
    if not ev.cloids:
        return False
    cloid = ev.cloids[0]
    if type(c) is IpWeightSpent:
        return request == "cancel" and cloid in c.cloids
    kind = PlaceOrder if request == "order" else ModifyOrder if request in MODIFY_REQUESTS else CancelOrder
    for x in (c.commands if type(c) is Batch else (c,)):
        tx = type(x)
        if (tx is kind and x.cloid == cloid) or (tx is CancelAll and kind is CancelOrder and cloid in x.known):
            return True
    return False


class RequestBudget:
    """The address budget and the IP weight of the last minute. The weight counts what the core sends, what the
    gateways and drivers tell it they sent of their own (quota polls, recoveries, the live shutdown's snapshots
    and cancel-alls, whose cancels count in ``used`` too), and on top a background share nobody tells:
    ``background_weight_per_minute``, other programs on the IP."""
    __slots__ = ("cfg", "cap", "used", "_recent", "_ip_total", "_background", "_quote_ip", "_reserve", "_cancel_cap",
                 "awaiting_report", "reported", "_knee_frac", "_slow_ts", "_refusals")

    def __init__(self, cfg: BudgetConfig) -> None:
        self.cfg = cfg
        self._knee_frac = cfg.knee_frac  # (read every quote cycle: a pydantic model's attribute costs more)
        self.used = 0
        self._set_cap(cfg.assumed_cap)
        # (ts, IP weight, address items, the command: for one the core was told of, its IpWeightSpent when it names
        # its orders, else None) of the requests sent in the last minute: the IP limit's window, and what a quota poll
        # cannot have seen (its reply is never a minute late: its timeout is shorter); the items 0 for one the venue
        # refused whole (note_refused)
        self._recent: deque[tuple[float, int, int, Command | IpWeightSpent | None]] = deque()
        self._ip_total = 0
        # read every quote cycle: the background weight, and the weight requoting may bring the minute's up to
        self._background = cfg.background_weight_per_minute
        self._quote_ip = cfg.ip_quote_frac * cfg.ip_weight_per_minute
        # a quota poll has been sent (note_poll) and the venue has not yet reported (on_quota): the cap and count are
        # still assumed_cap and nothing, a full quota the account may not have (a restart onto a spent one). Only
        # cancels go meanwhile: quoting on the assumption spent the cancel reserve. No poll told (none configured,
        # a core fed events without a gateway): the assumption is all there will be, and quoting goes on on it
        self.awaiting_report = False
        self.reported = False
        self._slow_ts = -math.inf  # the last request this budget let go outside the cycle (pull_room, may_arm, ...)
        # id(command) -> (the command, how many of its actions the venue refused, when it was sent): those with some
        # refused and some not yet answered (note_refused)
        self._refusals: dict[int, tuple[Command, int, float]] = {}

    def note_poll(self) -> None:
        """A quota poll has been sent: until the venue's first report comes, nothing but cancels may spend."""
        if not self.reported:
            self.awaiting_report = True

    def note_request(self, ts: float, weight: int, items: int = 0, answered: bool = False,
                     cmd: Command | IpWeightSpent | None = None) -> None:
        """A request sent at ``ts``: its REST IP weight (actions weigh 1 + n//40; info requests 2-20) and its
        address items (n per batch element, as the venue counts; 0 for an info request). ``answered``: known to have
        reached the venue before any later poll is sent (a live run's set-up), so that a poll's count has its items,
        and ``on_quota`` does not add them again as unseen (the set-up's noop was counted twice, 2 used for 1).
        ``cmd``: the core's command it is, which a refusal names (``note_refused``); for one the core is told of, the
        telling ``IpWeightSpent`` when it names the action's orders (a cancel-all's listed cancels), else None."""
        self._prune(ts)
        self._recent.append((ts, weight, 0 if answered else items, cmd))
        self._ip_total += weight
        self.used += items

    def _prune(self, ts: float) -> None:
        w = self._recent
        while w and w[0][0] <= ts - 60.0:
            self._ip_total -= w.popleft()[1]

    @property
    def background_weight_per_minute(self) -> int:
        """The IP weight a minute counted for requests nobody tells the core of: other programs' on the IP."""
        return self._background

    def ip_used(self, ts: float) -> int:
        self._prune(ts)
        return self._ip_total + self._background

    def ip_allows_quoting(self, ts: float) -> bool:
        """Requote only while the last minute's weight leaves the cancel and snapshot share free (``ip_used``
        written out: asked every quote cycle)."""
        self._prune(ts)
        return self._ip_total + self._background < self._quote_ip

    def ip_allows_cancels(self, ts: float) -> bool:
        """One cancel action (weight 1) still fits in the minute's weight."""
        return self.ip_used(ts) + 1 <= self.cfg.ip_weight_per_minute

    def ip_allows_snapshot(self, ts: float, weight: int) -> bool:
        """An account snapshot of ``weight`` leaves the last minute's weight within the snapshots' share."""
        return self.ip_used(ts) + weight <= self.cfg.ip_snapshot_frac * self.cfg.ip_weight_per_minute

    def on_quota(self, ev: QuotaStatus) -> None:
        """The venue's count, plus what it cannot have seen: the requests sent after its poll left, or up to
        ``in_flight_s`` before (a poll of unknown send time counts from its reply)."""
        since = (ev.requested_ts if ev.requested_ts >= 0 else ev.ts) - self.cfg.in_flight_s
        unseen = 0
        for t, _, items, _ in reversed(self._recent):
            if t < since:
                break
            unseen += items
        self._set_cap(ev.cap)
        self.used = ev.used + unseen
        self.reported = True
        self.awaiting_report = False

    def _set_cap(self, cap: int) -> None:
        """The cap, and the reserve and cancels' limit made of it: read by reconcile on every quote cycle that sends,
        and changed only when the venue reports its quota."""
        self.cap = cap
        self._reserve = int(self.cfg.reserve_frac * cap)
        self._cancel_cap = min(cap + self.cfg.cancel_extra, 2 * cap)

    @property
    def headroom(self) -> int:
        return self.cap - self.used

    @property
    def headroom_frac(self) -> float:
        """``headroom / cap`` (0 with no cap), the headroom written out: read twice every quote cycle (the safety
        rules' exchange health, the requote interval), and a property inside a property costs a second frame."""
        cap = self.cap
        return (cap - self.used) / cap if cap > 0 else 0.0

    @property
    def reserve(self) -> int:
        return self._reserve

    @property
    def cancel_headroom(self) -> int:
        """What cancels may still spend: the venue lets them past the cap, to min(cap + 100000, 2 x cap). Held to
        the cap, reconcile sent no cancel at all once it was spent, at Red too, and the quotes stood at their old
        prices through the move (a restart on a spent quota, the quota spiral), which the venue would have
        pulled."""
        return self._cancel_cap - self.used

    def lane_open(self, ts: float, margin: float = 0.0) -> bool:
        """Whether the venue's slow lane lets a request through at ``ts``: ``slow_lane_s`` since the last address
        request sent (``note_request`` with items, ``_recent``: the last minute's), or the last this budget let go
        (``pull_room``, ``pull_sent``, ``may_arm``: sent this tick and not yet noted). The venue times its lane from
        every request that passes, within the budget or in the lane (hyperliquid.md §5, twin/faults/quota.py): timed
        from the pulls alone, a Kill's re-arm or a quote cycle's request let through took the lane's one request, and
        the pull sent after it was refused. A request the venue refused does not restart its clock: once its refusal
        is in (``note_refused``) it is not counted; until then the core cannot tell it from one that passed, and
        counts it (the lane opens a little late, never early). The window is the budget's minute, which the config
        bounds ``slow_lane_s`` to. ``margin``: open that long past it (the exits', ``exit_lane_margin_s``)."""
        last = self._slow_ts
        for t, _, items, _ in reversed(self._recent):
            if items:
                if t > last:
                    last = t
                break
        return ts - last >= self.cfg.slow_lane_s + margin

    def last_request_ts(self, ts: float) -> float:
        """When the last address request noted before ``ts`` was sent (-inf: none in the last minute, longer than any
        ``slow_lane_s`` the config allows): between the cap and the cancels' limit, one that passed took the venue's
        slow lane, and an arm sent within ``slow_lane_s`` of it is refused (``may_arm`` holds it). One the venue
        refused took nothing, and once its refusal is in is not counted (``note_refused``); until then the core holds
        the arm a little long, never sends it to be refused."""
        for t, _, items, _ in reversed(self._recent):
            if items and t < ts:
                return t
        return -math.inf

    def note_refused(self, ev: RateLimited) -> None:
        """A request refused for the address budget (``ev``, kind "address"): an action of a command noted
        (``note_request``'s ``cmd``, the newest one it names) took nothing at the venue. Once every action the command
        went out in is refused (``address_actions``), it is counted neither as taking the slow lane (``lane_open``,
        ``last_request_ts``) nor in a count the venue reports (``on_quota``'s unseen): the venue's refusals do not
        restart its lane's 10 s and use no budget (hyperliquid.md §5, measured; twin/faults/quota.py). Counted as
        passed, a refused exit held the next one 10 s longer than the venue would have: the red_with_exits session at
        25,000 of the 10,000 cap (tests/agent/test_slow_lane.py), its exits refused before the quota report told the
        core it was past the cap, rested 12.9 s with no exit. ``used`` keeps its items until the next report (one sent
        before that report's poll left may or may not be in its count: taken off, the count could fall short, the
        unsafe side). A cancel action of the gateway's own is matched as a command when the core was told of it by
        name (an ``IpWeightSpent`` with its orders: a cancel-all's listed cancels, ``weights.LISTED_CANCELS``); counted
        as passed, its refusal held the next lane request 10 s from it. A request told of without its orders (the live
        shutdown's own cancel-alls, a cancel-all the core counted whole, its listing's cancels unnamed at the send)
        cannot be told from one that passed: its refusal changes nothing, and the lane is timed from it, late, never
        early."""
        w = self._recent
        for k in range(len(w) - 1, -1, -1):
            t, weight, items, c = w[k]
            if not (items and c is not None and _refused_in(c, ev)):
                continue
            done = self._refusals.pop(id(c), None)
            refused = (done[1] if done is not None else 0) + 1
            if refused < address_actions(c):  # (a batch of kinds: the rest of its actions may yet pass)
                if len(self._refusals) >= 16:  # (those the minute's window has let go of are never matched again)
                    self._refusals = {i: r for i, r in self._refusals.items() if r[2] > ev.ts - 60.0}
                self._refusals[id(c)] = (c, refused, t)
                return
            w[k] = (t, weight, 0, None)
            if self._slow_ts <= t:  # (the let-go it stood for is that request, or one of its tick's noted beside)
                self._slow_ts = -math.inf
            return

    def pull_room(self, ts: float, n: int) -> int:
        """How many of ``n`` cancels a pull outside the quote cycle (the orders a level forbids between requotes, a
        stale book's) may send at ``ts``, in one request: what ``cancel_headroom`` leaves; at its end all ``n``, once
        every ``slow_lane_s``, the venue's slow lane (one request passes, whatever its size, that long after the last
        that passed: ``lane_open``). Sent at every tick past the limit, a Red pull was refused 18 times in the 10 s
        before the lane let one through, a burst of 19 errors. (A stopped core's pulls again, ``AgentCore.
        _pull_again``, as well.) What it lets go times the lane (for a re-arm sent after it in the tick,
        ``may_arm``)."""
        room = self._cancel_cap - self.used
        if room <= 0:
            if not self.lane_open(ts):
                return 0
            room = n
        if n:
            self._slow_ts = ts
        return n if n < room else room

    def pull_sent(self, ts: float, n: int) -> None:
        """A pull of ``n`` cancels sent whatever the budget says (a Kill's, a stop's: they must go out at once) times
        the slow lane: ``pull_room``'s next, and a re-arm's (``may_arm``), wait ``slow_lane_s`` from it. Untimed, the
        stop's first pull again went 2 s after it, refused, and held the next 10 s more; and the Kill's re-arm sent
        behind it, past the cap, was refused. (A cancel-all of nothing known sends no action when the venue lists
        none: the lane waits all the same.)"""
        self._slow_ts = ts

    def may_arm(self, ts: float, ahead: int = 0) -> bool:
        """Whether a Kill's scheduleCancel (an arm of the dead-man's switch, sent with its pulls) may go at ``ts``,
        ``ahead`` address items of this tick's sent before it. The venue passes a scheduleCancel within the cap, and
        past it only in its slow lane, timed from every request that passed (hyperliquid.md §5).

        Within the cap by the count before this tick's (``used``): it goes. Landing before this tick's pulls it passes
        within the cap, whatever the lane; landing behind them it is refused whatever an earlier tick sent, as they have
        just taken the lane (the core holds it then, ``AgentCore._on_arm_refused_in_lane``). Held for an earlier
        request, it lost the arm that lands first, as often as not.

        Between the cap and the cancels' limit (with ``ahead``): the pulls pass without the lane, and the arm needs it.
        It goes unless a request of ours of an earlier tick went less than ``slow_lane_s`` ago (``last_request_ts``):
        that one took the lane as it passed, and the arm is bound to be refused (feb09_kill_switch's seeds 6, 7 and 8,
        the exits in the lane 8.5 s before the Kill). Otherwise it goes whatever the lane by the core's clock, which
        cannot see the venue's exactly (its count holds requests the venue refused): held there, a Kill went without
        its switch where it could have had one; sent, one the venue refuses costs an error record, not a request.

        Past the cancels' limit: in the slow lane only, which it then takes (``lane_open``). The lane is the pulls'
        there: an arm let through took its one request, and the pull behind it was refused for 10 s."""
        used = self.used
        if used + ahead < self._cancel_cap:
            return used < self.cap or ts - self.last_request_ts(ts) >= self.cfg.slow_lane_s
        if self.lane_open(ts):
            self._slow_ts = ts
            return True
        return False

    def can_spend(self, n: int, is_cancel: bool = False) -> bool:
        """Cancels may use everything left, past the cap to their own limit; anything else must leave the
        reserve untouched."""
        if is_cancel:
            return n <= self.cancel_headroom
        return n <= self.headroom - self.reserve

    def spendable(self, is_cancel: bool = False) -> int:
        n = self._cancel_cap - self.used if is_cancel else self.cap - self.used - self._reserve
        return n if n > 0 else 0

    def requote_interval_s(self, base_s: float) -> float:
        frac = self.headroom_frac
        if frac >= self._knee_frac:
            return base_s
        if frac <= 0.0:
            return base_s * self.cfg.max_stretch
        return base_s * min(self.cfg.max_stretch, self.cfg.knee_frac / frac)
