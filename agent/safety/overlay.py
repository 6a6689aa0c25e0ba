"""The safety overlay: what a safety level does to the quotes (DESIGN §6 'action' column).

| level  | spread_mult        | size_factor         | sides             | other                     |
|--------|--------------------|---------------------|-------------------|---------------------------|
| Green  | 1                  | 1                   | both              |                           |
| Yellow | yellow_spread_mult | yellow_size_factor* | both              |                           |
| Orange | orange_spread_mult | orange_size_factor  | reducing only     | reduce_only exits         |
| Red    | 1                  | red_exit_size_factor| reducing only     | reduce_only exits         |
| Kill   | 1                  | 0                   | none              | cancel_all, flatten/hold  |

* not on the reducing side while |position| is over the position limit (the quote cycle's
``reducing_size_factor``): those orders are exits, and the factor is caution about new risk.

``single_side``: None both sides; +1 bids only; −1 asks only; 0 no side at all (flat at Orange or
above: nothing reduces, so nothing is quoted). Use ``allows(side)`` rather than its truthiness.
``spread_mult`` is for the caller to apply to the half spread before the ladder: ``apply_to_quotes``
never moves prices.
"""
from __future__ import annotations

import math

from typing import NamedTuple, Sequence

from agent.execution.reconcile import DesiredQuote, refused_under_minimum, with_size
from agent.safety.escalator import SafetyConfig, SafetyLevel


class SafetyOverlay(NamedTuple):
    """What the level does to the quotes (a NamedTuple: built every tick, compared every cycle)."""

    spread_mult: float = 1.0
    size_factor: float = 1.0
    single_side: int | None = None
    reduce_only: bool = False
    cancel_all: bool = False
    flatten: bool = False
    position: float = 0.0  # the position the overlay was computed for (caps reduce-only size)
    # the reducing side's factor where it is not size_factor (None: it is): the quote cycle sets 1.0 at Yellow while
    # the position is over the position limit, where that side's orders are exits (overlay_for never sets it)
    reducing_size_factor: float | None = None

    def allows(self, side: int) -> bool:
        s = self.single_side
        return not self.cancel_all and (s is None or (s != 0 and s == side))

    def forbids(self, side: int, reduce_only: bool) -> bool:
        """Whether an order resting on ``side`` has no place at this level: a side it does not quote, or, with
        reduce-only exits (Orange and above), an order without the flag."""
        return not self.allows(side) or self.reduce_only and not reduce_only


NORMAL = SafetyOverlay()
_PLAIN, _NAMED, _DESIRED = "plain tuple", "NamedTuple", "DesiredQuote"  # apply_to_quotes' shapes of quote
_new_tuple = tuple.__new__


def reducing_side(position: float) -> int:
    """The side whose fills shrink |position|: sell (−1) when long, buy (+1) when short, 0 when flat."""
    return -1 if position > 0.0 else 1 if position < 0.0 else 0


def overlay_for(level: SafetyLevel, position: float, config: SafetyConfig) -> SafetyOverlay:
    if level == SafetyLevel.GREEN:
        return SafetyOverlay(position=position)
    if level == SafetyLevel.YELLOW:
        return SafetyOverlay(config.yellow_spread_mult, config.yellow_size_factor, position=position)
    side = reducing_side(position)
    if level == SafetyLevel.ORANGE:
        # reduce-only too: the quotes are capped at |position|, but after a partial fill the orders still being
        # cancelled or modified can fill beside them, and plain exits then flip the position (Feb 10's way)
        return SafetyOverlay(config.orange_spread_mult, config.orange_size_factor, side, reduce_only=True,
                             position=position)
    if level == SafetyLevel.RED:
        return SafetyOverlay(1.0, config.red_exit_size_factor, side, reduce_only=True, position=position)
    return SafetyOverlay(1.0, 0.0, 0, reduce_only=True, cancel_all=True,
                         flatten=config.kill_action == "flatten" and position != 0.0, position=position)


