"""The tools' output read by a reader that stops listening (``| head``): no traceback, the work and its exit status
as they would have been."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("tool", ["twin run", "scenarios check", "scenarios run", "search"])
def test_a_tool_whose_reader_stopped_listening_ends_as_it_would_have(tmp_path, tool):
    """The reader's end of the pipe is closed before the tool writes a line, as ``| head -1`` does once it has its
    line: each write then fails. It ended ``scenarios run`` on a BrokenPipeError traceback with exit status 1, which
    says an invariant broke, and a search before its results.json when the table's write failed."""
    scenario = str(ROOT / "scenarios" / "ws_outage_during_move.yaml")
    args = {"twin run": ["twin", "run", "--duration", "60", "--quiet", "--json"],
            "scenarios check": ["scenarios", "check", scenario],
            "scenarios run": ["scenarios", "run", scenario, "--no-progress", "--out", str(tmp_path / "run")],
            "search": ["search", "--trials", "1", "--seeds", "1", "--episode", "60", "--step", "60", "--workers", "1",
                       "--quiet", "--out", str(tmp_path / "search")]}[tool]
    p = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdout.close()  # (the tool is still importing: every line it writes finds no reader)
    err = p.stderr.read()
    assert p.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    if tool == "search":
        assert (tmp_path / "search" / "results.json").exists()
