"""Margin tiers (docs trading/margin-tiers): the maintenance margin of a position on a coin with several tiers, by
hand, in each tier and at a tier's bound; the twin's margin check liquidating where its price says; the
PerpMaxPosition refusal; and the tier table's configuration. (The liquidation price by hand, the twin's and the
agent's: tests/agent/test_liquidation_tiers.py.)

The table of the hand figures: 10x from 0 and 5x from 100,000 USDC of notional. Rates 1/20 = 5% and 1/10 = 10%;
deductions 0 and 100,000 x (10% - 5%) = 5,000. So a notional of 50,000 has 2,500 of maintenance, one of 100,000
(the bound, in the upper tier) 100,000 x 10% - 5,000 = 5,000 (the lower tier's rate gives the same: continuous),
one of 200,000 has 20,000 - 5,000 = 15,000.
"""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.margin_tiers import MarginTable
from twin.accounts import Account
from twin.faults.chaos import ChaosSchedule, PriceJump
from twin.instruments import InstrumentSpec
from twin.messages import OrderAction, OrderSpec, StatusError
from twin.params import TwinParams

from test_margin import USER, _calm_btc, _long

TIERS = ((0.0, 10), (100_000.0, 5))


def _account(cash: float, sz: float, isolated: bool = False, leverage: int = 10) -> Account:
    """``cash`` USDC holding ``sz`` (signed) of X bought or sold at 1,000, no fee, on the table above."""
    acct = Account(USER, cash, default_leverage=leverage, max_leverage={"X": 10},
                   only_isolated=frozenset({"X"}) if isolated else frozenset(), sz_decimals={"X": 2},
                   margin_tables={"X": MarginTable(TIERS)})
    acct.apply_fill("X", sz > 0, 1_000.0, abs(sz), 0.0)
    return acct


@pytest.mark.parametrize("sz, mark, want", [(50.0, 1_000.0, 2_500.0), (100.0, 1_000.0, 5_000.0),
                                             (200.0, 1_000.0, 15_000.0), (-200.0, 1_000.0, 15_000.0),
                                             (125.0, 800.0, 5_000.0)],
                         ids=["tier0", "at-bound", "tier1", "tier1-short", "at-bound-by-mark"])
def test_maintenance_margin_by_hand_in_each_tier_and_at_the_bound(sz, mark, want):
    """The flat rule (1/20 of any notional) gives 10,000 for 200,000, not 15,000."""
    acct = _account(1e6, sz)
    assert acct.maintenance_margin({"X": mark}) == pytest.approx(want, rel=1e-12)
    assert acct.cross_margin({"X": mark}, "")[2] == pytest.approx(want, rel=1e-12)


def _tiered_btc(schedule=None):
    """A calm BTC (mid near 100,000; moves only on the schedule's jumps) whose table is 40x to 100,000 and 20x
    above, with 10,000 USDC."""
    btc = InstrumentSpec(margin_tiers=[{"lower_bound": 0, "max_leverage": 40},
                                       {"lower_bound": 100_000, "max_leverage": 20}], margin_table_id=56)
    return _calm_btc(schedule, instruments=[btc])


def test_the_margin_check_liquidates_a_tiered_position_at_its_liquidation_price():
    """1.5 BTC (~150,000, the 20x tier) at 20x on 10,000: its maintenance is 150,000 / 40 - 1,250 (the deduction,
    100,000 x (1/40 - 1/80)), about 2,500, and the position is liquidated 0.1% under the price clearinghouseState
    gives, not 0.1% over it. The flat 40x rule (1/80 of notional, ~1,875) puts that price about 0.4% lower."""
    ex = _tiered_btc()
    _long(ex, 20, 1.5)
    mark, acct = ex.marks["BTC"], ex.accounts[USER]
    ntl = 1.5 * mark
    assert acct.maintenance_margin(ex.marks) == pytest.approx(ntl / 40.0 - 1_250.0, rel=1e-12)
    liq = ex.clearinghouse_state(USER)["assetPositions"][0]["liquidationPx"]
    value = acct.account_value(ex.marks)
    flat = mark - (value - ntl / 80.0) / 1.5 / (1 - 1 / 80)
    assert liq > flat * 1.003
    for above, liquidated in ((1.001, 0), (0.999, 1)):
        ex = _tiered_btc(ChaosSchedule(events=[PriceJump(at_s=20.0, fraction=liq * above / mark - 1.0)]))
        _long(ex, 20, 1.5)
        ex.env.run(until=30.0)
        assert ex.counters["liquidations"] == liquidated, above


