"""reconcile held to the code it replaced, kept here verbatim (agent/execution/reconcile.py at c21af26, from
``refused_under_minimum`` to its end, with its own memos; two rules added since, marked): over hypothesis-made
trackers (orders of every state, kind and size; fills, cancels, modifies, timeouts, reduce-only refusals), desired
ladders (the quote cycle's shape and any other), configs, ticks, budgets, positions and limits, and sessions of cycles
that apply what was sent, it sends the same commands in the same order: the same types to the bottom (a Side no int,
a bool no int) and the same floats to the bit; and it leaves the tracker as it was."""
from __future__ import annotations

import math
import struct
from operator import attrgetter, itemgetter

from hypothesis import given, settings, strategies as st

import agent.execution.reconcile as new_module
from agent.execution.budget import BudgetConfig, RequestBudget
from agent.execution.orders import CloidFactory, OrderState, OrderTracker
from agent.execution.reconcile import DesiredQuote, ReconcileConfig
from agent.quoting.ladder import KeptLadder, LadderConfig
from agent.gateway.events import (Batch, CancelAcknowledged, CancelOrder, Command, FillReceived, ModifyAcknowledged,
                                  ModifyOrder, OrderAcknowledged, OrderRejected, PlaceOrder, Reason, Side, Tif)


# ---- the code replaced, verbatim -----------------------------------------------------------------------------------
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
              exposures: tuple[float, float] | None = None, reducing_out: float = 0.0) -> list[Command]:
    """Minimal commands from the live orders to ``desired``. A quote cut down (by the room left under the
    limit, or by the reduce-only orders already out) to less than ``min_notional`` is not sent: the venue
    would reject it, unless it is a reduce-only order for the whole position. ``cancel_only``: the cancels
    alone, no place or modify (the IP weight is down to the share kept for cancels). ``exposures``: the
    tracker's ``exposures()`` as it gives them now, when the caller has just asked (the quote cycle has).
    ``reducing_out``: the position counted out on its reducing side in ``exposures`` (AgentCore.
    _liquidation_exposure, near its liquidation price); a reduce-only quote has that room back, since the venue
    refuses one that would grow the position, and one landing after a liquidation, on a flat account, rests nowhere."""
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
        # bid's band and above an ask's.
        if side is _BUY:
            pool = ro_buys if d_ro else buys
            if pool:
                behind = behind_f * d_px
                if behind < tol_px:
                    behind = tol_px
                lo_px = d_px - (behind * widens[level] + 1e-9)
                hi_px = d_px + aheads[level]
                for o in pool:
                    if lo_px <= o.px and o.px <= hi_px:
                        lo_sz, hi_sz = size_bands[d_sz]
                        if lo_sz <= o.sz - o.filled_sz <= hi_sz:
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
                for o in pool:
                    if o.px <= hi_px and lo_px <= o.px:
                        lo_sz, hi_sz = size_bands[d_sz]
                        if lo_sz <= o.sz - o.filled_sz <= hi_sz:
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
    if ro_buys:
        left.append(ro_buys)
    if ro_sells:
        left.append(ro_sells)
    # (added since: where no place nor modify can go, the address budget spent or the cycle held to cancels, an exit
    # whose replacement is wanted is left resting)
    for pool, side in ((ro_buys, _BUY), (ro_sells, _SELL)):
        if pool and (cancel_only or budget.spendable() <= 0) and any(d.reduce_only and d.side is side
                                                                     for d in unmatched):
            left = [p for p in left if p is not pool]
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
                # (added since: one that rests as the quote, cut to its room, asks is kept, not modified to itself)
                for o in pool:
                    if o.px == px and abs(o.sz - o.filled_sz - sz) <= 1e-12:
                        pool.remove(o)
                        going.remove(o)
                        break
                else:
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
    made once per tick size and config); and the size bands (``_SizeBands``). Levels past the 20 a ladder may
    have are never asked for."""
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
_MAX_LEVELS = 64  # above LadderConfig.n_levels' bound (20)

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


def _ro_live(tracker: OrderTracker, side: Side) -> float:
    return sum(o.remaining for o in tracker.ro_live[side])
# ---- end of the code replaced --------------------------------------------------------------------------------------

old_reconcile = reconcile
# a ladder's levels: LadderConfig.n_levels' bound, as the config states it (a quote's level is its index on its side)
_N_LEVELS_BOUND = next(m.le for m in LadderConfig.model_fields["n_levels"].metadata if getattr(m, "le", None))


def same(a, b) -> bool:
    """a and b alike to the bit: the same types all the way down (a bool is no int, a Side no int), floats by their
    bits (-0.0 is not 0.0), a dataclass (Batch) by its fields."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__"):
        return all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


