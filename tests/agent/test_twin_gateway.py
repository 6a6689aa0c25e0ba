"""TwinGateway's own duties beyond the session tests: a modify that does not name its side."""
from __future__ import annotations

from agent.execution.orders import CloidFactory
from agent.gateway.events import ModifyAcknowledged, ModifyOrder, OrderAcknowledged, PlaceOrder, Side, Tif
from agent.gateway.twin import TwinGateway
from twin.exchange import Exchange
from twin.params import TwinParams

USER = "0x" + "b2" * 20


def test_modify_replaces_the_order_on_its_own_side_at_the_new_price():
    ex = Exchange.build(TwinParams(), 3)
    ex.fund(USER, 100_000.0)
    gw = TwinGateway(ex, USER, "BTC", quota_poll_s=0.0)
    events: list = []
    gw.start(events.append)
    ex.env.run(until=2.0)
    mid = ex.books["BTC"].bids[0].px if ex.books["BTC"].bids else 100_000.0
    ids = CloidFactory(4)
    sell = PlaceOrder(ids.next(), Side.SELL, round(mid * 1.01), 0.001, Tif.ALO)
    gw.send(sell)
    ex.env.run(until=4.0)
    assert any(type(e) is OrderAcknowledged and e.cloid == sell.cloid and e.resting for e in events)
    new = ids.next()
    gw.send(ModifyOrder(sell.cloid, new, round(mid * 1.02), 0.002))  # no side: the gateway knows it
    ex.env.run(until=6.0)
    assert any(type(e) is ModifyAcknowledged and e.new_cloid == new and e.resting for e in events)
    rows = [o for o in ex.open_orders(USER)]
    assert len(rows) == 1
    row = rows[0]
    assert (row.cloid, row.side, row.sz, row.limit_px) == (new, "A", 0.002, round(mid * 1.02))
