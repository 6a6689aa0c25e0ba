"""The displayed book's rows, kept as one tuple a coin (Exchange._rows_now: one store a book update in the market loop,
where four dicts took four), read as the four dicts they were (bid_px, bid_sz, ask_px, ask_sz). Held here: at every
step of a session (an agent's orders resting and taken, the queue model's pending updates among them), each of the
four is the row of the last book update the market made before now, the very numpy row the chunk holds, and its best
price the exchange's best bid or ask; with no one watching (the market loop jumping over the events none can see),
each row's best still the best price; and the four behave as dicts, written a row at a time (as tests write them)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from twin.exchange import Exchange
from twin.market.base import BOOK
from twin.messages import OrderAction, OrderSpec
from twin.params import TwinParams

USER = "0x" + "3c" * 20
NAMES = ("bid_px", "bid_sz", "ask_px", "ask_sz")


def _recording(ex: Exchange, coin: str) -> list:
    """The chunks the market loop takes, as it takes them."""
    market = ex.markets[coin]
    chunks: list = []
    take = market.next_chunk

    def next_chunk():
        chunk = take()
        chunks.append(chunk)
        return chunk
    market.next_chunk = next_chunk
    return chunks


def _last_book(chunks: list, before: float) -> tuple | None:
    """The chunk and row of the last book update at a time before ``before``."""
    found = None
    for chunk in chunks:
        if chunk is None:
            continue
        for t, kind, j in zip(chunk.t.tolist(), chunk.kind.tolist(), chunk.idx.tolist()):
            if t >= before:
                return found
            if kind == BOOK:
                found = (chunk, j)
    return found


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16), st.lists(st.tuples(st.sampled_from([0.05, 0.3, 1.0]), st.integers(-3, 8),
                                                 st.booleans()), min_size=1, max_size=25))
def test_the_rows_are_the_last_book_updates(seed, plan):
    ex = Exchange.build(TwinParams(), seed)
    chunks = _recording(ex, "BTC")
    ex.fund(USER, 100_000.0)
    conn = ex.connect(lambda p: None)
    conn.subscribe("trades", "BTC")  # (watched: the market loop applies every event in its turn, no jump)
    ex.env.run(until=0.5)
    tick = ex.instruments["BTC"].tick
    sent = 0  # (a step before the market's first book update sends nothing: no touch to price from)
    for wait, away, is_buy in plan + [(0.5, None, True)]:
        ex.env.run(until=ex.env._now + wait)
        found = _last_book(chunks, ex.env._now)
        if found is None:
            assert "BTC" not in ex.bid_px and ex.bid_px.get("BTC") is None
            continue
        chunk, j = found
        for name in NAMES:
            row = getattr(ex, name)["BTC"]
            assert np.array_equal(row, getattr(chunk, name)[j], equal_nan=True), name
            assert row.base is getattr(chunk, name)  # (the chunk's own row, as the market loop stored it)
            assert "BTC" in getattr(ex, name) and list(getattr(ex, name)) == ["BTC"]
        assert ex._rows_now["BTC"][0] is ex.bid_px["BTC"]
        assert _same_float(float(ex.bid_px["BTC"][0]), ex.best_bid["BTC"])
        assert _same_float(float(ex.ask_px["BTC"][0]), ex.best_ask["BTC"])
        if away is None:
            break
        bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
        px = bb - away * tick if is_buy else ba + away * tick  # (negative away: through the touch, taking)
        ex.submit(USER, OrderAction((OrderSpec("BTC", is_buy, px, 0.001),)), lambda r: None)
        sent += 1
    ex.env.run(until=ex.env._now + 30.0)  # (an action's latency draw can outlast the last step's 0.5 s: seed 33387)
    assert ex.counters["actions"] == sent


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unwatched_the_rows_follow_the_jumps(seed):
    """No subscription and no order: the market loop jumps over what none can see (Exchange._jump), and each row's
    best is still the exchange's best price."""
    ex = Exchange.build(TwinParams(), seed)
    checked = 0
    for k in range(1, 40):
        ex.env.run(until=0.25 * k)
        if "BTC" in ex.bid_px:
            assert _same_float(float(ex.bid_px["BTC"][0]), ex.best_bid["BTC"])
            assert _same_float(float(ex.ask_px["BTC"][0]), ex.best_ask["BTC"])
            checked += 1
    assert checked > 30 and ex.counters["book_updates"] > checked


def test_the_four_are_dicts_written_a_row_at_a_time():
    ex = Exchange.build(TwinParams(), 0)
    assert "ETH" not in ex.bid_px and ex.bid_px.get("ETH") is None and len(ex.bid_px) == 0
    with pytest.raises(KeyError):
        ex.ask_sz["ETH"]
    pxs, szs = np.array([10.0, 9.0]), np.array([1.0, 2.0])
    ex.bid_px["ETH"] = pxs
    assert ex.bid_px["ETH"] is pxs and "ETH" not in ex.bid_sz and "ETH" not in ex.ask_px
    ex.bid_sz["ETH"] = szs
    rows = ex._rows_now["ETH"]
    assert rows[0] is pxs and rows[1] is szs and rows[2:] == (None, None)
    assert dict(ex.bid_px) == {"ETH": pxs} and len(ex.bid_sz) == 1
    del ex.bid_px["ETH"]
    assert "ETH" not in ex.bid_px and ex.bid_sz["ETH"] is szs
    with pytest.raises(KeyError):
        del ex.bid_px["ETH"]
