"""The venue's matching of a client's orders against the displayed book: takers walking the levels, what the
book shows after them."""
from __future__ import annotations

import hashlib

from twin.exchange import Exchange, trade_tid
from twin.market import SyntheticMarketParams
from twin.messages import Filled, FillsPush, OrderAction, OrderSpec, Resting, StatusError, TradePush
from twin.params import TwinParams

USER = "0x" + "e7" * 20


def _still_venue(**kw) -> tuple[Exchange, object]:
    """BTC with a book that does not move and no trades: each level a fixed size, ``kw`` on top."""
    still = dict(vol_calm_per_sqrt_s=0.0, vol_stressed_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0,
                 jump_rate_stressed_per_s=0.0, alpha_std_per_s=0.0, trade_rate_calm_per_s=0.0,
                 trade_rate_stressed_per_s=0.0, calm_to_stressed_per_s=0.0, depth_noise_log_std=0.0)
    ex = Exchange.build(TwinParams(markets={"BTC": SyntheticMarketParams(**{**still, **kw})}), 0)
    acct = ex.fund(USER, 10_000_000.0)
    ex.env.run(until=1.0)
    return ex, acct


def test_a_level_taken_in_pieces_is_gone_and_the_next_taker_walks_on():
    # 1.64 + 0.35 is 1.9899999999999998 in floats, short of the level's 1.99 by 2e-16: that sliver was shown as a
    # level in l2Book and stopped the next taker's walk there (an IOC refused with the next level's 1.99 in reach)
    ex, acct = _still_venue(depth_at_touch=1.99, depth_growth_per_level=0.0)
    ba = ex.best_ask["BTC"]
    assert ex._place(acct, OrderSpec("BTC", True, ba, 1.64, tif="Ioc")) == Filled(1.64, ba, 10_000_000_000, None)
    assert ex._place(acct, OrderSpec("BTC", True, ba, 0.35, tif="Ioc")) == Filled(0.35, ba, 10_000_000_001, None)
    assert ex.l2_book("BTC").asks[0][0] == ba + 1.0
    st = ex._place(acct, OrderSpec("BTC", True, ba + 1.0, 0.5, tif="Ioc"))
    assert isinstance(st, Filled) and (st.total_sz, st.avg_px) == (0.5, ba + 1.0)


def test_after_a_taker_empties_the_touch_a_post_only_there_rests_and_the_refusal_names_the_book_shown():
    # the level is gone (l2Book no longer shows it), but the venue's best ask stayed the emptied level until the
    # next book: a post-only bid there was refused as crossing, naming a bbo the book did not show
    ex, acct = _still_venue(depth_at_touch=0.5, depth_growth_per_level=0.0)
    ba = ex.best_ask["BTC"]
    assert ex._place(acct, OrderSpec("BTC", True, ba, 0.5, tif="Ioc")) == Filled(0.5, ba, 10_000_000_000, None)
    assert ex.l2_book("BTC").asks[0][0] == ba + 1.0
    assert isinstance(ex._place(acct, OrderSpec("BTC", True, ba, 0.001)), Resting)
    st = ex._place(acct, OrderSpec("BTC", True, ba + 1.0, 0.001))
    assert st.error.startswith("Post only order would have immediately matched") and f"@{int(ba + 1)}." in st.error


def test_a_post_only_refusal_names_the_whole_books_bbo_with_the_users_own_better_bid():
    # the user's bid inside the spread is the book's best bid: the venue's refusal names it, as l2Book shows it
    ex, acct = _still_venue(half_spread_ticks_calm=5.0)
    bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
    assert isinstance(ex._place(acct, OrderSpec("BTC", True, bb + 2.0, 0.001)), Resting)
    assert ex.l2_book("BTC").bids[0][0] == bb + 2.0
    st = ex._place(acct, OrderSpec("BTC", True, ba, 0.001))
    assert st.error == f"Post only order would have immediately matched, bbo was {int(bb + 2)}@{int(ba)}. asset=0"


