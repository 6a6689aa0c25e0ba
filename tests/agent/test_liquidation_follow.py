"""The liquidation rule's price between snapshots for a position opened since a flat one (AgentCore._liq_from_snapshot,
_liq_follow): worked out from the margin the flat snapshot told (the coin's maximum leverage, the user's setting, the
cross collateral) and our fills since, as the venue's formula (twin/accounts.py's liquidation_px) has it."""
from __future__ import annotations

import numpy as np
import pytest

from agent.config import AgentConfig
from agent.core import LIQUIDATION_NEAR, AgentCore
from agent.gateway.events import AccountSnapshot, Batch, BookUpdated, FillReceived, PlaceOrder, Side, Timer

from test_liquidation_sizing import random_fills

LIMIT = 0.01  # BTC; a ladder side (0.004 at its touch, 5 levels) is far more than it: reconcile's room cuts it
SIZE = 0.004
MID = 100_000.0


def _core_from_flat(fills: list[tuple[float, float]], **margin) -> tuple[AgentCore, dict]:
    """A core at Full told by a flat snapshot (``margin``: its AccountSnapshot margin fields), then filled ``fills``
    ((signed size, price), no fee) by orders it did not place, its first cycle on a book whose mid is MID: the core,
    and the total size that cycle placed on each side."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}, "risk": {"max_position": LIMIT},
                                      "quoting": {"order_size": 0.004, "ladder": {"n_levels": 5}}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(AccountSnapshot(0.05, 0.0, 0.0, 1e3, 0.0, (), **margin))
    core.handle(BookUpdated(0.1, "BTC", ((MID - 100.0, 1.0),), ((MID + 100.0, 1.0),)))
    for i, (sz, px) in enumerate(fills):
        side = Side.BUY if sz > 0 else Side.SELL
        core.handle(FillReceived(0.2 + 0.01 * i, f"0x{i:032x}", 1000 + i, px, abs(sz), side, 0.0, True, 10 + i))
    total = {Side.BUY: 0.0, Side.SELL: 0.0}
    for c in (c for b in core.handle(Timer(0.5)) for c in (b.commands if isinstance(b, Batch) else (b,))):
        if isinstance(c, PlaceOrder):
            total[c.side] += c.sz
    return core, total


# (isolated, the fill's price for a long (a short's mirrored about MID), the price the venue's formula gives it)
# cross: Z = 0.004 x 100,300 - 8.5 (the cross collateral) = 392.7 over 0.004 x (1 - 1/100): 99,166.67, 0.83% under
# the mid; isolated at 50x: 100,500 x (1 - 1/50) / (1 - 1/100) = 99,484.85, 0.52% under it
_OPENED = {False: (100_300.0, (0.004 * 100_300.0 - 8.5) / (0.004 * 0.99)),
           True: (100_500.0, 100_500.0 * 0.98 / 0.99)}


@pytest.mark.parametrize("isolated", [False, True], ids=["cross", "isolated"])
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["long", "short"])
def test_a_position_opened_since_a_flat_snapshot_is_sized_on_its_liquidation_price(sign, isolated):
    """A flat snapshot (50x coin, 50x set; cross collateral 8.5 USD), then 0.004 bought at 100,300 (cross) or
    100,500 (isolated) with the mid at 100,000 since: the venue's rules put the long's liquidation price 0.83% or
    0.52% under the mid, within 1%. The flat snapshot had no price, and until the next one (up to 30 s) the rule
    did not size the position at all: its asks had the room to close 0.004 beside the limit (0.014); worked out
    from the flat snapshot's margin, the limit alone. A short alike, sides and prices mirrored about the mid. Its
    controls: the same session not told the margin sized as before, and a well-collateralised one keeps its room."""
    fill_px, want = _OPENED[isolated]
    fill_px = MID + sign * (fill_px - MID)
    if sign < 0:  # Z = -0.004 x px - 8.5 over -0.004 x (1 + 1/100); isolated: px x (1 + 1/50) / (1 + 1/100)
        want = (0.004 * fill_px + 8.5) / (0.004 * 1.01) if not isolated else fill_px * 1.02 / 1.01
    core, total = _core_from_flat([(sign * SIZE, fill_px)], max_leverage=50.0, leverage=50.0, isolated=isolated,
                                  cross_available=8.5)
    reducing, growing = (Side.SELL, Side.BUY) if sign > 0 else (Side.BUY, Side.SELL)
    assert core._liq_px == pytest.approx(want, rel=1e-12) and core._liq_long == (sign > 0)
    assert abs(core._liq_px - MID) / MID < LIQUIDATION_NEAR
    assert total[reducing] == pytest.approx(LIMIT, abs=1e-9), total
    assert total[growing] == pytest.approx(LIMIT - SIZE, abs=1e-9), total
    (rec,) = [r for r in core.drain_records() if r["type"] == "cycle"]
    steps = {a[0]: a[1] for a in rec["adjustments"]}
    assert steps["liquidation_px"] == core._liq_px and steps["liquidation_px_snapshot"] == 0.0
    from agent.audit.inspect import describe_cycle
    assert "the last snapshot gave no price (flat, or the venue's null): its margin and our fills since" in \
        "\n".join(describe_cycle(rec, False))
    # not told the coin's maximum leverage or the user's setting (a gateway that has not learnt the setting: a live
    # run started flat; a venue reply without the fields): no price until the next snapshot, as before, and the
    # reducing side has the room to close the position beside the limit
    for told in ({}, {"leverage": 50.0}, {"max_leverage": 50.0}):
        core, total = _core_from_flat([(sign * SIZE, fill_px)], isolated=isolated, cross_available=8.5, **told)
        assert core._liq_px == 0.0 and core._liq_margin is None
        assert total[reducing] == pytest.approx(LIMIT + SIZE, abs=1e-9), (told, total)
    # well collateralised (10,000 USD beyond the maintenance), cross: a long's price is the venue's null (no positive
    # price liquidates it), a short's far above the mid, and the reducing side keeps that room
    if not isolated:
        core, total = _core_from_flat([(sign * SIZE, MID)], max_leverage=50.0, leverage=20.0, cross_available=1e4)
        assert (core._liq_px == 0.0) if sign > 0 else core._liq_px > 3.0 * MID
        assert total[reducing] == pytest.approx(LIMIT + SIZE, abs=1e-9), total


@pytest.mark.parametrize("isolated", [False, True], ids=["cross", "isolated"])
@pytest.mark.parametrize("seed", range(6))
def test_from_flat_the_price_the_fills_move_is_the_twins_own_or_nearer(isolated, seed):
    """From a flat snapshot (the cross account also holding an ETH cross position, its mark held: its value and
    maintenance margin in the collateral), random fills that open, add, reduce, close and flip, fees paid: the
    core's worked price equals the twin's Account.liquidation_px after every fill (rel 1e-9), and the price it uses
    is each side's nearest of the twin's since the snapshot (the first fill's where it opens from flat)."""
    from twin.accounts import Account
    rng = np.random.default_rng(seed)
    acct = Account("0x" + "c5" * 20, 60.0, default_leverage=20, max_leverage={"BTC": 50, "ETH": 25},
                   only_isolated=frozenset({"BTC"}) if isolated else frozenset(), sz_decimals={"BTC": 5, "ETH": 4})
    acct.apply_fill("ETH", True, 3000.0, 0.05, 0.02)
    marks = {"ETH": 2990.0}  # (ETH's unrealised PnL in the cross value, its maintenance out of the collateral)
    value, _, maintenance, _ = acct.cross_margin(marks, "")
    p = acct.position("BTC")
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(AccountSnapshot(0.05, 0.0, 0.0, acct.account_value(marks), 0.0, (), max_leverage=50.0,
                                leverage=float(p.leverage), isolated=p.isolated, cross_available=value - maintenance))
    assert p.isolated == isolated and core._liq_px == 0.0 and core._liq_margin is not None
    exact = _follows_the_twin(core, acct, p, rng, marks)
    assert exact >= 1, exact


@pytest.mark.parametrize("isolated", [False, True], ids=["cross", "isolated"])
def test_funding_since_the_snapshot_moves_the_price_as_the_twins(isolated):
    """Funding on the position since the snapshot moves its collateral (the cross balance, or an isolated position's
    own margin: twin/accounts.py's apply_funding), so its liquidation price: the core moves Z by it as the twin's
    account does (rel 1e-9), a payment already in the snapshot's account (not past its venue time) not twice, one
    past a later snapshot's time again at it, and the price in use nearer only (received funding leaves it)."""
    from agent.gateway.events import FundingPaid
    from twin.accounts import Account
    acct = Account("0x" + "c6" * 20, 60.0, default_leverage=20, max_leverage={"BTC": 50},
                   only_isolated=frozenset({"BTC"}) if isolated else frozenset(), sz_decimals={"BTC": 5})
    acct.apply_fill("BTC", True, MID, SIZE, 0.0)
    p = acct.positions["BTC"]
    marks = {"BTC": MID}
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)

    def snapshot(ts: float, state_ms: int) -> None:
        core.handle(AccountSnapshot(ts, p.szi, p.entry_px, acct.account_value(marks), 0.0, (), venue_time_ms=state_ms,
                                    liquidation_px=acct.liquidation_px("BTC", marks), max_leverage=50.0,
                                    leverage=float(p.leverage), isolated=p.isolated))

    def worked() -> float:
        return core._liq_z / (core._liq_pos - 0.01 * abs(core._liq_pos))

    def funding(ts: float, usdc: float, time_ms: int) -> None:
        core.handle(FundingPaid(ts, "BTC", usdc, p.szi, 0.0005, time_ms))

    snapshot(0.05, 1_000)
    before = acct.liquidation_px("BTC", marks)
    acct.apply_funding("BTC", -0.2)  # paid at 2,000 ms: the long's price up, nearer
    funding(1.0, -0.2, 2_000)
    paid = acct.liquidation_px("BTC", marks)
    assert paid > before and worked() == pytest.approx(paid, rel=1e-9) and core._liq_px == pytest.approx(paid, rel=1e-9)
    funding(1.1, -0.3, 1_000)  # (a late push of a payment the snapshot's account holds)
    assert worked() == pytest.approx(paid, rel=1e-9)
    # a snapshot whose state (1,500 ms) is older than the payment: its price before it, the payment again at it
    acct.apply_funding("BTC", 0.2)
    snapshot(2.0, 1_500)
    acct.apply_funding("BTC", -0.2)
    assert core._liq_snapshot_px == pytest.approx(before, rel=1e-12)
    assert worked() == pytest.approx(paid, rel=1e-9) and core._liq_px == pytest.approx(paid, rel=1e-9)
    snapshot(3.0, 2_500)  # holds it: not again
    assert worked() == pytest.approx(paid, rel=1e-9)
    acct.apply_funding("BTC", 0.5)  # received: the twin's price down, farther; the one in use stays
    funding(4.0, 0.5, 3_000)
    received = acct.liquidation_px("BTC", marks)
    assert received < paid and worked() == pytest.approx(received, rel=1e-9)
    assert core._liq_px == pytest.approx(paid, rel=1e-9)


