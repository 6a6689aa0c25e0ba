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
