"""A thin HIP-3 style market on a builder dex, configured through TwinParams."""
from twin.exchange import Exchange
from twin.instruments import price_is_valid
from twin.market import SyntheticMarketParams
from twin.messages import ActionOk, OrderAction, OrderSpec, Resting, StatusError
from twin.params import TwinParams

USER = "0x" + "44" * 20


def test_hip3_market_runs_with_its_own_rules():
    params = TwinParams(markets={"hyna:LIT": SyntheticMarketParams.thin_hip3()})
    inst = params.instrument("hyna:LIT")
    assert inst.asset_id == 140000
    ex = Exchange.build(params, 3)
    ex.fund(USER, 10_000.0)
    replies = {}

    def client():
        yield ex.env.timeout(5.0)
        bb = ex.best_bid["hyna:LIT"]
        for name, px, sz in (("ok", round(bb - 0.001, 4), 50.0), ("bad_size", round(bb - 0.001, 4), 50.05),
                             ("bad_px", round(bb, 4) - 0.000011, 50.0)):
            ex.submit(USER, OrderAction((OrderSpec("hyna:LIT", True, px, sz),)),
                      lambda r, name=name: replies.__setitem__(name, r))  # replies race: key them
    ex.env.process(client())
    ex.env.run(until=600.0)
    book = ex.l2_book("hyna:LIT")
    assert book.bids and book.asks and book.bids[0][0] < book.asks[0][0]
    assert all(price_is_valid(px, inst.sz_decimals) for px, _, _ in book.bids + book.asks)
    assert ex.counters["trades"] < 0.5 * 600  # thin: far fewer trades than the BTC default
    ok, bad_size, bad_px = (replies[k].statuses[0] for k in ("ok", "bad_size", "bad_px"))
    assert isinstance(ok, Resting) or ex.fills[USER]
    assert isinstance(bad_size, StatusError) and bad_size.error == "Order has invalid size. asset=140000"
    assert isinstance(bad_px, StatusError) and bad_px.error == "Price must be divisible by tick size. asset=140000"
    assert all(isinstance(r, ActionOk) for r in replies.values())
