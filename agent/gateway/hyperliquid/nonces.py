"""Nonces for signed actions: strictly increasing milliseconds, one counter per signer (hyperliquid.md §3.3).

The venue refuses a reused nonce, so two actions in the same millisecond must not share one; the
counter runs one ahead of the clock under bursts and snaps back to the clock when it is behind.
"""
from __future__ import annotations

import threading
from typing import Callable


class NonceManager:
    """Hands out nonces that are unique and strictly increasing across threads (one per signer)."""

    __slots__ = ("_clock_ms", "_last", "_lock")

    def __init__(self, clock_ms: Callable[[], int], start_after: int = 0) -> None:
        """``clock_ms`` returns epoch milliseconds; ``start_after`` is the highest nonce already used, if known."""
        self._clock_ms = clock_ms
        self._last = int(start_after)
        self._lock = threading.Lock()

    def next(self) -> int:
        """The next nonce: the clock's ms, or one above the last nonce when the clock has not moved past it."""
        with self._lock:
            now = int(self._clock_ms())
            nonce = now if now > self._last else self._last + 1
            self._last = nonce
            return nonce

    @property
    def last(self) -> int:
        """The most recent nonce handed out (``start_after`` before the first call)."""
        return self._last