def test_a_trades_tid_is_a_50_bit_hash_of_its_buyers_and_sellers_oids_in_no_time_order():
    # the venue's tid is "a 50-bit hash of (buyer_oid, seller_oid)" (docs websocket/subscriptions): the twin issued
    # a counter, in time order, so no test of the agent could catch code that takes tids to be ordered in time
    ex, acct = _still_venue(depth_at_touch=100.0)
    bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
    for k in range(20):
        buy = k % 2 == 0
        assert isinstance(ex._place(acct, OrderSpec("BTC", buy, ba if buy else bb, 0.001, tif="Ioc")), Filled)
        ex.env.run(until=ex.env.now + 0.01)
    fills = ex.fills[USER]
    tids = [f.tid for f in fills]
    assert len(set(tids)) == 20 and all(0 <= t < 2 ** 50 for t in tids)
    assert tids != sorted(tids)  # in no time order
    # the first buy (oid 10_000_000_000) took from the market's first order (its oids count from 1, never shown),
    # the first sell (10_000_000_001) from its second: (buyer, seller) each way, blake2b's low 50 bits
    assert tids[0] == trade_tid(10_000_000_000, 1) and tids[1] == trade_tid(2, 10_000_000_001)
    digest = hashlib.blake2b((10_000_000_000).to_bytes(8, "big") + (1).to_bytes(8, "big"), digest_size=8).digest()
    assert tids[0] == int.from_bytes(digest, "big") & (2 ** 50 - 1)


def test_a_fill_after_a_state_answer_in_the_same_ms_is_stamped_after_the_states_time():
    """The venue answers a state from a committed block and a later fill is in a later block. The twin stamped a fill
    made in the very ms of a state already served with that ms, so a client that takes every fill up to the
    state's time to be in its position (its watermark) counted it in, and lost it (random chaos, seed 579)."""
    ex, acct = _still_venue(depth_at_touch=0.5, depth_growth_per_level=0.0)
    t0 = ex.clearinghouse_state(USER)["time"]
    assert ex.clearinghouse_state(USER)["assetPositions"] == []
    ex._place(acct, OrderSpec("BTC", True, ex.best_ask["BTC"], 0.001, tif="Ioc"))  # in the same ms
    fill = ex.user_fills(USER)[0]
    assert ex.now_ms() == t0 and fill.time_ms > t0  # after the state it is not in
    state = ex.clearinghouse_state(USER)  # a state that has it, still in that ms: its time is the fill's
    assert state["assetPositions"] and state["time"] >= fill.time_ms


def test_one_users_taker_trades_with_another_users_resting_order_at_its_price():
    """A taker walked the market's displayed levels only: another user's ask inside the spread was passed over, the
    IOC answered "could not immediately match", and a bid above it left the book crossed. On the venue one book
    holds them all: the resting order fills as maker at its own price, beside the taker, under one tid."""
    a, b = "0x" + "aa" * 20, "0x" + "bb" * 20
    still = dict(vol_calm_per_sqrt_s=0.0, vol_stressed_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0,
                 jump_rate_stressed_per_s=0.0, alpha_std_per_s=0.0, trade_rate_calm_per_s=0.0,
                 trade_rate_stressed_per_s=0.0, calm_to_stressed_per_s=0.0, depth_noise_log_std=0.0,
                 half_spread_ticks_calm=5.0)
    ex = Exchange.build(TwinParams(markets={"BTC": SyntheticMarketParams(**still)}), 0)
    acct_a, acct_b = ex.fund(a, 1_000_000.0), ex.fund(b, 1_000_000.0)
    ex.env.run(until=1.0)
    bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
    assert isinstance(ex._place(acct_a, OrderSpec("BTC", False, bb + 2, 0.01, tif="Alo")), Resting)
    # B buys 0.015 through A's 0.01 and on into the market's ask
    got = ex._place(acct_b, OrderSpec("BTC", True, ba, 0.015, tif="Ioc"))
    assert isinstance(got, Filled) and got.total_sz == 0.015
    assert abs(got.avg_px - (0.01 * (bb + 2) + 0.005 * ba) / 0.015) < 1e-9
    (maker,) = ex.user_fills(a)
    taker = ex.user_fills(b)[-1]  # (newest first: its first fill, A's)
    assert (maker.px, maker.sz, maker.side, maker.crossed) == (bb + 2, 0.01, "A", False)
    assert (taker.px, taker.sz, taker.side, taker.crossed) == (bb + 2, 0.01, "B", True)
    assert maker.tid == taker.tid
    assert acct_a.position("BTC").szi == -0.01 and abs(acct_b.position("BTC").szi - 0.015) < 1e-12
    assert not ex.open_orders(a)  # filled whole
    # a Gtc bid through a resting ask takes part of it, and the rest of the ask stays: no crossed book
    assert isinstance(ex._place(acct_a, OrderSpec("BTC", False, bb + 2, 0.01, tif="Alo")), Resting)
    assert isinstance(ex._place(acct_b, OrderSpec("BTC", True, bb + 3, 0.005, tif="Gtc")), Filled)
    (left,) = ex.open_orders(a)
    assert abs(left.sz - 0.005) < 1e-12
    ex.env.run(until=2.0)
    book = ex.l2_book("BTC")
    assert book.bids[0][0] < book.asks[0][0] == bb + 2


