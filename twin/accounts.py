"""Accounts as the venue keeps them: cross and isolated margin, positions, entry prices, PnL and fees.

All money is USDC. ``cash`` holds deposits plus realised PnL minus fees plus funding received (less funding
paid), so that account value = cash + Σ unrealised PnL at the mark, exactly as the property tests check.
Funding (twin/funding.py) settles in the cash of the position's dex, as fees do; an isolated position's is
paid from (or into) its own margin, so it moves that position's equity and liquidation price, not the cross
balance.

An isolated position (every position on an ``onlyIsolated`` coin, or one the user set isolated) holds its own
margin, ``Position.margin_usd``, set aside out of its dex's cash (docs trading/margining): opening or adding
moves notional / leverage in, closing part releases that share of it, and realised PnL and fees settle in the
cash as for a cross position. So the dex's cross balance is its cash less the isolated margins, and the position's
own equity is its margin plus its unrealised PnL; the two together are still cash + Σ unrealised PnL.

Each perp dex margins apart, as on the venue (a HIP-3 dex has its own clearinghouse: collateral moved
to it backs only its coins): the cash is kept per dex, a coin's dex being its name's prefix
(``hyna:LIT`` is on ``hyna``, ``BTC`` on the first dex, ``""``). The money-valued methods take a ``dex``;
without one they sum the whole account.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from common.margin_tiers import MarginTable
from twin.instruments import held_decimals


class Position:
    """One coin's position: signed size, average entry price, and cumulative realised PnL, fees and funding.

    ``leverage`` is the user's (it sets the initial margin); ``max_leverage`` is the coin's (it alone sets
    the maintenance margin, whatever leverage the user chose), with ``tiers``, the coin's margin table where it has
    several tiers (None: one, at max_leverage; ``maintenance``). ``isolated``: margined by its own
    ``margin_usd`` (USDC) alone, not by its dex's cross balance. ``funding_*``: the funding it paid (negative:
    received), USDC, as clearinghouseState's cumFunding: all time, since the position opened, since its size last
    changed. ``dex``: its coin's perp dex (``dex_of``), kept for cross_margin, which every order entry and margin
    check asks: the coin's name parsed once, not at each call (Account.position, where every position is made)."""

    __slots__ = ("szi", "entry_px", "realized_pnl", "fees", "leverage", "max_leverage", "volume_usd", "isolated",
                 "margin_usd", "funding_all_time", "funding_since_open", "funding_since_change", "dex", "tiers")

    def __init__(self, leverage: int, max_leverage: int | None, isolated: bool, dex: str,
                 tiers: MarginTable | None = None) -> None:
        self.szi = 0.0
        self.entry_px = 0.0
        self.realized_pnl = 0.0
        self.fees = 0.0
        self.max_leverage = max_leverage if max_leverage is not None else leverage
        self.leverage = min(leverage, self.max_leverage)
        self.volume_usd = 0.0
        self.isolated = isolated
        self.margin_usd = 0.0
        self.funding_all_time = 0.0
        self.funding_since_open = 0.0
        self.funding_since_change = 0.0
        self.dex = dex
        self.tiers = tiers

    def maintenance(self, mark: float) -> float:
        """Its maintenance margin at ``mark`` (docs trading/margin-tiers): the notional's tier's rate, 1 / (2 x that
        tier's max leverage), less the tier's deduction; with one tier, half the initial margin at the coin's max
        leverage (1.25% of notional on a 40x coin), as the twin always had it."""
        ntl = abs(self.szi) * mark
        tiers = self.tiers
        return ntl / (2.0 * self.max_leverage) if tiers is None else tiers.maintenance(ntl)


@dataclass(frozen=True, slots=True)
class FillResult:
    """What a fill did to the position: the venue reports these in userFills."""

    closed_pnl: float
    start_position: float
    direction: str  # "Open Long", "Close Short", "Long > Short", ...