def _flat(cmds):
    return [c for b in cmds for c in (b.commands if isinstance(b, Batch) else (b,))]


_RO_REFUSED = "Reduce only order would increase position. asset=0"
_FATES = ["pending", "resting", "partial", "cancelling", "stale", "cancel_stale", "modifying", "ro_refused",
          "filled_out"]
_ORDER = st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(-14, 14), st.integers(1, 9), st.booleans(),
                   st.sampled_from(_FATES), st.sampled_from([0.0, 0.0, 0.3, 0.5]))


def _tracker(orders, position: float, tick: float, lot: float, mid: float) -> OrderTracker:
    """A tracker holding ``orders``, each (side, price in ticks from the mid, size in lots, reduce-only, fate, a
    sub-tick offset): placed, then left as the fate says."""
    t = OrderTracker()
    t.position = position
    for i, (side, px, n, ro, fate, off) in enumerate(orders):
        cloid = f"0x{i:032x}"
        price = mid + (px + off) * tick
        t.on_command(PlaceOrder(cloid, side, price, n * lot, Tif.ALO, ro), 0.0)
        if fate == "pending":
            continue
        if fate == "stale":
            t.check_timeouts(10.0, 5.0)
            continue
        if fate == "ro_refused":
            t.on_event(OrderRejected(0.1, cloid, Reason.REDUCE_ONLY, _RO_REFUSED))
            continue
        t.on_event(OrderAcknowledged(0.1, cloid, i + 1, True))
        if fate == "partial" and n > 1:
            t.on_event(FillReceived(0.2, cloid, i + 1, price, lot, side, 0.0, True, i + 1))
        elif fate == "filled_out":
            t.on_event(FillReceived(0.2, cloid, i + 1, price, n * lot, side, 0.0, True, i + 1))
        elif fate in ("cancelling", "cancel_stale"):
            t.on_command(CancelOrder(cloid), 0.3)
            if fate == "cancel_stale":
                t.check_timeouts(10.0, 5.0)
        elif fate == "modifying":
            t.on_command(ModifyOrder(cloid, f"0x{i + 1000:032x}", price - side * tick, n * lot, Tif.ALO, ro, side),
                         0.3)
    return t


@st.composite
def _ladders(draw, tick: float, lot: float, mid: float):
    """Desired quotes: the quote cycle's shape (the bids by level, then the asks; sizes growing with depth, some cut
    to odd sizes, some reduce-only), or any list of quotes; the same tuples asked again are shared, as KeptLadder's."""
    if draw(st.booleans()):
        n = draw(st.integers(0, 6))
        spacing = draw(st.integers(1, 3))
        base = draw(st.integers(1, 4))
        gap = draw(st.integers(0, 3))
        out = []
        for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
            for level in range(draw(st.integers(0, n))):
                sz = round(base * 1.5 ** level, 0) * lot
                if draw(st.integers(0, 9)) == 0:
                    sz = draw(st.sampled_from([0.0, -0.0, 1e-12, 0.5 * lot, 1.37 * lot, 1e9]))
                px = mid + sign * (gap + level * spacing) * tick + draw(st.sampled_from([0.0, 0.0, 0.25, -0.4])) * tick
                out.append(DesiredQuote(side, px, sz, level, draw(st.integers(0, 7)) == 0))
        return out
    return [DesiredQuote(side, mid + px * tick, n * lot, level, ro) for side, px, n, level, ro in draw(st.lists(
        st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(-14, 14), st.integers(0, 9),
                  st.integers(0, _N_LEVELS_BOUND - 1), st.booleans()), max_size=16))]


