"""Decision records: one per quote cycle, saying why the agent quoted what it quoted.

The core builds a ``CycleDecisionRecord`` each cycle (inputs, each adjustment in order, the
final quotes, the commands). Fills arrive later and are appended as their own lines naming the
cycle whose quote they filled, so the log stays append-only. ``JsonlWriter`` writes whole lines
with one ``write`` call and flushes at least every ``flush_every`` lines and on close, so a crash
leaves at most a torn last line, which ``read_jsonl`` skips and counts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Iterator

from agent.gateway.events import Batch, CancelOrder, ModifyOrder, PlaceOrder, Side


class CycleDecisionRecord:
    """What one quote cycle saw, changed and sent. Plain slots: built on the hot path."""

    __slots__ = ("cycle", "ts", "inputs", "adjustments", "signals", "quotes", "commands", "note")

    def __init__(self, cycle: int, ts: float) -> None:
        self.cycle = cycle
        self.ts = ts
        self.inputs: dict[str, float] = {}
        self.adjustments: list[tuple[str, float, str]] = []  # (name, value, what it moved)
        self.signals: list[tuple[str, float, float]] = []  # (name, p_up, weight): why each signal moved it
        self.quotes: list = []  # desired quotes: (side, px, sz, level, reduce_only)
        self.commands: list = []  # the commands sent (objects; described when written)
        self.note = ""

    def adjust(self, name: str, value: float, moved: str) -> None:
        self.adjustments.append((name, value, moved))

    def to_dict(self, describe=str) -> dict:
        return {"type": "cycle", "cycle": self.cycle, "ts": self.ts, "inputs": self.inputs,
                "adjustments": [list(a) for a in self.adjustments],
                "signals": [{"name": n, "p_up": p, "weight": w} for n, p, w in self.signals],
                "quotes": [["B" if q[0] > 0 else "A", q[1], q[2]] for q in self.quotes],
                "commands": [describe(c) for c in self.commands], "note": self.note}


def describe_command(c) -> str:
    """A command as the decision log shows it: ``place B 0.0002@100004.0 RO``, ``cancel 00000c``."""
    if isinstance(c, Batch):
        return "; ".join(describe_command(x) for x in c.commands)
    if isinstance(c, PlaceOrder):
        return f"place {'B' if c.side is Side.BUY else 'A'} {c.sz}@{c.px}{' RO' if c.reduce_only else ''}"
    if isinstance(c, CancelOrder):
        return f"cancel {c.cloid[-6:]}"
    if isinstance(c, ModifyOrder):
        side = "" if c.side is None else "B " if c.side is Side.BUY else "A "
        return f"modify {c.cloid[-6:]} to {side}{c.sz}@{c.px}{' RO' if c.reduce_only else ''}"
    return type(c).__name__


class JsonlWriter:
    """Append-only JSON lines; each line is written whole, then flushed every ``flush_every`` lines."""

    def __init__(self, path: str | Path, flush_every: int = 64, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = False
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
        self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8")
        if torn:  # a crash left half a line: end it, so the next record starts clean
            self._fh.write("\n")
        self.flush_every = flush_every
        self.fsync = fsync
        self._pending = 0
        self.lines = 0

    def write(self, obj: dict) -> None:
        if self._fh is None:
            raise ValueError(f"{self.path}: writer is closed")
        self._fh.write(json.dumps(obj, separators=(",", ":"), default=_jsonable) + "\n")
        self.lines += 1
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self._fh is not None and self._pending:
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
            self._pending = 0

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _jsonable(x):
    if hasattr(x, "value"):
        return x.value
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def read_jsonl(path: str | Path) -> tuple[list[dict], int]:
    """All complete records, and how many torn or malformed lines were skipped."""
    out: list[dict] = []
    bad = 0
    for line in _lines(Path(path)):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            bad += 1
    return out, bad


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield line