def _direction(start: float, end: float) -> str:
    if start >= 0 and end > start:
        return "Open Long"
    if start <= 0 and end < start:
        return "Open Short"
    if start > 0 and end < 0:
        return "Long > Short"
    if start < 0 and end > 0:
        return "Short > Long"
    return "Close Long" if start > 0 else "Close Short"


def dex_of(coin: str) -> str:
    """The perp dex a coin trades on: its name's prefix (``"hyna:LIT"`` → ``"hyna"``), the first dex ``""``
    for an unprefixed name."""
    head, sep, _ = coin.partition(":")
    return head if sep else ""


class Account:
    """A trading account (one address): cross margin across its cross positions on each dex, each dex apart,
    and isolated margin for each isolated position."""

    __slots__ = ("address", "cash_by_dex", "deposits", "positions", "default_leverage", "max_leverage", "agents",
                 "only_isolated", "sz_decimals", "orders_bound", "margin_tables")

    def __init__(self, address: str, usdc: float, default_leverage: int = 20, dex: str = "",
                 max_leverage: Mapping[str, int] | None = None, only_isolated: frozenset[str] = frozenset(),
                 sz_decimals: Mapping[str, int] | None = None,
                 margin_tables: Mapping[str, MarginTable] | None = None) -> None:
        """``max_leverage``: each coin's maximum leverage (a coin not in it is taken to allow
        ``default_leverage``, its maintenance margin then half the initial margin at that leverage).
        ``only_isolated``: the coins whose positions are always isolated (meta's ``onlyIsolated``).
        ``sz_decimals``: each coin's size decimals (meta's ``szDecimals``), its positions' lot (a coin not in it:
        12 decimals, which clear the float residue of positions under about 100 units only).
        ``margin_tables``: the coins with several margin tiers, each its table (a coin not in it has one tier, at
        its max leverage)."""
        self.address = address.lower()
        self.cash_by_dex: dict[str, float] = {dex: float(usdc)}
        self.deposits = float(usdc)
        self.positions: dict[str, Position] = {}
        self.default_leverage = default_leverage
        self.max_leverage: Mapping[str, int] = max_leverage if max_leverage is not None else {}
        self.agents: set[str] = set()
        self.only_isolated = only_isolated
        self.sz_decimals: Mapping[str, int] = sz_decimals if sz_decimals is not None else {}
        self.margin_tables: Mapping[str, MarginTable] = margin_tables if margin_tables is not None else {}
        # an integer bound, in USD, on the initial margin its resting orders hold on every dex (the exchange keeps
        # it: Exchange._place, _remove), by which an order entry far inside the margin skips the walk over them
        self.orders_bound = 0

    @property
    def cash(self) -> float:
        """Deposits plus realised PnL less fees, plus funding received less funding paid, over every dex."""
        return sum(self.cash_by_dex.values())

    def deposit(self, usdc: float, dex: str = "") -> None:
        self.cash_by_dex[dex] = self.cash_by_dex.get(dex, 0.0) + float(usdc)
        self.deposits += float(usdc)

    def dexes(self) -> set[str]:
        """The dexes the account holds collateral or a position on."""
        return set(self.cash_by_dex) | {dex_of(c) for c, p in self.positions.items() if p.szi}

    def position(self, coin: str) -> Position:
        pos = self.positions.get(coin)
        if pos is None:
            # a new position is at the default leverage, or the coin's maximum when that is lower (a 10x coin
            # cannot hold a 20x position)
            pos = self.positions[coin] = Position(self.default_leverage, self.max_leverage.get(coin),
                                                  coin in self.only_isolated, dex_of(coin),
                                                  self.margin_tables.get(coin))
        return pos

    def apply_fill(self, coin: str, is_buy: bool, px: float, sz: float, fee: float) -> FillResult:
        """Book a fill: realise PnL on the reduced part, re-average the entry on the increased part, and on an
        isolated position move its margin: the reduced part's share out, the increased part's px × size /
        leverage in (from the dex's cross balance, which is the cash less the isolated margins)."""
        pos = self.position(coin)
        start = pos.szi
        signed = sz if is_buy else -sz
        closed = 0.0
        if start != 0.0 and (start > 0) != is_buy:
            reduce_sz = min(sz, abs(start))
            closed = (px - pos.entry_px) * reduce_sz * (1.0 if start > 0 else -1.0)
        # the venue's positions are decimals on the coin's lot: no float residue carried on (rounded to 12 decimals, a
        # position of 10^5-10^6 on a tenths coin closed in a few fills was left at 1e-11-1e-10: a position of nothing,
        # listed, paid funding, its closing fill "Long > Short": tests/twin/test_accounts.py)
        # (on the lot the position was opened on, where finer than the coin's now: its remainder stays the account's)
        d = self.sz_decimals.get(coin, 12)
        if start and round(start, d) != start:
            d = held_decimals(start, d)
        end = round(start + signed, d)
        if abs(end) < 1e-12:
            end = 0.0
        if end == 0.0:
            pos.entry_px = 0.0
        elif start == 0.0 or (start > 0) != (end > 0):
            pos.entry_px = px  # opened, or flipped: the remainder opened at this price
            pos.funding_since_open = 0.0
        elif abs(end) > abs(start):
            pos.entry_px = (pos.entry_px * abs(start) + px * sz) / abs(end)
        if pos.isolated:
            if end == 0.0 or (start > 0) != (end > 0) or start == 0.0:
                # closed, flipped or opened: what is left (if anything) opened at this price
                pos.margin_usd = abs(end) * px / pos.leverage
            elif abs(end) < abs(start):
                pos.margin_usd *= abs(end) / abs(start)
            else:
                pos.margin_usd += (abs(end) - abs(start)) * px / pos.leverage
        pos.szi = end
        pos.funding_since_change = 0.0
        pos.realized_pnl += closed
        pos.fees += fee
        pos.volume_usd += px * sz
        dex = dex_of(coin)
        self.cash_by_dex[dex] = self.cash_by_dex.get(dex, 0.0) + closed - fee
        return FillResult(closed, start, _direction(start, end))

    def apply_funding(self, coin: str, usdc: float) -> None:
        """Book one funding payment of the coin's position: ``usdc`` signed as the venue's (negative: paid), into
        its dex's cash, and into the position's cumulative funding (which counts what was paid). An isolated
        position pays it from its own margin, as the venue margins it: credited to the cross balance, a long
        isolated position paying funding for hours kept its margin whole and its liquidation price where it was,
        while the cross balance it does not back paid for it."""
        pos = self.positions[coin]
        pos.funding_all_time -= usdc
        pos.funding_since_open -= usdc
        pos.funding_since_change -= usdc
        if pos.isolated:
            pos.margin_usd += usdc  # (the cash below holds the margin too: the cross balance, cash less it, stays)
        dex = dex_of(coin)
        self.cash_by_dex[dex] = self.cash_by_dex.get(dex, 0.0) + usdc

    def unrealized_pnl(self, marks: dict[str, float], dex: str | None = None) -> float:
        total = 0.0
        for coin, pos in self.positions.items():
            if pos.szi and (dex is None or dex_of(coin) == dex):
                total += (marks.get(coin, pos.entry_px) - pos.entry_px) * pos.szi
        return total

    def account_value(self, marks: dict[str, float], dex: str | None = None) -> float:
        """The value on one dex (its cash and its positions' unrealised PnL), or, without ``dex``, the whole
        account's."""
        cash = self.cash if dex is None else self.cash_by_dex.get(dex, 0.0)
        return cash + self.unrealized_pnl(marks, dex)

    def margin_used(self, marks: dict[str, float], dex: str | None = None) -> float:
        """Margin held by open positions, on one dex or all, as the venue's marginSummary.totalMarginUsed: a cross
        position's initial margin, |size| × mark / leverage, and an isolated one's equity (margin + unrealised
        PnL: what its marginUsed shows)."""
        total = 0.0
        for coin, pos in self.positions.items():
            if pos.szi and (dex is None or dex_of(coin) == dex):
                mark = marks.get(coin, pos.entry_px)
                if pos.isolated:
                    total += pos.margin_usd + (mark - pos.entry_px) * pos.szi
                else:
                    total += abs(pos.szi) * mark / pos.leverage
        return total

    def cross_margin(self, marks: dict[str, float], dex: str) -> tuple[float, float, float, bool]:
        """The cross account on ``dex``, in one pass (the margin checks ask every second): (its value: the cash
        less the isolated margins plus the cross positions' unrealised PnL; their initial margin; their
        maintenance margin; whether it holds a cross position)."""
        value = self.cash_by_dex.get(dex, 0.0)
        initial = maintenance = 0.0
        any_cross = False
        for coin, pos in self.positions.items():
            if pos.szi and pos.dex == dex:
                if pos.isolated:
                    value -= pos.margin_usd
                else:
                    mark = marks.get(coin, pos.entry_px)
                    ntl = abs(pos.szi) * mark
                    value += (mark - pos.entry_px) * pos.szi
                    initial += ntl / pos.leverage
                    # (a tiered coin's by its table: Position.maintenance, written out for the one-tier coins)
                    maintenance += ntl / (2.0 * pos.max_leverage) if pos.tiers is None else pos.tiers.maintenance(ntl)
                    any_cross = True
        return value, initial, maintenance, any_cross

    def isolated_equity(self, coin: str, marks: dict[str, float]) -> float:
        """An isolated position's own equity: its margin plus its unrealised PnL at the mark."""
        pos = self.positions[coin]
        return pos.margin_usd + (marks.get(coin, pos.entry_px) - pos.entry_px) * pos.szi

    def maintenance_margin(self, marks: dict[str, float], dex: str | None = None) -> float:
        """As the venue margins (docs trading/margining, trading/margin-tiers): each position's
        ``Position.maintenance`` (half the initial margin at the MAXIMUM leverage of the tier its notional is in,
        less that tier's deduction), summed on one dex or all, cross and isolated positions alike. The leverage the
        user set does not enter it: a 5x position is liquidated where a 20x one is."""
        total = 0.0
        for coin, pos in self.positions.items():
            if pos.szi and (dex is None or dex_of(coin) == dex):
                total += pos.maintenance(marks.get(coin, pos.entry_px))
        return total

    def liquidation_px(self, coin: str, marks: dict[str, float]) -> float | None:
        """The mark at which this coin's position is liquidated by the twin's margin rules, every other mark held:
        a cross position where its dex's cross value falls to its cross maintenance margin, an isolated one where
        its own equity falls to its maintenance (exchange._run_margin_checks). Solved for the mark, that is the
        venue's formula (docs trading/liquidations, "Computing Liquidation Price"):
        ``liq_price = price - side * margin_available / position_size / (1 - l * side)``, with price the mark,
        side 1 long and -1 short, l = 1 / (2 × max leverage) (the maintenance margin rate), and margin_available
        the cross value less the cross maintenance margin, or the isolated equity less its maintenance. A coin with
        several margin tiers takes l and the maintenance of the tier the liquidation price's notional falls in
        (MarginTable.liquidation_px). None with no position, or for a long no positive price liquidates (the venue's
        null); a value on the wrong side of the mark means the next margin check liquidates it."""
        pos = self.positions.get(coin)
        if pos is None or not pos.szi:
            return None
        mark = marks.get(coin, pos.entry_px)
        size = abs(pos.szi)
        if pos.isolated:
            available = self.isolated_equity(coin, marks) - pos.maintenance(mark)
        else:
            value, _, maintenance, _ = self.cross_margin(marks, dex_of(coin))
            available = value - maintenance
        if pos.tiers is not None:
            px = pos.tiers.liquidation_px(pos.szi, mark, available)
        else:
            side = 1.0 if pos.szi > 0 else -1.0
            px = mark - side * available / size / (1.0 - side / (2.0 * pos.max_leverage))
        return px if px > 0.0 else None