def test_a_price_of_zero_or_below_is_refused_as_an_invalid_price_not_as_off_the_tick():
    # the venue answers a non-positive price "Order has invalid price." (hyperliquid.md §2.4, seen live); the twin
    # gave it the tick-size text, which names a different fault (a positive price off the price rule)
    ex, acct = _still_venue()
    for px in (0.0, -5.0):
        st = ex._place(acct, OrderSpec("BTC", True, px, 0.001, tif="Gtc"))
        assert st == StatusError("Order has invalid price. asset=0")
    st = ex._place(acct, OrderSpec("BTC", True, ex.best_bid["BTC"] - 0.5, 0.001))
    assert st == StatusError("Price must be divisible by tick size. asset=0")
    assert ex.orders == {}


def test_a_post_only_refusal_prints_a_tiny_bbo_in_plain_decimals():
    # a price under 1e-4 (valid on the venue: with szDecimals 0, six decimals) was printed 5e-05 in the refusal, a
    # form no venue text has, which a client reading the bbo from the text (as the agent does) cannot parse
    from twin.instruments import InstrumentSpec
    still = dict(vol_calm_per_sqrt_s=0.0, vol_stressed_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0,
                 jump_rate_stressed_per_s=0.0, alpha_std_per_s=0.0, trade_rate_calm_per_s=0.0,
                 trade_rate_stressed_per_s=0.0, calm_to_stressed_per_s=0.0, depth_noise_log_std=0.0)
    meme = InstrumentSpec(name="MEME", sz_decimals=0, tick=0.000001, max_leverage=5)
    market = SyntheticMarketParams(initial_mid=0.00005, depth_at_touch=1e6, depth_decay_per_usd=1e5, **still)
    ex = Exchange.build(TwinParams(instruments=[meme], markets={"MEME": market}), 0)
    acct = ex.fund(USER, 1_000_000.0)
    ex.env.run(until=1.0)
    assert (ex.best_bid["MEME"], ex.best_ask["MEME"]) == (0.00005, 0.000051)
    st = ex._place(acct, OrderSpec("MEME", True, 0.000051, 1_000_000.0))
    assert st == StatusError("Post only order would have immediately matched, bbo was 0.00005@0.000051. asset=0")


def test_the_10_dollar_minimum_holds_for_new_orders_partial_closes_and_reduce_only_but_not_a_whole_close():
    """hyperliquid.md §2.4 (measured on testnet): the $10 minimum applies to reduce-only orders and to partial
    closes; an order that closes the whole position, or a reduce-only order larger than it, is exempt. A plain order
    larger than the position flips it and opens the rest: not exempt."""
    ex, acct = _still_venue()
    bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
    small = StatusError("Order must have minimum value of $10. asset=0")

    def place(is_buy: bool, px: float, sz: float, **kw):
        return ex._place(acct, OrderSpec("BTC", is_buy, px, sz, **kw))

    def hold_8_dollars() -> None:  # a long of 0.00008 BTC ($8): opened at $20, $12 of it closed
        assert isinstance(place(True, ba, 0.0002, tif="Ioc"), Filled)
        assert isinstance(place(False, bb, 0.00012, tif="Ioc"), Filled)
        assert acct.position("BTC").szi == 0.00008

    assert place(True, bb, 0.00005) == small and isinstance(place(True, bb, 0.0001), Resting)  # $5; $10 rests
    hold_8_dollars()
    for kw in ({}, {"reduce_only": True}):
        assert place(False, bb, 0.00005, tif="Ioc", **kw) == small  # a $5 partial close, plain or reduce-only
    assert place(False, bb, 0.00009, tif="Ioc") == small  # $9: closes the $8 and opens $1 short
    whole = place(False, bb, 0.001, tif="Ioc", reduce_only=True)  # reduce-only, larger: shrunk to the $8, exempt
    assert isinstance(whole, Filled) and whole.total_sz == 0.00008 and acct.position("BTC").szi == 0.0
    hold_8_dollars()
    whole = place(False, bb, 0.00008, tif="Ioc")  # plain, exactly the position: exempt
    assert isinstance(whole, Filled) and whole.total_sz == 0.00008 and acct.position("BTC").szi == 0.0


