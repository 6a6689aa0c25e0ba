"""A session's decisions as two sha256 digests, to check that a change to the core's code changed none of them: every
command the core sent, in order, with its send time, and every record it wrote. A twin session of one of bench_agent's
profiles (the agent starting at Full: it places orders from the first snapshot), seed 1. Run at two versions (one
as a git worktree, ``PYTHONPATH=that/tree python bench/decisions_hash.py``) and compare the lines.

Run: python bench/decisions_hash.py [--minutes 10] [--profile stress]
"""
from __future__ import annotations

import argparse
import hashlib
import json

from agent.session import build_session
from bench_agent import profile_session, session_options
from common.files import ArgumentParser


class _Timed(list):
    """The driver's command log, each command with the simulated time it was sent at."""

    env = None

    def append(self, cmd) -> None:
        list.append(self, (self.env.now, cmd))


def digests(minutes: float, profile: str) -> tuple[int, str, int, str]:
    """(commands, their digest, records, theirs)."""
    cfg, params = profile_session(profile)
    cmds = _Timed()
    recs = hashlib.sha256()
    n_recs = 0

    def sink(rec: dict) -> None:
        nonlocal n_recs
        n_recs += 1
        recs.update(json.dumps(rec, sort_keys=True, default=repr).encode())

    ex, _, _, driver = build_session(cfg, 1, params, command_log=cmds, record_sink=sink)
    cmds.env = ex.env
    driver.start()
    ex.env.run(until=minutes * 60.0)
    h = hashlib.sha256()
    for c in cmds:
        h.update(repr(c).encode())
    return len(cmds), h.hexdigest(), n_recs, recs.hexdigest()


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    session_options(ap, 10.0)
    args = ap.parse_args()
    n_cmds, h_cmds, n_recs, h_recs = digests(args.minutes, args.profile)
    print(f"{args.profile} {args.minutes:g} min: commands {n_cmds} {h_cmds} records {n_recs} {h_recs}")


if __name__ == "__main__":
    main()
