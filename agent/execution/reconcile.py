"""Reconcile desired quotes against live orders: the fewest requests that get us there, safely.

Rules, in order:
1. a live order within tolerance of a desired quote on its side is kept (no request). The band is
   asymmetric: an order nearer the touch than desired (ahead: it would fill first, and be picked off
   first) gets ``price_tolerance_ticks``; one further away (behind: safer, only less likely to fill)
   gets the wider of that and ``behind_tolerance_bps`` of its price. Both widen by
   ``level_tolerance_growth`` per level away from the touch, where a tick matters least. On a
   $1-tick coin at $100k a one-tick band would replace every quote on every cycle;
2. other live orders are cancelled (cancels first: they reduce risk and may use the reserve), but where no place
   nor modify can go (the budget past its cap, or in the reserve, or the cycle held to cancels: ``cancel_only``) a
   reduce-only order on a side a reduce-only quote is wanted on is left resting: cancelled, that exit could not be
   replaced;
3. missing quotes are placed, nearest the touch first, only while the request budget allows
   (never touching the cancel reserve) and only up to the position limit counted on
   worst-case position: position + every same-side order that could still fill;
4. reduce-only quotes are only on the reducing side and never total more than |position|; they also
   rest beside every other same-side order that could still fill (stale ones being cancelled too), so
   the worst-case limit of rule 3 holds for them as well; none is placed on a side where the venue refused
   one as increasing the position, until a snapshot asked after that refusal says the position
   (``OrderTracker.ro_refused``): the position they reduce is not the venue's;
5. a place never answered within the ack timeout (STALE, until a snapshot says) may still rest where it was
   sent: it holds a desired quote it fits, as a kept order would (nothing is sent for it either way). A
   second order at its level could rest beside it, twice the level's size at one price and a request spent,
   in the latency that made it stale; the worst-case limit held even so, as the stale order counts. A
   stale order whose cancel found nothing holds nothing: it is most likely filled or gone;
6. with ``modify_moves``, a quote placed where an acknowledged order of the same side (and reduce-only
   flag) is being cancelled becomes one modify of that order instead: one request item instead of two,
   the same limit check (both legs count until the venue answers). Sent after the cancels, before the
   places;
7. past the address cap, with the venue's slow lane open and no pull taking it (``lane``), the exits go in its one
   request when the cycle sends no cancel: the places of the reduce-only quotes the position has room for, or,
   none to place, one modify batch that moves the exits rule 2 left resting to the quotes (``_lane_exits``).
"""
from __future__ import annotations

import math
from operator import attrgetter, itemgetter
from typing import NamedTuple

from pydantic import Field

from common.files import FileModel
from agent.execution.budget import RequestBudget
from agent.execution.orders import CloidFactory, OrderState, OrderTracker
from agent.gateway.events import Batch, CancelOrder, Command, ModifyOrder, PlaceOrder, Side, Tif
from agent.quoting.ladder import MAX_LEVELS


class DesiredQuote(NamedTuple):
    """A quote the model wants resting (a NamedTuple: built ~10 times per cycle, cheaply)."""

    side: Side
    px: float
    sz: float
    level: int
    reduce_only: bool = False


_FIELD_AT: dict[type, tuple[int, int]] = {}  # a quote NamedTuple's class -> where its sz and reduce_only fields sit


def with_size(q, sz: float, reduce_only: bool | None = None):
    """``q._replace(sz=sz[, reduce_only=reduce_only])`` for a quote NamedTuple, without the generic machinery of
    ``_replace`` (some 1.5 µs a quote, and the safety overlay and the risk budget's taper run on the quote cycle)."""
    t = type(q)
    at = _FIELD_AT.get(t)
    if at is None:
        at = _FIELD_AT[t] = (t._fields.index("sz"), t._fields.index("reduce_only"))
    vals = list(q)
    vals[at[0]] = sz
    if reduce_only is not None:
        vals[at[1]] = reduce_only
    return tuple.__new__(t, vals)


