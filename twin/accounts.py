"""Accounts as the venue keeps them: cross margin, positions, entry prices, PnL and fees.

All money is USDC. ``cash`` holds deposits plus realised PnL minus fees, so that
account value = cash + Σ unrealised PnL at the mark, exactly as the property tests check.
Funding is not modelled (documented in the README): sessions here are hours, not days.

Each perp dex margins apart, as on the venue (a HIP-3 dex has its own clearinghouse: collateral moved
to it backs only its coins): the cash is kept per dex, a coin's dex being its name's prefix
(``hyna:LIT`` is on ``hyna``, ``BTC`` on the first dex, ``""``). The money-valued methods take a ``dex``;
without one they sum the whole account.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


class Position:
    """One coin's position: signed size, average entry price, and cumulative realised PnL and fees.

    ``leverage`` is the user's (it sets the initial margin); ``max_leverage`` is the coin's (it alone sets
    the maintenance margin, whatever leverage the user chose)."""

    __slots__ = ("szi", "entry_px", "realized_pnl", "fees", "leverage", "max_leverage", "volume_usd")

    def __init__(self, leverage: int, max_leverage: int | None = None) -> None:
        self.szi = 0.0
        self.entry_px = 0.0
        self.realized_pnl = 0.0
        self.fees = 0.0
        self.max_leverage = max_leverage if max_leverage is not None else leverage
        self.leverage = min(leverage, self.max_leverage)
        self.volume_usd = 0.0


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
    """A trading account (one address): cross margin across its coins on each dex, each dex apart."""

    __slots__ = ("address", "cash_by_dex", "deposits", "positions", "default_leverage", "max_leverage", "agents")

    def __init__(self, address: str, usdc: float, default_leverage: int = 20, dex: str = "",
                 max_leverage: Mapping[str, int] | None = None) -> None:
        """``max_leverage``: each coin's maximum leverage (a coin not in it is taken to allow
        ``default_leverage``, its maintenance margin then half the initial margin at that leverage)."""
        self.address = address.lower()
        self.cash_by_dex: dict[str, float] = {dex: float(usdc)}
        self.deposits = float(usdc)
        self.positions: dict[str, Position] = {}
        self.default_leverage = default_leverage
        self.max_leverage: Mapping[str, int] = max_leverage if max_leverage is not None else {}
        self.agents: set[str] = set()

    @property
    def cash(self) -> float:
        """Deposits plus realised PnL less fees, over every dex."""
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
            pos = self.positions[coin] = Position(self.default_leverage, self.max_leverage.get(coin))
        return pos

    def apply_fill(self, coin: str, is_buy: bool, px: float, sz: float, fee: float) -> FillResult:
        """Book a fill: realise PnL on the reduced part, re-average the entry on the increased part."""
        pos = self.position(coin)
        start = pos.szi
        signed = sz if is_buy else -sz
        closed = 0.0
        if start != 0.0 and (start > 0) != is_buy:
            reduce_sz = min(sz, abs(start))
            closed = (px - pos.entry_px) * reduce_sz * (1.0 if start > 0 else -1.0)
        end = round(start + signed, 12)  # the venue's positions are decimals: no float residue carried on
        if abs(end) < 1e-12:
            end = 0.0
        if end == 0.0:
            pos.entry_px = 0.0
        elif start == 0.0 or (start > 0) != (end > 0):
            pos.entry_px = px  # opened, or flipped: the remainder opened at this price
        elif abs(end) > abs(start):
            pos.entry_px = (pos.entry_px * abs(start) + px * sz) / abs(end)
        pos.szi = end
        pos.realized_pnl += closed
        pos.fees += fee
        pos.volume_usd += px * sz
        dex = dex_of(coin)
        self.cash_by_dex[dex] = self.cash_by_dex.get(dex, 0.0) + closed - fee
        return FillResult(closed, start, _direction(start, end))

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
        """Initial margin of open positions: |size| × mark / leverage, summed (cross) on one dex, or all."""
        total = 0.0
        for coin, pos in self.positions.items():
            if pos.szi and (dex is None or dex_of(coin) == dex):
                total += abs(pos.szi) * marks.get(coin, pos.entry_px) / pos.leverage
        return total

    def maintenance_margin(self, marks: dict[str, float], dex: str | None = None) -> float:
        """As the venue margins (docs trading/margining): half the initial margin at the coin's MAXIMUM
        leverage, |size| × mark / (2 × max leverage) (1.25% of notional on a 40x coin), summed on one dex or
        all. The leverage the user set does not enter it: a 5x position is liquidated where a 20x one is."""
        total = 0.0
        for coin, pos in self.positions.items():
            if pos.szi and (dex is None or dex_of(coin) == dex):
                total += abs(pos.szi) * marks.get(coin, pos.entry_px) / (2.0 * pos.max_leverage)
        return total