def _follows_the_twin(core: AgentCore, acct, p, rng, marks: dict) -> int:
    """Random fills from MID that add, reduce, close and flip (``random_fills``): after each, the core's side is the
    position's, the price it works out (its Z over s - m|s|, m = 1 / (2 x 50)) equals the twin's
    ``Account.liquidation_px`` (rel 1e-9; <= 0 where the twin's is null), and the price in use is each side's nearest
    since the snapshot (a long's highest, a short's lowest); at least one fill is priced. How many fills had the
    twin's own price in use."""
    priced = exact = 0
    nearest = [0.0, 0.0]
    for i, start, px in random_fills(core, acct, p, rng, MID):
        if not p.szi:
            continue
        marks["BTC"] = px
        twin = acct.liquidation_px("BTC", marks) or 0.0
        long = p.szi > 0
        side = 0 if long else 1
        if twin and (not nearest[side] or (twin > nearest[side]) == long):
            nearest[side] = twin
        assert core._liq_long == long
        worked = core._liq_z / (core._liq_pos - 0.01 * abs(core._liq_pos))
        assert max(worked, 0.0) == pytest.approx(twin, rel=1e-9), (i, start, p.szi, worked, twin)
        assert core._liq_px == pytest.approx(nearest[side], rel=1e-9), (i, start, p.szi, core._liq_px, nearest, twin)
        priced += twin > 0.0
        exact += twin > 0.0 and core._liq_px == pytest.approx(twin, rel=1e-9)
    assert priced >= 1, priced
    return exact