def test_every_print_and_fill_of_one_taker_order_carries_its_transaction_hash():
    """On the venue a print's and a fill's ``hash`` is the taker order's transaction's, one for every print of a
    sweep (a trade per maker met) and for the maker's fill too (the print's: hyperliquid.md does not say which
    hash a maker's fill carries, the twin gives the trade's). The twin hashed each print by its own tid: B's buy
    sweeping A's ask and three of the market's levels printed under four hashes, and calibration, which groups a
    sweep's prints into one aggressor by hash (``observe._aggressors``), could not have told them one order."""
    from twin.server.wire import fill_json, trade_json

    a, b = "0x" + "aa" * 20, "0x" + "bb" * 20
    ex, _ = _still_venue(depth_at_touch=0.01, depth_growth_per_level=0.0, half_spread_ticks_calm=5.0)
    acct_a, acct_b = ex.fund(a, 1_000_000.0), ex.fund(b, 1_000_000.0)
    pushes: list = []
    conn = ex.connect(pushes.append)
    for channel, key in (("trades", "BTC"), ("userFills", b), ("userEvents", b)):
        conn.subscribe(channel, key)
    bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
    inst = ex.instruments["BTC"]
    assert isinstance(ex._place(acct_a, OrderSpec("BTC", False, bb + 2, 0.01, tif="Alo")), Resting)
    got = ex._place(acct_b, OrderSpec("BTC", True, ba + 2, 0.04, tif="Ioc"))
    assert isinstance(got, Filled) and got.total_sz == 0.04
    ex._place(acct_b, OrderSpec("BTC", False, bb, 0.01, tif="Ioc"))  # another order: another transaction
    ex.env.run(until=ex.env.now + 5.0)
    prints = [trade_json(p, inst) for p in pushes if isinstance(p, TradePush)]
    pushed = [fill_json(f, inst) for p in pushes if isinstance(p, FillsPush) and not p.is_snapshot for f in p.fills]
    sweep, other = prints[:4], prints[4:]
    assert [float(p["px"]) for p in sweep] == [bb + 2, ba, ba + 1, ba + 2] and len(other) == 1
    assert len({p["tid"] for p in sweep}) == 4  # a trade per maker met, each its own tid
    (h,) = {p["hash"] for p in sweep}
    assert other[0]["hash"] != h
    # B's fills, pushed on userFills and on the user channel alike, and A's maker fill: the sweep's hash
    assert len(pushed) == 2 * 5 and {r["hash"] for r in pushed if r["oid"] == got.oid} == {h}
    (maker,) = ex.user_fills(a)
    assert fill_json(maker, inst)["hash"] == h
    assert {fill_json(f, inst)["hash"] for f in ex.user_fills(b) if f.oid == got.oid} == {h}


def test_the_orders_of_one_batch_share_its_transaction_hash_and_another_action_has_its_own():
    """A batch of orders is one action, one L1 transaction: the hash its prints and fills carry is that action's
    (hyperliquid.md §4, trades: "the L1 transaction's that made the trade (the taker's action)"). The twin hashed
    each order by its own oid: two takers sent in one batch printed under two hashes, so a client that found its
    action's fills by hash, tested on the twin, found one order's on the venue; and calibration, which groups prints
    into aggressors by hash, counted a batch as two."""
    from twin.server.wire import fill_json

    ex, acct = _still_venue(depth_at_touch=0.01, depth_growth_per_level=0.0)
    inst = ex.instruments["BTC"]
    bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
    replies: list = []
    ex.submit(USER, OrderAction((OrderSpec("BTC", True, ba, 0.01, tif="Ioc"),
                                 OrderSpec("BTC", True, ba + 1, 0.01, tif="Ioc"))), replies.append)
    ex.env.run(until=ex.env.now + 2.0)
    ex.submit(USER, OrderAction((OrderSpec("BTC", False, bb, 0.01, tif="Ioc"),)), replies.append)
    ex.env.run(until=ex.env.now + 2.0)
    batch, single = (r.statuses for r in replies)
    assert all(isinstance(s, Filled) for s in (*batch, *single))
    hashes = {s.oid: {fill_json(f, inst)["hash"] for f in ex.user_fills(USER) if f.oid == s.oid}
              for s in (*batch, *single)}
    (first,), (second,), (alone,) = hashes.values()
    assert first == second != alone