_CFG = st.builds(ReconcileConfig, price_tolerance_ticks=st.sampled_from([0.0, 0.5, 1.5, 3.0]),
                 behind_tolerance_bps=st.sampled_from([0.0, 1.0, 40.0, 300.0]),
                 level_tolerance_growth=st.sampled_from([0.0, 0.5, 2.0]),
                 size_tolerance_frac=st.sampled_from([0.0, 0.25, 0.6, 1 / 3]),
                 max_requests_per_cycle=st.integers(1, 20), modify_moves=st.booleans())
_TICK_MID = st.sampled_from([(0.25, 100.0), (1.0, 97_000.0), (0.0001, 0.3), (0.01, 25.0), (0.5, 3.0)])


def _both(desired, t, cycle: int, **kw):
    """The old code's commands and the new's, each with its own cloid factory (one prefix a cycle): the tracker
    checked unchanged by either."""
    state = (t.version, [(o, o.state, o.px, o.sz, o.filled_sz) for o in t.live_set.values()],
             [list(p) for p in t.keep_lists()])
    want = old_reconcile(desired, t, cloids=CloidFactory(cycle + 1), **kw)
    got = new_module.reconcile(desired, t, cloids=CloidFactory(cycle + 1), **kw)
    assert (t.version, [(o, o.state, o.px, o.sz, o.filled_sz) for o in t.live_set.values()],
            [list(p) for p in t.keep_lists()]) == state
    assert same(got, want), (got, want)
    return got


@settings(max_examples=500, deadline=None)
@given(data=st.data(), tick_mid=_TICK_MID, orders=st.lists(_ORDER, max_size=16), position=st.integers(-30, 30),
       cfgs=st.lists(_CFG, min_size=1, max_size=3), limit=st.sampled_from([0, 12, 40, 200]),
       used=st.sampled_from([0, 9497, 9990, 10000, 19999, 20000, 20002]),
       min_notional=st.sampled_from([0.0, 0.3, 10.0]), cancel_only=st.booleans(), pass_exposures=st.booleans(),
       reducing_out=st.sampled_from([0.0, 0.0, 0.004]), lot=st.sampled_from([0.001, 0.00025, 1.0]))
def test_reconcile_sends_what_the_replaced_code_sent(data, tick_mid, orders, position, cfgs, limit, used,
                                                    min_notional, cancel_only, pass_exposures, reducing_out, lot):
    """Whatever the orders (every state and kind, fills, modifies and reduce-only refusals), the ladder, the configs
    (asked in turn, and again: a config and a tick remembered, then another), the budget, the position and the limit:
    the same commands, in the same order, to the bit."""
    tick, mid = tick_mid
    t = _tracker(orders, position * lot, tick, lot, mid)
    desired = data.draw(_ladders(tick, lot, mid))
    budget = RequestBudget(BudgetConfig())
    budget.used = used
    for i, cfg in enumerate(cfgs + cfgs[:1]):
        for tk in (tick, tick * 2.0, tick):  # the same config at another tick, and back
            kw = dict(tick=tk, lot=lot, max_position=limit * lot, budget=budget, cfg=cfg, min_notional=min_notional,
                      cancel_only=cancel_only, exposures=t.exposures() if pass_exposures else None,
                      reducing_out=reducing_out)
            _both(desired, t, i, **kw)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), tick_mid=_TICK_MID, orders=st.lists(_ORDER, max_size=8), cfg=_CFG,
       cycles=st.integers(2, 8), keep=st.sampled_from([1, 2, 4096]), lot=st.sampled_from([0.001, 1.0]))
