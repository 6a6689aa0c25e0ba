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
    # kept for the last ORDERS_KEPT orders: rows the garbage collector stops following once it has seen them
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


def test_what_one_action_does_to_a_users_orders_arrives_as_one_orderupdates_frame_in_order_with_other_pushes():
    """The venue's orderUpdates data is an array: a block's updates to a user's orders come together. A batch of
    three orders is one frame; a modify's cancel and new order are one frame; a fill's pushes in between split
    frames, so nothing on the socket is reordered."""
    from twin.messages import FillsPush, ModifyAction, OrderUpdatePush

    ex = Exchange.build(seed=3)
    ex.fund(ALICE, 10_000.0)
    ex.env.run(until=2.0)
    pushes: list = []
    conn = ex.connect(pushes.append)
    for kind in ("orderUpdates", "userFills"):
        conn.subscribe(kind, ALICE)
    ex.env.run(until=2.5)
    pushes.clear()
    replies: list = []
    bid = ex.best_bid["BTC"]
    specs = tuple(OrderSpec("BTC", True, bid - 50.0 - i, 0.001, cloid="0x" + "00" * 15 + f"{i + 1:02x}")
                  for i in range(3))
    ex.submit(ALICE, OrderAction(specs), replies.append)
    ex.env.run(until=4.0)
    frames = [p for p in pushes if isinstance(p, OrderUpdatePush)]
    assert len(frames) == 1 and [u.status for u in frames[0].updates] == ["open"] * 3
    assert [u.order.cloid for u in frames[0].updates] == [s.cloid for s in specs]

    pushes.clear()
    oid = replies[0].statuses[0].oid
    ex.submit(ALICE, ModifyAction(((oid, OrderSpec("BTC", True, bid - 70.0, 0.001, cloid="0x" + "00" * 15 + "2b")),)),
              replies.append)
    ex.env.run(until=6.0)
    frames = [p for p in pushes if isinstance(p, OrderUpdatePush)]
    assert len(frames) == 1 and [(u.order.oid == oid, u.status) for u in frames[0].updates] == \
        [(True, "canceled"), (False, "open")]

    # a buy through the ask fills at once: its fill is pushed before its status changes, so a fill between
    # two updates closes the frame before it, and the updates after the fill share a frame behind it
    pushes.clear()
    ask = ex.best_ask["BTC"]
    ex.submit(ALICE, OrderAction((OrderSpec("BTC", True, bid - 90.0, 0.001, cloid="0x" + "00" * 15 + "3d"),
                                  OrderSpec("BTC", True, ask + 100.0, 0.001, tif="Ioc", cloid="0x" + "00" * 15 + "3c"),
                                  OrderSpec("BTC", True, bid - 95.0, 0.001, cloid="0x" + "00" * 15 + "3e"))),
              replies.append)
    ex.env.run(until=9.0)
    seen = [("fills",) if isinstance(p, FillsPush) else tuple((u.order.cloid[-2:], u.status) for u in p.updates)
            for p in pushes]
    assert seen[0] == (("3d", "open"),) and seen[-1] == (("3c", "filled"), ("3e", "open"))
    assert set(seen[1:-1]) == {("fills",)}


