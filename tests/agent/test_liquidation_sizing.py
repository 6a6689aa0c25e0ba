"""The reducing side near the liquidation price: sized as if the venue could take the position before its orders
land (AgentCore._liquidation_exposure; random chaos found the fault, scenarios/chaos_ladder_lands_after_liquidation)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from agent.config import AgentConfig
from agent.core import LIQUIDATION_NEAR, AgentCore
from agent.gateway.events import (AccountSnapshot, Batch, BookUpdated, FillReceived, PlaceOrder, RequestAccountSnapshot,
                                  Side, Timer)

LIMIT = 0.01  # BTC; a ladder side (0.004 at its touch, 5 levels) is far more than it: reconcile's room cuts it
POSITION = 0.002
MID = 100_000.0


def _first_orders(position: float, liquidation_px: float) -> dict:
    """A core at Full holding ``position`` (the snapshot's liquidation price ``liquidation_px``), its first cycle on
    a book whose mid is MID: the total size it places on each side."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}, "risk": {"max_position": LIMIT},
                                      "quoting": {"order_size": 0.004, "ladder": {"n_levels": 5}}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(AccountSnapshot(0.05, position, MID, 1e3, 50.0, (), liquidation_px=liquidation_px))
    core.handle(BookUpdated(0.1, "BTC", ((MID - 100.0, 1.0),), ((MID + 100.0, 1.0),)))
    cmds = core.handle(Timer(0.5))
    total = {Side.BUY: 0.0, Side.SELL: 0.0}
    for c in (c for b in cmds for c in (b.commands if isinstance(b, Batch) else (b,))):
        if isinstance(c, PlaceOrder):
            total[c.side] += c.sz
    return total


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["long", "short"])
@pytest.mark.parametrize("distance", [0.5 * LIQUIDATION_NEAR, 0.0, -2.0 * LIQUIDATION_NEAR],
                         ids=["half the distance away", "at it", "past it"])
def test_near_its_liquidation_price_the_reducing_side_counts_on_no_position(sign, distance):
    """A long 0.002 BTC (limit 0.01) whose liquidation price is within LIQUIDATION_NEAR of the mid, or past it: the
    venue may liquidate it while the cycle's orders are on their way (found_93577037b4: an isolated +2 on hyna:LIT,
    liquidated 47 ms after the first cycle sent asks sized for it, 102 against a limit of 100, which landed on a flat
    account). Its asks are at most the limit, not the limit + 0.002 that closing the position leaves room for; the
    bids, which add to it, keep their room (limit - position). A short alike, sides swapped."""
    liq = MID * (1.0 - sign * distance)
    total = _first_orders(sign * POSITION, liq)
    reducing, growing = (Side.SELL, Side.BUY) if sign > 0 else (Side.BUY, Side.SELL)
    assert total[reducing] == pytest.approx(LIMIT, abs=1e-9), total
    assert total[growing] == pytest.approx(LIMIT - POSITION, abs=1e-9), total


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["long", "short"])
@pytest.mark.parametrize("liq_frac", [1.5 * LIQUIDATION_NEAR, 0.1, None], ids=["1.5 times it", "10%", "none"])
def test_away_from_its_liquidation_price_the_reducing_side_has_the_positions_room(sign, liq_frac):
    """Farther than LIQUIDATION_NEAR from the liquidation price (or with none: a cross account the venue reports
    null for), the position is ours to close: the reducing side has room for it besides the limit (0.012 here)."""
    liq = 0.0 if liq_frac is None else MID * (1.0 - sign * liq_frac)  # 0: the venue's null
    total = _first_orders(sign * POSITION, liq)
    reducing, growing = (Side.SELL, Side.BUY) if sign > 0 else (Side.BUY, Side.SELL)
    assert total[reducing] == pytest.approx(LIMIT + POSITION, abs=1e-9), total
    assert total[growing] == pytest.approx(LIMIT - POSITION, abs=1e-9), total