class ReconcileConfig(FileModel):
    price_tolerance_ticks: float = Field(1.5, ge=0, le=1e6,
                                         description="Keep a live order whose price is within this many "
                                                     "ticks of a desired quote (0.5: exact price only; "
                                                     "keeping queue position is worth a tick).")
    behind_tolerance_bps: float = Field(1.0, ge=0, le=1e4, description="... or, when it is further from the touch "
                                                                       "than desired (safer, only less likely to "
                                                                       "fill), within this many bps of its price, if "
                                                                       "that is wider.")
    level_tolerance_growth: float = Field(0.5, ge=0, le=100.0,
                                          description="Level i's bands are x (1 + this x i): deeper "
                                                      "levels chase the model less.")
    size_tolerance_frac: float = Field(0.25, ge=0, le=100.0,
                                       description="... and whose remaining size is within this share.")
    max_requests_per_cycle: int = Field(20, ge=1, le=10_000, description="Upper bound on request items sent per cycle.")
    modify_moves: bool = Field(True, description=(
        "Move an acknowledged order to a new quote on its side with one modify (cancel-and-replace at the "
        "venue, one request against the address quota) instead of a cancel and a place (two). Queue "
        "priority is lost either way; exposure counts both legs until the venue answers, as it would both "
        "orders."))


def refused_under_minimum(sz: float, px: float, reduce_only: bool, position_abs: float, min_notional: float) -> bool:
    """The venue's minimum order value: under it an order is refused, unless it is reduce-only and closes
    the whole position. The one statement of the rule reconcile, the safety overlay and Kill's flatten use."""
    return sz * px < min_notional and not (reduce_only and sz >= position_abs - 1e-12)


_MODIFIABLE = frozenset({OrderState.RESTING, OrderState.PARTIALLY_FILLED})  # acknowledged, nothing pending
_STALE = OrderState.STALE
_BUY = Side.BUY
_SELL = Side.SELL
_ALO = Tif.ALO
_new = tuple.__new__  # a command (a NamedTuple) made from every field, in order, without its Python-level __new__
_LEVEL = itemgetter(3)  # DesiredQuote.level
_STATE = attrgetter("state")


