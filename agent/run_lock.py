"""One live agent per venue, account and coin on a host.

Two agents quoting one coin for one account cancel each other's orders (each sees the other's as orders it
did not place) and skew on each other's fills: a second terminal, or a service restarted while the first
process still drains, is all it takes. The lock is an advisory ``flock`` on a file in the user's lock folder
(``lock_dir``), named by the venue (its URL however spelt: ``venue_key``), the account and the coin: the kernel
releases it when the process ends however it ends (kill -9 included), so a crash never leaves a stale lock behind.
The file stays after the run, on purpose: unlinking it at release races with an agent that opened it meanwhile (it
would lock the unlinked file while a third made a new one and locked that: two agents on one coin); there is one
file of a few bytes per venue, account and coin ever started, a refused start's (a mistyped coin) included.
Agents on other hosts are not seen here; the decision log's ``foreign_orders`` record and the console's warning
catch them.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

try:
    import fcntl
except ImportError:  # not POSIX: no lock (the warning on foreign orders still stands)
    fcntl = None


class RunLocked(Exception):
    """Another process on this host holds the lock; the message names it."""


class LockUnusable(RunLocked):
    """The lock file cannot be made or opened (its folder not writable): the run is refused, as one unlocked is what
    the lock is there to prevent. The message names the file, what the system said, and ``LOCK_DIR_ENV``."""


# moves the lock folder (``lock_dir``): a test run's own, so that two test runs on one host do not meet; or a folder
# several users' agents share. Every agent on the host must see the same value.
LOCK_DIR_ENV = "HL_AGENT_LOCK_DIR"


def lock_dir() -> Path:
    """The folder of the run locks and the shared nonce files (``nonces.shared_nonce_path``): ``LOCK_DIR_ENV`` when
    set, else ``~/.cache/hl-agent/locks`` of the user the process runs as (not made here: ``RunLock.acquire`` and
    the nonce counter make it).

    Where every agent of the user finds it however it was started. The temporary folder was not: ``TMPDIR`` is a
    process's own (a shell's export, tmux, a service's unit, macOS's per-session ``/var/folders/...``), and two
    agents with different ones each held a lock of their own on one account and coin. ``XDG_RUNTIME_DIR`` neither:
    a login session sets it (pam_systemd), while cron, a system service, ``sudo -u`` and containers run without it,
    and macOS has none. The home folder is read from the user database, not ``$HOME`` (which ``sudo`` may keep
    as the caller's), so it follows the user id alone, on Linux and macOS alike."""
    given = os.environ.get(LOCK_DIR_ENV)
    if given:
        return Path(given)
    return _user_home() / ".cache" / "hl-agent" / "locks"


def _user_home() -> Path:
    """The home folder of the user the process runs as, from the user database (``$HOME`` where there is none)."""
    try:
        import pwd
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):  # not POSIX, or a user id with no entry (a container's)
        return Path.home()


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
    return lock_dir() / f"hl-agent-{safe}-{key}.lock"


class RunLock:
    """Held from ``acquire`` until ``release`` or the process's end. ``RunLocked`` when another holds it."""

    def __init__(self, base_url: str, account: str, coin: str) -> None:
        self.path = lock_path(base_url, account, coin)
        self.what = (f"is trading {coin} for {account.lower()} at {base_url.rstrip('/')}: two would cancel each "
                     f"other's orders. Stop it first")
        self._fd: int | None = None
        self._in_lock_dir = True  # (made if missing; the run folder's lock is in a folder the CLI made already)

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
        lock._in_lock_dir = False
        return lock

    def acquire(self) -> None:
        if fcntl is None:
            return
        try:
            if self._in_lock_dir:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            how = (f" (set {LOCK_DIR_ENV} to a folder this user can write, the same for every agent on the host)"
                   if self._in_lock_dir else "")
            raise LockUnusable(f"cannot open the run lock {self.path}: {e.strerror or e}{how}") from None
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
