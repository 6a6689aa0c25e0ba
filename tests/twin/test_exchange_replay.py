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
