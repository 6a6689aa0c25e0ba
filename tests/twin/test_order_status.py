"""orderStatus: the last status of any order, by oid or cloid, for its owner only."""
import gc

from twin.exchange import Exchange
from twin.messages import ActionOk, CancelByCloidAction, OrderAction, OrderSpec, Resting

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
CLOID = "0x" + "00" * 15 + "2a"


def test_order_status_by_oid_and_cloid_for_its_owner_only_and_kept_out_of_the_collectors_way():
    ex = Exchange.build(seed=3)
    for user in (ALICE, BOB):
        ex.fund(user, 10_000.0)
    ex.env.run(until=2.0)
    replies: dict[str, list] = {ALICE: [], BOB: []}
    bid = ex.best_bid["BTC"]
    ex.submit(ALICE, OrderAction((OrderSpec("BTC", True, bid - 50.0, 0.001, cloid=CLOID),)), replies[ALICE].append)
    ex.submit(BOB, OrderAction((OrderSpec("BTC", True, bid - 60.0, 0.002, cloid=CLOID),)), replies[BOB].append)
    ex.env.run(until=4.0)
    oid_a, oid_b = (r[0].statuses[0].oid for r in (replies[ALICE], replies[BOB]))
    assert all(isinstance(r[0], ActionOk) and isinstance(r[0].statuses[0], Resting) for r in replies.values())

    by_oid = ex.order_status_of(ALICE.upper(), oid_a)
    assert by_oid["status"] == "order" and by_oid["orderStatus"] == "open"
    assert by_oid["order"].oid == oid_a and by_oid["order"].cloid == CLOID and by_oid["order"].sz == 0.001
    assert ex.order_status_of(ALICE, CLOID) == by_oid
    # the same cloid is Bob's own order for Bob; Alice's oid is not his to ask about
    assert ex.order_status_of(BOB, CLOID)["order"].oid == oid_b
    assert ex.order_status_of(BOB, oid_a) == {"status": "unknownOid"}
    assert ex.order_status_of(ALICE, "0x" + "ff" * 16) == {"status": "unknownOid"}
    assert ex.order_status_of(ALICE, 10**9) == {"status": "unknownOid"}

    ex.submit(ALICE, CancelByCloidAction((("BTC", CLOID),)), replies[ALICE].append)
    ex.env.run(until=6.0)
    done = ex.order_status_of(ALICE, CLOID)
    assert done["orderStatus"] == "canceled" and done["statusTimestamp"] > by_oid["statusTimestamp"]
    assert ex.order_status_of(BOB, oid_b)["orderStatus"] == "open"
    # kept all day for every order: rows the garbage collector stops following once it has seen them
    gc.collect()
    assert not gc.is_tracked(ex.order_status[oid_a])
