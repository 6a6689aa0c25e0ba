"""What both gateways share: how a batch becomes venue actions."""
from __future__ import annotations

from agent.gateway.base import split_batch
from agent.gateway.events import Batch, CancelOrder, ModifyOrder, PlaceOrder, RequestAccountSnapshot, Side, Tif


def test_a_batch_splits_by_kind_keeping_each_kinds_order():
    p1, p2 = PlaceOrder("0xp1", Side.BUY, 99.0, 0.1, Tif.ALO), PlaceOrder("0xp2", Side.SELL, 101.0, 0.1, Tif.ALO)
    c1, c2 = CancelOrder("0xc1"), CancelOrder("0xc2")
    m = ModifyOrder("0xc3", "0xm1", 98.0, 0.1, Tif.ALO)
    snap = RequestAccountSnapshot()
    cancels, modifies, places, rest = split_batch(Batch((p1, c1, snap, m, p2, c2)))
    assert cancels == [c1, c2] and modifies == [m] and places == [p1, p2] and rest == [snap]


def test_the_router_sends_a_batch_as_one_action_per_kind_cancels_first():
    from agent.gateway.base import CommandRouter
    from agent.gateway.events import CancelAll, ScheduleCancel

    class Recorder(CommandRouter):
        def __init__(self):
            self.sent = []

        def _send_places(self, places):
            self.sent.append(("places", [p.cloid for p in places]))

        def _send_cancels(self, cancels):
            self.sent.append(("cancels", [c.cloid for c in cancels]))

        def _send_modifies(self, modifies):
            self.sent.append(("modifies", [m.cloid for m in modifies]))

        def _send_cancel_all(self, known=()):
            self.sent.append(("cancel_all", known or None))

        def _send_schedule_cancel(self, at_ts):
            self.sent.append(("schedule_cancel", at_ts))

        def _send_snapshot_request(self):
            self.sent.append(("snapshot", None))

    r = Recorder()
    r.send(Batch((PlaceOrder("0xp", Side.BUY, 99.0, 0.1, Tif.ALO), CancelOrder("0xc"), RequestAccountSnapshot())))
    r.send(CancelAll())
    r.send(ScheduleCancel(12.5))
    assert r.sent == [("cancels", ["0xc"]), ("places", ["0xp"]), ("snapshot", None), ("cancel_all", None),
                      ("schedule_cancel", 12.5)]
    import pytest
    with pytest.raises(TypeError):
        r.send(object())


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
