"""Test-wide settings: under CI, hypothesis draws the same examples every run (no flaky landings);
locally it explores new ones each run and remembers failures in .hypothesis/. Neither profile times an example
against a deadline (hypothesis's default, 200 ms of wall time): any of the 64 tests that kept it could fail a local
run while the host was busy, which CI, with none, never saw (test_ladder did: "Unreliable test timings", an example
took 300 ms, then 0.06 ms run again)."""
import os
import signal

# One BLAS thread, unless the caller set it: the suite's linear algebra is small (L-BFGS-B's steps, products up to
# 162 x 161), where OpenBLAS's worker threads spin waiting for work. On a 2-core host the censored outages' fits took
# 2.4 times the CPU seconds (and the wall time) with its default threads, for the same numbers. Set here, before
# numpy is first imported, for this process and every command a test starts.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("local", deadline=None, print_blob=True)  # (the blob: a random failure made an @example)
settings.load_profile("ci" if os.environ.get("CI") else "local")


def _own_temp_folder() -> str:
    """This run's own temporary folder, made the process's (``TMPDIR``, so the commands the tests start inherit it),
    and its lock folder (``run_lock.LOCK_DIR_ENV``, inherited alike).

    The agent keeps its run locks and its nonce files in the user's lock folder (``run_lock.lock_dir``), as one
    host's agents must share them. Two test runs on one host (a fresh clone checked beside a working copy) shared
    them too: one run's agents found the other's holding the lock ("is trading BTC") and three run-lock tests
    failed; and a test run must not leave files in the user's own. pytest's own ``tmp_path`` folders are made under
    the temporary folder as well. Under pytest-xdist each worker, a process of its own, imports this file too and
    makes its folder inside the main process's (whose TMPDIR it inherits, and where pytest-xdist puts every
    ``tmp_path``): the workers' lock folders apart (``_no_kill_latch_left`` empties its own at each test's end), the
    run's files in one folder, which the main process keeps, or removes, whole."""
    import tempfile

    from agent.run_lock import LOCK_DIR_ENV

    folder = tempfile.mkdtemp(prefix="agent-tests-")
    os.environ["TMPDIR"] = folder
    os.environ[LOCK_DIR_ENV] = os.path.join(folder, "locks")
    tempfile.tempdir = None  # read TMPDIR again at the next gettempdir
    return folder


RUN_TEMP = _own_temp_folder()


@pytest.fixture(autouse=True)
def _no_kill_latch_left():
    """A live run a test drives to a Kill latches its venue, account and coin (``agent.kill_latch``) in the run's
    lock folder, shared by every test: a later test whose ``twin serve`` got the same loopback port (the tests share
    one key) was refused as latched. Each test's latches are removed when it ends."""
    yield
    from agent.run_lock import lock_dir
    for latch in lock_dir().glob("*.killed.json"):
        latch.unlink(missing_ok=True)


def _hangup_ignored(signum, frame) -> None:
    """SIGHUP under ``nohup``, SIGINT in a script's background, for the test run itself: nothing, as was asked."""


@pytest.fixture(scope="module")
def ctrl_c_raises():
    """SIGINT a KeyboardInterrupt for a module whose tests raise it in-process (``signal.raise_signal``,
    ``SignalAtCall``) and expect Ctrl-C's: in a run started in a script's background, SIGINT's handler is
    ``_hangup_ignored`` (pytest_configure, below), and those tests failed there (six of them: "DID NOT RAISE
    KeyboardInterrupt"), passing in a terminal. Python's own handler for the module's tests, ``_hangup_ignored`` put
    back after them. Module-scoped: hypothesis tests take it too."""
    before = signal.getsignal(signal.SIGINT)
    if before is _hangup_ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if before is _hangup_ignored:
        signal.signal(signal.SIGINT, before)


def pytest_configure(config) -> None:
    """A run under ``nohup`` starts with SIGHUP ignored, and an ignored signal stays ignored across ``exec``: every
    command a test started then ignored it too (the tools keep a signal ignored at their start, as asked), and each
    test that ends one with SIGHUP waited out its timeout and failed. A run started in the background of a script (a
    shell without job control: ``pytest &``, a CI step's) starts with SIGINT ignored alike: the tests that end a
    command with SIGINT (Ctrl-C) waited out their 30 s. A handler that does nothing keeps the run as immune, and
    ``exec`` gives each command the default back."""
    import signal

    for name in ("SIGHUP", "SIGINT"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_IGN:
            signal.signal(signum, _hangup_ignored)


class SignalAtCall:
    """Raises ``signum`` in the process (its handler runs at once, there) the ``n``th time ``at`` is called: a
    signal landing at an exact point of a run, which one sent from outside could not be timed to."""

    def __init__(self, signum: int, n: int) -> None:
        self.signum = signum
        self.n = n
        self.calls = 0

    def at(self) -> None:
        self.calls += 1
        if self.calls == self.n:
            signal.raise_signal(self.signum)


@pytest.fixture(scope="session")
def signal_at_call() -> type[SignalAtCall]:
    """``signal_at_call(signum, n)``: a SignalAtCall (session-scoped: hypothesis tests take it too)."""
    return SignalAtCall


@pytest.fixture
def billion_laughs() -> str:
    """Nine lines of YAML whose last key, ``i``, is 9**9 'lol's through aliases (lists shared, not copied): a file
    any loader reads at once, and any code that walks its value whole hangs on."""
    return "".join(f"{a}: &{a} [{', '.join([f'*{p}' if p else repr('lol')] * 9)}]\n"
                   for p, a in zip(["", *"abcdefgh"], "abcdefghi"))


@pytest.fixture
def run_capped():
    """``run_capped(args, env=None)``: ``python -m *args`` in a subprocess whose address space is capped at 1 GB, so
    a program that reads or builds without bound fails its test rather than the machine. numpy's BLAS is held to one
    thread: each thread reserves address space at import, and on a host of many cores that alone passes the cap."""
    import resource
    import subprocess
    import sys

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    def run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
        env = {**(os.environ if env is None else env), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}
        return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120,
                              preexec_fn=cap, env=env)
    return run


