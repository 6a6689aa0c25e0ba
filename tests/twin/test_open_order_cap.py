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
