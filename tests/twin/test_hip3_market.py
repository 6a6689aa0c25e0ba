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
    ex.fund(USER, 10_000.0, "hyna")  # the coin's dex: each margins apart
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


def test_each_dex_margins_apart():
    """As on the venue, a HIP-3 dex has its own clearinghouse: collateral on the first dex does not margin a
    hyna order, what is funded on hyna does, clearinghouseState answers per dex, and a loss that liquidates
    the hyna position leaves the first dex's position and collateral as they were."""
    from twin.faults.chaos import ChaosSchedule

    params = TwinParams(markets={"BTC": SyntheticMarketParams(), "hyna:LIT": SyntheticMarketParams.thin_hip3()})
    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": 20.0, "fraction": -0.2}])
    ex = Exchange.build(params, 3, sched)
    ex.fund(USER, 100_000.0)  # the first dex only, to begin with
    replies = {}

    def send(name, spec):
        ex.submit(USER, OrderAction((spec,)), lambda r: replies.__setitem__(name, r.statuses[0]))

    def client():
        yield ex.env.timeout(5.0)
        send("lit_unfunded", OrderSpec("hyna:LIT", True, round(ex.best_ask["hyna:LIT"] * 1.01, 4), 100.0,
                                       tif="Ioc"))
        yield ex.env.timeout(1.0)
        ex.fund(USER, 10.0, "hyna")  # $10 on hyna: at 10x, about $100 of LIT
        send("lit_long", OrderSpec("hyna:LIT", True, round(ex.best_ask["hyna:LIT"] * 1.01, 4), 80.0, tif="Ioc"))
        send("btc_long", OrderSpec("BTC", True, ex.best_ask["BTC"] + 50, 0.01, tif="Ioc"))
        yield ex.env.timeout(2.0)
        state["before"] = (ex.clearinghouse_state(USER), ex.clearinghouse_state(USER, "hyna"))

    state = {}
    ex.env.process(client())
    ex.env.run(until=60.0)
    assert replies["lit_unfunded"] == StatusError("Insufficient margin to place order. asset=140000")
    assert not isinstance(replies["lit_long"], StatusError) and not isinstance(replies["btc_long"], StatusError)
    first, hyna = state["before"]
    assert [p["coin"] for p in first["assetPositions"]] == ["BTC"] and first["accountValue"] > 99_000.0
    assert [p["coin"] for p in hyna["assetPositions"]] == ["hyna:LIT"] and 0.0 < hyna["accountValue"] < 10.0
    # LIT fell 20%: its $80 long lost more than hyna's $10 of margin; liquidated there, and only there
    acct = ex.accounts[USER]
    assert ex.counters["liquidations"] == 1 and acct.position("hyna:LIT").szi == 0.0
    assert acct.position("BTC").szi == 0.01
    assert ex.clearinghouse_state(USER)["accountValue"] > 99_000.0
    assert ex.clearinghouse_state(USER, "hyna")["accountValue"] < 0.5 * hyna["accountValue"]
