"""Seeding refuses what the venue would: a resting order under a cloid the account has already used is the caller's
bug (the twin's own order path refuses it, DUPLICATE_CLOID), and seeded it would leave two orders under one cloid."""
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
