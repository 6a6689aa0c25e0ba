"""What both gateways share: how a batch becomes venue actions."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from agent.execution.weights import ip_weight, request_cost
from agent.gateway.base import CommandRouter, split_batch
from agent.gateway.events import (
    Batch, CancelAll, CancelOrder, ModifyOrder, PlaceOrder, RequestAccountSnapshot, ScheduleCancel, Side, Tif,
)


def test_a_batch_splits_by_kind_keeping_each_kinds_order():
    p1, p2 = PlaceOrder("0xp1", Side.BUY, 99.0, 0.1, Tif.ALO), PlaceOrder("0xp2", Side.SELL, 101.0, 0.1, Tif.ALO)
    c1, c2 = CancelOrder("0xc1"), CancelOrder("0xc2")
    m = ModifyOrder("0xc3", "0xm1", 98.0, 0.1, Tif.ALO)
    snap = RequestAccountSnapshot()
    cancels, modifies, places, rest = split_batch(Batch((p1, c1, snap, m, p2, c2)))
    assert cancels == [c1, c2] and modifies == [m] and places == [p1, p2] and rest == [snap]


class Recorder(CommandRouter):
    """A router whose handlers write down each action it would send: its kind and its items' cloids."""

    def __init__(self):
        self.sent = []

    def _send_places(self, places):
        self.sent.append(("places", [p.cloid for p in places]))

    def _send_cancels(self, cancels, by_oid):
        self.sent.append(("cancels by oid" if by_oid else "cancels", [c.cloid for c in cancels]))

    def _send_modifies(self, modifies):
        self.sent.append(("modifies", [m.cloid for m in modifies]))

    def _send_cancel_all(self, known=()):
        self.sent.append(("cancel_all", known or None))

    def _send_schedule_cancel(self, at_ts, sent_ts=None):
        self.sent.append(("schedule_cancel", at_ts))

    def _send_snapshot_request(self):
        self.sent.append(("snapshot", None))


def test_the_router_sends_a_batch_as_one_action_per_kind_cancels_first():
    r = Recorder()
    r.send(Batch((PlaceOrder("0xp", Side.BUY, 99.0, 0.1, Tif.ALO), CancelOrder("0xc"), RequestAccountSnapshot())))
    r.send(CancelAll())
    r.send(ScheduleCancel(12.5))
    assert r.sent == [("cancels", ["0xc"]), ("places", ["0xp"]), ("snapshot", None), ("cancel_all", None),
                      ("schedule_cancel", 12.5)]
    import pytest
    with pytest.raises(TypeError):
        r.send(object())


def test_the_router_sends_one_schedule_cancel_at_a_time_and_of_those_waiting_the_newest():
    """Each scheduleCancel replaces the venue's switch whole: sent side by side, an arm could land after the clear
    sent behind it. The router sends the next once the gateway says the last is answered, and of the commands that
    came meanwhile only the newest (those it superseded counted, never sent); with none waiting, the next goes at
    once."""
    class Counting(Recorder):
        superseded = 0

        def _schedule_cancel_superseded(self):
            self.superseded += 1

    r = Counting()
    r.send(ScheduleCancel(10.0))
    r.send(ScheduleCancel(20.0))
    r.send(ScheduleCancel(30.0))
    r.send(ScheduleCancel(None, 5.0))
    assert r.sent == [("schedule_cancel", 10.0)] and r.superseded == 2
    assert r._schedule_cancel_done() == (None, 5.0)  # the clear, the newest, goes next (the gateway sends it)
    assert r._schedule_cancel_done() is None  # answered, and none waits
    r.send(ScheduleCancel(40.0))
    assert r.sent == [("schedule_cancel", 10.0), ("schedule_cancel", 40.0)] and r.superseded == 2
    # abandoned as the gateway closes, with one on its way and one waiting: neither is sent, and the next goes at once
    r.send(ScheduleCancel(50.0))
    r._schedule_cancel_abandoned()
    r.send(ScheduleCancel(60.0))
    assert r.sent[2:] == [("schedule_cancel", 60.0)] and r._schedule_cancel_done() is None


def _batch(n_place: int, n_cancel: int, n_by_oid: int, n_modify: int) -> Batch:
    return Batch((*(PlaceOrder(f"0xp{i}", Side.BUY, 99.0, 0.1, Tif.ALO) for i in range(n_place)),
                  *(CancelOrder(f"oid:{i}") for i in range(n_by_oid)),  # (first: each kind keeps its order apart)
                  *(CancelOrder(f"0xc{i}") for i in range(n_cancel)),
                  *(ModifyOrder(f"0xo{i}", f"0xm{i}", 98.0, 0.1, Tif.ALO) for i in range(n_modify))))


def test_the_router_sends_each_kind_in_actions_of_at_most_200_cancels_by_oid_apart():
    """The venue refuses a whole action of more than 200 items ("Signed action over weight limit of 200.", measured
    for cancels; for orders unconfirmed, hyperliquid.md §2.4, §5, and the twin refuses every kind so). Cancels went in
    actions of 200 (each gateway cutting them itself), but a batch of 450 places went out as one action, refused
    whole. The router now cuts every kind, in the batch's order, the cancels by oid (``oid:N``) in actions apart."""
    r = Recorder()
    batch = _batch(450, 201, 3, 200)
    r.send(batch)
    assert [(kind, len(items)) for kind, items in r.sent] == [
        ("cancels", 200), ("cancels", 1), ("cancels by oid", 3), ("modifies", 200),
        ("places", 200), ("places", 200), ("places", 50)]
    assert [c for kind, items in r.sent for c in items] == [
        *(f"0xc{i}" for i in range(201)), "oid:0", "oid:1", "oid:2", *(f"0xo{i}" for i in range(200)),
        *(f"0xp{i}" for i in range(450))]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 650), st.integers(0, 450), st.integers(0, 250), st.integers(0, 450))