def reconcile(desired: list[DesiredQuote], tracker: OrderTracker, *, tick: float, lot: float, max_position: float,
              budget: RequestBudget, cloids: CloidFactory, cfg: ReconcileConfig,
              min_notional: float = 0.0, cancel_only: bool = False,
              exposures: tuple[float, float] | None = None, reducing_out: float = 0.0,
              lane: bool = False) -> list[Command]:
    """Minimal commands from the live orders to ``desired``. A quote cut down (by the room left under the
    limit, or by the reduce-only orders already out) to less than ``min_notional`` is not sent: the venue
    would reject it, unless it is a reduce-only order for the whole position. ``cancel_only``: the cancels
    alone, no place or modify (the IP weight is down to the share kept for cancels, or the first quota report is
    awaited), and a drifted exit is left resting (rule 2). ``exposures``: the
    tracker's ``exposures()`` as it gives them now, when the caller has just asked (the quote cycle has).
    ``reducing_out``: the position counted out on its reducing side in ``exposures`` (AgentCore.
    _liquidation_exposure, near its liquidation price); a reduce-only quote has that room back, since the venue
    refuses one that would grow the position, and one landing after a liquidation, on a flat account, rests nowhere.
    ``lane``: the address budget past its cap and the venue's slow lane open for one request no pull takes (the
    caller's to say: AgentCore._exit_lane): the exits may take it (rule 7)."""
    # Runs on most quote cycles: plain loops over a dozen orders, no per-order dict or set work
    # beyond what the rules need (the order of cancels and places is part of the contract).
    read = _READ  # what reconcile reads of the config and the tick, made once per both (_read)
    if read[0] is not cfg or read[1] != tick:
        read = _read(cfg, tick)
    _, _, tol_px, behind_f, widens, aheads, size_bands, max_items, modify_moves = read
    # candidates per side (and reduce-only), in live order: only orders that can still be kept as they are (the
    # tracker keeps the lists as orders change; copied, as a kept order is taken out of its pool below)
    keep = tracker.keep
    if keep is None:
        keep = tracker.keep_lists()
    buys, sells, ro_buys, ro_sells = keep
    buys = [*buys]  # (a list display: two bytecodes fewer than a slice)
    sells = [*sells]
    if ro_buys:
        ro_buys = [*ro_buys]
    if ro_sells:
        ro_sells = [*ro_sells]  # (an empty list is never changed below: not copied)
    unmatched: list[DesiredQuote] = []
    for d in desired:
        side, d_px, d_sz, level, d_ro = d
        # the band: ahead = nearer the touch than desired (above it for a bid, below it for an ask) is aheads[level];
        # behind = max(behind_f * d_px, tol_px) * widens[level] + 1e-9 (computed in that order, inline: the side's
        # branch taken once, no name stored that is read once). Then the first order in the pool, in live order,
        # that fits it, its size read only on a price that fits. The price test asks the behind bound first (not a
        # chained comparison, which costs more when its first bound fails): most misfits are deeper orders, below a
        # bid's band and above an ask's. Its size left is read as the tracker counts it (``counted``): a live order's
        # sz - filled_sz to the bit, kept at every change of either (OrderTracker._recount; tests/agent/test_execution
        # holds it), which live is never under EPS (filled there, it ends).
        if side is _BUY:
            pool = ro_buys if d_ro else buys
            if pool:
                behind = behind_f * d_px
                if behind < tol_px:
                    behind = tol_px
                lo_px = d_px - (behind * widens[level] + 1e-9)
                hi_px = d_px + aheads[level]
                lo_sz, hi_sz = size_bands[d_sz]
                for o in pool:
                    if lo_px <= o.px and o.px <= hi_px:
                        if lo_sz <= o.counted <= hi_sz:
                            pool.remove(o)  # kept
                            break
                else:
                    unmatched.append(d)
            else:
                unmatched.append(d)
        else:
            pool = ro_sells if d_ro else sells
            if pool:
                behind = behind_f * d_px
                if behind < tol_px:
                    behind = tol_px
                lo_px = d_px - aheads[level]
                hi_px = d_px + (behind * widens[level] + 1e-9)
                lo_sz, hi_sz = size_bands[d_sz]
                for o in pool:
                    if o.px <= hi_px and lo_px <= o.px:
                        if lo_sz <= o.counted <= hi_sz:
                            pool.remove(o)  # kept
                            break
                else:
                    unmatched.append(d)
            else:
                unmatched.append(d)

    # the orders to cancel (some may instead be modified into a quote below), in live order: every live order
    # neither kept nor in doubt, which is every candidate left in a pool but a stale one (the live orders in no
    # pool are all in doubt). Most cycles keep every order: then no pool has one left, and nothing is read again.
    going: list = []
    n_items = 0
    left = []  # the pools with an order left (no list comprehension: its own frame, on most quote cycles)
    if buys:
        left.append(buys)
    if sells:
        left.append(sells)
    if ro_buys or ro_sells:  # (rare: a reduce-only order left unkept; both empty, as many bytecodes as two ifs)
        if ro_buys:
            left.append(ro_buys)
        if ro_sells:
            left.append(ro_sells)
        if cancel_only or budget.spendable() <= 0:  # no place nor modify can go: a drifted exit is not cancelled
            left = _hold_exits(left, ro_buys, ro_sells, unmatched)
    if left:
        # one pool: its own order is the live order; several: the live set's, filtered in C (it is read-only here:
        # nothing below changes it)
        going = left[0] if len(left) == 1 else list(filter(set().union(*left).__contains__,
                                                           tracker.live_set.values()))
        if _STALE in map(_STATE, going):  # (rare: a place gone stale unanswered)
            going = [o for o in going if o.state is not _STALE]
        room = min(max_items, budget.cancel_headroom)  # a cancel may go past the cap (RequestBudget.cancel_headroom)
        n_items = len(going)
        if n_items > room:
            going = going[:room] if room > 0 else []
            n_items = len(going)
    if cancel_only:
        unmatched = []
    elif lane and not going and unmatched and budget.used >= budget.cap:  # (rare: past the cap, the lane open)
        return _lane_exits(unmatched, ro_buys, ro_sells, tracker, max_position, exposures, reducing_out, lot,
                           min_notional, cloids, max_items)
    # a going order that can be modified instead (acknowledged, nothing pending), per (side, reduce-only)
    movable: dict | None = None
    if modify_moves and going and unmatched:
        movable = {}
        for o in going:
            if o.state in _MODIFIABLE and o.oid:
                movable.setdefault((o.side, o.reduce_only), []).append(o)

    # exposure after the cancels we send still counts them: they may fill before they land
    places: list[Command] = []
    modifies: list[Command] = []
    if unmatched:
        exp_buy, exp_sell = tracker.exposures() if exposures is None else exposures
        pos = tracker.position
        room_buy = max_position - (pos + exp_buy)  # less the worst cases: tracker.worst_case_positions()
        room_sell = max_position + (pos - exp_sell)
        ro_buy = ro_sell = None  # the room reduce-only quotes have: made at the first one (there rarely is one)
        # the request items places may still take: under the cap per cycle, and what the budget lets spend (not a
        # cancel: the reserve excluded), both less the cancels; a place takes one from each, a modify none
        can_place = min(max_items, budget.spendable()) - n_items  # (min(a - n, b - n), one subtraction: the same)
        unmatched.sort(key=_LEVEL)  # nearest the touch first (stable: bids before asks per level)
        next_cloid = cloids.next
        lotted = _LOTTED.get(lot)  # (_lotted's lookup, here: it answers all but the first cycle)
        if lotted is None:
            lotted = _lotted(lot)
        for d in unmatched:
            if can_place <= 0:
                break
            side, px, sz, _, ro = d
            # the size: cut to the side's room under the limit, rounded down to the lot (_Lotted); not sent under the
            # venue's minimum (the rule's first clause read here: the call is only made where it can refuse). A plain
            # quote's side is taken once, its room read and spent in place (the reduce-only branch, rare, as it was)
            if ro:  # it only reduces the filled position, but other same-side orders can fill first
                buy = side > 0
                if ro_buy is None:
                    # none on a side whose last was refused as increasing the position, until a snapshot says the
                    # position (OrderTracker.ro_refused): the venue holds none there for it to reduce
                    refused = tracker.ro_refused
                    ro_buy = 0.0 if _BUY in refused else max(0.0, -pos) - _ro_live(tracker, _BUY)
                    ro_sell = 0.0 if _SELL in refused else max(0.0, pos) - _ro_live(tracker, _SELL)
                room = min(ro_buy, room_buy + reducing_out) if buy else min(ro_sell, room_sell + reducing_out)
                if room < sz:
                    sz = room
                sz = lotted[sz]
                if sz <= 0.0 or sz * px < min_notional and refused_under_minimum(sz, px, ro, abs(pos), min_notional):
                    continue
                if buy:
                    ro_buy -= sz
                    room_buy -= sz
                else:
                    ro_sell -= sz
                    room_sell -= sz
            elif side > 0:
                if room_buy < sz:
                    sz = room_buy
                sz = lotted[sz]
                if sz <= 0.0 or sz * px < min_notional and refused_under_minimum(sz, px, ro, abs(pos), min_notional):
                    continue
                room_buy -= sz
            else:
                if room_sell < sz:
                    sz = room_sell
                sz = lotted[sz]
                if sz <= 0.0 or sz * px < min_notional and refused_under_minimum(sz, px, ro, abs(pos), min_notional):
                    continue
                room_sell -= sz
            pool = movable.get((side, ro)) if movable else None
            if pool:
                # the order's cancel becomes this modify: one request item where there would be two (its
                # cancel item is already counted, and a modify is no cancel: the reserve stays untouched,
                # as can_place already excludes every item so far)
                if sz != d[2] and _kept_as_cut(pool, going, px, sz):  # (only a size cut can make one: see there)
                    continue
                o = pool.pop(0)
                going.remove(o)
                modifies.append(_new(ModifyOrder, (o.cloid, next_cloid(), px, sz, _ALO, ro, side)))
                continue
            places.append(_new(PlaceOrder, (next_cloid(), side, px, sz, _ALO, ro)))
            can_place -= 1
    # each kind one command, or one batch of several: cancels first (they reduce risk), then modifies, then places
    out: list[Command] = []
    if going:
        cancels = [_new(CancelOrder, (o.cloid,)) for o in going]
        out.append(Batch(tuple(cancels)) if len(cancels) > 1 else cancels[0])
    if modifies:
        out.append(Batch(tuple(modifies)) if len(modifies) > 1 else modifies[0])
    if places:
        out.append(Batch(tuple(places)) if len(places) > 1 else places[0])
    return out


