"""The agent's own books from its fills and funding payments: PnL, fees, funding, maker share and markouts.

Independent of the venue's account (which is the truth the tracker reconciles to); the ledger
is what the summary and the decision records report. Markouts: the mid ``h`` seconds after
each fill, signed so that positive means the fill made money (a buy below the later mid).

Its position starts from the venue's: a ledger made with ``anchored=False`` (the agent's, which may
start on an account an earlier run left a position and resting orders on) moves no position until
``anchor`` gives it the first account snapshot's. A fill before that may already be in the
snapshot's position (tid ≤ its watermark) or not: only the snapshot can say, so until then fills
count (fees, volume, markouts) but leave the position — and the equity and drawdown computed from it
— alone, instead of booking them into a position wrongly taken to be flat. What such a fill realised is
not in the snapshot's entry price (a reduction leaves it as it was): the venue's closedPnl for it is. So is one
the snapshot holds that reaches the ledger after it (its push late on the wire): the session's too, taken out of the
position the session started on as those before it are.

A position the session started on (an earlier run's) comes with the unrealised PnL it had then, which is
not the session's: ``carried_usd`` is it, at the session's first mid. A live run's drawdown rules measure
from the account's value at the start, which has it already; the equity leaves it out.

Funding (the venue's hourly payments on the position, ``on_funding``) is the session's money whatever the
position's origin: it enters the net PnL, and so the equity the drawdown rules watch.
"""
from __future__ import annotations

from agent.markouts import MarkoutQueue

# the finest lot _keep_decimals snaps to: a venue's size decimals are single digits (Hyperliquid's perps 0-5), and a
# size no lot up to it holds is float residue (an overfill's booked part, a fill's size less the excess), no lot
_MAX_DECIMALS = 8
# the most pending excesses settle_excess tries every set of (2^n sums): more is a run whose overfills no snapshot told
_MAX_PENDING = 12


