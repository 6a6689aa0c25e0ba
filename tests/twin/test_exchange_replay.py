"""The exchange driven by a recorded file instead of the synthetic market."""
from pathlib import Path

import simpy

from twin.exchange import Exchange
from twin.market import ReplayMarket
from twin.messages import ActionOk, OrderAction, OrderSpec, Resting
from twin.params import TwinParams

DATA = Path(__file__).resolve().parents[2] / "twin" / "data" / "sample_replay.jsonl"


def test_exchange_runs_on_a_replayed_market_and_serves_its_books():
    env = simpy.Environment()
    ex = Exchange(env, TwinParams(), 0, markets={"BTC": ReplayMarket(DATA, levels=5)})
    ex.fund("0x" + "cd" * 20, 10_000.0)
    replies = []
    env.run(until=5)
    bb = ex.best_bid["BTC"]
    ex.submit("0x" + "cd" * 20, OrderAction((OrderSpec("BTC", True, bb, 0.001),)), replies.append)
    env.run(until=40)
    assert ex.counters["book_updates"] > 50 and ex.counters["trades"] > 50
    book = ex.l2_book("BTC")
    assert book.bids[0][0] == ex.best_bid["BTC"] and book.asks[0][0] == ex.best_ask["BTC"]
    assert isinstance(replies[0], ActionOk) and isinstance(replies[0].statuses[0], Resting) or ex.fills


def _book(t, bid_sz):
    return {"channel": "l2Book", "data": {"coin": "BTC", "time": t, "levels": [
        [{"px": "100000", "sz": str(bid_sz), "n": 1}], [{"px": "100001", "sz": "1", "n": 1}]]}}


def _sell(t):
    return {"channel": "trades", "data": [{"coin": "BTC", "side": "A", "px": "100000", "sz": "1", "hash": "0x0",
                                           "time": t, "tid": t, "users": ["0x0", "0x0"]}]}


def test_a_blocks_trades_are_replayed_before_its_book_so_the_queue_is_not_taken_twice(tmp_path):
    """The venue stamps a block's trades and its l2Book with the block's time, and the book shows the level after
    the trades. Book first, the smaller level read as cancels ahead of the resting bid, and the trade then took
    that queue again: a bid behind 2.0 was filled by two sells of 1.0 that never reached it."""
    import json

    from twin import seeding

    t0 = 1_767_225_600_000
    path = tmp_path / "r.jsonl"
    lines = [_book(t0, 2.0), _book(t0 + 1000, 1.0), _sell(t0 + 1000), _sell(t0 + 2000), _book(t0 + 2000, 0.0001)]
    path.write_text("".join(json.dumps(m) + "\n" for m in lines))
    ex = Exchange(simpy.Environment(), TwinParams(), 0, markets={"BTC": ReplayMarket(path)})
    user = "0x" + "ab" * 20
    ex.fund(user, 100_000.0)
    ex.env.run(until=0.5)
    oid = seeding.rest_order(ex, user, "BTC", True, 100_000.0, 0.5)
    assert ex.orders[oid].queue_ahead == 2.0
    ex.env.run(until=1.5)
    ex.books["BTC"].catch_up()  # (the updates a print has not read yet)
    assert ex.orders[oid].queue_ahead == 1.0  # the trade took 1.0 of the queue, once
    ex.env.run(until=3.0)
    assert ex.accounts[user].position("BTC").szi == 0.0 and ex.orders[oid].sz == 0.5