_READ: tuple = (None, None)


def _read(cfg: ReconcileConfig, tick: float) -> tuple:
    """(cfg, tick, and what reconcile reads of them: the price tolerance in price, ``behind_tolerance_bps`` as a
    fraction, the bands (``_bands``), the cap per cycle, ``modify_moves``), kept for the next call with the same
    config and tick (the quote cycle's, all but a retune's). A config is a pydantic model: its attributes (a class with
    ``__getattr__``) the interpreter cannot specialize, some 200 machine instructions a read where a tuple's item takes
    a few dozen; and the bands, looked up per call under (tol_px, growth, size_tol), took some 25 bytecodes a call
    more. (Nothing changes a config in place: a retune makes a new one.)"""
    global _READ
    tol_px = cfg.price_tolerance_ticks * tick
    widens, aheads, size_bands = _bands(tol_px, cfg.level_tolerance_growth, cfg.size_tolerance_frac)
    _READ = (cfg, tick, tol_px, cfg.behind_tolerance_bps * 1e-4, widens, aheads, size_bands,
             cfg.max_requests_per_cycle, cfg.modify_moves)
    return _READ


_BANDS: dict[tuple[float, float, float], tuple[tuple[float, ...], tuple[float, ...], _SizeBands]] = {}


def _bands(tol_px: float, growth: float, size_tol: float) -> tuple[tuple[float, ...], tuple[float, ...], _SizeBands]:
    """Per level: the bands' widening factor, and the ahead band (both as reconcile computed them per quote;
    made once per tick size and config); and the size bands (``_SizeBands``). As many levels as a ladder may have
    (LadderConfig.n_levels' bound): the first cycle made 64, two thirds of them never asked for."""
    b = _BANDS.get((tol_px, growth, size_tol))
    if b is None or len(b[2]) > _SIZE_BANDS_KEEP:
        widens = tuple(1.0 + growth * level for level in range(_MAX_LEVELS))
        b = (widens, tuple(tol_px * w + 1e-9 for w in widens), _SizeBands(size_tol))
        if len(_BANDS) > 64:
            _BANDS.clear()
        _BANDS[(tol_px, growth, size_tol)] = b
    return b


