"""The test run works in a temporary folder of its own (tests/conftest.py), its lock folder in it, so two runs on one
host do not meet at the agent's run lock or nonce file (which live in the user's lock folder, ``run_lock.lock_dir``)."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from agent.run_lock import lock_path


def test_the_run_lock_and_tmp_path_are_in_this_runs_own_folder(tmp_path, request):
    """Under pytest-xdist (README's ``-n auto``) each worker is a process of its own, its folder made in the one of
    the run's main process (whose TMPDIR it inherits), which holds pytest's ``tmp_path`` folders: the workers' lock
    folders apart (a test's latches are removed at its end: a shared folder would lose another worker's mid-test),
    the whole run's files in one folder, kept or removed with it."""
    own = Path(os.environ["TMPDIR"])
    assert own.name.startswith("agent-tests-") and own.is_dir()
    assert Path(tempfile.gettempdir()) == own
    assert lock_path("http://127.0.0.1:1", "0xabc", "BTC").parent == own / "locks"
    run = own.parent if hasattr(request.config, "workerinput") else own
    assert run.name.startswith("agent-tests-")
    assert run in tmp_path.parents


def test_the_commands_a_test_starts_share_the_folder():
    seen = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert seen == os.environ["TMPDIR"] == tempfile.gettempdir()


def test_a_run_started_with_sigint_or_sighup_ignored_gives_its_commands_the_default_back(tmp_path):
    """A test run started in a script's background (SIGINT ignored) or under nohup (SIGHUP ignored) passed the signal
    on ignored to the commands its tests start, and the tests that end one with it waited out their timeouts
    (conftest.pytest_configure): here a run started so, whose one test's command reports its signals."""
    import signal

    test = tmp_path / "test_child_signals.py"
    test.write_text("import signal, subprocess, sys\n"
                    "def test_child():\n"
                    "    code = ('import signal; print(signal.getsignal(2) is signal.SIG_IGN, '\n"
                    "            'signal.getsignal(1) is signal.SIG_DFL)')\n"
                    "    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True).stdout\n"
                    "    assert out.split() == ['False', 'True'], out\n")

    def ignored() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    conftest = Path(__file__).with_name("conftest.py")
    (tmp_path / "conftest.py").write_text(conftest.read_text())
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
                         capture_output=True, text=True, preexec_fn=ignored, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