def test_the_core_weighs_a_batch_as_the_actions_the_router_sends_it_in(n_place, n_cancel, n_by_oid, n_modify):
    """Each action weighs 1 + its length // 40 (hyperliquid.md §5): the core's cost of a batch, as it sends it, is the
    sum over the actions the router cuts it into, none over 200."""
    batch = _batch(n_place, n_cancel, n_by_oid, n_modify)
    r = Recorder()
    r.send(batch)
    sizes = [len(items) for _, items in r.sent]
    assert all(0 < n <= 200 for n in sizes)
    assert request_cost(batch)[0] == ip_weight(batch) == sum(1 + n // 40 for n in sizes)
    assert request_cost(batch)[1] == sum(sizes) == n_place + n_cancel + n_by_oid + n_modify


def test_recent_sides_keeps_the_newest_and_forgets_the_oldest_first():
    """The side a modify may leave out comes from the order it replaces; only the newest ``keep`` are kept."""
    from agent.gateway.base import RecentOrders
    from agent.gateway.events import Side

    sides = RecentOrders(keep=3)
    for i, side in enumerate([Side.BUY, Side.SELL, Side.BUY, Side.SELL]):
        sides.remember(f"0x{i}", side)
    assert len(sides) == 3 and sides.get("0x0") is None
    assert [sides.get(f"0x{i}") for i in (1, 2, 3)] == [Side.SELL, Side.BUY, Side.SELL]
    sides.remember("0x1", Side.SELL)  # remembered again: still the oldest (insertion order), next to go
    sides.remember("0x4", Side.BUY)
    assert sides.get("0x1") is None and sides.get("0x4") is Side.BUY


def test_one_test_of_an_oid_name_the_stricter_one_for_the_router_the_weights_and_the_gateways():
    """``oid:N`` names an order the venue listed without a cloid; the test of that form was written three times, two
    ways: the weights took any ``oid:`` prefix (``oid:x1`` weighed as a cancel by oid, an action of its own) where
    the gateways also wanted digits (and sent it by cloid, in the other action); and ``oid:²`` passed str.isdigit, so
    the live gateway's int() raised inside send. One function, the stricter form, ASCII digits."""
    from agent.gateway.base import listed_oid
    assert listed_oid("oid:12") == 12 and listed_oid("oid:0") == 0
    for not_one in ("oid:", "oid:x1", "oid:1x", "oid:-1", "oid: 1", "oid:²", "OID:12", " oid:12", "0x" + "ab" * 16):
        assert listed_oid(not_one) is None, not_one
    from agent.gateway.base import order_name  # the name's one writer, which listed_oid reads back
    assert order_name("", 12) == "oid:12" and listed_oid(order_name("", 12)) == 12
    assert order_name("0x" + "ab" * 16, 12) == "0x" + "ab" * 16 and listed_oid(order_name("0x" + "ab" * 16, 12)) is None
    r = Recorder()
    r.send(Batch((CancelOrder("0x" + "ab" * 16), CancelOrder("oid:x1"), CancelOrder("oid:12"))))
    assert r.sent == [("cancels", ["0x" + "ab" * 16, "oid:x1"]), ("cancels by oid", ["oid:12"])]
    odd = Batch((CancelOrder("0x" + "ab" * 16), CancelOrder("oid:x1")))
    assert request_cost(odd)[0] == ip_weight(odd) == 1  # the one action it goes in (weighed as two before)


def test_a_gateway_without_an_action_ttl_is_refused_as_nothing_would_bound_a_lost_requests_landing():
    """An action with no expiresAfter, lost on its way, may land as long as its nonce is acceptable (up to two days):
    an unanswered scheduleCancel told the core late_ts inf, which it can only ignore (it cannot wait that long before
    sending its wanted state again), so a clear landing after the arm sent behind it left orders resting with no
    switch, unbeknown to it. No gateway takes None (nor a ttl that is no positive number of seconds); every one the
    config builds has risk.ack_timeout_s, and what it was given is what it signs and bounds late_ts with."""
    import math

    import pytest

    from agent.gateway.base import LATE_TTLS, schedule_cancel_late_ts
    from agent.gateway.hyperliquid.gateway import HyperliquidGateway
    from agent.gateway.twin import TwinGateway
    from twin.exchange import Exchange
    from twin.params import TwinParams
    key = "0x11f33ef0ff2c10729f6af1436af3fc6fbeb70b1e61ba4a406f4bae874f9b6013"
    ex = Exchange.build(TwinParams(), 3)
    makers = (lambda ttl: HyperliquidGateway("http://127.0.0.1:9", key, "BTC", action_ttl_s=ttl),
              lambda ttl: TwinGateway(ex, "0x" + "b2" * 20, "BTC", quota_poll_s=0.0, action_ttl_s=ttl))
    for make in makers:
        for bad in (None, 0.0, -1.0, math.inf, math.nan):
            with pytest.raises(ValueError, match="action_ttl_s"):
                make(bad)
        assert make(2.5).action_ttl_s == 2.5
    assert schedule_cancel_late_ts(100.0, 2.5) == 100.0 + LATE_TTLS * 2.5 < math.inf