@pytest.mark.parametrize("seed", range(6))
def test_a_long_the_venue_gives_no_price_is_followed_from_its_mark_and_the_cross_collateral(seed):
    """A cross long the venue gives no liquidation price (null: no positive price liquidates it, the account holding
    more than its notional beside an ETH cross position), then random fills that add, reduce, close and flip, fees
    paid: its Z is the mark x (s - m|s|) less the cross collateral beyond maintenance (the venue's formula solved for
    the price, docs trading/liquidations), so the core's worked price equals the twin's Account.liquidation_px after
    every fill (rel 1e-9; <= 0 where the twin's is null), and the price in use is each side's nearest since the
    snapshot: a long grown past its collateral has its price from the fill that gave it one, not at the next
    snapshot."""
    from twin.accounts import Account
    rng = np.random.default_rng(100 + seed)
    acct = Account("0x" + "c7" * 20, 60.0, default_leverage=20, max_leverage={"BTC": 50, "ETH": 25},
                   sz_decimals={"BTC": 5, "ETH": 4})
    acct.apply_fill("ETH", True, 3000.0, 0.05, 0.02)
    acct.apply_fill("BTC", True, MID, 0.0003, 0.01)
    marks = {"ETH": 2990.0, "BTC": MID * 1.003}  # (BTC's unrealised PnL and maintenance at its mark in the figures)
    p = acct.positions["BTC"]
    assert acct.liquidation_px("BTC", marks) is None  # the venue's null
    value, _, maintenance, _ = acct.cross_margin(marks, "")
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(AccountSnapshot(0.05, p.szi, p.entry_px, acct.account_value(marks), 0.0, (), liquidation_px=0.0,
                                max_leverage=50.0, leverage=float(p.leverage), isolated=False,
                                cross_available=value - maintenance, mark_px=marks["BTC"]))
    assert core._liq_px == 0.0 and core._liq_margin is not None

    def worked() -> float:
        return core._liq_z / (core._liq_pos - 0.01 * abs(core._liq_pos))
    # (at the snapshot: the formula's price, the mark less the collateral over s(1 - m), far under 0)
    assert worked() == pytest.approx(marks["BTC"] - (value - maintenance) / (p.szi * 0.99), rel=1e-9)
    assert worked() < 0.0
    _follows_the_twin(core, acct, p, rng, marks)


