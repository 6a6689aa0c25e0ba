"""Replay of recorded venue data: l2Book and trades websocket messages, one JSON object per line.

The shapes are the venue's own (hyperliquid.md §4): ``{"channel":"l2Book","data":{"coin","time",
"levels":[[bids],[asks]]}}`` with levels ``{"px","sz","n"}`` as decimal strings, and
``{"channel":"trades","data":[{"coin","side","px","sz","time","tid",...}]}`` with ``side`` the
aggressor. Other channels are skipped. Times become seconds after the first message.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable

import numpy as np

from twin.market.base import BOOK, TRADE, MarketChunk


class ReplayFormatError(ValueError):
    """A line of a replay file that is not a venue message; names file, line and field."""


def _num(path: Path, lineno: int, field: str, value) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ReplayFormatError(f"{path}:{lineno}: field {field!r} is {value!r}, expected a decimal string") from None
    if not math.isfinite(x):
        raise ReplayFormatError(f"{path}:{lineno}: field {field!r} is {value!r}, expected a finite number")
    return x


def _get(path: Path, lineno: int, obj, field: str):
    if not isinstance(obj, dict) or field not in obj:
        raise ReplayFormatError(f"{path}:{lineno}: missing field {field!r}")
    return obj[field]


class ReplayMarket:
    """Serve a recorded file as market chunks. ``coin`` filters when the file holds several coins."""

    def __init__(self, path: str | Path, *, coin: str | None = None, chunk_seconds: float = 10.0,
                 levels: int = 20) -> None:
        self.path = Path(path)
        self.chunk_seconds = chunk_seconds
        self.levels = levels
        self._events = self._load(coin)
        self.coin = coin or (self._events[0][2] if self._events else "")
        self._pos = 0
        self._t = 0.0
        self._last_mid = math.nan

    def _load(self, coin: str | None) -> list[tuple]:
        events: list[tuple] = []  # (time_ms, kind, coin, payload)
        with open(self.path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ReplayFormatError(f"{self.path}:{lineno}: not JSON ({e.msg})") from None
                channel = _get(self.path, lineno, msg, "channel")
                data = _get(self.path, lineno, msg, "data")
                if channel == "l2Book":
                    c = _get(self.path, lineno, data, "coin")
                    levels = _get(self.path, lineno, data, "levels")
                    if not isinstance(levels, list) or len(levels) != 2:
                        raise ReplayFormatError(f"{self.path}:{lineno}: field 'levels' must be [bids, asks]")
                    sides = []
                    for name, side in zip(("bids", "asks"), levels):
                        sides.append([(_num(self.path, lineno, f"levels.{name}.px", _get(self.path, lineno, lv, "px")),
                                       _num(self.path, lineno, f"levels.{name}.sz", _get(self.path, lineno, lv, "sz")))
                                      for lv in side])
                    t_ms = _num(self.path, lineno, "time", _get(self.path, lineno, data, "time"))
                    if coin is None or c == coin:
                        events.append((t_ms, BOOK, c, sides))
                elif channel == "trades":
                    if not isinstance(data, list):
                        raise ReplayFormatError(f"{self.path}:{lineno}: field 'data' of trades must be a list")
                    for tr in data:
                        c = _get(self.path, lineno, tr, "coin")
                        side = _get(self.path, lineno, tr, "side")
                        if side not in ("A", "B"):
                            raise ReplayFormatError(f"{self.path}:{lineno}: field 'side' is {side!r}, expected A or B")
                        t_ms = _num(self.path, lineno, "time", _get(self.path, lineno, tr, "time"))
                        px = _num(self.path, lineno, "px", _get(self.path, lineno, tr, "px"))
                        sz = _num(self.path, lineno, "sz", _get(self.path, lineno, tr, "sz"))
                        if coin is None or c == coin:
                            events.append((t_ms, TRADE, c, (px, sz, 1 if side == "B" else -1)))
        if not events:
            return events
        events.sort(key=lambda e: (e[0], e[1]))
        t0 = events[0][0]
        return [((e[0] - t0) / 1000.0,) + e[1:] for e in events]

    def next_chunk(self) -> MarketChunk | None:
        if self._pos >= len(self._events):
            return None
        t0 = self._t
        t1 = t0 + self.chunk_seconds
        evs = []
        while self._pos < len(self._events) and self._events[self._pos][0] < t1:
            evs.append(self._events[self._pos])
            self._pos += 1
        self._t = t1
        books = [e for e in evs if e[1] == BOOK]
        trades = [e for e in evs if e[1] == TRADE]
        L = self.levels
        nb = len(books)
        bid_px = np.full((nb, L), np.nan)
        ask_px = np.full((nb, L), np.nan)
        bid_sz = np.zeros((nb, L))
        ask_sz = np.zeros((nb, L))
        for i, (_, _, _, (bids, asks)) in enumerate(books):
            for j, (px, sz) in enumerate(bids[:L]):
                bid_px[i, j], bid_sz[i, j] = px, sz
            for j, (px, sz) in enumerate(asks[:L]):
                ask_px[i, j], ask_sz[i, j] = px, sz
        t = np.array([e[0] for e in evs], dtype=np.float64)
        kind = np.array([e[1] for e in evs], dtype=np.int8)
        idx = np.empty(len(evs), dtype=np.int32)
        mid = np.empty(len(evs))
        ib = it = 0
        for k, e in enumerate(evs):
            if e[1] == BOOK:
                idx[k] = ib
                self._last_mid = 0.5 * (bid_px[ib, 0] + ask_px[ib, 0])
                ib += 1
            else:
                idx[k] = it
                it += 1
            mid[k] = self._last_mid
        return MarketChunk(
            t=t, kind=kind, idx=idx, bid_px=bid_px, bid_sz=bid_sz, ask_px=ask_px, ask_sz=ask_sz,
            trade_px=np.array([e[3][0] for e in trades]), trade_sz=np.array([e[3][1] for e in trades]),
            trade_side=np.array([e[3][2] for e in trades], dtype=np.int8),
            trade_informed=np.zeros(len(trades), dtype=bool), mid=mid, regime=np.zeros(len(evs), dtype=np.int8),
            t_start=t0, t_end=t1)


def _s(x: float) -> str:
    """A decimal string as the venue writes it (no exponent, no float noise)."""
    return format(float(x), ".10f").rstrip("0").rstrip(".") if x != int(x) else f"{x:.1f}"


def write_replay(chunks: Iterable[MarketChunk], path: str | Path, coin: str, epoch_ms: int = 1_767_225_600_000,
                 levels: int = 20) -> int:
    """Write chunks as the venue's websocket messages; returns the number of lines."""
    n = 0
    tid = 1
    with open(path, "w", encoding="utf-8") as fh:
        for c in chunks:
            for k in range(len(c.t)):
                t_ms = epoch_ms + int(round(c.t[k] * 1000))
                j = int(c.idx[k])
                if c.kind[k] == BOOK:
                    lv = [[{"px": _s(px), "sz": _s(sz), "n": 1} for px, sz in zip(pxs[:levels], szs[:levels])
                           if px == px] for pxs, szs in ((c.bid_px[j], c.bid_sz[j]), (c.ask_px[j], c.ask_sz[j]))]
                    msg = {"channel": "l2Book", "data": {"coin": coin, "time": t_ms, "levels": lv}}
                else:
                    msg = {"channel": "trades", "data": [{
                        "coin": coin, "side": "B" if c.trade_side[j] > 0 else "A", "px": _s(c.trade_px[j]),
                        "sz": _s(c.trade_sz[j]), "hash": "0x" + "0" * 64, "time": t_ms, "tid": tid,
                        "users": ["0x" + "0" * 40, "0x" + "0" * 40]}]}
                    tid += 1
                fh.write(json.dumps(msg, separators=(",", ":")) + "\n")
                n += 1
    return n
