"""The test run works in a temporary folder of its own (tests/conftest.py), its lock folder in it, so two runs on one
host do not meet at the agent's run lock or nonce file (which live in the user's lock folder, ``run_lock.lock_dir``)."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from agent.run_lock import lock_path


def test_the_run_lock_and_tmp_path_are_in_this_runs_own_folder(tmp_path):
    own = Path(os.environ["TMPDIR"])
    assert own.name.startswith("agent-tests-") and own.is_dir()
    assert Path(tempfile.gettempdir()) == own
    assert lock_path("http://127.0.0.1:1", "0xabc", "BTC").parent == own / "locks"
    assert own in tmp_path.parents


def test_the_commands_a_test_starts_share_the_folder():
    seen = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert seen == os.environ["TMPDIR"] == tempfile.gettempdir()