@pytest.mark.parametrize("coin, szi", [("hyna:LIT", 2.0), ("hyna:LIT", -2.0), ("BTC", 0.0), ("BTC", 0.001)])
def test_the_twins_snapshot_carries_the_venues_liquidation_price_of_the_position(coin, szi):
    """The core knows the price from the snapshot alone: the twin's clearinghouseState liquidationPx of the coin's
    position (an isolated one's on hyna:LIT, 10x: about 5% from its entry), none with no position; a cross long the
    500 USD margin whatever the price (0.001 BTC) has the venue's null, with its mark and the cross collateral."""
    from agent.gateway.twin import TwinGateway
    from twin.exchange import Exchange
    from twin.market.synthetic import SyntheticMarketParams
    from twin.params import TwinParams
    from twin.seeding import set_position
    user = "0x" + "c3" * 20
    ex = Exchange.build(TwinParams(markets={"BTC": SyntheticMarketParams(),
                                            "hyna:LIT": SyntheticMarketParams.thin_hip3()}), 3)
    ex.fund(user, 500.0)
    ex.env.run(until=2.0)
    if szi:
        set_position(ex, user, coin, szi)
    events: list = []
    gw = TwinGateway(ex, user, coin, quota_poll_s=0.0)
    gw.start(events.append)
    gw.send(RequestAccountSnapshot())
    ex.env.run(until=4.0)
    snap = next(e for e in events if type(e) is AccountSnapshot)
    assert snap.position == szi
    if not szi:
        # no price, and the margin a position opened from flat would have: the coin's meta (BTC 40x), the user's
        # setting (the twin's default 20x, cross) and the cross collateral (the 500 funded, no other position)
        assert ((snap.liquidation_px, snap.max_leverage, snap.leverage, snap.isolated, snap.cross_available)
                == (0.0, 40.0, 20.0, False, 500.0))
        return
    if coin == "BTC":
        # null (no positive price liquidates it), and what the core works its Z from: the mark and the cross value
        # less the cross maintenance (its own in it) at the snapshot's state. Z = mark x (s - m|s|) - that, the
        # venue's formula, is the same at any mark of the coin's (the mark has moved since the state): the twin's now
        acct = ex.accounts[user]
        value, _, maintenance, _ = acct.cross_margin(ex.marks, "")
        assert acct.liquidation_px(coin, ex.marks) is None and snap.liquidation_px == 0.0
        assert (snap.max_leverage, snap.leverage, snap.isolated) == (40.0, 20.0, False)
        assert abs(snap.mark_px / ex.marks["BTC"] - 1.0) < 0.01
        s, m = szi, 1.0 / 80.0
        z = snap.mark_px * (s - m * abs(s)) - snap.cross_available
        assert z == pytest.approx(ex.marks["BTC"] * (s - m * abs(s)) - (value - maintenance), rel=1e-9)
        assert z / (s - m * abs(s)) < -400_000.0  # (the formula's price, far under 0: the venue's null)
        return
    # and how the venue margins it, which moves that price with the fills until the next snapshot: hyna:LIT is 10x at
    # most, and isolated only
    p = ex.accounts[user].positions[coin]
    assert (snap.max_leverage, snap.leverage, snap.isolated) == (10.0, p.leverage, True) and p.isolated
    assert (snap.cross_available, snap.mark_px) == (0.0, 0.0)  # (isolated: the cross figures are not its margin)
    want = ex.accounts[user].liquidation_px(coin, ex.marks)
    assert want is not None and snap.liquidation_px == pytest.approx(want, rel=1e-12)
    entry = snap.entry_px
    assert 0.04 < (entry - snap.liquidation_px) / entry * math.copysign(1.0, szi) < 0.06


