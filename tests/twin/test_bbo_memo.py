"""The bbo feed makes a coin's top of book again only when something it is made of moved (CoinBook.top, a memo set None
by the book's own add and remove and by the exchange as the displayed book moves, fills consume it, or an order's size
changes): after every step of a session, a memo still set must be the top made afresh. A site that moves the top and
does not drop the memo leaves a stale one here, which the feed would not push again."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from twin.exchange import Exchange
from twin.faults.connection import ConnectionParams
from twin.messages import BboPush, OrderSpec
from twin.params import TwinParams
from twin.seeding import rest_order, set_position

PARAMS = TwinParams.model_validate({"connection": ConnectionParams(hazard_per_hour=0.0).model_dump()})
TAKER = "0x" + "77" * 20


def _step_checking(ex: Exchange, until: float) -> dict[str, int]:
    """Step to ``until``, after every step holding each coin's memo, when set, to the top made afresh; how often a
    memo was set and checked."""
    env, seen = ex.env, {"checked": 0}
    while env.peek() < until:
        env.step()
        for coin, book in ex.books.items():
            if book.shown is not None:  # (what _top reads of the displayed book: its rows' first, as they are now)
                now = (ex.bid_px[coin][0], ex.bid_sz[coin][0], ex.ask_px[coin][0], ex.ask_sz[coin][0])
                assert all(x == y or (x != x and y != y) for x, y in zip(book.shown, now)), (env.now, coin)
                seen["shown"] = seen.get("shown", 0) + 1
            if book.top is not None:
                assert book.top == (ex._touch(coin, True), ex._touch(coin, False)), (env.now, coin)
                seen["checked"] += 1
    return seen


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**16))
def test_memo_is_the_top_with_an_agent_quoting_and_another_account_taking(seed):
    """An agent's orders resting and filled at the touch; another account that takes displayed levels with IOCs (some
    emptied), with a reduce-only ask of its own resting at the best ask. (A reduce-only order shrinks only inside a
    fill, _fill then _enforce_reduce_only, after _fill has dropped the memo.)"""
    from agent.config import AgentConfig
    from agent.session import build_session
    cfg = AgentConfig.model_validate({"session": {"bbo_feed": True, "cycle_s": 0.2},
                                      "graduation": {"start_level": "FULL"}})
    ex, gw, _, driver = build_session(cfg, seed, PARAMS)
    got: list = []
    handle = gw._on_push

    def on_push(push) -> None:
        if type(push) is BboPush:
            got.append(push)
        handle(push)
    gw._on_push = on_push
    ex.fund(TAKER, 10_000_000.0)

    def taker():
        yield ex.env.timeout(1.0)
        set_position(ex, TAKER, "BTC", 0.05)
        rest_order(ex, TAKER, "BTC", False, float(ex.best_ask["BTC"]), 0.05, reduce_only=True)
        k = 0
        while True:
            yield ex.env.timeout(1.3)
            k += 1
            top = ex.l2_book("BTC").bids[0] if k % 2 else ex.l2_book("BTC").asks[0]
            if k % 2:  # a sell through the best bid
                ex._place(ex.accounts[TAKER], OrderSpec("BTC", False, top[0] - 5.0, 0.004, tif="Ioc"))
            else:  # a buy through the best ask and more (a level emptied)
                ex._place(ex.accounts[TAKER], OrderSpec("BTC", True, top[0] + 5.0, round(top[1] * 1.5, 5),
                                                        tif="Ioc"))
    ex.env.process(taker())
    driver.start()
    seen = _step_checking(ex, 40.0)
    assert seen["checked"] > 1000 and seen["shown"] > 1000 and len(got) > 100


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**16), st.lists(st.floats(0.05, 2.0), min_size=1, max_size=8))
def test_memo_is_the_top_across_the_market_s_jumps(seed, waits):
    """bbo subscribed, nothing else: no order rests and no trade is watched, so between two scheduled events (the feed's
    blocks, a checker's) the market jumps over its own events (_jump moves the book)."""
    ex = Exchange.build(PARAMS, seed)
    ex.connect(lambda p: None).subscribe("bbo", "BTC")

    def checker():
        for w in waits:
            yield ex.env.timeout(w)
    ex.env.process(checker())
    assert _step_checking(ex, sum(waits) + 0.5)["checked"] > 0


def test_the_shown_rows_do_not_outlive_the_jumps_after_an_order_rested():
    """As above, after an order rested through book updates (the market loop then sets the shown rows _top reads)
    and was cancelled: the jumps that follow move the book, and the shown rows must go with them."""
    jumps = []
    for seed in range(3):
        ex = Exchange.build(PARAMS, seed)
        ex.connect(lambda p: None).subscribe("bbo", "BTC")
        acct = ex.fund(TAKER, 1_000_000.0)
        jump = ex._jump

        def counted(*args, jump=jump) -> None:
            jumps.append(args[3])
            jump(*args)
        ex._jump = counted
        ex.env.run(until=1.0)
        for k in range(40):  # (the shown rows outlive a jump only when a print comes first after the cancel)
            oid = rest_order(ex, TAKER, "BTC", True, float(ex.best_bid["BTC"]) - 20.0, 0.001)
            _step_checking(ex, ex.env.now + 0.35)
            assert ex.books["BTC"].shown is not None
            ex._cancel(acct, "BTC", oid)
            _step_checking(ex, ex.env.now + 0.65 + 0.01 * k)
    assert len(jumps) > 10


def test_a_maker_fill_short_of_the_order_drops_the_memo():
    """An order resting at the best bid filled in part (a market print takes part of it, or another account's IOC):
    its size is in the top."""
    ex = Exchange.build(PARAMS, 5)
    ex.fund(TAKER, 1_000_000.0)
    ex.connect(lambda p: None).subscribe("bbo", "BTC")
    ex.env.run(until=1.0)
    rest_order(ex, TAKER, "BTC", True, float(ex.best_bid["BTC"]), 0.01)
    book = ex.books["BTC"]
    book.top = (ex._touch("BTC", True), ex._touch("BTC", False))  # as the feed makes it at a block
    o = book.bids[0]
    assert book.top[0][2] == 2  # (the order is in the top: the displayed level's and its own)
    before = book.top
    ex._fill(o, o.px, 0.004, is_maker=True)
    assert o.sz == 0.006 and o.oid in ex.orders
    assert book.top is None or book.top == (ex._touch("BTC", True), ex._touch("BTC", False))
    assert (ex._touch("BTC", True), ex._touch("BTC", False)) != before  # (the fill did move the top)