def test_an_order_into_a_tier_below_the_users_leverage_is_refused_perp_max_position():
    """At 40x, 1.5 BTC (~150,000) would be in the 20x tier: refused with the venue's PerpMaxPosition text (the
    margin, 3,750 of 10,000, is there); 0.5 BTC (the 40x tier) fills, and at 20x 1.5 BTC fills."""
    ex = _tiered_btc()
    refused = _long(ex, 40, 1.5, refusal=True)
    assert refused == StatusError("Order would cause position to exceed margin tier limit at current leverage "
                                  "asset=0")
    assert ex.rejections_by_reason == {"PerpMaxPosition": 1}
    _long(ex, 40, 0.5)
    # adding 0.6 more at 40x takes the position to ~110,000: refused as well; a reduce-only sell is never
    out = []
    ex.submit(USER, OrderAction((OrderSpec("BTC", True, ex.best_ask["BTC"] + 100, 0.6, tif="Ioc"),)), out.append)
    ex.submit(USER, OrderAction((OrderSpec("BTC", False, ex.best_bid["BTC"] - 100, 0.5, tif="Ioc",
                                           reduce_only=True),)), out.append)
    ex.env.run(until=ex.env.now + 1.0)
    assert out[0].statuses[0] == refused and not isinstance(out[1].statuses[0], StatusError)
    _long(ex, 20, 1.5)


def test_the_default_markets_keep_one_tier():
    for inst in TwinParams().instruments:
        assert inst.margin_table() is None and inst.table_id == inst.max_leverage


@pytest.mark.parametrize("fields, says", [
    ({"margin_tiers": [{"lower_bound": 0, "max_leverage": 40}, {"lower_bound": 1e5, "max_leverage": 20}]},
     "margin_table_id must be given, 50 or more"),
    ({"margin_tiers": [{"lower_bound": 0, "max_leverage": 40}, {"lower_bound": 1e5, "max_leverage": 20}],
      "margin_table_id": 7}, "margin_table_id must be given, 50 or more"),
    ({"margin_tiers": [{"lower_bound": 0, "max_leverage": 40}, {"lower_bound": 1e5, "max_leverage": 50}],
      "margin_table_id": 56}, "margin_tiers[1] (lower_bound 100000, max_leverage 50) must have a higher lower_bound "
     "and a lower max_leverage"),
    ({"margin_tiers": [{"lower_bound": 0, "max_leverage": 40}, {"lower_bound": 0, "max_leverage": 20}],
      "margin_table_id": 56}, "must have a higher lower_bound"),
    ({"margin_tiers": [{"lower_bound": 10, "max_leverage": 40}]}, "margin_tiers[0] must be lower_bound 0 at "
     "max_leverage 40"),
    ({"margin_tiers": [{"lower_bound": 0, "max_leverage": 20}]}, "margin_tiers[0] must be lower_bound 0 at "
     "max_leverage 40"),
    ({"margin_tiers": [{"lower_bound": 0, "max_leverag": 40}]}, "margin_tiers.0.max_leverage"),
    ({"margin_tiers": [{"lower_bound": -1, "max_leverage": 40}]}, "margin_tiers.0.lower_bound"),
    ({"margin_table_id": 60}, "margin_table_id 60 given for a single-tier table"),
], ids=["no-id", "flat-id", "leverage-rises", "bound-repeats", "first-bound", "first-leverage", "misspelt",
        "negative", "id-without-tiers"])
def test_a_bad_tier_table_is_refused_naming_the_field(fields, says):
    with pytest.raises(ValidationError) as e:
        InstrumentSpec(**fields)
    assert says in str(e.value)


def test_one_table_id_is_one_table():
    a = InstrumentSpec(margin_tiers=[{"lower_bound": 0, "max_leverage": 40},
                                     {"lower_bound": 1e5, "max_leverage": 20}], margin_table_id=56)
    b = InstrumentSpec(name="ETH", index=1, margin_tiers=[{"lower_bound": 0, "max_leverage": 40},
                                                          {"lower_bound": 2e5, "max_leverage": 20}],
                       margin_table_id=56)
    with pytest.raises(ValidationError, match="margin_table_id 56 with different margin_tiers"):
        TwinParams(instruments=[a, b])
    TwinParams(instruments=[a, b.model_copy(update={"margin_table_id": 57})])