def test_a_session_of_cycles_sends_what_the_replaced_code_sent(data, tick_mid, orders, cfg, cycles, keep, lot):
    """Cycles of a session: each cycle's commands, the same from both, applied to the tracker, then answered (acks,
    fills, cancels confirmed) as hypothesis draws, the ladder moving or not; the memos kept small (``keep``) so that
    they start afresh within the session as well as not."""
    tick, mid = tick_mid
    t = _tracker(orders, 0.0, tick, lot, mid)
    budget = RequestBudget(BudgetConfig())
    global _SIZE_BANDS_KEEP, _LOTTED_KEEP
    shipped = (new_module._SIZE_BANDS_KEEP, new_module._LOTTED_KEEP, _SIZE_BANDS_KEEP, _LOTTED_KEEP)
    new_module._SIZE_BANDS_KEEP = new_module._LOTTED_KEEP = _SIZE_BANDS_KEEP = _LOTTED_KEEP = keep
    try:
        desired = data.draw(_ladders(tick, lot, mid))
        oid = 5000
        for cycle in range(cycles):
            if data.draw(st.booleans()):
                desired = data.draw(_ladders(tick, lot, mid))
            kw = dict(tick=tick, lot=lot, max_position=40 * lot, budget=budget, cfg=cfg, min_notional=0.0,
                      exposures=t.exposures())
            out = _both(desired, t, 100 + cycle, **kw)
            for c in _flat(out):
                t.on_command(c, 1.0 + cycle)
            for c in _flat(out):
                oid += 1
                fate = data.draw(st.sampled_from(["ack", "ack", "none", "fill"]))
                if fate == "none":
                    continue
                if isinstance(c, PlaceOrder):
                    t.on_event(OrderAcknowledged(1.1 + cycle, c.cloid, oid, True))
                    if fate == "fill":
                        t.on_event(FillReceived(1.2 + cycle, c.cloid, oid, c.px, c.sz, c.side, 0.0, True, oid))
                elif isinstance(c, ModifyOrder):
                    t.on_event(ModifyAcknowledged(1.1 + cycle, c.cloid, c.new_cloid, oid, True))
                elif isinstance(c, CancelOrder):
                    t.on_event(CancelAcknowledged(1.1 + cycle, c.cloid))
    finally:
        new_module._SIZE_BANDS_KEEP, new_module._LOTTED_KEEP, _SIZE_BANDS_KEEP, _LOTTED_KEEP = shipped


def test_the_commands_are_compared_to_their_types_and_bits():
    """The comparison the tests above make sees what == does not: a flag made an int, a size of -0.0, a Side made
    its integer."""
    a = PlaceOrder("0x1", Side.BUY, 100.0, 0.0, Tif.ALO, False)
    assert same([Batch((a, a))], [Batch((a, a))])
    assert a == a._replace(reduce_only=0) and not same(a, a._replace(reduce_only=0))
    assert a == a._replace(sz=-0.0) and not same(a, a._replace(sz=-0.0))
    assert a == a._replace(side=1) and not same(a, a._replace(side=1))
    assert not same(Batch((a,)), Batch((a._replace(px=math.nextafter(100.0, 0.0)),)))


def test_a_ladder_of_as_many_levels_as_the_config_allows_is_reconciled_as_before():
    """LadderConfig.n_levels at its bound (read from the config: a change of it is followed here), the ladder the quote
    cycle makes of it (KeptLadder), every level resting a tick behind its quote or not at all, or the ladder moved
    three ticks: the replaced code's commands; none raises for want of a level's band (reconcile's table of levels,
    64 before, is made for the config's bound)."""
    n = LadderConfig(n_levels=_N_LEVELS_BOUND).n_levels
    tick, lot = 1.0, 0.001
    lad = KeptLadder(n, 2.0, [lot * (i + 1) for i in range(n)], 5, 10.0, tick=tick, ask_sizes=None,
                     desired=(DesiredQuote, Side.BUY, Side.SELL))
    desired = lad.quotes(99_990.0, 100_010.0, 99_990, 100_010)
    assert len(desired) == 2 * n and max(d.level for d in desired) == n - 1
    for resting in (desired, desired[::2], []):
        t = OrderTracker()
        for i, d in enumerate(resting):
            cloid = f"0x{i + 1:032x}"
            t.on_command(PlaceOrder(cloid, d.side, d.px - d.side * tick, d.sz, Tif.ALO, False), 0.0)
            t.on_event(OrderAcknowledged(0.1, cloid, i + 1, True))
        for cycle, want in enumerate((desired, lad.quotes(99_993.0, 100_013.0, 99_993, 100_013))):
            kw = dict(tick=tick, lot=lot, max_position=1.0, budget=RequestBudget(BudgetConfig()),
                      cfg=ReconcileConfig(max_requests_per_cycle=100))
            out = _flat(_both(want, t, cycle, **kw))
            assert (out == []) == (resting is desired and cycle == 0)
