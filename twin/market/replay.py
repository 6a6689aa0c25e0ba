"""Replay of recorded venue data (``l2Book`` and ``trades`` websocket messages) as market chunks.

A file holds one JSON message per line in the venue's shapes (hyperliquid.md §4):
``{"channel":"l2Book","data":{"coin","time","levels":[[bids],[asks]]}}`` with levels
``{"px","sz","n"}`` as decimal strings, and ``{"channel":"trades","data":[{"coin","side","px","sz",
"hash","time","tid","users"}]}`` with ``side`` the aggressor ("B" buy, "A" sell). Other channels are
skipped. Times become seconds after the file's first kept message. ``write_replay`` writes chunks
in the same shapes (how ``twin/data/sample_replay.jsonl`` was made).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from twin.market.base import BOOK, TRADE, MarketChunk


class ReplayFormatError(ValueError):
    """A line of a replay file that is not a venue message; the message names file, line and field."""


class _Line:
    """Field access for one line, raising ReplayFormatError with the file, line and field."""

    def __init__(self, path: Path, lineno: int) -> None:
        self.path, self.lineno = path, lineno

    def error(self, field: str, problem: str) -> ReplayFormatError:
        return ReplayFormatError(f"{self.path}:{self.lineno}: field {field!r} {problem}")

    def get(self, obj: Any, key: str, field: str) -> Any:
        if not isinstance(obj, dict):
            raise ReplayFormatError(f"{self.path}:{self.lineno}: expected an object holding field {field!r}, "
                                    f"got {obj!r:.60}")
        if key not in obj:
            raise self.error(field, "is missing")
        return obj[key]

    def number(self, obj: Any, key: str, field: str) -> float:
        value = self.get(obj, key, field)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(field, f"is {value!r:.60}, expected a decimal string")
        try:
            x = float(value)
        except ValueError:
            raise self.error(field, f"is {value!r:.60}, expected a decimal string") from None
        if not math.isfinite(x):
            raise self.error(field, f"is {value!r}, expected a finite number")
        return x

    def array(self, value: Any, field: str) -> list:
        if not isinstance(value, list):
            raise self.error(field, f"is {value!r:.60}, expected an array")
        return value


class ReplayMarket:
    """Serve a recorded file as market chunks of ``chunk_seconds``; ``None`` once the file is used up.

    ``coin`` selects one coin; by default the coin of the first book or trade in the file. Books
    keep at most ``levels`` levels a side (nan/0 padded). ``mid`` is the latest book's
    (best bid + best ask)/2, nan before the first book; ``regime`` is 0 and ``trade_informed`` False.
    The whole file is read at construction.
    """

    def __init__(self, path: str | Path, *, coin: str | None = None, chunk_seconds: float = 10.0,
                 levels: int = 20) -> None:
        if not chunk_seconds > 0 or levels < 1:
            raise ValueError(f"chunk_seconds must be > 0 and levels ≥ 1, got {chunk_seconds}, {levels}")
        self.path = Path(path)
        self.chunk_seconds = chunk_seconds
        self.levels = levels
        books, trades, self.coin, coins = self._read(coin)
        if not books:
            seen = ", ".join(sorted(coins)) or "none"
            raise ReplayFormatError(f"{self.path}: no l2Book line for coin {self.coin!r} (the file's coins: {seen}): "
                                    f"the twin would run without a market")
        # Events in time order; on equal times a block's trades before its book (the venue stamps both with the
        # block's time, and its book already shows the levels after the trades: read first, the smaller level
        # counted as cancels ahead of a resting order and the trades then took that queue again); otherwise
        # file order (sorted() is stable).
        events = sorted([(t, BOOK, i) for i, (t, _, _) in enumerate(books)]
                        + [(t, TRADE, i) for i, (t, _) in enumerate(trades)], key=lambda e: (e[0], e[1] != TRADE))
        # Renumber books and trades in time order so a chunk's rows are one contiguous slice.
        book_order = [i for _, k, i in events if k == BOOK]
        trade_order = [i for _, k, i in events if k == TRADE]
        t_ms = np.array([e[0] for e in events], dtype=np.float64)
        self._t = (t_ms - t_ms[0]) / 1000.0
        self.span_s = float(self._t[-1])  # the recording's length: the twin's market stands still after it
        self._kind = np.array([e[1] for e in events], dtype=np.int8)
        self._idx = np.empty(len(events), dtype=np.int32)  # global book or trade row, in time order
        self._idx[self._kind == BOOK] = np.arange(len(book_order), dtype=np.int32)
        self._idx[self._kind == TRADE] = np.arange(len(trade_order), dtype=np.int32)
        nb = len(books)
        self._bid_px = np.full((nb, levels), np.nan)
        self._ask_px = np.full((nb, levels), np.nan)
        self._bid_sz = np.zeros((nb, levels))
        self._ask_sz = np.zeros((nb, levels))
        for row, i in enumerate(book_order):
            (bids, asks) = books[i][1:]
            for px, sz, dest_px, dest_sz in ((bids[0], bids[1], self._bid_px, self._bid_sz),
                                             (asks[0], asks[1], self._ask_px, self._ask_sz)):
                m = min(len(px), levels)
                dest_px[row, :m] = px[:m]
                dest_sz[row, :m] = sz[:m]
        tr = [trades[i][1] for i in trade_order]
        self._trade_px = np.array([x[0] for x in tr], dtype=np.float64)
        self._trade_sz = np.array([x[1] for x in tr], dtype=np.float64)
        self._trade_side = np.array([x[2] for x in tr], dtype=np.int8)
        # Mid at each event: the latest book's, carried forward.
        book_mid = 0.5 * (self._bid_px[:, 0] + self._ask_px[:, 0])
        last_book = np.where(self._kind == BOOK, np.arange(len(events)), -1)
        last_book = np.maximum.accumulate(last_book) if len(events) else last_book
        has_book = last_book >= 0
        self._mid = np.full(len(events), np.nan)
        self._mid[has_book] = book_mid[self._idx[last_book[has_book]]]
        self._pos = 0
        self._chunk_no = 0

    def _read(self, coin: str | None) -> tuple[list, list, str, set]:
        books: list[tuple[float, tuple, tuple]] = []  # (time_ms, (bid px, bid sz), (ask px, ask sz))
        coins: set[str] = set()  # every coin with a book (for the error when the chosen one has none)
        trades: list[tuple[float, tuple]] = []  # (time_ms, (px, sz, side))
        with open(self.path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                f = _Line(self.path, lineno)
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ReplayFormatError(f"{self.path}:{lineno}: not JSON ({e.msg})") from None
                except RecursionError:  # (no venue message nests that deep: it was a traceback)
                    raise ReplayFormatError(f"{self.path}:{lineno}: not JSON (nested past the reader's limit)") \
                        from None
                except ValueError:  # (an integer past Python's 4,300 digits: its message named no file nor line)
                    raise ReplayFormatError(f"{self.path}:{lineno}: not JSON (a number too long to read)") from None
                channel = f.get(msg, "channel", "channel")
                data = f.get(msg, "data", "data")
                if channel == "l2Book":
                    c = f.get(data, "coin", "data.coin")
                    coin = coin if coin is not None else c
                    levels = f.array(f.get(data, "levels", "data.levels"), "data.levels")
                    if len(levels) != 2:
                        raise f.error("data.levels", f"has {len(levels)} sides, expected [bids, asks]")
                    t_ms = f.number(data, "time", "data.time")
                    sides = []
                    for name, side in zip(("bids", "asks"), levels):
                        field = f"data.levels.{name}"
                        side = f.array(side, field)
                        sides.append(([f.number(lv, "px", f"{field}[{j}].px") for j, lv in enumerate(side)],
                                      [f.number(lv, "sz", f"{field}[{j}].sz") for j, lv in enumerate(side)]))
                    coins.add(str(c))
                    if c == coin:
                        books.append((t_ms, sides[0], sides[1]))
                elif channel == "trades":
                    for j, tr in enumerate(f.array(data, "data")):
                        c = f.get(tr, "coin", f"data[{j}].coin")
                        coin = coin if coin is not None else c
                        side = f.get(tr, "side", f"data[{j}].side")
                        if side not in ("A", "B"):
                            raise f.error(f"data[{j}].side", f"is {side!r}, expected 'A' or 'B'")
                        t_ms = f.number(tr, "time", f"data[{j}].time")
                        px = f.number(tr, "px", f"data[{j}].px")
                        sz = f.number(tr, "sz", f"data[{j}].sz")
                        if c == coin:
                            trades.append((t_ms, (px, sz, 1 if side == "B" else -1)))
        return books, trades, coin or "", coins

    def next_chunk(self) -> MarketChunk | None:
        n = self._t.size
        if self._pos >= n:
            return None
        t0 = self._chunk_no * self.chunk_seconds
        t1 = (self._chunk_no + 1) * self.chunk_seconds
        self._chunk_no += 1
        lo, hi = self._pos, int(np.searchsorted(self._t, t1, side="left"))
        self._pos = hi
        kind, idx = self._kind[lo:hi], self._idx[lo:hi]
        books, trades = idx[kind == BOOK], idx[kind == TRADE]
        b0 = int(books[0]) if books.size else 0
        tr0 = int(trades[0]) if trades.size else 0
        b = slice(b0, b0 + books.size)
        tr = slice(tr0, tr0 + trades.size)
        local = idx - np.where(kind == BOOK, b0, tr0).astype(np.int32)
        return MarketChunk(
            t=self._t[lo:hi].copy(), kind=kind.copy(), idx=local, bid_px=self._bid_px[b].copy(),
            bid_sz=self._bid_sz[b].copy(), ask_px=self._ask_px[b].copy(), ask_sz=self._ask_sz[b].copy(),
            trade_px=self._trade_px[tr].copy(), trade_sz=self._trade_sz[tr].copy(),
            trade_side=self._trade_side[tr].copy(), trade_informed=np.zeros(trades.size, dtype=bool),
            mid=self._mid[lo:hi].copy(), regime=np.zeros(hi - lo, dtype=np.int8), t_start=t0, t_end=t1)


def _decimal_string(x: float) -> str:
    """The shortest decimal string that reads back as ``x``, without an exponent ("100001.0", "0.00012")."""
    return np.format_float_positional(float(x), unique=True, trim="0")


def write_replay(chunks: Iterable[MarketChunk], path: str | Path, *, coin: str = "BTC",
                 epoch_ms: int = 1_735_689_600_000, levels: int | None = None) -> int:
    """Write chunks as the venue's ``l2Book`` and ``trades`` messages, one a line; returns the line count.

    Times are ``epoch_ms`` plus the chunk time rounded to the millisecond. Books keep the non-nan
    levels (at most ``levels`` a side); hashes and users are placeholders (all zeros).
    """
    lines = 0
    tid = 1
    zero_user = "0x" + "0" * 40
    with open(path, "w", encoding="utf-8") as fh:
        for c in chunks:
            for t, kind, j in zip(c.t.tolist(), c.kind.tolist(), c.idx.tolist()):
                t_ms = epoch_ms + int(round(t * 1000.0))
                if kind == BOOK:
                    sides = []
                    for pxs, szs in ((c.bid_px[j], c.bid_sz[j]), (c.ask_px[j], c.ask_sz[j])):
                        keep = ~np.isnan(pxs)
                        pxs, szs = pxs[keep][:levels], szs[keep][:levels]
                        sides.append([{"px": _decimal_string(px), "sz": _decimal_string(sz), "n": 1}
                                      for px, sz in zip(pxs, szs)])
                    msg = {"channel": "l2Book", "data": {"coin": coin, "time": t_ms, "levels": sides}}
                else:
                    msg = {"channel": "trades", "data": [{
                        "coin": coin, "side": "B" if c.trade_side[j] > 0 else "A",
                        "px": _decimal_string(c.trade_px[j]), "sz": _decimal_string(c.trade_sz[j]),
                        "hash": "0x" + "0" * 64, "time": t_ms, "tid": tid, "users": [zero_user, zero_user]}]}
                    tid += 1
                fh.write(json.dumps(msg, separators=(",", ":")) + "\n")
                lines += 1
    return lines
