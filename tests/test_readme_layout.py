"""The README's Layout table is the map a newcomer reads the tree by: it had no row for `docs/` (where the design and
the venue's wire facts the README cites as "DESIGN §N" and "hyperliquid.md §N" live) nor for `.ci/`, and named
common's modules but not `console.py`."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _layout() -> dict[str, str]:
    table = (ROOT / "README.md").read_text().split("\n## Layout\n", 1)[1].strip().split("\n\n", 1)[0]
    rows = [re.split(r"(?<!\\)\|", line) for line in table.splitlines()[2:]]
    return {re.fullmatch(r"\s*`([^`]+)/`\s*", r[1]).group(1): r[2] for r in rows}


def test_the_layout_table_has_a_row_for_every_folder_of_the_tree():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked folders are unknown")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders = {line.split("/", 1)[0] for line in tracked.splitlines() if "/" in line}
    assert set(_layout()) == folders


def test_the_layout_names_every_module_of_common():
    row = _layout()["common"]
    modules = {p.stem for p in (ROOT / "common").glob("*.py")} - {"__init__"}
    # (named by the file, or by what it holds: the row is prose)
    words = {"files": "files.py", "json_text": "JSON text", "units": "units", "stop_signals": "stop signals",
             "bounded_loop": "an event loop whose shutdown is bounded",
             "cli_errors": "command-line errors", "console": "a console", "message": "@message",
             "margin_tiers": "margin tiers"}
    assert modules == set(words)
    assert [m for m, w in words.items() if w not in row] == []
