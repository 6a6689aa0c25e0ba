"""The sim-to-real gap: the paper fill model run beside the real orders, on the same orders.

Shadow promotes on paper fills (``graduation.paper``): a quote fills when a public trade prints
through its price, and at its price by ``at_price_share`` of the print (the queue ahead of it is
unknown). Once orders rest at the venue, the same model is run on them: every acknowledged order
is put on a shadow book, each public trade paper-fills it as the model says, and its real fills
are counted beside. The gap is how far the real fill volume is from the model's, as a fraction of
the model's: ``|real − paper| / paper``. A small gap says the evidence Shadow promoted on was
real; a large one that the paper fills were not (too many: our orders are not where we think, or
fill later than we think; too few: the queue share is larger than the model assumes, and the fills
at the touch are the adversely selected ones).

It is also the fill model's calibration: the model is run at each share of a grid beside the one
configured, and the share whose paper volume meets the real volume is the one the model should use (the summary's ``at_price_share_fit``: ``shadow.at_price_share`` is the operator's to set
from it, since a share fitted against the twin is the twin's, not the venue's).

The public feed and the user channel race: a fill can arrive before or after the print that made
it. An order that filled stays on the shadow book ``grace_s`` after its end, and an order first
seen at its fill is put on the book as it was before that fill, so that either order of arrival
counts both. (An order goes on the book at the first print that reaches it or its first fill: at 10
Hz most orders are moved before either, and cost nothing here.) An order cancelled leaves at once: after its end a print through its price could not
have filled it.

Sans-IO, plain slots: it runs on every public trade and every fill.
"""
from __future__ import annotations

import math
from operator import attrgetter

import numpy as np
from pydantic import Field

from common.files import FileModel
from agent.execution.orders import OrderState
from common.json_text import finite

_ON_BOOK = frozenset({OrderState.RESTING, OrderState.PARTIALLY_FILLED, OrderState.PENDING_CANCEL,
                      OrderState.PENDING_MODIFY})  # acknowledged and possibly still resting at the venue
_FILLED = OrderState.FILLED
# a shadowed order's price, the key the reached orders are sorted on: in C, where a function of ours ran a frame an
# order, several a print
_px = attrgetter("px")


class ShadowConfig(FileModel):
    at_price_share: float = Field(0.0, ge=0, le=1, description=(
        "The paper fill model's share of a public trade printed at a quote's price that fills it (its place in "
        "the queue, unknown from the public feed). 0: only trades printing through the price fill, the "
        "pessimistic model Shadow promotes on. The summary's shadow.at_price_share_fit is what the real fills "
        "said."))
    min_paper_fills: int = Field(20, ge=1, le=1_000_000,
                                 description="Paper fills on real orders at the current exposure level "
                                 "before the sim-to-real gap is measured (NaN, 'n/a' to promotion, until then).")
    grace_s: float = Field(2.0, ge=0, le=600.0,
                           description="How long an order that filled stays on the shadow book, s: the "
                           "print that filled it may arrive after the fill.")
    p_fill_horizon_s: float = Field(1.0, ge=0.01, le=3600.0, description=(
        "T of the P(fill) score (summary shadow.p_fill), s: each real quote's P of a fill within T from GLFT's "
        "own fill model (λ(δ) = A·e^(−kδ) of its distance from a mid moving at σ while it rests at its price), "
        "against whether it filled within T of its acknowledgement (one moved before T is weighed out "
        "as censored: agent.shadow.p_fill). 1 s: about how long a quote rests at the 500 ms cycle, so the outcome "
        "at T is known for most orders (longer, fewer; no score once fewer than a tenth)."))
    p_fill_window: int = Field(100_000, ge=100, le=10_000_000, description=(
        "The P(fill) score is of the last this many quotes resolved (57 bytes each, kept: a run lasts days). "
        "100000: about 4 hours of the 100 ms cycle at 5 levels a side, 5.7 MB."))