class _SizeBands(dict):
    """A desired size -> (the least, the most) a live order may have left to be kept for it: size -/+ size_tol x
    size -/+ 1e-12, made (by ``__missing__``) as reconcile made it for every order whose price fitted, some twelve
    a cycle. The ladder's sizes are a few per level; a size cut by the safety overlay or the risk budget's taper
    can be any number: past _SIZE_BANDS_KEEP sizes it starts afresh (asked here, where a size is new, not per call)."""

    __slots__ = ("size_tol",)

    def __init__(self, size_tol: float) -> None:
        super().__init__()
        self.size_tol = size_tol

    def __missing__(self, sz: float) -> tuple[float, float]:
        if len(self) > _SIZE_BANDS_KEEP:
            self.clear()
        tol = self.size_tol * sz
        b = self[sz] = (sz - tol - 1e-12, sz + tol + 1e-12)
        return b


_SIZE_BANDS_KEEP = 4096
_MAX_LEVELS = MAX_LEVELS  # (a quote's level is its index on its side: below LadderConfig.n_levels)

class _Lotted(dict):
    """A size -> the size rounded down to ``lot`` (as reconcile rounds it), per lot. ``round(x, 10)`` costs some
    0.3 µs (a float formatted and parsed back), once per request item reconcile builds; the sizes it is given are
    the ladder's few per-level sizes, so a dict lookup answers nearly all (made by ``__missing__``: one subscript an
    item, where a get and its test took three lines). Cleared past a bound, asked where a size is new: a size cut to
    the room left under the limit can be any number."""

    __slots__ = ("lot",)

    def __init__(self, lot: float) -> None:
        super().__init__()
        self.lot = lot

    def __missing__(self, sz: float) -> float:
        if len(self) > _LOTTED_KEEP:
            self.clear()
        on_lot = self[sz] = round(math.floor(sz / self.lot + 1e-9) * self.lot, 10)
        return on_lot


