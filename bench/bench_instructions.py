"""The agent core's machine instructions over a session's events, at two trees: the count bench_bytecodes' bytecodes
stand in for, where a cut's bytecodes and its instructions can move apart (a chain of C iterators runs fewer bytecodes
and more instructions: the arrival fit's sums via map and reduce took 1.8 times the instructions of its loop).

A session of one profile (bench_agent's PROFILES) is run once, its events recorded (pickled, under --work); then, for
each tree, they are replayed into fresh cores under ``valgrind --tool=cachegrind --cache-sim=no`` (PYTHONHASHSEED=0,
OPENBLAS_NUM_THREADS=1, ``setarch -R``: the same count run to run), once with one core and once with three: the
difference, halved, is one replay's instructions without the interpreter's start and the imports, the garbage
collector off (on, its passes moved a count by more than a small cut saves: ``replay``). Each replay also
gives a digest of the commands the core sent: two trees that decide alike give the same one (decisions_hash checks
the whole session; this only that the replays compared did the same work). The events are gateway events: both
trees must read them alike (a change to agent/gateway/events.py between them is not measured here).

``--session``: instead, the whole session's instructions, the core's and what runs outside it (the twin, SimPy, the
gateway, the driver, the messages), where a replay counts the core's alone: the session of ``--minutes`` run in each
tree under cachegrind, less the same session run for its first second (the interpreter's start, the imports, the
session's build and the interpreter's end), the collector off as in a replay; each run gives a digest of the exchange's
and the gateway's counters, alike when both trees' sessions went the same way. Addresses move its count as a replay's
(some +-2 M of a stress session's 1,000 M over 3 minutes: a cut of less than some 0.2% is not seen).

Run: python bench/bench_instructions.py --base REV [--head DIR] [--minutes 5] [--profile stress] [--work DIR]
     [--session]
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_REPLAYS = (1, 3)  # cores replayed per run: the difference of the two runs is (3 - 1) replays


def record(minutes: float, profile: str, out: Path) -> int:
    """Run a session of ``profile`` for ``minutes``, its events pickled to ``out`` with what a core is made of."""
    from bench_agent import profile_session, recorded_events

    cfg, params = profile_session(profile)
    events, inst = recorded_events(cfg, params, minutes)
    with open(out, "wb") as f:
        pickle.dump((profile, inst.tick, inst.sz_decimals, events), f)
    return len(events)


def replay(path: Path, cores: int) -> str:
    """Replay the recorded events into ``cores`` fresh cores, one after another; the last one's commands' digest."""
    import numpy as np

    from agent.core import AgentCore
    from bench_agent import profile_session

    with open(path, "rb") as f:
        profile, tick, sz_decimals, events = pickle.load(f)
    cfg, _ = profile_session(profile)
    # the garbage collector off: on, its passes fall where the allocations since the interpreter started put them,
    # and any change to a module moves that. A function added to agent/safety/overlay.py and never called moved the
    # default profile's count by +166k instructions (of 848 M) with it on, +59k with it off; a cut that saved 1.66 M
    # with it off read +0.76 M with it on. (The collector's own cost is bench_agent's to show: its replays with the
    # collector on and off.) Off, the same unused function still moved the stress profile's count by +1.13 M of 977 M
    # (addresses, which order the hash tables of objects, move with any change): a cut worth less than some 0.2% is
    # shown by its own function run in a loop under cachegrind, base against head.
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        digest = ""
        for _ in range(cores):
            core = AgentCore(cfg, np.random.default_rng(0), tick=tick, sz_decimals=sz_decimals)
            h = hashlib.sha256()
            handle = core.handle
            discard = core.discard_records
            for ev in events:
                out = handle(ev)
                discard()
                if out:
                    h.update(repr(out).encode())
            digest = h.hexdigest()[:32]  # (half the digest: 64 hex digits are a key's form, which print_out hides)
    finally:
        if was:
            gc.enable()
    return digest


def run_session(profile: str, minutes: float) -> str:
    """(--session's measured run) A session of ``profile`` for ``minutes`` (seed 1, as recorded_events'), the
    collector off (replay says why); a digest of the exchange's and the gateway's counters at its end."""
    from agent.session import build_session
    from bench_agent import profile_session

    cfg, params = profile_session(profile)
    ex, gw, _, driver = build_session(cfg, 1, params)
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        driver.start()
        ex.env.run(until=minutes * 60.0)
    finally:
        if was:
            gc.enable()
    return hashlib.sha256(repr((sorted(ex.counters.items()), sorted(gw.counters.items()))).encode()).hexdigest()[:32]


def instructions(tree: Path, events: Path, cores: int) -> tuple[int, str]:
    """(instructions, digest) of one run replaying ``events`` into ``cores`` cores, with ``tree`` on PYTHONPATH."""
    return _under_valgrind(tree, ["--replay", str(events), "--cores", str(cores)], "the replay")


def session_instructions(tree: Path, profile: str, minutes: float) -> tuple[int, str]:
    """(instructions, digest) of one run of a session (run_session), with ``tree`` on PYTHONPATH."""
    return _under_valgrind(tree, ["--run-session", str(minutes), "--profile", profile], "the session")


def _under_valgrind(tree: Path, args: list[str], what: str) -> tuple[int, str]:
    """(instructions, what it printed) of this script run with ``args`` under cachegrind, ``tree`` on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'bench'}", PYTHONHASHSEED="0",
               OPENBLAS_NUM_THREADS="1")
    cmd = ["setarch", "-R", "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, str(Path(__file__).resolve()), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    m = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or m is None:
        sys.exit(f"bench_instructions: {what} under valgrind failed in {tree}:\n{done.stderr[-2000:]}")
    return int(m.group(1).replace(",", "")), done.stdout.strip()


def _tree(base: str, work: Path) -> tuple[Path, bool]:
    """The base's tree, and whether this made it (a worktree of ``base``, removed at the end)."""
    if Path(base).is_dir():
        return Path(base).resolve(), False
    tree = work / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), base], check=True,
                   capture_output=True)
    return tree, True