def _first_placed(position: float, liquidation_px: float, level: str) -> list[PlaceOrder]:
    """The places of a core's first cycle at ``level`` holding ``position`` (liquidation price ``liquidation_px``)."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": level}, "risk": {"max_position": LIMIT},
                                      "quoting": {"order_size": 0.004, "ladder": {"n_levels": 5}}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(AccountSnapshot(0.05, position, MID, 1e3, 50.0, (), liquidation_px=liquidation_px))
    core.handle(BookUpdated(0.1, "BTC", ((MID - 100.0, 1.0),), ((MID + 100.0, 1.0),)))
    cmds = core.handle(Timer(0.5))
    return [c for b in cmds for c in (b.commands if isinstance(b, Batch) else (b,)) if isinstance(c, PlaceOrder)]


@pytest.mark.parametrize("level", ["MICRO_LIVE", "FULL"])
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["long", "short"])
def test_near_its_liquidation_price_the_reduce_only_exits_keep_their_room(level, sign):
    """A position of 0.008 BTC (limit 0.01) worked off by reduce-only exits: near its liquidation price they are
    sized as far from it, the whole position. The venue refuses a reduce-only order that would grow the position, so
    one landing after a liquidation rests nowhere, and held to the limit alone they were cut to a sliver (0.001 of
    0.008 here; decisions_diff's chaos_0122: Red's exits of a short of 318 at MicroLive's limit of 40 cut from 95 to
    40), just when the position most needs closing."""
    pos = sign * 0.008
    far = _first_placed(pos, 0.0, level)
    near = _first_placed(pos, MID * (1.0 - sign * 0.5 * LIQUIDATION_NEAR), level)
    assert far and all(p.reduce_only for p in far + near), (far, near)
    assert sum(p.sz for p in far) == pytest.approx(abs(pos), abs=1e-9), far
    assert [(p.side, p.px, p.sz) for p in near] == [(p.side, p.px, p.sz) for p in far]


def _first_record(position: float, liquidation_px: float, level: str = "FULL") -> dict:
    """The decision record of a core's first cycle at ``level`` holding ``position`` (liquidation price
    ``liquidation_px``), as the log writes it."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": level}, "risk": {"max_position": LIMIT},
                                      "quoting": {"order_size": 0.004, "ladder": {"n_levels": 5}}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(AccountSnapshot(0.05, position, MID, 1e3, 50.0, (), liquidation_px=liquidation_px))
    core.handle(BookUpdated(0.1, "BTC", ((MID - 100.0, 1.0),), ((MID + 100.0, 1.0),)))
    core.handle(Timer(0.5))
    (rec,) = [r for r in core.drain_records() if r["type"] == "cycle"]
    return rec


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["long", "short"])
def test_the_cycle_record_says_when_the_liquidation_rule_sized_the_reducing_side(sign):
    """An operator reading the decision log must be able to tell why a side was sized down: the cycle whose
    exposures the rule changed lists it among its adjustments (last: it is applied where reconcile sizes the
    quotes), with the price it measured from, the distance of the mid from it (a fraction of the mid; the side
    the position is on) and the position counted out of the reducing side's room. The rule's text in the audit's
    view of the cycle names all of them."""
    from agent.audit.inspect import describe_cycle
    liq = MID * (1.0 - sign * 0.5 * LIQUIDATION_NEAR)
    rec = _first_record(sign * POSITION, liq)
    names = [a[0] for a in rec["adjustments"]]
    assert names[-3:] == ["liquidation_px", "liquidation_distance", "liquidation_counted_out"], names
    steps = {a[0]: (a[1], a[2]) for a in rec["adjustments"]}
    assert steps["liquidation_px"] == (liq, "limit")
    assert steps["liquidation_distance"][0] == pytest.approx(0.5 * LIQUIDATION_NEAR, rel=1e-9)
    assert steps["liquidation_counted_out"] == (sign * POSITION, "limit")
    text = "\n".join(describe_cycle(rec, False))
    assert f"liquidation mid 100000 is 0.5% (of the mid) from the liquidation price {liq:g}" in text, text
    assert f"the {'asks' if sign > 0 else 'bids'} sized as if the venue had taken the position" in text, text
    # far from it (or with none known), the cycle took no such step, and its record is as before the rule was said
    for far in (MID * (1.0 - sign * 1.5 * LIQUIDATION_NEAR), 0.0):
        rec = _first_record(sign * POSITION, far)
        assert not [a for a in rec["adjustments"] if a[0].startswith("liquidation")], rec["adjustments"]
        assert "liquidation price" not in "\n".join(describe_cycle(rec, False))


# ---------------------------------------------------------------------- the price moved by the fills since the snapshot

