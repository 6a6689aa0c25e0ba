"""Where the run lock lives: one folder per user that every agent of the host finds, however it was started."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agent.gateway.hyperliquid.nonces import NonceManager, shared_nonce_path
from agent.run_lock import LOCK_DIR_ENV, LockUnusable, RunLock, RunLocked, lock_dir, lock_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

URL, ADDR = "http://127.0.0.1:9", "0x" + "ab" * 20


def _tmpdir(monkeypatch, folder: Path) -> None:
    """This process's temporary folder moved, as another shell's TMPDIR would have it."""
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again


def test_two_agents_with_different_tmpdirs_meet_at_one_lock(tmp_path, monkeypatch):
    """The lock was a file in the temporary folder: two agents started with different TMPDIRs (two shells, tmux, a
    service's unit) each held a lock of their own on one account and coin, and cancelled each other's orders."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; from agent.run_lock import RunLock; "
                               f"RunLock({URL!r}, {ADDR!r}, 'BTC').acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, env={**os.environ, "TMPDIR": str(theirs)})
    try:
        assert holder.stdout.readline().strip() == b"held"
        _tmpdir(monkeypatch, tmp_path / "ours")
        with pytest.raises(RunLocked, match=f"another agent on this host \\(pid {holder.pid}\\) is trading BTC"):
            RunLock(URL, ADDR, "BTC").acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(URL, ADDR, "BTC"):  # released with the process
        pass


def test_the_lock_folder_is_the_users_own_whatever_tmpdir_or_home_say(tmp_path, monkeypatch):
    """Unset, ``LOCK_DIR_ENV``'s folder is ``~/.cache/hl-agent/locks`` of the user the process runs as: the home
    folder from the user database, so neither TMPDIR nor a HOME that ``sudo`` kept moves it. The nonce files
    shared between one signer's processes are kept beside the locks, for the same reason."""
    pwd = pytest.importorskip("pwd")
    monkeypatch.delenv(LOCK_DIR_ENV)
    want = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "hl-agent" / "locks"
    seen = set()
    for n, home in enumerate([tmp_path / "h1", tmp_path / "h2"]):
        _tmpdir(monkeypatch, tmp_path / f"t{n}")
        monkeypatch.setenv("HOME", str(home))
        seen.add((lock_dir(), lock_path(URL, ADDR, "BTC").parent, shared_nonce_path("http://loopback:9", ADDR).parent))
    assert seen == {(want, want, want)}
    assert not want.exists() or want.is_dir()  # (nothing made by asking where)


def test_a_lock_folder_that_cannot_be_made_refuses_the_run_naming_it(tmp_path, monkeypatch):
    """A lock folder the user cannot write (a service user without a home) is no reason to run unlocked: the run is
    refused (a RunLocked, which the live CLI says and exits 2 for), the file and the way out named."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "a-file" / "locks"))
    with pytest.raises(LockUnusable, match=f"cannot open the run lock {tmp_path / 'a-file' / 'locks'}/hl-agent-BTC-.*"
                                           f"set {LOCK_DIR_ENV} to a folder"):
        RunLock(URL, ADDR, "BTC").acquire()


def test_the_lock_folder_is_made_by_the_lock_and_by_the_nonce_counter(tmp_path, monkeypatch):
    """Neither waits for the other to make the folder: the nonce counter alone (a process signing without the CLI's
    lock) still shares its file rather than counting alone."""
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "n" / "locks"))
    nm = NonceManager(lambda: 1000, shared=shared_nonce_path("http://loopback:9", ADDR))
    assert nm.next() == 1000 and shared_nonce_path("http://loopback:9", ADDR).exists()
    nm.close()
    monkeypatch.setenv(LOCK_DIR_ENV, str(tmp_path / "l" / "locks"))
    with RunLock(URL, ADDR, "BTC") as lock:
        assert lock.path.parent == tmp_path / "l" / "locks" and (lock.path.parent.stat().st_mode & 0o777) == 0o700
