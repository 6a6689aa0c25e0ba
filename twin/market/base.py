"""The market-process interface: blocks of book and trade events, generated vectorised.

The twin schedules the events one by one on SimPy; generating them in numpy chunks keeps the
per-event Python work down to what needs virtual time (DESIGN §10's cost model).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

BOOK: int = 0
TRADE: int = 1


@dataclass(frozen=True, slots=True)
class MarketChunk:
    """Market events for [t_start, t_end), as parallel arrays (book rows and trade rows indexed by ``idx``)."""

    t: np.ndarray  # float64 (n,) simulated seconds, non-decreasing
    kind: np.ndarray  # int8 (n,) BOOK or TRADE
    idx: np.ndarray  # int32 (n,) row into the book arrays or the trade arrays
    bid_px: np.ndarray  # float64 (n_books, L) best first, nan-padded
    bid_sz: np.ndarray  # float64 (n_books, L) coin, 0-padded
    ask_px: np.ndarray
    ask_sz: np.ndarray
    trade_px: np.ndarray  # float64 (n_trades,)
    trade_sz: np.ndarray  # float64 (n_trades,) coin
    trade_side: np.ndarray  # int8 (n_trades,) +1 buyer aggressor, -1 seller
    trade_informed: np.ndarray  # bool (n_trades,) ground truth, never shown to clients
    mid: np.ndarray  # float64 (n,) latent mid at each event (ground truth)
    regime: np.ndarray  # int8 (n,) 0 calm, 1 stressed
    t_start: float
    t_end: float


@dataclass(frozen=True, slots=True)
class Shock:
    """A scripted market change known in advance (from a chaos schedule), applied exactly at ``t`` (s).

    ``price_jump``: the mid moves by the fraction ``value`` (-0.03 = -3%) at t. ``regime``: regime
    int(value) (0 calm, 1 stressed) is forced over [t, t + duration_s). ``param``: the synthetic
    market's parameter ``name`` is set to ``value`` from t on (see ``SHOCKABLE_PARAMS``).
    """

    t: float
    kind: Literal["price_jump", "regime", "param"]
    value: float
    duration_s: float = 0.0
    name: str = ""


class MarketProcess(Protocol):
    coin: str

    def next_chunk(self) -> MarketChunk | None:
        """The next block of events; None when the market has ended (a replay file ran out)."""
