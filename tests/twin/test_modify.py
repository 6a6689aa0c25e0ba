"""Modify as the venue does it: cancel-and-replace, with the post-only rule unless always place is set."""
from twin.exchange import Exchange
from twin.faults.rejections import MODIFY_PREFIX, classify_venue_text
from twin.messages import ActionOk, ModifyAction, OrderAction, OrderSpec, Resting, StatusError

USER = "0x" + "5a" * 20


def _venue():
    ex = Exchange.build(seed=7)
    ex.fund(USER, 100_000.0)
    ex.env.run(until=5.0)
    return ex


def _do(ex, action):
    out = []
    ex.submit(USER, action, out.append)
    ex.env.run(until=ex.env.now + 1.0)
    assert isinstance(out[0], ActionOk)
    return out[0].statuses[0]


def _resting_bid(ex):
    st = _do(ex, OrderAction((OrderSpec("BTC", True, ex.best_bid["BTC"] - 50.0, 0.001),)))
    assert isinstance(st, Resting)
    return st.oid


def test_without_always_place_a_modify_never_takes():
    """Docs (exchange endpoint, "Modify an order"): without always place the new order must be Alo, or a Gtc that
    would not execute at once, treated as Alo. A Gtc through the ask is refused as post-only is; an Ioc is refused;
    a resting Gtc becomes an Alo. Nothing fills, and the old order is gone each time (the cancel leg)."""
    ex = _venue()
    old = _resting_bid(ex)
    st = _do(ex, ModifyAction(((old, OrderSpec("BTC", True, ex.best_ask["BTC"] + 20.0, 0.001, tif="Gtc")),)))
    assert isinstance(st, StatusError) and st.error.startswith(MODIFY_PREFIX + "Post only order would have")
    assert classify_venue_text(st.error).value == "BadAloPx"
    assert ex.order_status_of(USER, old)["orderStatus"] == "canceled"

    old = _resting_bid(ex)
    st = _do(ex, ModifyAction(((old, OrderSpec("BTC", True, ex.best_ask["BTC"] + 20.0, 0.001, tif="Ioc")),)))
    assert isinstance(st, StatusError) and st.error.startswith(MODIFY_PREFIX)
    assert classify_venue_text(st.error).value == "ModifyNotPostOnly" and st.error.endswith(" asset=0")
    assert ex.accounts[USER].position("BTC").szi == 0.0 and not ex.fills[USER]

    old = _resting_bid(ex)
    st = _do(ex, ModifyAction(((old, OrderSpec("BTC", True, ex.best_bid["BTC"] - 60.0, 0.001, tif="Gtc")),)))
    assert isinstance(st, Resting)
    assert [(o.oid, o.tif) for o in ex.open_orders(USER)] == [(st.oid, "Alo")]


def test_always_place_places_the_new_order_as_given():
    """``"a": true``: the new order is placed even if it would execute (a Gtc through the ask takes), and the
    served parser carries the flag from the wire to the exchange."""
    from twin.server.wire import parse_l1_action

    ex = _venue()
    old = _resting_bid(ex)
    st = _do(ex, ModifyAction(((old, OrderSpec("BTC", True, ex.best_ask["BTC"] + 20.0, 0.001, tif="Gtc")),), True))
    assert type(st).__name__ == "Filled" and ex.accounts[USER].position("BTC").szi == 0.001

    # the old order gone (filled, above): without always place the modify is refused; with it, the new order is
    # placed all the same (a review: the twin refused both)
    spec = OrderSpec("BTC", True, ex.best_bid["BTC"] - 50.0, 0.001)
    st = _do(ex, ModifyAction(((old, spec),)))
    assert st == StatusError("Cannot modify canceled or filled order")  # the venue's, bare: no ` asset=N`
    st = _do(ex, ModifyAction(((old, spec),), True))
    assert isinstance(st, Resting) and [o.oid for o in ex.open_orders(USER)] == [st.oid]

    order = {"a": 0, "b": True, "p": "100000", "s": "0.001", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    assets = _asset_map(ex)
    assert parse_l1_action({"type": "modify", "oid": 1, "order": order, "a": True}, assets, 0).always_place
    assert parse_l1_action({"type": "batchModify", "modifies": [{"oid": 1, "order": order}], "a": True},
                           assets, 0).always_place
    assert not parse_l1_action({"type": "modify", "oid": 1, "order": order}, assets, 0).always_place
    # false is as absent (the signature hashes "a" only when true: a false one is not always place)
    assert not parse_l1_action({"type": "modify", "oid": 1, "order": order, "a": False}, assets, 0).always_place


def _asset_map(ex):
    from twin.server.wire import AssetMap
    return AssetMap(ex.params.instruments)