_LOTTED: dict[float, _Lotted] = {}


def _lotted(lot: float) -> _Lotted:
    """``lot``'s _Lotted, made at its first call."""
    memo = _LOTTED.get(lot)
    if memo is None:
        if len(_LOTTED) > 64:
            _LOTTED.clear()
        memo = _LOTTED[lot] = _Lotted(lot)
    return memo


_LOTTED_KEEP = 4096


def _kept_as_cut(pool: list, going: list, px: float, sz: float) -> bool:
    """Whether an order of ``pool`` (those of a quote's side and kind being cancelled, which could be modified into it)
    rests at ``px`` for ``sz``, the quote once its size was cut (to the room under the limit, or to the lot): it is
    kept then, taken out of both lists. Its size was outside the band of the quote's own, so it was to go, and the cut
    made the size it has: moved there by a modify to itself, it lost its queue place for a request
    (fees_exceed_spread's seed 3 at 141 s). An uncut quote can have no such order: it would have fitted the quote's
    bands and been kept in the first pass."""
    for o in pool:
        if o.px == px and abs(o.counted - sz) <= 1e-12:  # (its size left, as the first pass reads it)
            pool.remove(o)
            going.remove(o)
            return True
    return False


def _ro_live(tracker: OrderTracker, side: Side) -> float:
    return sum(o.remaining for o in tracker.ro_live[side])


def _hold_exits(left: list, ro_buys: list, ro_sells: list, unmatched: list) -> list:
    """``left`` (the pools whose orders reconcile cancels) less the reduce-only pools on a side where a reduce-only
    quote is wanted and none can be sent: the address budget lets no place or modify go (past its cap
    only the venue's slow lane passes one, and the cancels' reserve is not theirs), or the cycle is held to cancels
    (the IP weight's hold, the first quota report awaited). Cancelled, a drifted exit was not replaced: between the
    cap and the cancels' limit a Red position rested with no exit for minutes, and the exits' fills are what grow the
    cap back; under the IP weight's hold, up to the minute the weight takes to leave. Left resting it still only
    reduces; a quote not reduce-only is cancelled as before, the less risk."""
    held = [pool for pool, side in ((ro_buys, _BUY), (ro_sells, _SELL))
            if pool and any(d[4] and d[0] is side for d in unmatched)]
    return [pool for pool in left if not any(pool is h for h in held)] if held else left