def test_order_status_forgets_all_but_the_last_orders_kept_and_never_a_resting_one():
    """The venue keeps roughly an account's last ~2000 orders for orderStatus (older ones are unknownOid, by oid
    and by cloid); the twin kept every order of a session, some 400,000 rows on a 10 Hz day. An order still
    resting is kept whatever its age. Another user's orders are not counted against Alice's."""
    from twin.exchange import ORDERS_KEPT

    ex = Exchange.build(seed=3)
    for user in (ALICE, BOB):
        ex.fund(user, 100_000.0)
    ex.env.run(until=2.0)
    replies: list = []
    bid = ex.best_bid["BTC"]
    ex.submit(ALICE, OrderAction((OrderSpec("BTC", True, bid - 500.0, 0.001, cloid=CLOID),)), replies.append)
    ex.submit(BOB, OrderAction((OrderSpec("BTC", True, bid - 500.0, 0.001, cloid=CLOID),)), replies.append)
    ex.env.run(until=3.0)
    resting, bobs = (r.statuses[0].oid for r in replies)
    clock = [3.0]

    def place_and_cancel(cloids: list) -> None:
        """Alice's orders, 40 to an action a second, each cancelled half a second after it rests."""
        for b in range(0, len(cloids), 40):
            mine = cloids[b:b + 40]
            ex.submit(ALICE, OrderAction(tuple(OrderSpec("BTC", True, bid - 400.0, 0.001, cloid=c) for c in mine)),
                      replies.append)
            ex.env.run(until=clock[0] + 0.5)
            ex.submit(ALICE, CancelByCloidAction(tuple(("BTC", c) for c in mine)), replies.append)
            clock[0] += 1.0
            ex.env.run(until=clock[0])

    cloids = [f"0x{i + 1000:032x}" for i in range(ORDERS_KEPT + 200)]  # 200 more than are kept
    place_and_cancel(cloids)
    first = replies[2].statuses[0].oid
    assert ex.order_status_of(ALICE, cloids[0]) == {"status": "unknownOid"}
    assert ex.order_status_of(ALICE, first) == {"status": "unknownOid"}
    # 2,201 orders: the last 2,000 are kept, the resting one among them (so the batches' 202nd on)
    assert ex.order_status_of(ALICE, cloids[200])["status"] == "unknownOid"
    assert ex.order_status_of(ALICE, cloids[201])["orderStatus"] == "canceled"
    assert ex.order_status_of(ALICE, cloids[-1])["orderStatus"] == "canceled"
    assert ex.order_status_of(ALICE, CLOID)["order"].oid == resting  # the oldest of all, but resting
    assert ex.order_status_of(ALICE, resting)["orderStatus"] == "open"
    assert ex.order_status_of(BOB, bobs)["orderStatus"] == "open" and ex.order_status_of(BOB, CLOID)["status"] == "order"
    assert len(ex.order_status) == ORDERS_KEPT + 1  # Alice's kept, her resting one among them; Bob's one
    # and it stays so: the resting order's turns at the head of the queue do not add to what is kept
    place_and_cancel([f"0x{i + 9000:032x}" for i in range(ORDERS_KEPT + 40)])
    assert len(ex.order_status) == ORDERS_KEPT + 1
    assert ex.order_status_of(ALICE, resting)["orderStatus"] == "open"


def test_an_order_reusing_a_cloid_the_user_already_used_is_refused_but_a_modify_may_keep_its_own():
    """The venue's answer to a reused cloid is not documented (README, the twin's known gaps): the twin refuses the
    new order, while the order holding the cloid rests and after it is done, so cancelByCloid and orderStatus by
    cloid always name one order. Another user may use the same cloid, and a modify's new order may carry the cloid
    of the order it replaces, as the venue's SDK sends it."""
    from twin.exchange import DUPLICATE_CLOID
    from twin.messages import ModifyAction, StatusError

    ex = Exchange.build(seed=3)
    for user in (ALICE, BOB):
        ex.fund(user, 10_000.0)
    ex.env.run(until=2.0)
    bid = ex.best_bid["BTC"]

    def do(user, action):
        out = []
        ex.submit(user, action, out.append)
        ex.env.run(until=ex.env.now + 1.0)
        return out[0].statuses

    first = do(ALICE, OrderAction((OrderSpec("BTC", True, bid - 50.0, 0.001, cloid=CLOID),)))[0]
    assert isinstance(first, Resting)
    again = do(ALICE, OrderAction((OrderSpec("BTC", True, bid - 70.0, 0.001, cloid=CLOID),)))[0]
    assert isinstance(again, StatusError) and again.error == f"{DUPLICATE_CLOID} asset=0"
    assert isinstance(do(BOB, OrderAction((OrderSpec("BTC", True, bid - 70.0, 0.001, cloid=CLOID),)))[0], Resting)
    # a batch that names one cloid twice: the first places, the second is refused
    other = "0x" + "00" * 15 + "2b"
    pair = do(ALICE, OrderAction(tuple(OrderSpec("BTC", True, bid - p, 0.001, cloid=other) for p in (80.0, 90.0))))
    assert isinstance(pair[0], Resting) and isinstance(pair[1], StatusError)
    moved = do(ALICE, ModifyAction(((CLOID, OrderSpec("BTC", True, bid - 55.0, 0.001, tif="Alo", cloid=CLOID)),)))[0]
    assert isinstance(moved, Resting) and ex.order_status_of(ALICE, CLOID)["order"].oid == moved.oid
    assert ex.orders[moved.oid].cloid == CLOID and first.oid not in ex.orders
    assert ex.rejections_by_reason["DuplicateCloid"] == 2
    # done and still answered by orderStatus: still used
    assert do(ALICE, CancelByCloidAction((("BTC", CLOID),)))[0] == "success"
    late = do(ALICE, OrderAction((OrderSpec("BTC", True, bid - 50.0, 0.001, cloid=CLOID),)))[0]
    assert isinstance(late, StatusError) and late.error.startswith(DUPLICATE_CLOID)