def main() -> None:
    if "--replay" in sys.argv or "--run-session" in sys.argv:
        # a measured run: this tree's packages (PYTHONPATH) before the script's own folder, which Python puts first
        sys.path[:0] = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    from bench_agent import check_recording, session_options
    from common.cli_errors import fail, print_out
    from common.files import ArgumentParser, make_output_folder

    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    session_options(ap, 5.0)
    ap.add_argument("--base", help="the base: a git revision (checked out as a worktree under --work, removed at the "
                                   "end) or a directory holding a tree; required but with --replay")
    ap.add_argument("--head", default=str(ROOT), help="the tree measured against the base (default: this one)")
    ap.add_argument("--work", help="folder for the recorded events and the base's worktree (default: a temporary "
                                   "folder, removed at the end)")
    ap.add_argument("--replay", help="(the measured run, under valgrind) replay the events pickled in this file and "
                                     "print the commands' digest")
    ap.add_argument("--cores", type=int, default=1, help="(with --replay) fresh cores to replay into (default 1)")
    ap.add_argument("--session", action="store_true", help="instead, the whole session's instructions (the twin, "
                    "SimPy, the gateway, the driver and the core), less its first second's")
    ap.add_argument("--run-session", type=float, help="(the measured run of --session, under valgrind) run a session "
                                                      "of this many minutes and print its counters' digest")
    args = ap.parse_args()
    if args.replay:
        check_recording(args.replay)
        print_out(replay(Path(args.replay), args.cores))
        return
    if args.run_session is not None:
        print_out(run_session(args.profile, args.run_session))
        return
    if not args.base:
        ap.error("--base is required (a git revision or a tree's directory)")
    # (each checked before the recording: a revision git does not know was git's traceback after it, its temporary
    # folder left; a --work that is a file a FileExistsError's; a --head that is no folder met only under valgrind)
    if not Path(args.base).is_dir():
        known = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", args.base + "^{commit}"],
                               capture_output=True)
        if known.returncode != 0:
            sys.exit(fail(f"--base {args.base}: neither a folder nor a revision git can check out"))
    if not Path(args.head).is_dir():
        sys.exit(fail(f"--head {args.head}: not a folder: give a tree's path"))
    if shutil.which("valgrind") is None or shutil.which("setarch") is None:
        sys.exit("bench_instructions: needs valgrind and setarch (apt-get install valgrind util-linux)")
    if args.work:
        try:
            work = make_output_folder(args.work, "--work")
        except ValueError as e:
            sys.exit(fail(str(e)))
    else:
        work = Path(tempfile.mkdtemp(prefix="bench_instructions."))
    if args.session:
        base, made = _tree(args.base, work)
        try:
            compare_sessions(base, Path(args.head).resolve(), args.profile, args.minutes)
        finally:
            _clean_up(base, made, work, args.work)
        return
    events = work / f"events-{args.profile}.pickle"
    n = record(args.minutes, args.profile, events)
    base, made = _tree(args.base, work)
    try:
        counts = {}
        for name, tree in (("base", base), ("head", Path(args.head).resolve())):
            (lo, d_lo), (hi, d_hi) = (instructions(tree, events, k) for k in _REPLAYS)
            if d_lo != d_hi:
                sys.exit(f"bench_instructions: {name}'s replays sent different commands ({d_lo} vs {d_hi})")
            counts[name] = ((hi - lo) // (_REPLAYS[1] - _REPLAYS[0]), d_lo)
            print_out(f"{name}: {tree}: {counts[name][0]:,} instructions a replay of {n} events "
                      f"({counts[name][0] / n:,.0f} an event), commands {d_lo[:16]}")
        (b, db), (h, dh) = counts["base"], counts["head"]
        print_out(f"head/base {h / b:.4f} ({h - b:+,} instructions, {(h - b) / n:+,.1f} an event)"
                  + ("" if db == dh else "; THE COMMANDS DIFFER"))
    finally:
        _clean_up(base, made, work, args.work)


_SESSION_START_MINUTES = 1 / 60  # the short session --session subtracts: the start, the imports, the build, the end


def compare_sessions(base: Path, head: Path, profile: str, minutes: float) -> None:
    """--session: each tree's session of ``minutes`` less its first second, and head/base."""
    from common.cli_errors import print_out

    counts = {}
    for name, tree in (("base", base), ("head", head)):
        (lo, _), (hi, digest) = (session_instructions(tree, profile, m) for m in (_SESSION_START_MINUTES, minutes))
        counts[name] = (hi - lo, digest)
        print_out(f"{name}: {tree}: {hi - lo:,} instructions a session of {minutes:g} minutes ({profile}) less its "
                  f"first second, counters {digest[:16]}")
    (b, db), (h, dh) = counts["base"], counts["head"]
    print_out(f"head/base {h / b:.4f} ({h - b:+,} instructions)" + ("" if db == dh else "; THE SESSIONS DIFFER"))


def _clean_up(base: Path, made: bool, work: Path, kept: str | None) -> None:
    """The base's worktree removed if this made it, and the work folder unless it was given."""
    if made:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    if not kept:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
