"""Seeding refuses what the venue would: a resting order under a cloid the account has already used is the caller's
bug (the twin's own order path refuses it, DUPLICATE_CLOID), and seeded it would leave two orders under one cloid."""
import re

import numpy as np
import pytest

from twin import seeding
from twin.exchange import Exchange
from twin.messages import ActionOk, CancelAction, OrderAction, OrderSpec, Resting
from twin.params import TwinParams

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
CLOID = "0x" + "0c" * 16


def _exchange() -> Exchange:
    ex = Exchange.build(TwinParams(), 0)
    for user in (ALICE, BOB):
        ex.fund(user, 1_000_000.0)
    ex.env.run(until=2)
    return ex


def test_a_cloid_seeded_twice_for_one_account_is_refused_naming_it():
    ex = _exchange()
    bb = ex.best_bid["BTC"]
    oid = seeding.rest_order(ex, ALICE, "BTC", True, bb - 100, 0.001, cloid=CLOID)
    with pytest.raises(seeding.SeedingError, match=CLOID) as refused:
        seeding.rest_order(ex, ALICE, "BTC", False, ex.best_ask["BTC"] + 100, 0.001, cloid=CLOID)
    assert isinstance(refused.value, ValueError) and str(oid) in str(refused.value)
    assert [o.oid for o in ex.orders.values() if o.cloid == CLOID] == [oid]  # nothing was added
    assert ex.order_status_of(ALICE, CLOID)["order"].oid == oid
    # another account's cloids are its own
    assert seeding.rest_order(ex, BOB, "BTC", True, bb - 100, 0.001, cloid=CLOID) != oid


def test_a_cloid_the_twins_order_path_used_cannot_be_seeded_even_once_that_order_is_done():
    ex = _exchange()
    got: list = []
    ex.submit(ALICE, OrderAction((OrderSpec("BTC", True, ex.best_bid["BTC"] - 100, 0.001, tif="Alo",
                                            cloid=CLOID),)), got.append)
    ex.env.run(until=4)
    placed = got.pop().statuses[0]
    assert isinstance(placed, Resting)
    ex.submit(ALICE, CancelAction((("BTC", placed.oid),)), got.append)
    ex.env.run(until=6)
    assert isinstance(got.pop(), ActionOk) and not ex.orders
    # orderStatus by cloid still answers for the cancelled order: a seeded one under it would take its place
    with pytest.raises(seeding.SeedingError, match=CLOID):
        seeding.rest_order(ex, ALICE, "BTC", True, ex.best_bid["BTC"] - 100, 0.001, cloid=CLOID)
    assert ex.order_status_of(ALICE, CLOID)["order"].oid == placed.oid


def test_a_position_seeded_on_a_finer_lot_keeps_it_through_closes_and_is_served_on_it():
    """BTC's szDecimals lowered to 4 while 0.00123 was held (on its old lot of 5): a close of 0.0012 on the new lot
    leaves the account 0.00003 (the twin rounded the position to the coin's lot now, and dropped it), and the wire
    shows the finer sizes as they are: the position, the fill's startPosition, and the liquidation's close of the
    remainder, whole. A lot coarser than the coin's is no lot a position was opened on: refused, named."""
    from twin.instruments import InstrumentSpec, default_instruments
    from twin.server.wire import clearinghouse_json, fill_json

    ex = Exchange.build(TwinParams(instruments=[InstrumentSpec(sz_decimals=4), *default_instruments()[1:]]), 0)
    ex.fund(ALICE, 1_000_000.0)
    ex.env.run(until=2)
    with pytest.raises(seeding.SeedingError, match="lot_decimals 3 is not between the coin's size decimals, 4, and 8"):
        seeding.set_position(ex, ALICE, "BTC", 0.001, 100_000.0, lot_decimals=3)
    with pytest.raises(seeding.SeedingError, match="more than 4 size decimals"):
        seeding.set_position(ex, ALICE, "BTC", 0.00123, 100_000.0)
    seeding.set_position(ex, ALICE, "BTC", 0.00123, 100_000.0, lot_decimals=5)
    acct, inst = ex.accounts[ALICE], ex.instruments["BTC"]
    bb = ex.best_bid["BTC"]
    ex._place(acct, OrderSpec("BTC", False, bb, 0.0012, tif="Ioc"))
    assert acct.position("BTC").szi == 0.00003
    state = clearinghouse_json(ex.clearinghouse_state(ALICE), ex.marks, ex.now_ms(), {"BTC": inst})
    assert state["assetPositions"][0]["position"]["szi"] == "0.00003"
    ex._liquidate(acct, "")  # (the remainder closed whole, at the mark)
    assert acct.position("BTC").szi == 0.0
    close, first = (fill_json(f, inst) for f in ex.user_fills(ALICE))  # (newest first)
    assert (first["startPosition"], first["sz"]) == ("0.00123", "0.0012")
    assert (close["startPosition"], close["sz"], close["dir"]) == ("0.00003", "0.00003", "Close Long")


