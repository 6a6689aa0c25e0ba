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


def test_a_modify_whose_new_order_fails_says_so_and_the_old_order_is_gone():
    """The venue's modify is cancel-and-replace: when the new order is refused (here post-only through the
    touch) the cancel has happened, and the error says it was the new order: ``Error placing new order
    during modify: ...`` with the inner reason's own text."""
    from twin.faults.rejections import MODIFY_PREFIX, classify_venue_text
    from twin.messages import ModifyAction, StatusError

    ex = Exchange.build(seed=3)
    ex.fund(ALICE, 10_000.0)
    ex.env.run(until=2.0)
    replies: list = []
    bid = ex.best_bid["BTC"]
    ex.submit(ALICE, OrderAction((OrderSpec("BTC", True, bid - 50.0, 0.001, cloid=CLOID),)), replies.append)
    ex.env.run(until=4.0)
    oid = replies[0].statuses[0].oid
    through = ex.best_ask["BTC"] + 10.0  # a post-only bid above the ask: it would take
    ex.submit(ALICE, ModifyAction(((oid, OrderSpec("BTC", True, through, 0.001, cloid="0x" + "00" * 15 + "2b")),)),
              replies.append)
    ex.env.run(until=6.0)
    st = replies[1].statuses[0]
    assert isinstance(st, StatusError) and st.error.startswith(MODIFY_PREFIX + "Post only order would have")
    assert classify_venue_text(st.error).value == "BadAloPx"
    assert ex.order_status_of(ALICE, oid)["orderStatus"] == "canceled" and not ex.open_orders(ALICE)