def apply_to_quotes(overlay: SafetyOverlay, quotes: Sequence, *, lot: float = 0.0) -> list:
    """Enforce ``overlay`` on quotes, best first; each a (side, px, sz, reduce_only) tuple or a
    NamedTuple with ``side``, ``px``, ``sz`` and ``reduce_only`` fields (e.g. ``DesiredQuote``),
    returned in the same shape.

    - cancel_all: nothing;
    - drops quotes on a side the overlay does not allow (single_side, or any side when reduce_only
      and flat), and reduce-only quotes on the side that would grow the position;
    - sizes × size_factor (the reducing side's × reducing_size_factor when it is set), floored to ``lot``
      when given; zero sizes dropped;
    - reduce_only marks every kept quote reduce-only; the total of reduce-only quotes, and of any
      quotes when the overlay restricts to one side (Orange), is capped at |position| (in order:
      the last one is cut, the rest dropped), so exits never flip the position.
    """
    if overlay.cancel_all:
        return []
    pos = overlay.position
    red = -1 if pos > 0.0 else 1 if pos < 0.0 else 0  # reducing_side(pos), inlined: called every cycle
    room = abs(pos)
    f = overlay.size_factor
    f_red = overlay.reducing_size_factor
    if f_red is None:
        f_red = f
    force_ro = overlay.reduce_only
    single = overlay.single_side
    one_side = single is not None
    out = []
    seen = None  # the type seen last, and what it is (asked once per type, not per quote)
    shape = _PLAIN
    for q in quotes:
        t = type(q)
        if t is not seen:
            seen = t
            shape = _DESIRED if t is DesiredQuote else _NAMED if t is not tuple and hasattr(q, "_replace") else _PLAIN
        if shape is _DESIRED:  # the quote cycle's own: (side, px, sz, level, reduce_only), its Side an int already
            side, sz, ro = q[0], q[2], q[4]
        elif shape is _NAMED:
            side, sz, ro = int(q.side), q.sz, q.reduce_only
        else:
            side, sz, ro = int(q[0]), q[2], q[3]
        if one_side and (single == 0 or single != side):  # not overlay.allows(side)
            continue
        ro = ro or force_ro
        if ro and side != red:
            continue
        sz *= f_red if side == red else f
        capped = ro or one_side
        if capped and room < sz:
            sz = room
        if lot > 0.0:
            sz = int(sz / lot + 1e-9) * lot
        if sz <= 0.0:
            continue
        if capped:
            room -= sz
        if shape is _DESIRED:
            # with_size(q, sz, ro) made in place: that call, its list and its lookup were a third of the overlay's
            # cost on a cycle whose ladder had moved at Yellow or Orange (the overlay's result is memoised for the
            # rest); unchanged, the same immutable quote
            out.append(q if sz == q[2] and ro == q[4] else _new_tuple(DesiredQuote, (q[0], q[1], sz, q[3], ro)))
        elif shape is _NAMED:
            if sz != q.sz or ro != q.reduce_only:
                q = with_size(q, sz, ro)
            out.append(q)  # unchanged: the same immutable quote
        else:
            out.append((q[0], q[1], sz, ro))
    return out