@pytest.mark.parametrize("kwargs, says", [
    ({"lot_decimals": 5.5}, "lot_decimals 5.5 is not a whole number of decimals"),
    ({"lot_decimals": "5"}, "lot_decimals '5' is not a whole number of decimals"),
    ({"lot_decimals": True}, "lot_decimals True is not a whole number of decimals"),
    ({"szi": True}, "szi True is not a finite number"),
    ({"szi": "0.001"}, "szi '0.001' is not a finite number"),
    ({"szi": float("nan")}, "szi nan is not a finite number"),
    ({"entry_px": True}, "entry_px True is not a finite number"),
    ({"entry_px": "100000"}, "entry_px '100000' is not a finite number"),
    ({"entry_px": -5.0}, "entry_px -5.0 is not above zero"),
])
def test_a_seeded_position_of_the_wrong_type_is_refused_naming_the_field_and_the_value(kwargs, says):
    """5.5 decimals was taken (checked against no lot), True held one BTC or entered at $1, and a string stopped
    with a TypeError from a comparison: each is refused, naming its field and value, and nothing is set."""
    ex = _exchange()
    args = {"szi": 0.001, "entry_px": 100_000.0, **kwargs}
    with pytest.raises(seeding.SeedingError, match=re.escape(says)):
        seeding.set_position(ex, ALICE, "BTC", args.pop("szi"), args.pop("entry_px"), **args)
    assert ex.accounts[ALICE].position("BTC").szi == 0.0
    seeding.set_position(ex, ALICE, "BTC", 0.00123, 100_000, lot_decimals=np.int64(6))  # numpy's ints are whole
    assert ex.accounts[ALICE].position("BTC").szi == 0.00123


@pytest.mark.parametrize("args, kwargs, says", [
    (("buy", 99_000.0, 0.001), {}, "is_buy 'buy' is not true or false"),
    ((True, "99000", 0.001), {}, "px '99000' is not a finite number"),
    ((True, True, 0.001), {}, "px True is not a finite number"),
    ((True, 99_000.0, True), {}, "sz True is not a finite number"),
    ((True, 99_000.0, "0.001"), {}, "sz '0.001' is not a finite number"),
    ((True, 99_000.0, 0.001), {"reduce_only": 1}, "reduce_only 1 is not true or false"),
])
def test_a_resting_order_of_the_wrong_type_is_refused_naming_the_field_and_the_value(args, kwargs, says):
    """A side of "buy" rested an order whose side was neither (compared with a bool), True rested a bid at $1 or for
    one BTC, a price string stopped with a TypeError: each is refused, naming its field and value, nothing rested."""
    ex = _exchange()
    with pytest.raises(seeding.SeedingError, match=re.escape(f"resting order on BTC: {says}")):
        seeding.rest_order(ex, ALICE, "BTC", *args, **kwargs)
    assert not ex.orders
