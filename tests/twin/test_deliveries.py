"""A push reaches its socket through one of three paths (a feed's _publish, a snapshot's _send, an orderUpdates frame's
_remove or _place), each its own queue entry (_Delivery) that Environment.step hands straight to the exchange: in the
order sent (one TCP stream), each once, and lost (counted dropped) when the socket drops while it is on its way."""
from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from twin.exchange import Exchange
from twin.messages import BookPush, ConnectionEvent, OrderUpdatePush, TradePush
from twin.params import ConnectionParams, TwinParams
from twin.seeding import rest_order

USER = "0x" + "ab" * 20
# no drawn outage: at 1 in about 2,000 seeds one dropped the socket inside the window, and the test failed (1 run in
# 80 of 25 random examples, locally; CI's derandomized examples never drew one)
CALM = TwinParams.model_validate({"connection": ConnectionParams(hazard_per_hour=0.0).model_dump()})


def _three_on_their_way(seed: int, at: float) -> tuple[Exchange, object, list, float]:
    """A socket with a push of each path on its way to it, sent at ``at``: the l2Book snapshot (_send), an order's
    update frame (_remove's, as seeding writes it), a trade print (_publish); and when the tests look, once all three
    have landed: 3 s after ``at``, or later if the feed's latency draws put the last one past that (a spike in a slow
    period: seed 11435's took 3.17 s, and the tests looked at 3.5 s, before any had come)."""
    ex = Exchange.build(CALM, seed)
    ex.fund(USER, 10_000.0)
    got: list = []
    conn = ex.connect(got.append)
    conn.subscribe("orderUpdates", USER)
    ex.env.run(until=at)
    conn.subscribe("l2Book", "BTC")
    rest_order(ex, USER, "BTC", True, float(ex.best_bid["BTC"] - 5.0), 0.001)
    ex._publish(("trades", "BTC"), TradePush("BTC", "B", 1.0, 1.0, ex.now_ms(), 7, 1))  # (subscribed to nothing else)
    conn.subscribe("trades", "BTC")
    ex._publish(("trades", "BTC"), TradePush("BTC", "A", 2.0, 1.0, ex.now_ms(), 8, 2))
    return ex, conn, got, max(at + 3.0, conn.last_delivery + 0.5)  # (the last of the three lands at last_delivery)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**16), st.floats(0.5, 5.0))
@example(3100, 1.0).via("a drawn outage dropped the socket")
@example(55378, 2.0).via("a drawn outage dropped the socket")
@example(11435, 0.5).via("the three landed 3.17 s after they were sent")
@example(10580, 0.5).via("a market print sent at 0.693 s landed before the trade sent at 0.5 s")
@example(11931, 0.5).via("a market print sent at 0.554 s landed before the order's frame sent at 0.5 s")
def test_each_path_delivers_once_in_the_order_sent(seed, at):
    ex, conn, got, until = _three_on_their_way(seed, at)
    ex.env.run(until=until)
    pushes = [p for p in got if type(p) is not ConnectionEvent]
    kinds = [type(p) for p in pushes]
    # the first book push is the snapshot; later ones are the feed's, behind it (a 0.5 s interval)
    assert kinds[:3] == [BookPush, OrderUpdatePush, TradePush]
    assert pushes[1].updates[0].status == "open" and pushes[1].updates[0].order.coin == "BTC"
    assert pushes[2].px == 2.0  # the trade sent before the subscription reached no one
    assert conn.delivered == len(kinds) and conn.dropped == 0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**16), st.floats(0.5, 5.0))
@example(11435, 0.5).via("the three were due 3.17 s after they were sent")
def test_each_path_is_lost_with_the_socket(seed, at):
    ex, conn, got, until = _three_on_their_way(seed, at)
    ex._drop(conn)  # the socket drops with all three on their way
    ex.env.run(until=until)
    assert [type(p) for p in got] == [ConnectionEvent]
    assert conn.dropped == 3 and conn.delivered == 0 and ex.counters["pushes_dropped"] == 3


def _arrivals_on_a_socket(beside: bool) -> list[tuple[float, str]]:
    """When each l2Book and trades push reached a socket over a minute, with or without a second socket opened
    after it, subscribed to the same feeds, beside it."""
    ex = Exchange.build(TwinParams(), 3)
    got: list[tuple[float, str]] = []
    conn = ex.connect(lambda p: got.append((ex.env.now, type(p).__name__)))
    conn.subscribe("l2Book", "BTC")
    conn.subscribe("trades", "BTC")
    if beside:
        other = ex.connect(lambda p: None)
        other.subscribe("l2Book", "BTC")
        other.subscribe("trades", "BTC")
    ex.env.run(until=60.0)
    return got


def test_a_socket_opened_beside_another_does_not_change_when_the_other_s_pushes_arrive():
    """Every socket's pushes drew their latency from one stream, so a monitor's socket opened beside the agent's shifted
    every draw of the agent's, and its decisions with them (the bench's default session sent 181 commands in its first
    two minutes instead of 193 with a passive book and trades subscriber opened beside it). Each socket draws from
    its own."""
    alone = _arrivals_on_a_socket(beside=False)
    assert len(alone) > 100 and alone == _arrivals_on_a_socket(beside=True)