# the shares the fit tries: the model run at each, side by side, on every order (a print reaches a few orders)
SHARE_GRID = np.linspace(0.0, 1.0, 21)
_ARRAY = np.ndarray
_ZEROS = bytes(8 * len(SHARE_GRID))  # an array of +0.0 at every share, as bytes


class _Shadowed:
    __slots__ = ("side", "px", "paper_left", "grid_left", "grid_max")

    def __init__(self, side: int, px: float, left: float) -> None:
        self.side = side
        self.px = px
        self.paper_left = left  # what the paper model has not filled yet
        self.grid_left = left  # ... and the model at each share of the fit's grid: one float while every share has
        # the same left (until a print at its price, where the shares differ; most orders are moved before one
        # comes), an array from then on, and 0.0 again once every share has filled it whole
        self.grid_max = left  # at least every share's left (set as the float becomes an array: a left only falls)


class SimToRealGap:
    """Paper fills and real fills on the same real orders since the last ``restart`` (a level change)."""

    __slots__ = ("share", "min_paper_fills", "grace_s", "_book", "paper_volume", "real_volume", "paper_fills",
                 "real_fills", "grid_volume", "_run", "_grid_print", "_grid_take")

    def __init__(self, at_price_share: float = 0.0, min_paper_fills: int = 20, grace_s: float = 2.0) -> None:
        self.share = at_price_share
        self.min_paper_fills = min_paper_fills
        self.grace_s = grace_s
        self._book: dict[str, _Shadowed] = {}
        self._run = [0.0, 0.0, 0, 0, np.zeros(len(SHARE_GRID))]  # the counts below, over the levels before this one
        self.paper_volume = self.real_volume = 0.0
        self.paper_fills = self.real_fills = 0
        self.grid_volume = np.zeros(len(SHARE_GRID))
        self._grid_print = np.empty(len(SHARE_GRID))
        self._grid_take = np.empty(len(SHARE_GRID))

    def restart(self) -> None:
        """A new exposure level: its evidence starts over (the run's totals and the shadow book stay)."""
        self._run = [r + v for r, v in zip(self._run, self._counts())]
        self.paper_volume = 0.0
        self.real_volume = 0.0
        self.paper_fills = 0
        self.real_fills = 0
        self.grid_volume = np.zeros(len(SHARE_GRID))  # the model's paper volume at each share of the grid

    def on_trade(self, ts: float, px: float, sz: float, aggressor: int, tracker, made_ts: float = math.inf) -> None:
        """A public print; ``aggressor`` +1 a buy (lifts asks), −1 a sell (hits bids). ``tracker``: the
        order tracker, whose acknowledged live orders are the ones resting at the venue. ``made_ts``: when the
        print happened, on the tracker's clock, where known: an order sent after it cannot have been reached by
        it (a print delivered behind an order's acknowledgement paper-filled an order not yet on the book)."""
        hit = -aggressor  # the resting side a print takes from
        reached = self._reached(ts, px, hit, tracker, made_ts)
        if not reached:
            return
        share = self.share
        if len(reached) > 1:
            reached.sort(key=_px, reverse=hit > 0)  # the print takes from the best price first, as Shadow's does
        left = sz  # what the print has left, in the configured model ...
        # ... and in the model at each share of the fit's grid: one float while every share has the same (the
        # orders reached so far were reached through their price, where every share fills alike), the scratch
        # array once they differ. A float stands for an array of it: the same operations on each share's
        # value, done once (a print through the price takes no numpy call)
        grid_print = sz
        g = self._grid_take  # (scratch arrays: a print allocates nothing but an order's first array)
        for e in reached:
            grid = e.grid_left
            if type(grid) is float and grid == 0.0 and e.paper_left == 0.0:
                # spent in both models (most orders a print reaches are: they stay on the book, live or in their
                # grace): the grid takes nothing at any share (below), and the paper model's take, s·min(left, 0),
                # is not above 0, so no fill is counted: skipped before the price test
                continue
            # agent.graduation.paper.print_reach(px, e.px, hit, ·) written out: every order _reached gives is at or
            # through the print's price (never -1.0), so through it is 1.0 at every share, and at it the share (the
            # grid's, the configured one)
            through = px < e.px if hit > 0 else px > e.px
            # the grid's models, by the same rule at each share
            if type(grid) is not _ARRAY:  # (a float: one for every share)
                if grid == 0.0:
                    # spent at every share (most orders a print reaches are: they stay on the book, live or in
                    # their grace, once the model has filled them): the model takes min(0, p)·s = 0 of what each
                    # share's print has left (p ≥ 0: a print's size is positive and what it gives never more than
                    # it has), and x − 0 and x + 0 are x (no -0.0 arises: each starts positive, falls by at most
                    # itself)
                    pass
                elif type(grid_print) is not _ARRAY:
                    took = grid if grid <= grid_print else grid_print  # np.minimum
                    if through:  # (g *= 1.0 leaves it as it is)
                        e.grid_left = grid - took
                        grid_print -= took
                        self.grid_volume += took
                    else:
                        # at its price: each share s takes took·s (np.minimum's array of the two floats, times the
                        # grid), and share 0 nothing, so its left stays grid ≠ 0 (no all-zero test)
                        np.multiply(SHARE_GRID, took, out=g)
                        e.grid_left = grid - g
                        e.grid_max = grid
                        grid_print = np.subtract(grid_print, g, out=self._grid_print)
                        self.grid_volume += g
                else:
                    # numpy takes the float as the array of it (np.full's array is made by the subtraction)
                    np.minimum(grid, grid_print, out=g)
                    if not through:
                        g *= SHARE_GRID
                    e.grid_max = grid
                    left_now = e.grid_left = grid - g
                    grid_print -= g
                    self.grid_volume += g
                    if left_now.tobytes() == _ZEROS:
                        e.grid_left = 0.0
            elif through and type(grid_print) is not _ARRAY and grid_print >= e.grid_max:
                # through, with the print's left (one float) at least every share's left (grid_max bounds them:
                # a left only falls): np.minimum gives the order's left at every share, the print takes it whole
                grid_print = np.subtract(grid_print, grid, out=self._grid_print)
                self.grid_volume += grid
                e.grid_left = 0.0
            else:
                np.minimum(grid, grid_print, out=g)
                if not through:  # (through, g *= 1.0 would change no element: one numpy call fewer)
                    g *= SHARE_GRID
                grid -= g
                if type(grid_print) is not _ARRAY:
                    grid_print = np.subtract(grid_print, g, out=self._grid_print)
                else:
                    grid_print -= g
                self.grid_volume += g
                if grid.tobytes() == _ZEROS:
                    e.grid_left = 0.0  # spent at every share: the float form again (above: no numpy call)
            paper = e.paper_left
            take = (1.0 if through else share) * (left if left < paper else paper)
            if take > 0.0:
                self.paper_fills += 1
                e.paper_left = paper - take
                self.paper_volume += take
                left -= take

    def on_fill(self, order, sz: float) -> None:
        """A real fill of ``sz`` on ``order`` (the tracker's, already updated for this fill)."""
        e = self._book.get(order.cloid)
        if e is None:
            if order.acked_ts < 0.0 or order.foreign:
                return  # not known to rest at the venue yet: neither model counts it
            self._book[order.cloid] = _Shadowed(int(order.side), order.px, order.remaining + sz)
        self.real_volume += sz
        self.real_fills += 1

    def _reached(self, ts: float, px: float, hit: int, tracker, made_ts: float = math.inf) -> list:
        """The shadow book's orders a print at ``px`` reaches on side ``hit``: the acknowledged live ones (put
        on the book at the first print that reaches them, or at their first fill: until then nothing has
        filled them), and those that filled within ``grace_s``. Ended orders leave it here: a cancelled one
        at once, a filled one after its grace."""
        book = self._book
        live = tracker.live_set
        bid = hit > 0
        # one pass over the shadow book's orders no longer live: those gone leave it, and those filled within their
        # grace that the print reaches (at or through their price, print_reach ≥ 0) are taken, after the live ones,
        # in the book's order (their print may come after their fill). Gone: cancelled (or forgotten) at once, filled
        # after grace_s. One loop, no comprehension or call an order: this runs on every print, and the book holds
        # every order cancelled since the last one (at 10 Hz most of the few it holds). Over a copy of the book's
        # items, so that those gone leave it at once (no list of them walked again)
        graced = []
        if book:
            orders = tracker.orders
            grace_s = self.grace_s
            for cloid, e in list(book.items()):
                if cloid not in live:
                    o = orders.get(cloid)
                    if o is None or o.state is not _FILLED or ts - o.last_update_ts > grace_s:
                        del book[cloid]
                    elif e.side == hit and (px <= e.px if bid else px >= e.px):
                        graced.append(e)
        out = []
        # reached: the print at or through its price (print_reach ≥ 0), compared inline: this runs for every live
        # order on every print, so one loop a side (no ``bid`` test an order) over the values (the live set is keyed
        # by each order's cloid: no tuple to unpack an order)
        if bid:
            for o in live.values():
                if o.side == hit and px <= o.px and o.state in _ON_BOOK and not o.foreign and o.sent_ts <= made_ts:
                    cloid = o.cloid
                    e = book.get(cloid)
                    if e is None:
                        e = book[cloid] = _Shadowed(hit, o.px, o.remaining)
                    out.append(e)
        else:
            for o in live.values():
                if o.side == hit and px >= o.px and o.state in _ON_BOOK and not o.foreign and o.sent_ts <= made_ts:
                    cloid = o.cloid
                    e = book.get(cloid)
                    if e is None:
                        e = book[cloid] = _Shadowed(hit, o.px, o.remaining)
                    out.append(e)
        if graced:
            out += graced
        return out

    def _counts(self) -> tuple:
        return self.paper_volume, self.real_volume, self.paper_fills, self.real_fills, self.grid_volume

    @property
    def run_grid_volume(self) -> np.ndarray:
        """The model's paper volume at each share of ``SHARE_GRID`` over the whole run (what the fit reads)."""
        return self._run[4] + self.grid_volume

    @property
    def gap(self) -> float:
        """At the current level: |real − paper| / paper fill volume; NaN before ``min_paper_fills`` paper fills."""
        return _gap(*self._counts()[:3], self.min_paper_fills)

    def summary(self) -> dict:
        """The whole run's figures (every level that placed orders), and the current level's gap: the
        summary's ``shadow``."""
        paper_v, real_v, paper_n, real_n, _ = (r + v for r, v in zip(self._run, self._counts()))
        grid_v = self.run_grid_volume
        return {"paper_fills": paper_n, "paper_volume": paper_v, "real_fills": real_n, "real_volume": real_v,
                "gap": finite(_gap(paper_v, real_v, paper_n, self.min_paper_fills)),
                "gap_at_level": finite(self.gap), "at_price_share": self.share,
                "at_price_share_fit": finite(share_fit(grid_v, real_v, paper_n >= self.min_paper_fills))}


def share_fit(grid_volume: np.ndarray, real_volume: float, enough: bool = True) -> float:
    """The share at which the model's paper volume meets the real volume (linear between the grid's shares;
    the grid's ends when it is beyond them); NaN without enough evidence or without a print at our price
    (the model's volume then does not depend on the share)."""
    if not enough or grid_volume[-1] <= grid_volume[0]:
        return math.nan
    # the paper volume does not fall as the share grows (a print at our price only fills sooner what a print
    # through it would have), so it can be read as a function of the volume
    return float(np.interp(real_volume, grid_volume, SHARE_GRID))


def _gap(paper_v: float, real_v: float, paper_n: int, min_fills: int) -> float:
    if paper_n < min_fills or paper_v <= 0.0:
        return math.nan
    return abs(real_v - paper_v) / paper_v