def _lane_exits(unmatched: list, ro_buys: list, ro_sells: list, tracker: OrderTracker, max_position: float,
                exposures: tuple[float, float] | None, reducing_out: float, lot: float, min_notional: float,
                cloids: CloidFactory, max_items: int) -> list[Command]:
    """The one request the venue's slow lane lets through past the address cap, for the exits (rule 7): every
    reduce-only quote the position has room for, placed in one batch, sized as rule 3 and 4 size them; or, with none
    to place (the exits out cover the position), the exits rule 2 left resting (``ro_buys``, ``ro_sells``: those no
    quote kept) moved to the quotes on their side, nearest the touch first, in one modify batch. A moved exit's own
    remaining is its room: the modify cancels it in the same request (the venue refuses one whose order is gone), and
    the venue cuts a reduce-only order to the position; the worst-case limit counts both legs, as rule 6. Past the
    cap no place nor modify went: a position whose exits had filled short of it, or been refused, rested with no exit
    until a quota report freed room, the lane open and unused (seed 2: 0.00058 BTC for 177 s, to the end)."""
    quotes = [d for d in unmatched if d[4]]
    if not quotes:
        return []
    quotes.sort(key=_LEVEL)
    exp_buy, exp_sell = tracker.exposures() if exposures is None else exposures
    pos = tracker.position
    room_buy = max_position - (pos + exp_buy) + reducing_out
    room_sell = max_position + (pos - exp_sell) + reducing_out
    refused = tracker.ro_refused
    ro_buy = 0.0 if _BUY in refused else max(0.0, -pos) - _ro_live(tracker, _BUY)
    ro_sell = 0.0 if _SELL in refused else max(0.0, pos) - _ro_live(tracker, _SELL)
    lotted = _lotted(lot)
    next_cloid = cloids.next
    places: list[Command] = []
    for side, px, sz, _, _ in quotes[:max_items]:
        buy = side > 0
        sz = lotted[min(sz, ro_buy, room_buy) if buy else min(sz, ro_sell, room_sell)]
        if sz <= 0.0 or refused_under_minimum(sz, px, True, abs(pos), min_notional):
            continue
        if buy:
            ro_buy -= sz
            room_buy -= sz
        else:
            ro_sell -= sz
            room_sell -= sz
        places.append(_new(PlaceOrder, (next_cloid(), side, px, sz, _ALO, True)))
    if places:
        return [Batch(tuple(places)) if len(places) > 1 else places[0]]
    held = {_BUY: [o for o in ro_buys if o.state in _MODIFIABLE and o.oid],
            _SELL: [o for o in ro_sells if o.state in _MODIFIABLE and o.oid]}
    modifies: list[Command] = []
    for side, px, sz, _, _ in quotes[:max_items]:
        pool = held[side]
        if not pool or side in refused:  # (rule 4 holds for a modify's new order too: moved, it would be refused)
            continue
        o = pool.pop(0)
        buy = side > 0
        left = o.remaining + (ro_buy if buy else ro_sell)
        sz = lotted[min(sz, left if left > 0.0 else 0.0, room_buy if buy else room_sell)]
        if sz <= 0.0 or refused_under_minimum(sz, px, True, abs(pos), min_notional) \
                or (px == o.px and sz == o.remaining):
            continue
        if buy:
            ro_buy -= sz - o.remaining
            room_buy -= sz
        else:
            ro_sell -= sz - o.remaining
            room_sell -= sz
        modifies.append(_new(ModifyOrder, (o.cloid, next_cloid(), px, sz, _ALO, True, side)))
    if modifies:
        return [Batch(tuple(modifies)) if len(modifies) > 1 else modifies[0]]
    return []
