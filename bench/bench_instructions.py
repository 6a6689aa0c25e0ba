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

Run: python bench/bench_instructions.py --base REV [--head DIR] [--minutes 5] [--profile stress] [--work DIR]
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


def instructions(tree: Path, events: Path, cores: int) -> tuple[int, str]:
    """(instructions, digest) of one run replaying ``events`` into ``cores`` cores, with ``tree`` on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'bench'}", PYTHONHASHSEED="0",
               OPENBLAS_NUM_THREADS="1")
    cmd = ["setarch", "-R", "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, str(Path(__file__).resolve()), "--replay", str(events), "--cores", str(cores)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    m = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or m is None:
        sys.exit(f"bench_instructions: the replay under valgrind failed in {tree}:\n{done.stderr[-2000:]}")
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
    if "--replay" in sys.argv:  # the measured run: this tree's packages (PYTHONPATH) before the script's own folder,
        sys.path[:0] = os.environ.get("PYTHONPATH", "").split(os.pathsep)  # which Python puts first
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
    args = ap.parse_args()
    if args.replay:
        check_recording(args.replay)
        print_out(replay(Path(args.replay), args.cores))
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
        if made:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
