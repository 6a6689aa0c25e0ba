"""The venue's open-order limit per account: a resting order past it is refused with the venue's text; an
IOC is not counted against it, and another account's orders do not count against this one's."""
from twin.exchange import Exchange
from twin.messages import ActionOk, OrderAction, OrderSpec, Resting, StatusError

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20


def test_past_the_cap_a_resting_order_is_refused_for_that_account_only():
    ex = Exchange.build(seed=3)
    ex.instruments["BTC"] = ex.instruments["BTC"].model_copy(update={"max_open_orders": 3})
    for user in (ALICE, BOB):
        ex.fund(user, 100_000.0)
    ex.env.run(until=2.0)
    bid = ex.best_bid["BTC"]
    got: list = []

    def place(user, px, tif="Alo"):
        ex.submit(user, OrderAction((OrderSpec("BTC", True, px, 0.001, tif=tif),)), got.append)
        ex.env.run(until=ex.env.now + 2.0)
        reply = got.pop()
        assert isinstance(reply, ActionOk)
        return reply.statuses[0]

    assert all(isinstance(place(ALICE, bid - 50.0 - i), Resting) for i in range(3))
    refused = place(ALICE, bid - 60.0)
    assert isinstance(refused, StatusError) and refused.error.startswith("Too many open orders.")
    assert isinstance(place(BOB, bid - 70.0), Resting)  # the book holds four now; Bob has one
    ioc = place(ALICE, bid - 80.0, tif="Ioc")  # far below the ask: it cannot fill, but it is not refused for count
    assert not (isinstance(ioc, StatusError) and ioc.error.startswith("Too many open orders."))
    assert ex.open_order_count(ALICE) == 3 and ex.open_order_count(BOB) == 1


def test_an_action_of_more_than_200_items_is_refused_whole_in_process_as_served():
    """The venue refuses a signed action over 200 items whole ("Signed action over weight limit of 200.", probed
    with a cancel batch of 201); the served twin did, the in-process one cancelled all 201, so a gateway's
    cancel-all of that many could only ever meet the refusal live."""
    from twin import seeding
    from twin.exchange import Exchange
    from twin.messages import ActionErr, ActionOk, CancelAction
    from twin.params import TwinParams

    ex = Exchange.build(TwinParams(), 0)
    u = "0x" + "bb" * 20
    ex.fund(u, 1_000_000.0)
    ex.env.run(until=2)
    bb = ex.best_bid["BTC"]
    oids = [seeding.rest_order(ex, u, "BTC", True, bb - 100 - i, 0.001) for i in range(201)]
    got = []
    ex.submit(u, CancelAction(tuple(("BTC", o) for o in oids)), got.append)
    ex.env.run(until=4)
    assert got == [ActionErr("Signed action over weight limit of 200.")]
    assert ex.open_order_count(u) == 201 and ex.quotas[u].used == 0
    ex.submit(u, CancelAction(tuple(("BTC", o) for o in oids[:200])), got.append)
    ex.env.run(until=6)
    assert isinstance(got[1], ActionOk) and ex.open_order_count(u) == 1


def _at_cap(cap: int = 3):
    """Alice with ``cap`` (the base limit) orders resting and a long position to reduce."""
    from twin import seeding
    ex = Exchange.build(seed=3)
    ex.instruments["BTC"] = ex.instruments["BTC"].model_copy(update={"max_open_orders": cap})
    acct = ex.fund(ALICE, 1_000_000.0)
    ex.env.run(until=2.0)
    seeding.set_position(ex, ALICE, "BTC", 0.01)
    bid = ex.best_bid["BTC"]
    for i in range(cap):
        assert isinstance(ex._place(acct, OrderSpec("BTC", True, bid - 50.0 - i, 0.001)), Resting)
    return ex, acct, bid


def test_at_the_base_cap_a_reduce_only_ioc_is_refused_as_a_resting_one_is():
    # hyperliquid.md §2.4 (docs rate limits): "At 1000 or more open orders, new reduce-only and trigger orders are
    # rejected": the twin exempted every IOC from the count, so a reduce-only IOC filled there
    ex, acct, bid = _at_cap()
    ioc = ex._place(acct, OrderSpec("BTC", False, bid, 0.001, reduce_only=True, tif="Ioc"))
    assert isinstance(ioc, StatusError) and ioc.error == "Too many open orders. asset=0"
    assert ex.accounts[ALICE].position("BTC").szi == 0.01


def test_volume_raises_the_cap_one_order_per_5m_usdc_but_not_for_reduce_only():
    # "1000 plus 1 per 5M USDC of volume, capped at 5000" (hyperliquid.md §2.4): the twin's cap ignored volume
    ex, acct, bid = _at_cap()
    ex.quotas[ALICE].on_traded(10_000_000.0)  # two more
    assert isinstance(ex._place(acct, OrderSpec("BTC", True, bid - 70.0, 0.001)), Resting)
    assert isinstance(ex._place(acct, OrderSpec("BTC", True, bid - 71.0, 0.001)), Resting)
    refused = ex._place(acct, OrderSpec("BTC", True, bid - 72.0, 0.001))
    assert isinstance(refused, StatusError) and refused.error.startswith("Too many open orders.")
    ro = ex._place(acct, OrderSpec("BTC", False, bid + 80.0, 0.001, reduce_only=True, tif="Gtc"))
    assert isinstance(ro, StatusError) and ro.error.startswith("Too many open orders.")
    assert ex.open_order_count(ALICE) == 5


def test_the_volume_cap_stops_at_5000():
    from twin.exchange import MAX_OPEN_ORDERS
    ex, acct, _ = _at_cap(1)
    ex.quotas[ALICE].on_traded(1e15)
    assert ex._open_order_limit(ALICE, ex.instruments["BTC"], False) == MAX_OPEN_ORDERS == 5000
    assert ex._open_order_limit(ALICE, ex.instruments["BTC"], True) == 1