def overlaid_quotes(overlay: SafetyOverlay, quotes: Sequence, lot: float, min_notional: float) -> list:
    """``to_venue_minimum(apply_to_quotes(overlay, quotes, lot=lot), overlay.position, min_notional, lot,
    capped=overlay.single_side is not None)`` (``_two_passes``): what the quote cycle makes of its ladder above Green,
    and of Shadow's exits. On the cycle's own quotes (DesiredQuote) with a lot, for the overlays the levels make, the
    ladder is walked once, the tests that hold for every quote taken once per call: Yellow's (both sides, reduce-only
    where a quote says so) and Orange's and Red's (one side, every quote reduce-only: those quoted are the reducing
    side's, capped, or none). apply_to_quotes' arithmetic then to_venue_minimum's, per quote, in the same order, so
    the same doubles; a quote left as it was is the same object. A list holding another kind of quote: the two passes.

    The two passes read every quote twice, each field by index (3 bytecodes a read, up to 8 reads a quote), and made
    a quote under the minimum twice (the overlay's copy, then with_size's): some 750 bytecodes on a shipped cycle whose
    ladder had moved at Yellow (6 quotes), most of the shipped profile's p99 cycles but the arrival fit's. Here each
    quote is unpacked once and, where the overlay keeps it, checked against the minimum at once (to_venue_minimum's
    rule written out: the product is its first clause, and most quotes are worth the minimum); in one frame (a call
    with the overlay's terms as arguments was a tenth of a Yellow ladder's cost)."""
    _, f, single, force_ro, cancel_all, _, pos, f_red = overlay  # (unpacked at once: a field's read is 3 bytecodes)
    if cancel_all:
        return []
    if not (lot > 0.0 and type(quotes) is list and (single is not None) is force_ro):
        return _two_passes(overlay, quotes, lot, min_notional)
    if f_red is None:
        f_red = f
    mn = min_notional
    red = -1 if pos > 0.0 else 1 if pos < 0.0 else 0  # reducing_side(pos), for the overlay
    pos_abs = abs(pos)
    room = pos_abs  # the overlay's cap on reduce-only size
    out: list = []
    push = out.append
    dq = DesiredQuote
    if single is not None:  # Orange, Red: only ``single``'s quotes, each reduce-only, kept if that side reduces
        if single == 0 or single != red:
            for q in quotes:  # (none is kept: the general loop's answer for any quote, once the kinds are checked)
                if type(q) is not dq:
                    return _two_passes(overlay, quotes, lot, min_notional)
            return out
        room_min = pos_abs + 1e-12  # to_venue_minimum's cap (capped: every quote kept is on the reducing side)
        for q in quotes:
            if type(q) is not dq:
                return _two_passes(overlay, quotes, lot, min_notional)
            side, px, sz0, level, ro0 = q
            if side != single:
                continue
            ro = ro0 or force_ro
            sz = sz0 * f_red
            if room < sz:
                sz = room
            sz = int(sz / lot + 1e-9) * lot
            if sz <= 0.0:
                continue
            room -= sz
            if sz * px < mn and not (ro and sz >= pos_abs - 1e-12):  # refused_under_minimum: raised (an exit)
                sz = math.ceil(mn / px / lot - 1e-9) * lot
                if sz > pos_abs:
                    sz = pos_abs  # (reduce-only, the whole position: exempt)
                sz = round(sz, 10)
                if sz > room_min:
                    continue
                room_min -= sz
                push(_new_tuple(dq, (side, px, sz, level, ro)))
                continue
            if sz > room_min:
                continue
            room_min -= sz
            push(q if sz == sz0 and ro == ro0 else _new_tuple(dq, (side, px, sz, level, ro)))
        return out
    for q in quotes:  # Yellow (and Green's, but the quote cycle skips it): both sides, force_ro False
        if type(q) is not dq:
            return _two_passes(overlay, quotes, lot, min_notional)
        side, px, sz0, level, ro = q
        if ro:  # (ro or force_ro: ro)
            if side != red:
                continue
            sz = sz0 * f_red
            if room < sz:
                sz = room
            sz = int(sz / lot + 1e-9) * lot
            if sz <= 0.0:
                continue
            room -= sz
            if sz * px < mn and not sz >= pos_abs - 1e-12:  # refused_under_minimum: raised (kept, it reduces)
                sz = math.ceil(mn / px / lot - 1e-9) * lot
                if sz > pos_abs:
                    sz = pos_abs  # (the whole position: exempt)
                push(_new_tuple(dq, (side, px, round(sz, 10), level, ro)))
                continue
            push(q if sz == sz0 else _new_tuple(dq, (side, px, sz, level, ro)))
            continue
        sz = sz0 * (f_red if side == red else f)  # (ro or force_ro: False)
        sz = int(sz / lot + 1e-9) * lot
        if sz <= 0.0:
            continue
        if sz * px < mn:  # refused_under_minimum, not reduce-only
            if side != (-1 if pos > 0 else 1) or not pos_abs:  # increasing (to_venue_minimum's test): dropped
                continue
            sz = math.ceil(mn / px / lot - 1e-9) * lot  # a reducing one: raised, to at most the position
            if sz <= pos_abs:
                push(_new_tuple(dq, (side, px, round(sz, 10), level, False)))
            continue
        push(q if sz == sz0 and ro == False else _new_tuple(dq, (side, px, sz, level, False)))  # noqa: E712 (ro == ro0)
    return out


def _two_passes(overlay: SafetyOverlay, quotes: Sequence, lot: float, min_notional: float) -> list:
    """overlaid_quotes by its definition: the overlay, then the venue's minimum."""
    return to_venue_minimum(apply_to_quotes(overlay, quotes, lot=lot), overlay.position, min_notional, lot,
                            capped=overlay.single_side is not None)


def to_venue_minimum(quotes: list, position: float, min_notional: float, lot: float, *,
                     capped: bool = False) -> list:
    """After an overlay scaled or capped them: a quote worth less than the venue's minimum would only be
    rejected (a reduce-only one closing the whole position is exempt at the venue). An increasing one is
    dropped; a reducing one is raised to the minimum, or to the whole position when that is less (exempt
    when reduce-only): an exit is never shrunk out of existence, which is how exits stall.

    ``capped``: the overlay capped the reducing side's total at |position| (one side only, as at Orange,
    where the quotes are not reduce-only and nothing downstream caps them): raised, they still total no
    more than |position|, each one that would take them past it dropped. Several small exits each raised
    to the minimum would otherwise flip the position if all filled."""
    pos_abs = abs(position)
    reducing = -1 if position > 0 else 1
    room = pos_abs + 1e-12
    out = []
    for d in quotes:
        side = d.side  # a Side, an int: compared with ints as its value (Enum's .value is a slow property)
        # (the rule's first clause first: most quotes are worth the minimum, and are kept without the call)
        if d.sz * d.px < min_notional and refused_under_minimum(d.sz, d.px, d.reduce_only, pos_abs, min_notional):
            if side != reducing or not pos_abs:
                continue
            sz = math.ceil(min_notional / d.px / lot - 1e-9) * lot
            if sz > pos_abs:
                if not d.reduce_only:
                    continue
                sz = pos_abs
            d = with_size(d, round(sz, 10))
        if capped and side == reducing:
            if d.sz > room:
                continue
            room -= d.sz
        out.append(d)
    return out
