"""A live Kill latches until a person clears it (DESIGN §6, Kill: "persist state"; §1, the Feb 9 incident).

A Kill pulls every order, flattens or holds and stops the agent; but a restart (an operator re-running the command,
a service manager's ``Restart=``, cron, the same command into another ``--out``) began at Green with a fresh
drawdown baseline, the account's value at its start, so each restart granted another ``safety.kill_drawdown_frac``
to lose. So a live Kill writes a latch file beside the run lock (``run_lock.lock_dir``), and a live start on that
venue, account and coin is refused (exit 2) while it is there, whatever ``--out`` it is given, until an operator
who has read the postmortem starts with ``--clear-kill``.

The latch is keyed as the run lock is (``run_lock.lock_path``: venue, account, coin), not per account: a Kill's
rules are the coin's run's (its position, its data, its cancels), the other coins' agents on the account have
ladders of their own that watch the same account's drawdown, and a Kill on one coin that stopped the others would
leave their orders and positions unattended by a Kill of theirs. At every live execution level, the dry run (2)
too: its Kill is on the real account's numbers, and a level 3 or 4 restart after it is the case this is for.
Twin, scenario and bench runs never write or read one (``agent.live_cli`` alone calls this).
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from agent.run_lock import lock_path

CLEAR_OPTION = "--clear-kill"
_FIELDS = ("killed_at", "reasons", "position", "run_folder", "postmortem")


class Latched(Exception):
    """A start refused: the account and coin are latched by a Kill, or the latch cannot be read (fail safe). The
    message says when and why, the postmortem, and how to clear it."""


def latch_path(base_url: str, account: str, coin: str) -> Path:
    """The latch file of a venue, account and coin: beside their run lock, with its name and another suffix."""
    lock = lock_path(base_url, account, coin)
    return lock.with_name(lock.stem + ".killed.json")


def latch_record(postmortem: dict, run_folder: Path | None, postmortem_file: Path | None, *, base_url: str,
                 account: str, coin: str) -> dict:
    """What the latch holds: when (UTC) and why the Kill fired, the position then, and where to read about it."""
    ts = postmortem.get("ts")
    when = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="seconds") \
        if isinstance(ts, (int, float)) and 0 <= ts < 1e11 else "unknown"
    return {"killed_at": when, "ts": ts, "reasons": [str(r) for r in postmortem.get("reasons") or []],
            "position": postmortem.get("position"), "base_url": base_url, "account": account.lower(), "coin": coin,
            "run_folder": None if run_folder is None else str(Path(run_folder).resolve()),
            "postmortem": None if postmortem_file is None else str(Path(postmortem_file).resolve())}


def write_latch(path: Path, latch: dict) -> None:
    """Written whole (a temporary file, on disk, renamed: ``write_json``); OSError when it cannot be."""
    from agent.audit.records import write_json
    write_json(path, latch, default=str)


def stage_latch(path: Path, latch: dict) -> None:
    """The latch in place at once, without waiting for the disk: written and renamed over its name (the same
    temporary file as ``write_latch``'s, so a name ``write_latch`` cannot use fails here too), not fsynced. A
    process killed outright a moment after its Kill (kill -9 at the sight of it, an OOM) keeps it, as the kernel
    still writes what it was given; only the host going down before ``write_latch``, which follows in a thread, loses
    it. OSError when it cannot be written."""
    from agent.audit.records import stage_json
    stage_json(path, latch, default=str)


def read_latch(path: Path) -> dict | None:
    """The latch at ``path``, None when there is none; ``Latched`` naming the file when it is there but cannot be
    read or is not a latch's shape (a start on it is refused all the same: the fail-safe reading)."""
    how = f"remove it after checking the account, or start with {CLEAR_OPTION}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise Latched(f"cannot read the Kill latch {path} ({getattr(e, 'strerror', None) or e}): a Kill may have "
                      f"fired on this account and coin; start refused ({how})") from None
    try:
        latch = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise Latched(f"the Kill latch {path} is not JSON ({e}): a Kill fired on this account and coin; start "
                      f"refused ({how})") from None
    if not isinstance(latch, dict) or any(k not in latch for k in _FIELDS):
        raise Latched(f"the Kill latch {path} is not a latch (expected a JSON object with {', '.join(_FIELDS)}): "
                      f"a Kill fired on this account and coin; start refused ({how})")
    return latch


def refusal_text(path: Path, latch: dict) -> str:
    """The one message of a start refused on a latch."""
    reasons = "; ".join(str(r) for r in latch["reasons"]) if isinstance(latch["reasons"], list) else latch["reasons"]
    where = latch["postmortem"] or ("none written (the run had no --out: its console log is the record)"
                                    if not latch["run_folder"] else f"none written (its run folder: "
                                                                    f"{latch['run_folder']})")
    return (f"a Kill fired on this account and coin at {latch['killed_at']} ({reasons or 'no rule named'}; position "
            f"then {latch['position']}): start refused until it is cleared. Read the postmortem: {where}. Then, "
            f"the cause understood, start again with {CLEAR_OPTION} (latch file {path})")

