"""Nonces for signed actions: strictly increasing milliseconds, one counter per signer (hyperliquid.md §3.3).

The venue refuses a reused nonce, so two actions in the same millisecond must not share one; the
counter runs one ahead of the clock under bursts and snaps back to the clock when it is behind.

The venue keeps one nonce set per signer, not per process: two agents on one host signing with one key (two
coins of one account) refused each other's actions as duplicate nonces whenever both signed in the same
millisecond. So the counter is shared between the processes of a host that sign for one venue with one key,
through a small file under a lock (``shared``): the venue's own advice, an atomic per-signer counter.
"""
from __future__ import annotations

import hashlib
import os
import threading
import weakref
from pathlib import Path
from typing import Callable

from agent.run_lock import lock_dir

try:
    import fcntl
except ImportError:  # not POSIX: each process counts alone (as before)
    fcntl = None

# another process's nonce further ahead of this clock than this is on another time base (a twin started at another
# epoch, say), not a collision risk: ignored. No burst of real actions runs ten minutes ahead of the clock.
SHARED_AHEAD_MS = 600_000
_WIDTH = 20  # digits of a nonce in the shared file (a uint64 is at most 20)


def shared_nonce_path(venue: str, signer: str) -> Path:
    """The file a host's processes signing for ``venue`` (a ``run_lock.venue_key``) with ``signer`` share, beside the
    run locks (``run_lock.lock_dir``: not the temporary folder, which ``TMPDIR`` moves per process)."""
    key = hashlib.sha256(f"{venue}|{signer.lower()}".encode()).hexdigest()[:16]
    return lock_dir() / f"hl-nonce-{key}"


class NonceManager:
    """Hands out nonces that are unique and strictly increasing across threads (one per signer), and across the
    host's processes that share ``shared``."""

    __slots__ = ("_clock_ms", "_last", "_lock", "_fd", "_closer", "__weakref__")

    def __init__(self, clock_ms: Callable[[], int], start_after: int = 0, shared: Path | None = None) -> None:
        """``clock_ms`` returns epoch milliseconds; ``start_after`` is the highest nonce already used, if known;
        ``shared`` the file of the host's other processes signing with this key (``shared_nonce_path``)."""
        self._clock_ms = clock_ms
        self._last = int(start_after)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._closer: weakref.finalize | None = None
        if shared is not None and fcntl is not None:
            try:
                Path(shared).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._fd = os.open(shared, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # (a lock folder not writable: count alone)
                self._fd = None
            else:
                # a manager dropped without ``close`` (a gateway built and never closed: a test's, a script's) lets go
                # of the file when it goes: an open descriptor per manager ever built, 800 in one test run, else
                self._closer = weakref.finalize(self, os.close, self._fd)

    def next(self) -> int:
        """The next nonce: the clock's ms, or one above the last nonce (this process's, or another's on the
        host with the same signer) when the clock has not moved past it."""
        with self._lock:
            now = int(self._clock_ms())
            fd = self._fd
            if fd is None:
                nonce = now if now > self._last else self._last + 1
            else:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    raw = os.pread(fd, _WIDTH, 0)
                    other = int(raw) if raw.strip().isdigit() else 0
                    floor = other if self._last < other <= now + SHARED_AHEAD_MS else self._last
                    nonce = now if now > floor else floor + 1
                    os.pwrite(fd, b"%0*d" % (_WIDTH, nonce), 0)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            self._last = nonce
            return nonce

    @property
    def last(self) -> int:
        """The most recent nonce handed out (``start_after`` before the first call)."""
        return self._last

    def close(self) -> None:
        """Let go of the shared file (its nonces after this count alone)."""
        with self._lock:
            if self._closer is not None:
                self._closer()  # (closes the descriptor once, however often it is called)
            self._fd = self._closer = None