def _core_after(position: float, liquidation_px: float, fills: list[tuple[float, float]], max_leverage: float = 50.0,
                leverage: float = 20.0, isolated: bool = False) -> tuple[AgentCore, list]:
    """A core at Full told by a snapshot of ``position`` (its liquidation price and margin), then filled ``fills``
    ((signed size, price), no fee) by orders it did not place, its first cycle on a book whose mid is MID: the core,
    and the commands of that cycle."""
    from agent.gateway.events import FillReceived
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}, "risk": {"max_position": LIMIT},
                                      "quoting": {"order_size": 0.004, "ladder": {"n_levels": 5}}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(AccountSnapshot(0.05, position, MID, 1e3, 50.0, (), liquidation_px=liquidation_px,
                                max_leverage=max_leverage, leverage=leverage, isolated=isolated))
    core.handle(BookUpdated(0.1, "BTC", ((MID - 100.0, 1.0),), ((MID + 100.0, 1.0),)))
    for i, (sz, px) in enumerate(fills):
        side = Side.BUY if sz > 0 else Side.SELL
        core.handle(FillReceived(0.2 + 0.01 * i, f"0x{i:032x}", 1000 + i, px, abs(sz), side, 0.0, True, 10 + i))
    return core, core.handle(Timer(0.5))


def _placed(cmds: list) -> dict:
    total = {Side.BUY: 0.0, Side.SELL: 0.0}
    for c in (c for b in cmds for c in (b.commands if isinstance(b, Batch) else (b,))):
        if isinstance(c, PlaceOrder):
            total[c.side] += c.sz
    return total


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["long", "short"])
def test_a_position_grown_since_the_snapshot_is_sized_on_its_nearer_liquidation_price(sign):
    """A cross long of 0.002 BTC (50x coin, 20x set) whose snapshot put its liquidation price 2.8% under the mid, bought
    to 0.004 at the mid since: the venue's margin rules put the grown position's price 0.895% under it (Z = L x
    (s - m|s|) moves by the fill's notional: 97,200 x 0.00198 + 200 = 392.456 over 0.004 x 0.99), within 1%. Sized on
    the snapshot's 2.8%, its asks had the room to close 0.004 beside the limit (0.014), past the limit on the flat
    account a liquidation while they fly leaves; on the moved price, the limit alone. Told no margin (a venue reply
    without it), the snapshot's price is used as it was. A short alike, sides swapped."""
    reducing, growing = (Side.SELL, Side.BUY) if sign > 0 else (Side.BUY, Side.SELL)
    liq0 = MID * (1.0 - sign * 0.028)
    grown = [(sign * POSITION, MID)]
    core, cmds = _core_after(sign * POSITION, liq0, grown)
    moved = liq0 * POSITION * (1.0 - 0.01 * sign) + POSITION * MID
    assert core._liq_px == pytest.approx(moved / (2 * POSITION * (1.0 - 0.01 * sign)), rel=1e-12)
    assert abs(core._liq_px - MID) / MID < LIQUIDATION_NEAR
    total = _placed(cmds)
    assert total[reducing] == pytest.approx(LIMIT, abs=1e-9), total
    assert total[growing] == pytest.approx(LIMIT - 2 * POSITION, abs=1e-9), total
    (rec,) = [r for r in core.drain_records() if r["type"] == "cycle"]
    steps = {a[0]: a[1] for a in rec["adjustments"]}
    assert steps["liquidation_px_snapshot"] == liq0 and steps["liquidation_px"] == core._liq_px
    assert steps["liquidation_counted_out"] == pytest.approx(2 * sign * POSITION, abs=1e-15)
    from agent.audit.inspect import describe_cycle
    assert f"the last snapshot's {liq0:g} moved by our fills since" in "\n".join(describe_cycle(rec, False))
    # not told how the venue margins it: the snapshot's 2.8%, the room to close it (the limit + 0.004)
    core, cmds = _core_after(sign * POSITION, liq0, grown, max_leverage=0.0)
    assert core._liq_px == liq0 and _placed(cmds)[reducing] == pytest.approx(LIMIT + 2 * POSITION, abs=1e-9)


