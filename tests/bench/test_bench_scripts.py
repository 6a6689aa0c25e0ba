"""The bench scripts' command lines: bad options are refused as every command here refuses them (exit 2, the
option and the value named, no traceback), before any of the seconds of measuring."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=120)


def test_bench_scenarios_only_a_name_no_scenario_has_exits_2_naming_it():
    done = _run("bench_scenarios.py", "--only", "nope")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: --only: no scenario named 'nope' in " in done.stderr and "feb16_cold_start" in done.stderr
    assert done.stdout == ""  # refused before the baseline is measured


def test_bench_day_a_negative_seed_exits_2_naming_it():
    done = _run("bench_day.py", "--seed", "-1", "--hours", "1", "--quiet")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: argument --seed: expected a non-negative integer, got '-1'" in done.stderr
