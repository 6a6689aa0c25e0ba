"""Tests of replaying recorded venue messages: the sample file round-trips book by book and trade by
trade, the writer's output reads back as it was generated, and bad lines name file, line and field."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from twin.market import (BOOK, TRADE, MarketChunk, ReplayFormatError, ReplayMarket, SyntheticMarket,
                         SyntheticMarketParams, write_replay)

SAMPLE = Path(__file__).resolve().parents[2] / "twin" / "data" / "sample_replay.jsonl"


def _all_chunks(market: ReplayMarket) -> list[MarketChunk]:
    out = []
    while (c := market.next_chunk()) is not None:
        out.append(c)
    return out


def _file_messages(path: Path) -> tuple[list[dict], list[dict]]:
    """The file's books and trades, read with json alone (an independent reading)."""
    books, trades = [], []
    for line in path.read_text().splitlines():
        msg = json.loads(line)
        if msg["channel"] == "l2Book":
            books.append(msg["data"])
        elif msg["channel"] == "trades":
            trades.extend(msg["data"])
    return books, trades


def test_sample_file_is_a_few_hundred_btc_messages():
    books, trades = _file_messages(SAMPLE)
    assert 200 <= len(books) + len(trades) <= 400
    assert {b["coin"] for b in books} | {t["coin"] for t in trades} == {"BTC"}
    assert all(isinstance(lv["px"], str) and isinstance(lv["sz"], str) for b in books for side in b["levels"]
               for lv in side)


def test_replaying_the_sample_yields_the_files_books_and_trades():
    books, trades = _file_messages(SAMPLE)
    chunks = _all_chunks(ReplayMarket(SAMPLE, chunk_seconds=10.0))
    t0_ms = min([b["time"] for b in books] + [t["time"] for t in trades])
    got_books, got_trades = [], []
    for c in chunks:
        assert np.all((c.t >= c.t_start) & (c.t < c.t_end)) and np.all(np.diff(c.t) >= 0)
        for t, kind, j in zip(c.t, c.kind, c.idx):
            if kind == BOOK:
                got_books.append((t, c.bid_px[j], c.bid_sz[j], c.ask_px[j], c.ask_sz[j]))
            else:
                got_trades.append((t, c.trade_px[j], c.trade_sz[j], c.trade_side[j]))
    assert len(got_books) == len(books) and len(got_trades) == len(trades)
    for (t, bid_px, bid_sz, ask_px, ask_sz), b in zip(got_books, books):
        assert t == pytest.approx((b["time"] - t0_ms) / 1000)
        bids, asks = b["levels"]
        for px, sz, levels in ((bid_px, bid_sz, bids), (ask_px, ask_sz, asks)):
            n = len(levels)
            assert list(px[:n]) == [float(lv["px"]) for lv in levels]
            assert list(sz[:n]) == [float(lv["sz"]) for lv in levels]
            assert np.all(np.isnan(px[n:])) and np.all(sz[n:] == 0)
    for (t, px, sz, side), tr in zip(got_trades, trades):
        assert t == pytest.approx((tr["time"] - t0_ms) / 1000)
        assert (px, sz, side) == (float(tr["px"]), float(tr["sz"]), 1 if tr["side"] == "B" else -1)


def test_replay_mid_is_the_latest_books_and_ground_truth_is_neutral():
    for c in _all_chunks(ReplayMarket(SAMPLE)):
        books = np.flatnonzero(c.kind == BOOK)
        assert np.array_equal(c.mid[books], 0.5 * (c.bid_px[c.idx[books], 0] + c.ask_px[c.idx[books], 0]))
        trades = np.flatnonzero(c.kind == TRADE)
        previous_book = books[np.searchsorted(books, trades) - 1]
        assert np.array_equal(c.mid[trades], c.mid[previous_book])
        assert not c.trade_informed.any() and not c.regime.any()