class Ledger:
    __slots__ = ("position", "entry_px", "realized", "fees", "funding", "fills", "maker_fills",
                 "volume_usd", "maker_fees", "maker_volume_usd", "markouts", "max_abs_position", "anchored",
                 "watermark", "_unanchored", "_in_snapshot", "_snapshot", "start_position", "start_entry_px",
                 "start_mid", "_flat_cost", "sz_decimals", "unbooked", "apart", "_excesses",
                 "_apart_before", "_unresolved")

    def __init__(self, markout_horizons_s: tuple[float, ...] = (1.0, 10.0), *, anchored: bool = True,
                 sz_decimals: int | None = None) -> None:
        self.anchored = anchored  # False: the position is unknown until anchor() (the first snapshot)
        # the coin's size decimals: the venue's positions are decimals on its lot, and a sum of fills in floating
        # point is snapped back to it (_on_lot); None: not known, only a residue below 1e-12 is taken as flat
        self.sz_decimals = sz_decimals
        self.watermark = 0  # fills up to this id (fill_key: time, then tid) are in the anchoring snapshot's position
        # (tid, side, px, sz, closed_pnl) in the order given; px None: an overfill's excess (on_excess), sz its size,
        # and in closed_pnl's place its (px, fee, is_maker, made, whole)
        self._unanchored: list[tuple[int, int, float | None, float, float | tuple | None]] = []
        # the session's fills the anchoring snapshot's position holds (as _unanchored), given before it or after
        self._in_snapshot: list[tuple[int, int, float, float, float]] = []
        self._snapshot = (0.0, 0.0)  # the anchoring snapshot's position and entry price
        self.position = 0.0
        self.entry_px = 0.0
        # the cost (size x entry price, _move) left with no position: a block's fills reached the ledger out of the
        # venue's order and one left it flat mid-block (the block's later ones take it up), or the venue's closedPnl
        # was not from the ledger's entry price (the anchor's, as the wire rounded it). The next fill takes it up
        self._flat_cost = 0.0
        # the overfills' excess, signed: the venue's position holds it (or a copy's: not), the ledger's not; since one,
        # the venue's entry price is not the ledger's, nor its closedPnl the ledger's figure (closed_of_booked): until
        # both positions are flat or cross zero together (_move), the excess 0 then (excesses that cancel out leave
        # the positions alike and the entry prices apart, but for a real one and a copy, which the snapshot tells:
        # the split of realised and unrealised is a guess until then, the net right). A snapshot that says whether
        # the venue made them books or drops them (settle_excess)
        self.unbooked = 0.0
        self.apart = False
        # the excesses ``unbooked`` sums, for settle_excess: (tid, side, px, size, fee, is_maker, made, whole, marks,
        # booked, bmarks): marks, the excess's markouts, resolved apart until told (a MarkoutQueue a horizon: none
        # without a price or time); booked, the size of its fill booked, and bmarks that part's (a copy's taken back)
        self._excesses: list[tuple] = []
        self._apart_before = False  # ``apart`` before the first of them (excesses that cancelled out leave it set)
        self._unresolved: tuple | None = None  # the positions the last "unresolved" was said for (said once each)
        self.realized = 0.0
        self.fees = 0.0
        self.funding = 0.0  # funding received less funding paid, USDC (the venue's sign: negative when paid)
        self.fills = 0
        self.maker_fills = 0
        self.volume_usd = 0.0
        self.maker_fees = 0.0  # the maker fills' part of fees and volume: the rate the venue charges our quotes
        self.maker_volume_usd = 0.0
        self.max_abs_position = 0.0
        self.markouts = [MarkoutQueue(h) for h in markout_horizons_s]
        self.start_position = 0.0  # the position the session started on, and its entry price (from anchor())
        self.start_entry_px = 0.0
        self.start_mid = float("nan")  # the session's first mid

    def on_fill(self, ts: float, side: int, px: float, sz: float, fee: float, is_maker: bool,
                tid: int = 0, closed_pnl: float | None = None, filled_ts: float | None = None) -> None:
        """One fill, delivered at ``ts``; ``closed_pnl`` is what the venue realised on it (userFills' closedPnl; None:
        not known, as 0 for a fill in the snapshot), booked for a fill already in the anchoring snapshot's position
        and for one whose PnL the ledger works out otherwise (its block's fills out of the venue's order: _move).
        ``filled_ts``:
        when it happened on the same clock, where known (a fill delivered late, after an outage): its markouts
        run from then, and one whose horizon's mid is long past is dropped as the queue drops any late one."""
        if not self.anchored:
            self._unanchored.append((tid, side, px, sz, closed_pnl))  # its effect waits for anchor()
        elif tid and tid <= self.watermark:  # in the anchor's position already: only what it realised
            self._keep_decimals(sz)
            closed_pnl = closed_pnl or 0.0
            self.realized += closed_pnl
            # and it was the session's, not the earlier run's: the position the session started on is without it
            self._in_snapshot.append((tid, side, px, sz, closed_pnl))
            self._start_from_snapshot()
        else:
            self._move(side, px, sz, closed_pnl)
        self.fees += fee
        self.fills += 1
        self.volume_usd += px * sz
        if is_maker:
            self.maker_fills += 1
            self.maker_fees += fee
            self.maker_volume_usd += px * sz
        t0 = ts if filled_ts is None else filled_ts
        for q in self.markouts:
            q.add(t0, side, px, sz)

    def closed_of_booked(self, side: int, sz: float, booked: float, tid: int, closed_pnl: float | None,
                         start_position: float | None = None) -> float | None:
        """Of the venue's ``closed_pnl`` on a fill of ``sz``, the part on the ``booked`` size of it the core books
        (a fill past its order's size: what fits). A fill closes before it opens: its first min(sz, |position|)
        close, and the booked part holds them first. Taken as the booked share of the whole, a fill that reversed
        the position booked part of what it closed: the realised PnL short of the venue's by the rest and the new
        position's entry price off by it over the position (tests/agent/test_core.py).

        The position before the fill is the venue's, ``start_position`` (userFills' startPosition), where the fill
        says it: the closedPnl is over the size the venue closed from it. Else the ledger's once anchored (the fill
        past the snapshot), the share before that. The ledger's is not the venue's within a block given out of the
        venue's order (fills of one ms come in tid order, a hash), and there the closedPnl was spread over the size
        the ledger's position would close: a block's overfill that reversed the position, given before the fill
        that opened it (the ledger flat), booked 0.0016/0.0026 of what its part closed, the rest left in the entry
        price (test_core.py).

        After an excess (a fill's part past its order's size, never booked: on_excess) the venue's closedPnl is
        from the venue's position and entry price, which the excess moved, not the ledger's: the ledger's own figure
        (None) for every fill past the anchor, the core handing it here while ``apart``, a fill booked whole too.
        Split by the venue's start (even less the excess, ``unbooked``), a fill that fits whole after it booked the
        venue's 3.0 where the booked long made 2.5; a fill that did not say its start, or one after excesses that
        cancel out, booked the venue's figure; and a copy of a fill under another tid (an excess the venue never made,
        so not in its startPosition) made a sell that closed the long read as opening a short: 0 realised. Given in
        the venue's order, the ledger's figure is the account's of the sizes booked, whichever the excess was (the
        hypothesis test of excesses in the venue's order, test_ledger_vs_twin.py); out of it (a block given in tid
        order) the split is a guess, and the net is right whatever the split (_move's cost identity holds whatever
        closedPnl it is given; test_ledger_vs_twin.py)."""
        moves = self.anchored and not (tid and tid <= self.watermark)  # (else the anchor's position holds it)
        if closed_pnl is None or (moves and self.apart):
            return None  # (a fill in the anchor's position, not moving it, takes the venue's figure as before)
        if booked >= sz:
            return closed_pnl
        if start_position is not None:
            p = start_position
        elif not moves:
            return closed_pnl * booked / sz
        else:
            p = self.position
        if not p or (p > 0) == (side > 0):
            return closed_pnl * booked / sz
        closing = sz if sz < abs(p) else abs(p)
        return closed_pnl * (booked if booked < closing else closing) / closing

    def on_excess(self, side: int, size: float, tid: int = 0, px: float | None = None, fee: float = 0.0,
                  is_maker: bool = False, made: float | None = None, whole: bool = False,
                  booked: float = 0.0) -> None:
        """A fill's ``size`` past its order's that the core did not book (``side`` and ``tid`` the fill's): the venue's
        position holds it, the ledger's not; or it was a copy of a fill under another tid, which the venue never made.
        Either way the ledger books its own figures from now on (closed_of_booked), until ``apart`` clears (_move).
        One of a fill the anchoring snapshot holds (``tid`` up to its watermark) is in the ledger's position as in the
        venue's, the entries alike: nothing unbooked (counted, a later excess the other way read as cancelling it, and
        the entries were taken for alike again where they were not: test_ledger_vs_twin.py). Before the anchor it
        waits with the fills (set at once, a fill after it, split by the share before the anchor, was booked with the
        venue's closedPnl at the anchor). ``px``, ``fee`` (the excess's share of the fill's) and ``is_maker``: what
        settle_excess books if a snapshot shows the excess real (None: not known, never booked); ``made``, when its
        fill happened (its markout runs from then: None, none), and ``whole``, none of the fill fitted (nothing of it
        booked or counted): settle_excess counts it then as a fill of the ledger's. Its markouts are resolved apart
        from the ledger's while it waits (the mids on_mid gives), and taken into them if it is real: against the mid
        its horizon's time had, as a fill's (_count_real). ``booked``: the size of the fill that fitted its order,
        booked (on_fill, next): a copy's is one the venue never made either, taken back if a snapshot tells it a copy
        (_take_back; its markouts kept apart too, to be taken out of the ledger's alike)."""
        marks = () if made is None or px is None else tuple(MarkoutQueue(q.horizon_s) for q in self.markouts)
        for q in marks:
            q.add(made, side, px, size)
        booked = booked if booked > 1e-12 and px is not None else 0.0  # (none known without a price: as before)
        bmarks = tuple(MarkoutQueue(q.horizon_s) for q in marks) if booked else ()
        for q in bmarks:
            q.add(made, side, px, booked)  # (as on_fill adds the booked part to the ledger's, from when it was made)
        e = (tid, side, px, size, fee, is_maker, made, whole, marks, booked, bmarks)
        if not self.anchored:  # (the anchor says whether the snapshot holds it: set then, in the order given)
            # (all of it kept, its booked part and markouts too: before, the booked part was lost here, and a copy
            # that partly fitted, given before the first snapshot, was "unresolved" for good: test_ledger_vs_twin.py)
            self._unanchored.append((tid, side, None, size, e))
            return
        self._pend(e)

    def _pend(self, e: tuple) -> None:
        """An excess (on_excess's tuple) pending, once the anchor is known: none if the anchor's position holds it."""
        tid, side, size = e[0], e[1], e[3]
        if tid and tid <= self.watermark:
            return
        u = self._on_lot(self.unbooked + side * size)  # (a sum of sizes: on the lot, as the position)
        self.unbooked = u if abs(u) >= 1e-9 else 0.0  # (below any lot: float residue, an excess of 1e-12 is none)
        if not self._excesses:  # (the first of them: a new overfill's "unresolved" is said even for the same gap)
            self._apart_before, self._unresolved = self.apart, None
        self.apart = True
        # (kept when they cancel out: a real one and a copy leave the positions apart, and the snapshot tells them)
        self._excesses = [*self._excesses, e]

    @property
    def pending(self) -> bool:
        """Excesses a snapshot has yet to settle (``unbooked`` their sum: 0 for ones that cancel out)."""
        return bool(self._excesses)

    def settle_excess(self, venue_position: float, watermark: int) -> str | None:
        """The venue's ``venue_position`` (a snapshot's, every fill up to id ``watermark`` in it, plus the booked
        fills after it) says whether the unbooked excesses were the venue's. Never booked, a real one left the ledger
        apart from the account for good: a flatten sized from the venue's position (the excess in it) sold it all,
        the venue ended flat and the ledger short by the excess, its unrealised PnL (the summary's, the equity the
        drawdown rules watch) marking a position the account does not hold (test_core.py).

        The venue holds the ledger's position plus the real ones: an excess real in every set of them whose sum is
        the gap is booked at its fill's price and fee (after the fills since; the split of realised and unrealised is
        then the ledger's, the net the account's), one in none is a copy (a fill given twice, which the venue never
        made) and dropped, and the rest stay unbooked (_told). Returns the verdict: "real" (all booked), "copy" (all
        dropped: the ledger's figures the venue's again), "mixed" (some each), "guessed" (more than one set sums to the
        gap and they differ on some, which add to the venue's position: the set with the earliest given real booked,
        the rest dropped, _guess), "unresolved" (some left: no set sums to the gap; once for a gap; ones that add
        nothing to the venue's position whichever they are, as a buy's and a sell's of one size, are let go then: no
        later snapshot tells more);
        None when the snapshot cannot say: no excess, or one it may not hold (after its watermark, or of an unknown
        id)."""
        ex = self._excesses
        if not ex or not self.anchored or any(not t or t > watermark for t, *_ in ex):
            return None
        gap = self._on_lot(venue_position - self.position)
        told, fit = self._told(gap)
        rest = self._rest(told, gap)
        guessed = False
        if fit and None in told and not self._let_go(told, rest):
            told, guessed = self._guess(told, fit)
            rest = self._rest(told, gap)
        real = [e for e, t in zip(ex, told) if t]
        back = [e for e, t in zip(ex, told) if t is False and e[9]]  # (copies with a part booked: taken back)
        if real or back:  # (apart until both positions are flat or cross zero: set again if cleared by ones that
            self.apart = True  # cancelled; a part taken back leaves the entry price as it was, its PnL realised)
        for _, side, px, sz, fee, is_maker, _, whole, marks, _, _ in real:  # (in the order given)
            self._move(side, px, sz, None)  # (apart: the ledger's own figure, as for every fill since)
            self.fees += fee
            self.volume_usd += px * sz
            if is_maker:
                self.maker_fees += fee
                self.maker_volume_usd += px * sz
            self._count_real(is_maker, whole, marks)
        for e in back:
            self._take_back(e)
        left = [e for e, t in zip(ex, told) if t is None]
        if left and fit and self._let_go(told, rest):
            # the ones left add nothing to the venue's position, whichever they are (a buy's and a sell's of one
            # size: a real round trip or two copies): the positions are alike, and every later snapshot would read
            # them as this one. Said once and let go, the ledger's PnL short what a real round trip made, its entry
            # price apart (``apart`` kept). Before, they were forgotten as they cancelled out, unsaid, and a real
            # one with a copy left the ledger's position off the venue's for good (test_ledger_vs_twin.py)
            self.unbooked = 0.0
            self._excesses = []
            return "unresolved"
        if left:
            self._excesses = left
            u = self._on_lot(sum(side * sz for _, side, _, sz, *_ in left))
            self.unbooked = u if abs(u) >= 1e-9 else 0.0
            # (said once for the positions: the audit's snapshot, every interval, would say it again and again)
            said, self._unresolved = self._unresolved, (rest, left)
            return None if said == self._unresolved and len(left) == len(ex) else "unresolved"
        if not real and not back:
            self.apart = self._apart_before  # (the ledger booked what the venue made, no more: as before them)
        self.unbooked = 0.0
        self._excesses = []
        return "guessed" if guessed else "real" if len(real) == len(ex) else "mixed" if real else "copy"

    def _rest(self, told: list[bool | None], gap: float) -> float:
        """What of ``gap`` the excesses ``told`` leaves (None) must explain: less the real ones' sizes, plus the
        parts of the copies' fills booked (a copy's whole fill is one the venue never made)."""
        ex = self._excesses
        return self._on_lot(gap - sum(e[1] * e[3] for e, t in zip(ex, told) if t)
                            + sum(e[1] * e[9] for e, t in zip(ex, told) if t is False))

    def _let_go(self, told: list[bool | None], rest: float) -> bool:
        """The ones ``told`` leaves add nothing to the venue's position whichever they are: all copies with no part
        booked is a set that fits (``rest`` 0), as is the one real round trip among them (settle_excess)."""
        return abs(rest) < 1e-9 and not any(e[9] for e, t in zip(self._excesses, told) if t is None)

    def _guess(self, told: list[bool | None], fit: list[int]) -> tuple[list[bool | None], bool]:
        """``told`` with the ones no set tells (two sets that fit the gap differ on them: two buys of one size, one
        real) taken from the set that has the earliest given real (a copy comes after the fill it copies), and
        whether it is such a guess. No later snapshot tells more: the gap is theirs for good. Before, they stayed
        pending for good, the ledger's position off the venue's by the real one, and counted toward _MAX_PENDING,
        past which no excess on both sides was told again (test_ledger_vs_twin.py). Booked, the ledger's position is
        the venue's and its net PnL off at most by the price difference of the ones it chose between (none for a fill
        and its own copy: one price, fee and time)."""
        ex = self._excesses
        ok = [m for m in fit if all(e[2] is not None for i, e in enumerate(ex) if m >> i & 1)]  # (a price to book)
        if not ok:
            return told, False
        pick = max(ok, key=lambda m: [m >> i & 1 for i in range(len(ex))])
        return [bool(pick >> i & 1) if t is None else t for i, t in enumerate(told)], True

    def _take_back(self, e: tuple) -> None:
        """A copy's part that fitted its order, booked as a fill (on_fill) the venue never made: out of the position
        (a fill the other way at its price: the net as it was, the split of realised and unrealised the ledger's),
        the fill count, fees, volume and markouts. Before, a copy that partly fitted left the ledger long (or short)
        that part for good, no set of the excesses summing to the snapshot's gap ("unresolved"), and every later
        excess read against that gap: a real one that made up for it taken for a copy (test_core.py)."""
        _, side, px, size, fee, is_maker, _, _, _, booked, bmarks = e
        fee = fee * booked / size  # (the fill's fee shared by size, as the core splits it)
        self._move(-side, px, booked, None)
        self.fees -= fee
        self.volume_usd -= px * booked
        self.fills -= 1
        if is_maker:
            self.maker_fills -= 1
            self.maker_fees -= fee
            self.maker_volume_usd -= px * booked
        for q, held in zip(self.markouts, bmarks):
            q.give_back(held)

    def _count_real(self, is_maker: bool, whole: bool, marks: tuple[MarkoutQueue, ...]) -> None:
        """A real excess in the fill count and the markouts, as on_fill counts a fill: the account made it. Its
        markouts (notional-weighted, as every fill's) from when its fill was made, resolved while it waited
        (``marks``, on_excess) against the mid its horizon's time had, as a fill's: one settled 1-5 s past its
        horizon was marked against the first mid after the settling, not the horizon's (test_ledger_vs_twin.py);
        one whose mid came past MAX_LATE_S is dropped as any late one (agent.markouts). A fill with a part booked is
        counted already (one fill, the count the venue's userFills give); one wholly past its order's size was not:
        counted now, and a maker one in the maker share, whose fees and volume it is in. Before, neither: the
        summary's fills and maker share short a fill the venue made, and its markout weighted by the booked part
        alone (test_ledger_vs_twin.py). Not the promotion evidence (graduation, the core's note_fill): a fill past
        its order's size is none, the part that fitted neither (it may be a copy: its fill's markout counted twice)."""
        for q, held in zip(self.markouts, marks):
            q.take(held)
        if whole:
            self.fills += 1
            if is_maker:
                self.maker_fills += 1

    def _told(self, gap: float) -> tuple[list[bool | None], list[int]]:
        """Per pending excess, what the venue's position being the ledger's plus ``gap`` says of it: True, real in every
        set of the excesses whose sum is ``gap``; False, in none (a copy); None, in some (or no set sums to it, or a
        real one's price is not known); and the sets that sum to it (bit i set: the i-th real). Only a set's sum can
        tell: a buy's and a sell's of one size (a real round trip or two copies), or two buys of one size with one real,
        are left (_guess). Before, excesses on both sides were never settled, nor any given after them
        (test_ledger_vs_twin.py): their sum alone reads a real round trip and two copies alike, where the sets of a
        buy's and a sell's of other sizes have four sums, one each. On one side only, all real or all copies is the one
        set, as before. Past _MAX_PENDING excesses only those two sets are tried, and only on one side, where no other
        set has their sums: on both, a real round trip among copies sums to 0 as none does, two copies among real ones
        to all's (taken for the one set, the round trip was dropped, or the copies booked: test_ledger_vs_twin.py), so
        none is told."""
        ex = self._excesses
        n = len(ex)
        one_side = all(e[1] == ex[0][1] for e in ex)
        sets = range(1 << n) if n <= _MAX_PENDING else (0, (1 << n) - 1) if one_side else ()
        base = -sum(e[1] * e[9] for e in ex)  # (all copies: the parts booked of their fills not the venue's)
        fit = [m for m in sets
               if abs(self._on_lot(base + sum(e[1] * (e[3] + e[9]) for i, e in enumerate(ex) if m >> i & 1)) - gap)
               < 1e-9]
        told: list[bool | None] = []
        for i, e in enumerate(ex):
            held = {bool(m >> i & 1) for m in fit}
            told.append(None if len(held) != 1 or (True in held and e[2] is None) else held.pop())
        return told, fit

    def on_funding(self, usdc: float) -> None:
        """One hourly funding payment, ``usdc`` signed as the venue's (negative: paid)."""
        self.funding += usdc

    def anchor(self, position: float, entry_px: float, watermark: int) -> None:
        """Start the position from the venue's (the first account snapshot: ``position`` at its entry
        price, every fill up to tid ``watermark`` in it), then apply the fills seen before it that came
        after the watermark. A fill in the snapshot realises what the venue says it did: the position and
        entry price have the rest of it."""
        self.anchored = True
        self.watermark = watermark
        self._keep_decimals(position)
        for fill in self._unanchored:
            if fill[2] is not None:
                self._keep_decimals(fill[3])
        position = self._on_lot(position)
        self.position = position if abs(position) >= 1e-12 else 0.0
        self.entry_px = entry_px if self.position else 0.0
        self._flat_cost = 0.0
        self.max_abs_position = max(self.max_abs_position, abs(self.position))
        self._snapshot = (self.position, self.entry_px)
        self._in_snapshot = [(t, s, p, z, c or 0.0) for t, s, p, z, c in self._unanchored
                             if t and t <= watermark and p is not None]
        self._start_from_snapshot()
        own = None  # an excess just replayed: (its tid, ``apart`` before it); its fill, given next, was split before it
        for tid, side, px, sz, closed_pnl in self._unanchored:
            if px is None:  # an excess: past the watermark, as on_excess after the anchor
                own = (tid, self.apart)
                self._pend(closed_pnl)
                continue
            if tid and tid <= watermark:
                self.realized += closed_pnl or 0.0
            else:  # while apart, the ledger's own figure (closed_of_booked), as the core asks after the anchor
                apart = own[1] if own is not None and own[0] == tid else self.apart
                self._move(side, px, sz, None if apart else closed_pnl)
            own = None
        self._unanchored.clear()

    def _start_from_snapshot(self) -> None:
        """The position the session started on: the anchoring snapshot's, less the session's fills it holds (made
        in the session, before the snapshot). One of them delivered after the snapshot (late on the wire) was taken
        for the earlier run's: its PnL since the first mid was read as carried in, not made (hypothesis test in
        tests/agent/test_ledger_vs_twin.py).

        Worked out from totals, in no order: whatever order the venue made them in, the snapshot's cost (its size
        times its entry price) is the start's, plus each fill's signed notional, plus what the fills closed (the
        venue's closedPnl). Undoing them one by one, newest first, needed their order, which their ids do not give
        within a block: fills of one millisecond are keyed by tid, a hash (a sweep through two of our asks that
        took the position through zero, undone in tid order, gave the start an entry price off by the asks' gap)."""
        position, entry = self._snapshot
        if not self._in_snapshot:
            self.start_position, self.start_entry_px = position, entry
            return
        start, cost = position, position * entry
        for _, side, px, sz, closed_pnl in self._in_snapshot:
            start -= side * sz
            cost -= side * sz * px + closed_pnl
        start = self._on_lot(start)
        if abs(start) < 1e-12:
            self.start_position, self.start_entry_px = 0.0, 0.0
        else:
            self.start_position, self.start_entry_px = start, cost / start

    def _move(self, side: int, px: float, sz: float, closed_pnl: float | None) -> None:
        """Book a fill past the anchor: what it realises and where it leaves the position and its entry price.

        Worked out as the venue does, from the position before it, which is the venue's only when fills reach the
        ledger in the venue's order. Those of one block (a millisecond: a taker's sweep through levels, or through
        two of our orders) come in id order from a fill query or a recovery, and the id's tid is a hash: one of a
        sweep through zero booked before the one the venue made first realised the other's PnL (hypothesis test and
        a TwinGateway session in tests/agent/test_ledger_vs_twin.py). So when the venue's closedPnl is given and
        is not what the ledger works out, the ledger takes the venue's, and the entry price from the identity every
        fill keeps, whatever the order (as _start_from_snapshot undoes them): size times entry price moves by the
        fill's signed notional plus what it closed. Mid-block the entry price may then be no real one, and the ledger
        may be flat with a cost left (_flat_cost, in the unrealised PnL: the net is order-free); at the block's end
        both are the venue's, as the realised PnL is. (Set to 0 there, that cost was lost: the net PnL and the
        equity off for good, test_a_block_given_out_of_order_that_leaves_the_ledger_flat_mid_block_keeps_the_net_pnl;
        so a close to flat from an anchor whose entry price the wire rounded, as the test after it.)
        Where the ledger's figure is the venue's and nothing is left, the arithmetic is as before the identity."""
        # (_keep_decimals' first test and _on_lot written out: every fill, and nearly every one is on the lot)
        d = self.sz_decimals
        if d is not None and round(sz, d) != sz:  # off the lot: the finer one kept (which _on_lot below rounds to)
            self._keep_decimals(sz)
            d = self.sz_decimals
        start = self.position
        entry = self.entry_px
        signed = side * sz
        own = 0.0
        if start != 0.0 and (start > 0) != (side > 0):
            own = (px - entry) * min(sz, abs(start)) * (1.0 if start > 0 else -1.0)
        end = start + signed
        if d is not None:
            end = round(end, d)
        if abs(end) < 1e-12:
            end = 0.0
        venues = closed_pnl is not None and abs(own - closed_pnl) > 1e-6 + 1e-9 * px * sz  # (the wire's 6 decimals)
        if venues:
            own = closed_pnl
        if venues or self._flat_cost:
            cost = start * entry + self._flat_cost + signed * px + own  # (a flat cost is with no position)
            entry, self._flat_cost = (cost / end, 0.0) if end else (0.0, cost)
        elif not end:
            entry = 0.0
        elif start == 0.0 or (start > 0) != (end > 0):
            entry = px
        elif abs(end) > abs(start):
            entry = (entry * abs(start) + px * sz) / abs(end)
        self.entry_px = entry
        self.realized += own
        self.position = end
        if self.apart and not self.unbooked and (not start or not end or (start > 0) != (end > 0)):
            self.apart = False  # the venue's position is the ledger's, and flat or new at this price: as the ledger's
        if abs(end) > self.max_abs_position:
            self.max_abs_position = abs(end)

    def _on_lot(self, size: float) -> float:
        """``size`` on the coin's lot, the nearest double to the decimal the venue holds (as the wire's size parses).
        A sum of lot-sized fills in floating point carries residue, relative to the size: a position of 10^5-10^6
        (a coin under a dollar, at sizes of tenths) closed in a few fills read 1.5e-10 where the venue's is 0, and
        where the cost identity set the entry price (_move) that was the cost over the residue, 6.6e7 for a coin at
        1.05 (test_ledger_vs_twin.py). Snapped, flat is 0 and the cost left is _flat_cost, as for any flat."""
        d = self.sz_decimals
        return size if d is None else round(size, d)

    def _keep_decimals(self, size: float) -> None:
        """Snap to the finer lot of a size the venue holds or fills that is off the coin's lot (``_on_lot``): the venue
        lowers a coin's size decimals (a restart reads the new ones) under a position made on the old lot, and its
        remainder stays the account's. Snapped to the new lot, a position of 0.00123 under 4 decimals was 0.0012 in
        the ledger: the position, its equity and the next close's PnL off by the remainder for good, and a close of
        the 0.0012 left the ledger flat with the venue's 0.00003 still held. The decimals kept are the fewest that
        hold ``size`` to its floating point (a residue of a sum is no remainder: _on_lot's 1.5e-10 at 1e6), and
        none past ``_MAX_DECIMALS``: a size no venue lot holds is float residue, not a lot (an overfill's booked part,
        1.46e-12 for a fill of 0.1 past an order of 26,666.6, made the lot 12 decimals, and the residue of the large
        position's closes after it, -5.8e-11, was kept where the venue is flat: test_core.py)."""
        d = self.sz_decimals
        if d is None or round(size, d) == size:
            return  # (on the lot, as nearly every fill is: the loop below would keep d as it is)
        tol = 1e-12 * (abs(size) if abs(size) > 1.0 else 1.0)
        while d < _MAX_DECIMALS and abs(round(size, d) - size) > tol:
            d += 1
        if abs(round(size, d) - size) <= tol:
            self.sz_decimals = d

    def on_mid(self, ts: float, mid: float) -> None:
        if self.start_mid != self.start_mid:
            self.start_mid = mid
        for q in self.markouts:
            if not ts < q.next_due:  # (its on_mid's first test, asked here: most mids, no fill is due)
                q.on_mid(ts, mid)
        # (the excesses' markouts, apart until told: _count_real, _take_back; those given before the anchor too)
        if self._excesses or self._unanchored:  # (every mid: nothing built when none waits)
            for e in (*self._excesses, *(f[4] for f in self._unanchored if f[2] is None)):
                for q in (*e[8], *e[10]):
                    q.on_mid(ts, mid)

    def unrealized(self, mid: float) -> float:
        """At ``mid``; flat, less the cost left with no position (0 but mid-block or after a rounded anchor: _move)."""
        return (mid - self.entry_px) * self.position if self.position else 0.0 - self._flat_cost  # (0.0, not -0.0)

    def net(self, mid: float) -> float:
        """The session's PnL, USDC: realised plus unrealised at ``mid``, less fees, plus funding (received less
        paid), less ``carried_usd``: the unrealised PnL a position an earlier run left had at the session's first mid
        is in the unrealised (marked from the venue's entry price) but was not made by this session."""
        # (unrealized and carried_at written out, their arithmetic as it is there: read every quote cycle, for the
        # equity the safety rules watch, and most sessions start flat, with nothing carried)
        sp = self.start_position
        if sp:
            first = self.start_mid  # the first mid, or this one when none has come (it is then the first)
            carried = sp * ((first if first == first else mid) - self.start_entry_px)
        else:
            carried = 0.0
        p = self.position
        upnl = (mid - self.entry_px) * p if p else -self._flat_cost
        return self.realized + upnl - self.fees + self.funding - carried

    @property
    def carried_usd(self) -> float:
        """The unrealised PnL of the position the session started on, at the session's first mid (NaN before
        one): not the session's gain or loss, though the ledger's PnL has it (from the venue's entry price)."""
        return self.carried_at(self.start_mid)

    def carried_at(self, first_mid: float) -> float:
        """What the position the session started on had made at ``first_mid`` (0 with none)."""
        return self.start_position * (first_mid - self.start_entry_px) if self.start_position else 0.0

    @property
    def maker_fee_bps(self) -> float | None:
        """The maker fee the venue charged, bps of the maker fills' notional (negative: a rebate); None
        before a maker fill. Set ``quoting.maker_fee_bps`` to it: quotes and promotion evidence use that."""
        return self.maker_fees / self.maker_volume_usd * 1e4 if self.maker_volume_usd > 0.0 else None

    def markouts_bps(self) -> dict[str, float | None]:
        """Average markout per horizon in bps of the notional of the fills whose markout is in (a fill whose
        horizon has not come, near the session's end, has no markout to dilute); None before one is in (as
        the maker fee above: the summary's "not measured")."""
        out = {}
        for q in self.markouts:
            out[f"{q.horizon_s:g}s"] = q.sum_usd / q.notional_usd * 1e4 if q.notional_usd > 0.0 else None
        return out