def test_a_null_price_not_told_its_raw_usd_or_its_mark_is_not_followed():
    """The venue's null on an isolated position (its own margin at least its notional: 1x, or margin added) is followed
    from its rawUsd alone, the cross figures not holding its margin: one not told it (None: a reply without it), or a
    cross one not told its mark (0), says no Z: the core follows neither, the next snapshot says (as before)."""
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    for iso, mark in ((True, MID), (False, 0.0)):
        core.handle(AccountSnapshot(0.05, SIZE, MID, 1e3, 0.0, (), liquidation_px=0.0, max_leverage=50.0,
                                    leverage=1.0 if iso else 20.0, isolated=iso, cross_available=900.0,
                                    mark_px=mark))
        assert core._liq_margin is None and core._liq_px == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_an_isolated_long_the_venue_gives_no_price_is_followed_from_its_raw_usd(seed):
    """An isolated long (2x) whose margin was added to past its notional at entry (rawUsd >= 0): the venue gives it no
    liquidation price (null), and its own margin is not in the cross figures, but the row's rawUsd (leverage.rawUsd:
    its margin less s x entry, so that its equity is rawUsd + s x mark) is: equity(L) = m|s|L solves to L = -rawUsd /
    (s - m|s|), so Z = -rawUsd. Then random fills that add, reduce, close and flip, fees paid: the core's worked price
    equals the twin's Account.liquidation_px after every fill (rel 1e-9; <= 0 where the twin's is null), and the
    price in use is each side's nearest since the snapshot: a long grown past its margin has its price from the fill
    that gave it one, not at the next snapshot. Not told its rawUsd (None), it is not followed, as before."""
    from twin.accounts import Account
    rng = np.random.default_rng(200 + seed)
    acct = Account("0x" + "c8" * 20, 600.0, default_leverage=2, max_leverage={"BTC": 50},
                   only_isolated=frozenset({"BTC"}), sz_decimals={"BTC": 5})
    acct.apply_fill("BTC", True, MID, SIZE, 0.01)
    p = acct.positions["BTC"]
    p.margin_usd += 300.0  # (updateIsolatedMargin: from the cross balance into its own margin: 500 of 400 notional)
    marks = {"BTC": MID * 1.003}
    assert p.isolated and acct.liquidation_px("BTC", marks) is None  # the venue's null
    raw_usd = p.margin_usd - p.szi * p.entry_px  # (the twin's clearinghouseState row: 500 - 400 = 100)

    def snapshot(told: float | None) -> AgentCore:
        core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
        core.handle(AccountSnapshot(0.05, p.szi, p.entry_px, acct.account_value(marks), 0.0, (), liquidation_px=0.0,
                                    max_leverage=50.0, leverage=float(p.leverage), isolated=True, raw_usd=told))
        return core
    assert snapshot(None)._liq_margin is None
    core = snapshot(raw_usd)
    assert core._liq_px == 0.0 and core._liq_margin is not None

    def worked() -> float:
        return core._liq_z / (core._liq_pos - 0.01 * abs(core._liq_pos))
    assert worked() == pytest.approx(-raw_usd / (p.szi * 0.99), rel=1e-12) and worked() < 0.0
    _follows_the_twin(core, acct, p, rng, marks)