def test_written_chunks_read_back_as_generated(tmp_path):
    market = SyntheticMarket(SyntheticMarketParams(levels=3), np.random.default_rng(11), tick=0.01, lot=0.001,
                             chunk_seconds=5.0)
    params = market.p
    chunks = [market.next_chunk() for _ in range(3)]
    path = tmp_path / "eth.jsonl"
    assert write_replay(chunks, path, coin="ETH") == sum(c.t.size for c in chunks)
    replayed = _all_chunks(ReplayMarket(path, chunk_seconds=5.0, levels=params.levels))
    assert len(replayed) == 3
    for a, b in zip(chunks, replayed):
        assert np.allclose(a.t, b.t, atol=5e-4)  # times are written in whole milliseconds
        assert np.array_equal(a.kind, b.kind) and np.array_equal(a.idx, b.idx)
        for f in ("bid_px", "bid_sz", "ask_px", "ask_sz", "trade_px", "trade_sz", "trade_side"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f  # decimal strings round-trip exactly


def test_coin_filter_and_default_coin(tmp_path):
    lines = [
        {"channel": "subscriptionResponse", "data": {"method": "subscribe"}},
        {"channel": "l2Book", "data": {"coin": "ETH", "time": 1000, "levels": [[{"px": "10.5", "sz": "1", "n": 1}],
                                                                               [{"px": "10.6", "sz": "2", "n": 1}]]}},
        {"channel": "trades", "data": [{"coin": "BTC", "side": "A", "px": "99", "sz": "0.1", "time": 1500, "tid": 1},
                                       {"coin": "ETH", "side": "A", "px": "10.5", "sz": "0.3", "time": 2500,
                                        "tid": 2}]},
    ]
    path = tmp_path / "two.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    eth = ReplayMarket(path, levels=2)
    assert eth.coin == "ETH"
    c = eth.next_chunk()
    assert list(c.t) == [0.0, 1.5] and list(c.kind) == [BOOK, TRADE]
    assert list(c.trade_px) == [10.5] and list(c.trade_side) == [-1] and c.mid[1] == pytest.approx(10.55)
    assert eth.next_chunk() is None
    # a coin with trades but no book: the twin would have run without a market (its mid nan all along)
    with pytest.raises(ReplayFormatError, match=r"two.jsonl: no l2Book line for coin 'BTC' \(the file's coins: ETH\)"):
        ReplayMarket(path, coin="BTC")
    with pytest.raises(ReplayFormatError, match=r"no l2Book line for coin 'SOL' \(the file's coins: ETH\)"):
        ReplayMarket(path, coin="SOL")


def test_a_blocks_trades_come_before_its_book_on_equal_times(tmp_path):
    """The venue's book of a block shows the levels after the block's trades, both stamped with its time."""
    lv = [[{"px": "10.5", "sz": "1", "n": 1}], [{"px": "10.6", "sz": "2", "n": 1}]]
    lines = [{"channel": "l2Book", "data": {"coin": "ETH", "time": 1000, "levels": lv}},
             {"channel": "l2Book", "data": {"coin": "ETH", "time": 2000, "levels": lv}},
             {"channel": "trades", "data": [{"coin": "ETH", "side": "A", "px": "10.5", "sz": "0.3", "time": 2000}]},
             {"channel": "trades", "data": [{"coin": "ETH", "side": "B", "px": "10.6", "sz": "0.1", "time": 3000}]},
             {"channel": "l2Book", "data": {"coin": "ETH", "time": 2500, "levels": lv}}]
    path = tmp_path / "eth.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    m = ReplayMarket(path)
    c = m.next_chunk()
    assert list(c.t) == [0.0, 1.0, 1.0, 1.5, 2.0] and list(c.kind) == [BOOK, TRADE, BOOK, BOOK, TRADE]
    assert m.span_s == 2.0


@pytest.mark.parametrize("line, field", [
    ('{"channel":"l2Book","data":{"coin":"BTC","time":5,"levels":[[{"px":"1.0","sz":"x","n":1}],[]]}}',
     "data.levels.bids[0].sz"),
    ('{"channel":"l2Book","data":{"coin":"BTC","levels":[[],[]]}}', "data.time"),
    ('{"channel":"l2Book","data":{"coin":"BTC","time":5,"levels":[[]]}}', "data.levels"),
    ('{"channel":"trades","data":[{"coin":"BTC","side":"S","px":"1","sz":"1","time":5}]}', "data[0].side"),
    ('{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"nan","sz":"1","time":5}]}', "data[0].px"),
    ('{"data":[]}', "channel"),
])
def test_bad_lines_name_the_file_line_and_field(tmp_path, line, field):
    good = '{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"1","sz":"1","time":1}]}'
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n\n" + line + "\n")
    with pytest.raises(ReplayFormatError) as err:
        ReplayMarket(path)
    assert f"{path}:3:" in str(err.value) and repr(field) in str(err.value)


def test_a_line_that_is_not_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"channel": "trades", "data": [\n')
    with pytest.raises(ReplayFormatError, match=rf"{path}:1: not JSON"):
        ReplayMarket(path)
