"""The agent core's cost per quote cycle in bytecodes: a count the machine cannot move, to compare two versions of
the code exactly where bench_agent's timings (least CPU time over replays, on a shared machine) differ by noise.

A twin session of one profile (bench_agent's PROFILES) records its events; they are replayed into a fresh core, in a
fresh process fed them pickled in a temporary file (``--replay``), under sys.settrace with opcode events on, counting,
per event handled, the bytecodes run inside core.handle, by function. The replay runs in its own process because the
core's module-level memos (reconcile's bands, the ladder's sides and grids, lru_caches) outlive a core: replayed in
the process that recorded them, they started filled by the recording, as no run's core finds them, and a new memo
looked better than it is (a memo of the quote cycle's touch_ticks keyed on the prices, a stress minute's commanding
mean 3,769.6 so, 3,978.6 cold: tests/bench). Clearing them instead would need a list of every memo kept by hand, which
a memo added later misses without a sign; a fresh process has them all as a run starts.
Printed for the quote cycles that send commands (bench_agent's p99 tail), those that do not, their AFTER_CYCLE work
and every other event: count, mean, p50, p99, max; and, for the commanding cycles and the AFTER_CYCLE work, the
functions by bytecodes per event. ``--tail``: the same for the commanding cycles at or above their p99. ``--twin``:
instead, the session's cost outside the core, counted as it runs (in the process, no replay): the bytecodes run in
twin/, agent/gateway/, agent/drivers.py and SimPy, by area and by function (the twin's path is the agent's input, so a
change there is held to the same digests: bench/decisions_hash.py), and the code made at run time they call: the
messages' and events' ``__new__`` (common.message) and dataclasses' generated methods. The session runs through
``env.run``, twin.calls' Environment.run, whose loop is ``twin.calls.run_to_stop``: the loop
``twin.session.advance`` runs (the Quickstart's run, the scenario runner), counted as it is there.

Run: python bench/bench_bytecodes.py [--minutes 5] [--profile stress] [--tail] [--twin]
"""
from __future__ import annotations

import argparse
import collections
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from agent.core import AgentCore
from agent.gateway.events import AFTER_CYCLE, Timer
from agent.session import build_session
from bench_agent import check_recording, profile_session, recorded_events, session_options
from common.cli_errors import print_out
from common.files import ArgumentParser
from common.message import MESSAGE_CODE_PREFIX

_KINDS = ("commands", "no commands", "after cycle", "other")


def record(minutes: float, profile: str, out: Path) -> None:
    """Run a session of ``profile`` for ``minutes``, its events pickled to ``out`` with what a core is made of."""
    cfg, params = profile_session(profile)
    events, inst = recorded_events(cfg, params, minutes)
    with open(out, "wb") as f:
        pickle.dump((profile, inst.tick, inst.sz_decimals, events), f)


def count(path: Path) -> tuple[dict, dict, list]:
    """Per kind (_KINDS): each event's bytecodes, and the bytecodes by (file, function) summed over the kind's events;
    and each commanding cycle's by function (for the tail): the events pickled in ``path`` (``record``) replayed into
    a fresh core. Cold only in a process that has run no session (``main`` runs it in one)."""
    with open(path, "rb") as f:
        profile, tick, sz_decimals, events = pickle.load(f)
    cfg, _ = profile_session(profile)
    core = AgentCore(cfg, np.random.default_rng(0), tick=tick, sz_decimals=sz_decimals)
    cur: collections.Counter = collections.Counter()
    on_call = _tracer(cur)
    totals = {k: [] for k in _KINDS}
    by_fn = {k: collections.Counter() for k in _KINDS}
    per_cycle: list = []
    for ev in events:
        cur.clear()
        sys.settrace(on_call)
        out = core.handle(ev)
        sys.settrace(None)
        core.discard_records()
        kind = ("after cycle" if ev.name == AFTER_CYCLE else "commands" if out else "no commands") \
            if type(ev) is Timer else "other"
        totals[kind].append(sum(cur.values()))
        by_fn[kind].update(cur)
        if kind == "commands":
            per_cycle.append(cur.copy())
    return totals, by_fn, per_cycle


def _tracer(counts: collections.Counter, traced=None):
    """A ``sys.settrace`` function counting into ``counts`` each bytecode run, by (file, function), in the frames it
    is called for that ``traced(frame)`` accepts (every frame without it)."""
    def on_opcode(frame, event, arg):
        if event == "opcode":
            co = frame.f_code
            counts[(co.co_filename, co.co_name)] += 1
        return on_opcode

    def on_call(frame, event, arg):
        if traced is not None and not traced(frame):
            return None
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return on_opcode
    return on_call


