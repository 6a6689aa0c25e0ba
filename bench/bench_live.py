"""The agent core's cost per cycle tick in the shape it trades in, as a ratio to the same ticks warm.

``bench_agent`` times the core inside a twin session: one process, a cycle after a few hundred
microseconds of the twin's work. A live agent is another shape: the venue a network away, and between
two cycles (100-500 ms) the process mostly sleeps, waiting on its sockets. This bench runs that shape
on loopback: ``python -m twin serve`` in its own process, and the agent's live CLI (execution level 4,
the profile's config) against it for ``--seconds`` of wall time, then reads the core's cost per cycle
from the run's summary (``core_cycle_us``, timed by the live driver).

The baseline, measured in the same run: the same cycles replayed from the run's event journal into
fresh cores back to back (each cycle's minimum over five replays, and one replay's p99): the same
decisions (the core is deterministic), with the caches warm. The ratio between the two is what the
deployment's idle time costs each cycle. Then the machine's part of it, measured twice. The same cycles
replayed once more, paced: a cycle period slept before each tick, in this process, with no socket, no
event loop and no server beside it: what the core's own code costs cold, the gateway's work between the
cycles taken away (on this host it came out at or above the live figure: the gap is the machine's, not
the live path's). And fixed Python code of the warm p50's length, timed right after sleeping one cycle
period against back to back: what any code loses after the sleep (on a shared virtual machine an idle
core is lent to other tenants, whose work evicts ours from the caches; a small loop loses less than the
core, whose code and data are many times larger).

A live run a Kill stopped (the live CLI's exit 5) gives no figures: the bench says so, with the run's stop reason
and the postmortem's path, and keeps the run's folder (it removes it otherwise).

Run: python bench/bench_live.py [--profile default|stress] [--seconds 60]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.audit.event_log import SHUTDOWN, decode
from agent.audit.records import log_files, log_lines
from agent.config import AgentConfig
from agent.gateway.events import AFTER_CYCLE, Timer
from agent.live import live_core_of
from agent.live_cli import live_main
from bench_agent import PROFILES, fixed_work_per_us, replay_min, timed_fixed
from common.cli_errors import print_out
from common.files import ArgumentParser
from common.units import bounded, positive_float

_REPO = Path(__file__).resolve().parent.parent


def live_run(profile: str, seconds: float, folder: Path) -> dict:
    """The live CLI against ``twin serve`` (a subprocess on a free loopback port) for ``seconds``; its
    summary. The key is made for the run and lives only in this process and the CLI's environment.

    The run's lock, nonce file and a Kill's latch go in ``folder``'s ``locks`` (removed with it), as soak_live's
    go in each seed's: in the operator's lock folder (``run_lock.lock_dir``) each bench run's fresh key and port
    left them behind, a latch that no later run matches nor clears among them."""
    with _lock_dir(folder / "locks"):
        return _live_run(profile, seconds, folder)


@contextlib.contextmanager
def _lock_dir(folder: Path):
    """``run_lock.LOCK_DIR_ENV`` set to ``folder`` while the live CLI runs in this process (it reads the lock
    folder from the environment, not from the ``env`` it is given), the caller's setting put back after."""
    from agent.run_lock import LOCK_DIR_ENV
    was = os.environ.get(LOCK_DIR_ENV)
    os.environ[LOCK_DIR_ENV] = str(folder)
    try:
        yield
    finally:
        if was is None:
            os.environ.pop(LOCK_DIR_ENV, None)
        else:
            os.environ[LOCK_DIR_ENV] = was