def test_both_gateways_tell_an_isolated_positions_raw_usd():
    """The core's Z for an isolated position the venue gives no price comes from the row's rawUsd: the live
    gateway reads it from clearinghouseState's leverage object (hyperliquid.md §1: {"type": "isolated", "value": 20,
    "rawUsd": "-95.05"}) into its snapshot, None for a cross row or one without it (or not a number), and the twin's
    gateway from the twin's row, its margin less s x entry."""
    from agent.gateway.hyperliquid.gateway import HyperliquidGateway
    from agent.gateway.hyperliquid.parse import AssetInfo, VenueParser
    user = "0x" + "ab" * 20
    parser = VenueParser("BTC", user)
    # (a row as the venue's: its liquidationPx the formula's from its rawUsd, -rawUsd / (szi x (1 - 1 / (2 x
    # maxLeverage))) = 95.05 / (0.0335 x 0.99), asserted below; its rawUsd its margin at 20x less szi x entryPx,
    # 100.04 / 20 - 100.04 = -95.04, but for a cent)
    summary = {"accountValue": "13109.48", "totalMarginUsed": "4.967", "totalNtlPos": "100.02", "totalRawUsd": "1"}
    row = {"coin": "BTC", "szi": "0.0335", "entryPx": "2986.3", "leverage": {"type": "isolated", "value": 20,
           "rawUsd": "-95.05"}, "liquidationPx": "2865.97", "marginUsed": "4.967", "maxLeverage": 50,
           "positionValue": "100.02", "returnOnEquity": "0", "unrealizedPnl": "0",
           "cumFunding": {"allTime": "0", "sinceChange": "0", "sinceOpen": "0"}}

    def state(**p):
        return {"assetPositions": [{"type": "oneWay", "position": dict(row, **p)}],
                "crossMaintenanceMarginUsed": "0.0", "crossMarginSummary": summary, "marginSummary": summary,
                "time": 1708622398623, "withdrawable": "13104.5"}
    told = parser.account_state(state())
    assert told.raw_usd == -95.05
    assert told.liquidation_px == pytest.approx(-told.raw_usd / (0.0335 * (1.0 - 0.5 / 50)), abs=0.005)
    for lev in ({"type": "cross", "value": 20}, {"type": "isolated", "value": 20},
                {"type": "isolated", "value": 20, "rawUsd": "x"}, {"type": "isolated", "value": 20, "rawUsd": None}):
        assert parser.account_state(state(leverage=lev)).raw_usd is None, lev
    assert parser.malformed == 0
    gw = HyperliquidGateway("http://127.0.0.1:9", "0x" + "11" * 32, "BTC", clock=lambda: 5.0)
    gw.asset = AssetInfo("BTC", 0, 5, 50, "")
    out: list = []
    gw.sink = out.append
    for lev, want in (({"type": "isolated", "value": 20, "rawUsd": "-95.05"}, -95.05),
                      ({"type": "cross", "value": 20}, None)):
        gw._emit_snapshot(parser.account_state(state(leverage=lev, liquidationPx=None)), (), (), 4.0)
        assert out.pop().raw_usd == want, lev
    gw.nonces.close()
    # the twin's gateway: an isolated hyna:LIT position's row
    from agent.gateway.events import RequestAccountSnapshot
    from agent.gateway.twin import TwinGateway
    from twin.exchange import Exchange
    from twin.market.synthetic import SyntheticMarketParams
    from twin.params import TwinParams
    from twin.seeding import set_position
    ex = Exchange.build(TwinParams(markets={"BTC": SyntheticMarketParams(),
                                            "hyna:LIT": SyntheticMarketParams.thin_hip3()}), 3)
    ex.fund(user, 500.0)
    ex.env.run(until=2.0)
    set_position(ex, user, "hyna:LIT", 2.0)
    events: list = []
    tgw = TwinGateway(ex, user, "hyna:LIT", quota_poll_s=0.0)
    tgw.start(events.append)
    tgw.send(RequestAccountSnapshot())
    ex.env.run(until=4.0)
    snap = next(e for e in events if type(e) is AccountSnapshot)
    p = ex.accounts[user].positions["hyna:LIT"]
    assert p.isolated and snap.isolated and snap.raw_usd == pytest.approx(p.margin_usd - p.szi * p.entry_px, rel=1e-12)
    assert snap.raw_usd < 0.0  # (a long's: its margin less what buying it cost)