def random_fills(core: AgentCore, acct, p, rng: np.random.Generator, px: float, n: int = 60):
    """``n`` random fills of 0.001-0.003 BTC, the price a 0.4% random walk from ``px``, buys 60% of them while
    ``p`` (the twin account ``acct``'s BTC position) is long or flat and 40% while short, each applied to the twin's
    account and handed to the core: yields (i, the position before the fill, its price) once both hold it (the
    tracker's position checked against the twin's)."""
    for i in range(n):
        px = round(px * (1.0 + 0.004 * rng.standard_normal()), 1)
        sz = round(float(rng.choice([0.001, 0.002, 0.003])), 5)
        is_buy = bool(rng.random() < (0.6 if p.szi >= 0 else 0.4))
        start = p.szi
        fee = round(px * sz * 0.00015, 8)
        acct.apply_fill("BTC", is_buy, px, sz, fee)
        core.handle(FillReceived(1.0 + i, f"0x{i:032x}", 1000 + i, px, sz, Side.BUY if is_buy else Side.SELL, fee,
                                 True, 10 + i))
        assert core.tracker.position == pytest.approx(p.szi, abs=1e-12)
        yield i, start, px


@pytest.mark.parametrize("isolated", [False, True], ids=["cross", "isolated"])
@pytest.mark.parametrize("seed", range(6))
def test_the_price_the_fills_move_is_the_twins_own_or_nearer(isolated, seed):
    """The core's liquidation price after each fill since the snapshot, against the twin's (its Account booking the
    same fills, liquidation_px: the venue's formula on its margin) over random fills that add, reduce, close and
    flip, fees paid: worked out after each exactly as the twin's margin has it (the core recomputes no margin: it
    moves the snapshot's price by each fill), the price it uses is the nearest of the twin's since the snapshot
    on that side (a long's highest, a short's lowest; the snapshot's side from the snapshot's price): the twin's
    wherever that is the nearest yet, and never farther (a reduced cross position's moves away, an isolated one's
    stays, and a position added to at prices farther from it, or opened afresh isolated, moves it away: left to the
    next snapshot to say)."""
    from twin.accounts import Account
    rng = np.random.default_rng(seed)
    acct = Account("0x" + "c4" * 20, 40.0, default_leverage=20, max_leverage={"BTC": 50},
                   only_isolated=frozenset({"BTC"}) if isolated else frozenset(), sz_decimals={"BTC": 5})
    px = MID
    acct.apply_fill("BTC", True, px, 0.004, 0.0)
    p = acct.positions["BTC"]
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    near = acct.liquidation_px("BTC", {"BTC": px})
    core.handle(AccountSnapshot(0.05, p.szi, p.entry_px, 40.0, 0.0, (), liquidation_px=near,
                                max_leverage=50.0, leverage=float(p.leverage), isolated=p.isolated))
    assert p.isolated == isolated and near > 0.0 and core._liq_px == near
    exact = farther = 0
    nearest = [near, 0.0]  # each side's nearest price since the snapshot: a long's highest, a short's lowest
    for i, start, px in random_fills(core, acct, p, rng, px):
        if not p.szi:
            continue
        twin = acct.liquidation_px("BTC", {"BTC": px}) or 0.0
        long = p.szi > 0
        side = 0 if long else 1
        if not nearest[side] or (twin > nearest[side]) == long and twin != nearest[side]:
            nearest[side] = twin
        else:
            farther += twin != nearest[side]
        assert core._liq_long == long
        # the price the core works out for the position (its Z over s - m|s|, m = 1 / (2 x 50)) is the twin's
        worked = core._liq_z / (core._liq_pos - 0.01 * abs(core._liq_pos))
        assert max(worked, 0.0) == pytest.approx(twin, rel=1e-9), (i, start, p.szi, worked, twin)
        assert core._liq_px == pytest.approx(nearest[side], rel=1e-9), (i, start, p.szi, core._liq_px, nearest, twin)
        exact += core._liq_px == pytest.approx(twin, rel=1e-9)
    assert exact >= 1 and farther >= 3, (exact, farther)