def _live_run(profile: str, seconds: float, folder: Path) -> dict:
    from eth_account import Account

    key = "0x" + secrets.token_hex(32)
    addr = Account.from_key(key).address
    overrides, _ = PROFILES[profile]  # the twin serves its built-in parameters (its own fault models)
    cfg = folder / "agent.json"  # JSON is YAML: the CLI's --config reads it
    cfg.write_text(json.dumps(overrides))
    serve = subprocess.Popen([sys.executable, "-u", "-m", "twin", "serve", "--port", "0", "--fund", f"{addr}=100000"],
                             cwd=_REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = serve.stdout.readline()  # "twin venue listening on http://127.0.0.1:PORT (...)"
        if "listening on " not in line:
            raise RuntimeError(f"twin serve did not start: {line!r} {serve.stderr.read()!r}")
        url = line.split("listening on ", 1)[1].split()[0]
        with contextlib.redirect_stdout(io.StringIO()):  # the CLI's own summary: the figures below are read from it
            code = live_main(["--venue", "live", "--base-url", url, "--execution-level", "4", "--start-level", "Full",
                              "--config", str(cfg), "--duration", f"{seconds:g}", "--out", str(folder / "run"),
                              "--quiet"], env={"HL_SECRET_KEY": key, "HL_ACCOUNT_ADDRESS": addr})
    finally:
        serve.terminate()
        serve.wait(10)
    ended(code, folder / "run")
    return json.loads((folder / "run" / "summary.json").read_text())


class KilledRun(RuntimeError):
    """The live run was stopped by a Kill (the live CLI's exit 5): no figure of it is a bench's."""


def ended(code: int, run: Path) -> None:
    """Raise unless the live run in ``run`` ended well (exit 0). A Kill's exit 5 says it, with its stop reason and
    postmortem: as "exit code 5" a bench user could not tell the run's figures were of a run the safety stopped."""
    if code == 5:
        postmortems = sorted(run.glob("postmortem-*.json"))
        try:
            reason = json.loads((run / "summary.json").read_text())["stop_reason"]
        except (OSError, ValueError, KeyError):
            reason = "?"
        where = ", ".join(str(f) for f in postmortems) or f"none written in {run}"
        raise KilledRun(f"the live run was stopped by a Kill (exit 5, stop_reason {reason!r}): its figures are of a "
                        f"killed run, none given; the Kill's postmortem: {where}")
    if code != 0:
        raise RuntimeError(f"the live run ended with exit code {code}")


def _journal(run: Path) -> tuple[dict, list]:
    """The run's journal: its start record, and the events its core handled, decoded (its shutdown line left out)."""
    lines = [json.loads(x) for x in log_lines(log_files(run / "events.jsonl"))]
    start = next(d for d in lines if d.get("type") == "start")
    return start, [decode(d) for d in lines if d.get("type") != "start" and d.get("e") != SHUTDOWN]


def replay_warm(run: Path) -> tuple[np.ndarray, float]:
    """Each cycle tick's wall time (µs, as the live driver times it), the minimum over five back-to-back
    replays of the run's journal into fresh cores built as the live CLI built its own; and one replay's p99."""
    start, events = _journal(run)
    cfg = AgentConfig.model_validate(start["config"])
    cycles, _, _, _, single_p99, _ = replay_min(
        cfg, events, start["tick"], start["sz_decimals"], clock=time.perf_counter_ns,
        make_core=lambda: live_core_of(start))
    return cycles, float(single_p99[0])


def replay_paced(run: Path, gap_s: float, budget_s: float = 10.0) -> np.ndarray:
    """Each cycle tick's wall time (µs) in one replay of the run's journal into a fresh core, ``gap_s`` slept
    before each tick (the other events fed back to back): as many ticks as fit in ``budget_s`` of sleeping, at
    least 20. The live run's cycles with the deployment's idle time and nothing else: no socket, no loop, no
    server in this process."""
    start, events = _journal(run)
    core = live_core_of(start)
    clock = time.perf_counter_ns
    n = max(20, int(budget_s / gap_s))
    out = []
    for ev in events:
        if type(ev) is Timer and ev.name != AFTER_CYCLE:
            if len(out) == n:
                break
            time.sleep(gap_s)
            t0 = clock()
            core.handle(ev)
            out.append(clock() - t0)
        else:
            core.handle(ev)
        core.discard_records()
    return np.array(out) / 1000.0


def idle_penalty(length_us: float, gap_s: float, budget_s: float = 10.0) -> tuple[float, float]:
    """Fixed Python code of ``length_us`` (its minimum), timed right after sleeping ``gap_s`` and back to
    back: each one's median, µs (as many calls as fit in ``budget_s`` of sleeping)."""
    clock = time.perf_counter_ns
    k = max(1, round(length_us * fixed_work_per_us(clock)))
    n = max(20, min(300, int(budget_s / gap_s)))
    warm = [timed_fixed(clock, k) for _ in range(n)]
    cold = []
    for _ in range(n):
        time.sleep(gap_s)
        cold.append(timed_fixed(clock, k))
    return float(np.median(cold)) / 1000.0, float(np.median(warm)) / 1000.0


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=list(PROFILES), default="default",
                    help="bench_agent's agent profile (default: as shipped, a 500 ms cycle; stress: 100 ms, 5 levels)")
    ap.add_argument("--seconds", type=bounded(positive_float, 86400.0, "a day of the wall clock: longer is a typo "
                                              "for a bench"), default=60.0,
                    help="wall seconds of the live run (default 60, at most a day)")
    args = ap.parse_args()
    cycle_s = AgentConfig.model_validate(PROFILES[args.profile][0]).session.cycle_s
    tmp = tempfile.mkdtemp(prefix="bench_live-")
    kept = False
    try:
        print_out(f"[{args.profile}] the live CLI against twin serve (another process, loopback), {args.seconds:g} s, "
                  f"a quote cycle every {cycle_s * 1000:.0f} ms ...", flush=True)
        s = live_run(args.profile, args.seconds, Path(tmp))
        live = s["core_cycle_us"]
        if not live["cycles"]:
            raise SystemExit(f"the live run handled no cycle tick in {args.seconds:g} s: give it longer (--seconds)")
        warm, one_p99 = replay_warm(Path(tmp) / "run")
        paced = replay_paced(Path(tmp) / "run", cycle_s)
    except KilledRun as e:  # its folder kept: the postmortem it names is in it
        kept = True
        raise SystemExit(f"bench_live: {e} (the run's files are kept in {tmp})") from None
    finally:
        if not kept:
            shutil.rmtree(tmp, ignore_errors=True)
    w50, w99 = np.percentile(warm, 50), np.percentile(warm, 99)
    print_out(f"core per cycle tick, live          p50 {live['p50']:7.0f} µs, p99 {live['p99']:7.0f} µs "
              f"({live['cycles']:,} ticks; {s['requests']['items']:,} request items, {s['fills']} fills)")
    print_out(f"same cycles replayed warm          p50 {w50:7.1f} µs, p99 {w99:7.1f} µs (each cycle's minimum of 5; "
              f"one replay's p99 {one_p99:.1f} µs)   (baseline 1.00)")
    print_out(f"live / warm                        p50 {live['p50'] / w50:7.1f}x,    p99 {live['p99'] / w99:7.1f}x")
    p50, p99 = np.percentile(paced, 50), np.percentile(paced, 99)
    print_out(f"same cycles, a cycle slept before  p50 {p50:7.0f} µs, p99 {p99:7.0f} µs ({len(paced)} ticks paced, "
              f"one replay: no socket, loop or server here); live / paced p50 {live['p50'] / p50:.2f}x")
    cold, hot = idle_penalty(w50, cycle_s)
    print_out(f"the machine: fixed code of {w50:.0f} µs after sleeping {cycle_s * 1000:.0f} ms: median {cold:.1f} µs, "
              f"{cold / hot:.1f}x its {hot:.1f} µs back to back: what idling between cycles costs any code here")


if __name__ == "__main__":
    main()