# what follows the 1,500 ms snapshot's state, in venue time order: ("pay", usdc, ms), a funding payment, or
# (signed size, price, ms), a fill
_PAID_AMONG_FILLS = {
    "closed and opened again": [("pay", -0.2, 2_000), (-SIZE, MID, 3_000), (0.003, 100_200.0, 4_000)],
    "reduced": [("pay", -0.2, 2_000), (-0.002, MID, 3_000)],
    # a fill on either side of the payment: one program that worked every payment before the fills, or every one
    # after them, is off by 0.05 or 0.1 in Z (the payment shared out by the second reduce alone, or not at all)
    "reduced, paid, reduced": [(-0.002, MID, 1_800), ("pay", -0.2, 2_000), (-0.001, MID, 3_000)],
}


@pytest.mark.parametrize("late", [False, True], ids=["told in time order", "payment told last"])
@pytest.mark.parametrize("isolated", [False, True], ids=["cross", "isolated"])
@pytest.mark.parametrize("after", list(_PAID_AMONG_FILLS))
def test_funding_before_a_fill_since_the_snapshot_moves_the_price_in_its_time_order(isolated, after, late):
    """A long 0.004 BTC (20x, 50x coin) pays funding (-0.2 USD, at 2,000 ms) and then is closed and a new long of 0.003
    opened at 100,200 (3,000 and 4,000 ms), or half sold (3,000 ms), or is half sold before it (1,800 ms) and a
    quarter after it (3,000 ms), the core told each as it came: in their time order, or the payment after every fill
    (``late``: funding and fills come on different channels, so a payment's push can follow a later fill's). Told
    late, the core works the price again from the snapshot with the payment in its time order (_liq_paid_late): the
    twin's at once (rel 1e-9), where applied as it came an isolated one was off as below until the next snapshot.
    Then a snapshot whose state is older than them all
    (1,500 ms: asked before them, answered after) has the core work the price again from it, the fills past its
    watermark and the funding past its time. An isolated position pays funding from its own margin, which a close
    discards and a reduce shares out (twin/accounts.py): worked in time order the price is the twin's (rel 1e-9); the
    funding put after the fills was paid again into the new position's margin (Z off by 0.2: 96,218.86 against the
    twin's 96,151.52), or not shared out by the reduce (Z off by 0.1); put before them all, it was shared out by the
    reduce made before it was paid (Z off by 0.05 in the third case). A cross one's Z moves alike in any order."""
    from agent.gateway.events import FundingPaid
    from agent.gateway.fills import fill_key
    from twin.accounts import Account
    acct = Account("0x" + "c9" * 20, 60.0, default_leverage=20, max_leverage={"BTC": 50},
                   only_isolated=frozenset({"BTC"}) if isolated else frozenset(), sz_decimals={"BTC": 5})
    acct.apply_fill("BTC", True, MID, SIZE, 0.0)
    p = acct.positions["BTC"]
    marks = {"BTC": MID}
    first = fill_key(500, 1)
    at_state = (p.szi, p.entry_px, acct.liquidation_px("BTC", marks))
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)

    def snapshot(ts: float, state_ms: int) -> None:
        szi, entry, lq = at_state  # (the account at 1,500 ms: as at 1,000)
        core.handle(AccountSnapshot(ts, szi, entry, 60.0, 0.0, (), first, -1.0, state_ms, liquidation_px=lq,
                                    max_leverage=50.0, leverage=20.0, isolated=isolated, cross_available=0.0,
                                    mark_px=0.0))

    def worked() -> float:
        return core._liq_z / (core._liq_pos - 0.01 * abs(core._liq_pos))
    snapshot(0.05, 1_000)
    told = []  # (the core's events, in the order it is told them)
    for i, (sz, px, ms) in enumerate(_PAID_AMONG_FILLS[after]):
        if sz == "pay":
            acct.apply_funding("BTC", px)
            told.append(FundingPaid(1.0 + i, "BTC", px, p.szi, 0.0005, ms))
            continue
        acct.apply_fill("BTC", sz > 0, px, abs(sz), 0.0)
        told.append(FillReceived(1.0 + i, f"0x{i:032x}", 1000 + i, px, abs(sz), Side.BUY if sz > 0 else Side.SELL, 0.0,
                                 True, fill_key(ms, 10 + i)))
        marks["BTC"] = px
    for ev in sorted(told, key=lambda e: type(e) is FundingPaid) if late else told:
        core.handle(ev)
    twin = acct.liquidation_px("BTC", marks)
    assert core.tracker.position == pytest.approx(p.szi, abs=1e-12)
    assert worked() == pytest.approx(twin, rel=1e-9)  # (told live, in the order told)
    snapshot(5.0, 1_500)
    assert core.tracker.position == pytest.approx(p.szi, abs=1e-12)
    assert worked() == pytest.approx(twin, rel=1e-9), (worked(), twin)
