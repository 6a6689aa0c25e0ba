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


class Position:
    """One coin's position: signed size, average entry price, and cumulative realised PnL and fees."""

    __slots__ = ("szi", "entry_px", "realized_pnl", "fees", "leverage", "volume_usd")

    def __init__(self, leverage: int) -> None:
        self.szi = 0.0
        self.entry_px = 0.0
        self.realized_pnl = 0.0
        self.fees = 0.0
        self.leverage = leverage
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

    __slots__ = ("address", "cash_by_dex", "deposits", "positions", "default_leverage", "agents")

    def __init__(self, address: str, usdc: float, default_leverage: int = 20, dex: str = "") -> None:
        self.address = address.lower()
        self.cash_by_dex: dict[str, float] = {dex: float(usdc)}
        self.deposits = float(usdc)
        self.positions: dict[str, Position] = {}
        self.default_leverage = default_leverage
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
            pos = self.positions[coin] = Position(self.default_leverage)
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
        """Half the initial margin at the position's leverage (the venue uses half of max-leverage IM)."""
        return 0.5 * self.margin_used(marks, dex)