def _area(path: str) -> str | None:
    """Which part of the session outside the core a code file is (--twin), or None for the rest. Code made at run
    time has a file name in angle brackets: a message's ``__new__`` (common.message's, ``<common.message:OrderAck>``),
    and the rest ("generated": ``<string>``, a dataclass's ``__init__`` or ``__eq__``, a NamedTuple's ``__new__``);
    both are counted only for a caller in one of the four parts (``count_outside_core``)."""
    if path.startswith(MESSAGE_CODE_PREFIX):
        return "messages"
    if path.startswith("<"):
        return "generated"
    if "/twin/" in path:
        return "twin"
    if "/agent/gateway/" in path:
        return "gateway"
    if path.endswith("/agent/drivers.py"):
        return "driver"
    if "/simpy/" in path:
        return "simpy"
    return None


_CALLERS = ("twin", "gateway", "driver", "simpy")  # the parts whose calls of made code count


def count_outside_core(minutes: float, profile: str) -> collections.Counter:
    """The bytecodes run by (file, function) in the _area's files while a session of ``profile`` runs ``minutes``:
    frames elsewhere (the core, numpy's Python parts, common/ and agent/ modules the gateway calls) are not traced,
    only their callees in those files are. Code made at run time (messages, generated) is counted when a frame of
    the twin, the gateway, the driver or SimPy calls it: the events the gateway builds for the core, not the commands
    the core builds. (Until December 2026 it was not counted at all: every message's ``__new__`` was exec's
    ``<string>``, some 0.9 M bytecodes of a stress session's 5 minutes.)"""
    cfg, params = profile_session(profile)
    ex, _, _, driver = build_session(cfg, 1, params)
    areas: dict[str, str | None] = {}
    by_fn: collections.Counter = collections.Counter()

    def area_of(path: str) -> str | None:
        return areas[path] if path in areas else areas.setdefault(path, _area(path))

    def traced(frame) -> bool:
        area = area_of(frame.f_code.co_filename)
        if area == "messages" or area == "generated":
            caller = frame.f_back
            return caller is not None and area_of(caller.f_code.co_filename) in _CALLERS
        return area is not None
    on_call = _tracer(by_fn, traced)
    driver.start()
    sys.settrace(on_call)
    ex.env.run(until=minutes * 60.0)
    sys.settrace(None)
    return by_fn


def _where(fn: tuple[str, str]) -> str:
    path, name = fn
    for root in ("agent/", "twin/", "simpy/"):
        if root in path:
            return f"{root}{path.rsplit(root, 1)[1]}:{name}"
    return f"{path}:{name}"


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    session_options(ap, 5.0)
    ap.add_argument("--top", type=int, default=25, help="functions listed per kind (default 25)")
    ap.add_argument("--tail", action="store_true", help="also the commanding cycles at or above their p99")
    ap.add_argument("--twin", action="store_true",
                    help="instead, the bytecodes run outside the core: twin, gateway, driver and SimPy, by function")
    ap.add_argument("--replay", help="(the counting run, in a fresh process) replay the events pickled in this file "
                                     "and print the counts")
    args = ap.parse_args()
    if args.twin:
        by_fn = count_outside_core(args.minutes, args.profile)
        by_area = collections.Counter()
        for (path, _), c in by_fn.items():
            by_area[_area(path)] += c
        print_out(f"outside the core, {args.minutes:g} simulated minutes ({args.profile}): "
                  f"{sum(by_area.values())} bytecodes: " + ", ".join(f"{a} {c}" for a, c in by_area.most_common()))
        for fn, c in by_fn.most_common(args.top):
            print_out(f"    {c:9d}  {_where(fn)}")
        return
    if not args.replay:
        with tempfile.TemporaryDirectory(prefix="bench_bytecodes.") as work:
            events = Path(work) / "events.pickle"
            record(args.minutes, args.profile, events)
            sys.stdout.flush()
            cmd = [sys.executable, str(Path(__file__).resolve()), "--replay", str(events), "--top", str(args.top)]
            done = subprocess.run(cmd + (["--tail"] if args.tail else []))
        sys.exit(done.returncode)
    check_recording(args.replay)
    totals, by_fn, per_cycle = count(Path(args.replay))
    for kind in _KINDS:
        t = np.array(totals[kind] or [0])
        print_out(f"{kind:12s} {len(totals[kind]):6d} events, bytecodes mean {t.mean():8.1f} "
                  f"p50 {np.percentile(t, 50):6.0f} p99 {np.percentile(t, 99):6.0f} max {t.max():6d}")
        if kind in ("commands", "after cycle"):
            for fn, c in by_fn[kind].most_common(args.top):
                print_out(f"    {c / max(1, len(totals[kind])):9.1f}  {_where(fn)}")
    if args.tail and per_cycle:
        t = np.array(totals["commands"])
        p99 = np.percentile(t, 99)
        tail = [c for c, x in zip(per_cycle, t) if x >= p99]
        agg: collections.Counter = collections.Counter()
        for c in tail:
            agg.update(c)
        print_out(f"commands at or above their p99 ({p99:.0f}): {len(tail)}")
        for fn, c in agg.most_common(args.top):
            print_out(f"    {c / len(tail):9.1f}  {_where(fn)}")


if __name__ == "__main__":
    main()
