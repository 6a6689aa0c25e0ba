"""One live agent per venue, account and coin on a host.

Two agents quoting one coin for one account cancel each other's orders (each sees the other's as orders it
did not place) and skew on each other's fills: a second terminal, or a service restarted while the first
process still drains, is all it takes. The lock is an advisory ``flock`` on a file in the temporary
directory, named by the venue (its URL however spelt: ``venue_key``), the account and the coin: the kernel releases it when the process
ends however it ends (kill -9 included), so a crash never leaves a stale lock behind. Agents on other hosts
are not seen here; the decision log's ``foreign_orders`` record and the console's warning catch them.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

try:
    import fcntl
except ImportError:  # not POSIX: no lock (the warning on foreign orders still stands)
    fcntl = None


class RunLocked(Exception):
    """Another process on this host holds the lock; the message names it."""


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def venue_key(base_url: str) -> str:
    """The venue a URL names, however it is spelt: scheme and host in lower case, the scheme's default port
    dropped, localhost, 127.0.0.1 and ::1 as one loopback, no trailing slash. Keyed on the raw text, the lock
    let ``http://localhost:3001`` and ``http://127.0.0.1:3001`` run side by side on one account and coin."""
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a port that is not a number: the text as it is (nothing can connect to it anyway)
        return base_url.strip().rstrip("/").lower()
    host = "loopback" if host in _LOOPBACK else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


def lock_path(base_url: str, account: str, coin: str) -> Path:
    key = hashlib.sha256(f"{venue_key(base_url)}|{account.lower()}|{coin}".encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9]+", "-", coin)
    return Path(tempfile.gettempdir()) / f"hl-agent-{safe}-{key}.lock"


class RunLock:
    """Held from ``acquire`` until ``release`` or the process's end. ``RunLocked`` when another holds it."""

    def __init__(self, base_url: str, account: str, coin: str) -> None:
        self.path = lock_path(base_url, account, coin)
        self.what = (f"is trading {coin} for {account.lower()} at {base_url.rstrip('/')}: two would cancel each "
                     f"other's orders. Stop it first")
        self._fd: int | None = None

    @classmethod
    def for_folder(cls, folder: Path) -> "RunLock":
        """The lock of a live run's folder (``--out``): two runs writing one folder, on other accounts or coins
        (so the venue lock let both run), interleaved their records in one log and each replaced the other's
        summary and state (its last nonce with them). A file in the folder, as the folder is the thing shared."""
        lock = cls.__new__(cls)
        lock.path = Path(folder) / ".run.lock"
        lock.what = (f"is writing its run to {folder}: two runs' records would be mixed in one log. Stop it first, "
                     f"or give this run another --out")
        lock._fd = None
        return lock

    def acquire(self) -> None:
        if fcntl is None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunLocked(f"another agent on this host (pid {holder}) {self.what} (lock file {self.path})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