@pytest.fixture
def disk_with(monkeypatch):
    """``disk_with(free_bytes)``: the run folder's files (the decision log, the JSON files, anything written through
    ``agent.audit.records``) on a disk with ``free_bytes`` left: a write past them fails as a full disk's does, ENOSPC
    with no file name (the system names none for a write)."""
    import builtins
    import errno

    import agent.audit.records as records

    def fill(free_bytes: int) -> None:
        free = [free_bytes]

        class Full:
            def __init__(self, fh):
                self._fh = fh

            def write(self, text):
                if len(text) > free[0]:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                free[0] -= len(text)
                return self._fh.write(text)

            def __getattr__(self, name):
                return getattr(self._fh, name)

            def __iter__(self):  # (a log or journal read line by line)
                return iter(self._fh)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._fh.close()

        monkeypatch.setattr(records, "open", lambda *a, **k: Full(builtins.open(*a, **k)), raising=False)
    return fill


@pytest.fixture
def signalled_once_started():
    """``signalled_once_started(args, started, sig=SIGTERM, env=None)``: ``python -m *args`` in a subprocess (in
    ``env``, or this process's environment), ``sig`` sent once ``started(proc, err)`` says its work is under way
    (``err``: its stderr so far, a progress bar's first output say), then its exit status, stdout and whole stderr
    (text) once it has ended. The test fails, naming what the process said, if it ends or takes 30 s before it
    starts; it is killed if it outlives the test."""
    import select
    import signal
    import subprocess
    import sys
    import time

    def run(args: list[str], started, sig: int = signal.SIGTERM, env: dict | None = None) -> tuple[int, bytes, str]:
        proc = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        err = b""
        try:
            deadline = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < deadline and not started(proc, err):
                if select.select([proc.stderr], [], [], 0.02)[0]:
                    err += proc.stderr.read1()
            assert proc.poll() is None and started(proc, err), f"it never started: {err.decode()}"
            proc.send_signal(sig)
            stdout, rest = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return proc.returncode, stdout, (err + rest).decode()
    return run


@pytest.fixture
def signalled_inside():
    """``signalled_inside("pkg.mod:name", argv, main="pkg.mod:main")``: in a subprocess, ``name`` (a function of
    ``pkg.mod``, or ``Class.method``) wrapped to send the process SIGTERM as it is called, before it runs; then
    ``main()`` with ``sys.argv`` = ``argv``, as the command line runs it (its own signal handling installed); the
    completed process, text. The signal lands in the stretch a test is about (a summary printed, files written) and
    nowhere else, which a signal sent from outside could not be timed to do. ``at_once``: first
    ``exit_at_once(at_once)``, as the command line's first lines do (its signals end it at once until ``begun``)."""
    import subprocess
    import sys

    def run(target: str, argv: list[str], main: str | None = None,
            at_once: str | None = None) -> subprocess.CompletedProcess:
        module, _, name = target.partition(":")
        owner, _, attr = name.rpartition(".")
        first = "" if at_once is None else f"from common.stop_signals import exit_at_once; exit_at_once({at_once!r})\n"
        code = (first + f"import importlib, os, signal, sys\n"
                f"module = importlib.import_module({module!r})\n"
                f"owner = getattr(module, {owner!r}) if {owner!r} else module\n"
                f"inner = getattr(owner, {attr!r})\n"
                f"def signalled(*a, **k):\n"
                f"    os.kill(os.getpid(), signal.SIGTERM)\n"
                f"    return inner(*a, **k)\n"
                f"setattr(owner, {attr!r}, signalled)\n"
                f"sys.argv = {argv!r}\n"
                f"where, _, entry = {(main or module + ':main')!r}.partition(':')\n"
                f"sys.exit(getattr(importlib.import_module(where), entry)())\n")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return run


def pytest_sessionfinish(session, exitstatus) -> None:
    """This run's temporary folder goes when the run passes; a failed run's stays for a look (its path printed),
    unless there is nothing in it."""
    import shutil

    if exitstatus == 0:
        shutil.rmtree(RUN_TEMP, ignore_errors=True)
    else:
        try:
            os.rmdir(RUN_TEMP)  # (only if empty)
        except OSError:
            pass


def pytest_terminal_summary(terminalreporter, exitstatus) -> None:
    if exitstatus != 0 and os.path.isdir(RUN_TEMP):
        terminalreporter.write_line(f"this run's temporary files are kept in {RUN_TEMP}")
