"""Soak the live path: seeded chaos runs of the live agent against ``python -m twin serve``, each ending with
the agent's account checked against the venue's.

The scenarios and the unit tests drive the agent in one process through the twin's gateway; the live path (the CLI,
aiohttp, the venue's wire, signatures and nonces, reconnects, the shutdown that pulls the orders) is exercised only
against a venue in another process. This runs that shape many times, each run from one seed: a fresh key and
account, a random chaos schedule for the server (disconnects, HTTP 429 bursts, rejection bursts, latency spikes, a
quota cut, price jumps), an execution level (2 dry run, 3 micro-live, 4 full) and a way to stop (its --duration;
SIGTERM or SIGINT part way, or SIGINT again every half second until it exits; with or without --flatten-on-stop).
When the agent has exited, the venue is asked (POST /info) for the account's position, open orders and fills, and
they are compared with what the agent's summary.json says (its order tracker's and its PnL ledger's position, the
venue's as it last read it); a run with an event journal is then replayed (``agent.audit --replay``), which must
give the same decisions.

For some seeds (three in ten, drawn by the plan) the run is a crash and a restart: the agent is killed outright
(SIGKILL, part way through its run, timed from its first event, or in its shutdown with a --duration of a few
seconds: no shutdown to finish, its orders left resting, its files as the kill left them), the venue's account is
read, and the agent is started again into the same run folder, against the same server and account, to run to its
stop as above. The killed process's locks (the folder's ``.run.lock``, the account's in the seed's own lock folder,
``locks``, given to its agents as ``HL_AGENT_LOCK_DIR``) are flocks the kernel released with it: no step is needed,
and a restart they refuse (exit 2) fails. A Kill in the killed run (chaos can drive one: a data-age or drawdown rule)
left its latch in that folder (``agent.kill_latch``), which would refuse the restart: the soak clears it
deliberately, the restart given ``--clear-kill`` and the row's notes saying so, as the restart is the crash's test,
not the Kill's; a Kill in the last run is noted and its latch left in ``locks`` (nothing is started after it). A Kill
ends the run by itself once its work is done (stop_reason "kill", exit 5: a run to be killed that a Kill ended first
is noted, not failed, and restarted all the same), and a stop before then says it ("kill, then SIGTERM"). The
operator's own lock folder never sees the soak's latches or locks. The restarted run
must take the killed run's orders over or cancel them, so that its summary agrees with the venue as any run's does
(its fills: the venue's less those made before it read the account, the killed run's and the gap's); the log must
read whole with ``agent.audit RUN`` (a last line a crash cut mid-write said as a crash's cut, not as damage), and
the replay must replay both runs, the killed one up to its kill. A SIGKILL does not cut a line here (each goes out
whole in one write call), so for half of these seeds the soak cuts the killed run's last line in half itself, as a
host's crash would leave it (the last line written: the journal's, or the log's when that line is a record of the
journal's last event; none when the journal ends on events of one time, the order unknown, or the run ended by
itself before its kill), and the audit or the replay must say it as a crash's cut.

A run fails when the agent crashed (an exit status other than 0 or 3, or 5 after a Kill, or a traceback), hung
(still running long after its duration and shutdown grace: killed), its summary disagrees with the venue (position, the
venue's position and open orders as it last read them, fills; or exit 0 or 5 with orders resting), its stop reason is
not the stop it was given (or the Kill's), or its replay differs; a restarted run also when the killed run ended
before its kill (but for a Kill), the restarted run wrote no summary of its own, or ``agent.audit`` finds its log
damaged. A run stopped by its signal before it traded (exit 130 or 143, no summary) fails only if the venue holds
anything for the account. Each
run's files (the chaos schedule, the server's and the agent's output, the killed agent's as killed.out and .err,
the run folder, agent.audit's reading of it) are kept under --out/seed-N to read afterwards.

Exit status: 0 when every run passed, 1 when any failed, 2 for bad options or an --out folder that holds runs.

Run: python bench/soak_live.py [--seeds 0-9] [--duration 30] [--out runs/soak]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.live import KILL_STOP
from common.cli_errors import fail, print_out
from twin.faults.chaos import ChaosSchedule
from twin.faults.rejections import ORDER_REASONS
from common.files import ArgumentParser
from common.units import bounded, non_empty, parse_seeds, positive_float

_REPO = Path(__file__).resolve().parent.parent
COIN = "BTC"  # the agent's default coin, on the first dex: the account is funded there
FUND_USDC = 100_000.0
STARTUP_S = 5.0  # about how long the agent takes from its start to its first quote (a cold import, the venue's meta)
GRACE_S = 15.0  # the agent's --shutdown-grace default: the longest its shutdown waits for the cancels
SLACK_S = 60.0  # past duration + startup + grace: a run still going is hung (the machine is shared and slow)
# SIGINTx: Ctrl-C again every half second until it exits, as an impatient operator does: the shutdown must still
# pull every order and write its files (the run ignores stop signals from its stop to its end)
STOPS = ("duration", "SIGTERM", "SIGINT", "SIGINTx")
AGAIN_S = 0.5
RESTART_SHARE = 0.3  # of the seeds, those whose agent is killed (SIGKILL) part way and started again
TOLERANCE = 1e-9  # coin: positions are decimals of a few places, sent and read back as text


@dataclass
class Plan:
    """What one seed runs: everything random about a run is drawn here, before it starts, so a failure's seed
    runs the same plan again (the venue's and the network's timing aside)."""

    seed: int
    key: str
    address: str
    level: int
    stop: str
    stop_after_s: float | None  # the signal's time after the agent's process started, s (None: its --duration)
    flatten: bool
    chaos: dict
    # a crash and restart: the agent's process killed outright (SIGKILL) this long after its start, s, then started
    # again into the same run folder; the stop above is the restarted run's (None: one run, no kill)
    kill_after_s: float | None = None
    cut: bool = False  # the killed run's last line cut mid-write, as a host's crash leaves it (see cut_as_a_crash)


def make_plan(seed: int, duration_s: float) -> Plan:
    from eth_account import Account

    rng = np.random.default_rng(seed)
    key = "0x" + bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()
    level = int(rng.choice([2, 3, 4], p=[0.2, 0.3, 0.5]))
    stop = str(rng.choice(STOPS))
    # within its --duration from the process's start, so never racing the duration's own end; early on, before the
    # agent trades, as an operator's Ctrl-C at the start would (exit 130 or 143, nothing sent)
    stop_after = round(float(rng.uniform(0.25, 0.9) * duration_s), 2) if stop != "duration" else None
    flatten = level >= 3 and bool(rng.random() < 0.3)  # (a dry run's orders cannot close anything: refused)
    # the crash from a stream of its own, so that a seed's key, level, stop and (unkilled) chaos stay as the first
    # version of this soak drew them; killed this long after its first event (run_agent), before its duration's end
    # (timed from the process's start, past STARTUP_S, a short run that started faster ended first: --duration 12)
    crash = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    kill_after = round(float(crash.uniform(0.3, 0.8)) * duration_s, 2) if crash.random() < RESTART_SHARE else None
    cut = kill_after is not None and bool(crash.random() < 0.5)
    # a restarted run's faults span both processes, the late disconnect at the restarted run's end
    venue_s = STARTUP_S + duration_s + (STARTUP_S + kill_after if kill_after is not None else 0.0)
    return Plan(seed, key, Account.from_key(key).address, level, stop, stop_after, flatten,
                chaos_schedule(rng, venue_s), kill_after, cut)


def chaos_schedule(rng: np.random.Generator, end_s: float) -> dict:
    """Faults over the run's venue time, ``at_s`` from the server's start; a disconnect in the last seconds too,
    where the shutdown's cancels and its last reading of the account are sent."""
    def at(lo: float = 0.0, hi: float = end_s) -> float:
        return round(float(rng.uniform(lo, hi)), 2)

    def length(hi: float) -> float:
        return round(float(rng.uniform(0.3, hi)), 2)

    events: list[dict] = [{"kind": "disconnect", "at_s": at(1.0, STARTUP_S + 2), "duration_s": length(5)},
                          {"kind": "disconnect", "at_s": at(end_s - 2, end_s + 2), "duration_s": length(5)}]
    events += [{"kind": "disconnect", "at_s": at(), "duration_s": length(5)} for _ in range(rng.integers(0, 2))]
    events += [{"kind": "http_429_burst", "at_s": at(STARTUP_S), "duration_s": length(3)}
               for _ in range(rng.integers(0, 3))]
    reasons = sorted(r.value for r in ORDER_REASONS)
    events += [{"kind": "rejection_burst", "at_s": at(), "duration_s": length(6),
                "rate": round(float(rng.uniform(0.2, 1)), 2), "reason": str(rng.choice(reasons))}
               for _ in range(rng.integers(0, 3))]
    events += [{"kind": "latency_spike", "at_s": at(), "duration_s": length(5),
                "path": str(rng.choice(["order_entry", "response", "feed", "all"])),
                "multiplier": round(float(rng.uniform(1, 10)), 2), "extra_ms": round(float(rng.uniform(0, 800)), 1)}
               for _ in range(rng.integers(0, 3))]
    if rng.random() < 0.3:
        events.append({"kind": "quota_set", "at_s": at(), "remaining_requests": int(rng.integers(0, 3000))})
    events += [{"kind": "price_jump", "at_s": at(), "fraction": round(float(rng.uniform(-0.006, 0.006)), 5)}
               for _ in range(rng.integers(0, 4))]
    return json.loads(ChaosSchedule.model_validate({"events": events}).to_json())  # checked as serve will


@dataclass
class Result:
    """One run's row in the table: ``outcome`` ok, stopped early (its signal before it traded, the venue empty),
    mismatch, replay differs, crash or hung; ``problems`` each in words, for the row and the progress line."""

    seed: int
    plan: str
    outcome: str = "ok"
    exit_status: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what happened that is no fault: the state a kill left
    fills: int | None = None
    venue_position: float | None = None
    wall_s: float = 0.0


def venue_info(url: str, body: dict, tries: int = 10) -> object:
    """POST /info, retried: the run's chaos may still be refusing requests (HTTP 429) when the agent is done."""
    data = json.dumps(body).encode()
    last: Exception | None = None
    for _ in range(tries):
        req = urllib.request.Request(url + "/info", data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = e
            time.sleep(1.0)
    raise RuntimeError(f"the venue's /info {body['type']} failed {tries} times: {last}")


def start_server(folder: Path, plan: Plan) -> tuple[subprocess.Popen, str]:
    chaos = folder / "chaos.json"  # JSON is YAML: serve's --scenario reads it
    chaos.write_text(json.dumps(plan.chaos, indent=1))
    log = open(folder / "serve.err", "w")
    server = subprocess.Popen([sys.executable, "-u", "-m", "twin", "serve", "--port", "0", "--seed", str(plan.seed),
                               "--fund", f"{plan.address}={FUND_USDC:g}", "--scenario", str(chaos)],
                              cwd=_REPO, stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    line = server.stdout.readline()  # "twin venue listening on http://127.0.0.1:PORT (...)"
    if "listening on " not in line:
        server.kill()
        server.wait()
        raise RuntimeError(f"twin serve did not start (see {folder / 'serve.err'}): {line!r}")
    return server, line.split("listening on ", 1)[1].split()[0]


def run_agent(folder: Path, plan: Plan, url: str, duration_s: float, kill_after_s: float | None = None,
              name: str = "agent", clear_kill: bool = False) -> tuple[int | None, str]:
    """The live CLI's exit status (None: hung, killed) and its stderr, its output in ``name``.out and .err.
    With ``kill_after_s`` it is killed outright (SIGKILL) that long after its first event (its journal's first line,
    once it has started trading: its --duration is counted from about then) instead of stopped: exit -9, no shutdown,
    its orders left resting. Its locks and a Kill's latch in the seed's ``locks`` folder; ``clear_kill``: started
    with ``--clear-kill``."""
    argv = [sys.executable, "-m", "agent", "--venue", "live", "--base-url", url, "--execution-level", str(plan.level),
            "--start-level", "Full" if plan.level == 4 else "MicroLive", "--duration", f"{duration_s:g}",
            "--out", str(folder / "run"), "--seed", str(plan.seed), "--quiet"]
    if plan.flatten:
        argv.append("--flatten-on-stop")
    if clear_kill:
        argv.append("--clear-kill")
    env = dict(os.environ, HL_SECRET_KEY=plan.key, HL_ACCOUNT_ADDRESS=plan.address,
               HL_AGENT_LOCK_DIR=str(folder / "locks"))
    with open(folder / f"{name}.out", "w") as out, open(folder / f"{name}.err", "w") as err:
        agent = subprocess.Popen(argv, cwd=_REPO, env=env, stdout=out, stderr=err)
        limit = STARTUP_S + duration_s + GRACE_S + SLACK_S
        if kill_after_s is not None:
            journal, started = folder / "run" / "events.jsonl", time.monotonic() + STARTUP_S + SLACK_S
            while agent.poll() is None and time.monotonic() < started and not _has_a_line(journal):
                time.sleep(0.05)
            try:
                agent.wait(kill_after_s)
            except subprocess.TimeoutExpired:
                agent.kill()
        elif plan.stop_after_s is not None:
            try:
                agent.wait(plan.stop_after_s)
            except subprocess.TimeoutExpired:
                agent.send_signal(signal.SIGTERM if plan.stop == "SIGTERM" else signal.SIGINT)
                deadline = time.monotonic() + limit
                while plan.stop == "SIGINTx" and agent.poll() is None and time.monotonic() < deadline:
                    time.sleep(AGAIN_S)
                    if agent.poll() is None:
                        agent.send_signal(signal.SIGINT)
        try:
            status: int | None = agent.wait(limit)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
            status = None
    return status, (folder / f"{name}.err").read_text()


def kill_latched(folder: Path) -> bool:
    """Whether a Kill of the seed's agent left its latch (``agent.kill_latch``) in the seed's lock folder."""
    return any((folder / "locks").glob("*.killed.json"))


def _has_a_line(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def fills_when_written(path: Path, url: str, address: str) -> tuple[threading.Thread, list[int]]:
    """The venue's fill count read as soon as ``path`` (the run folder's summary.json) is written anew: the
    restarted run writes it once it has read the account, so the fills made on the killed run's orders after that
    are the restarted run's to count. The list gets the count (empty: never written, or the venue did not
    answer)."""
    got: list[int] = []
    before = path.stat().st_mtime_ns if path.exists() else None

    def watch() -> None:
        deadline = time.monotonic() + STARTUP_S + SLACK_S
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_mtime_ns != before:
                try:
                    got.append(venue_account(url, address)[2])
                except RuntimeError:
                    pass
                return
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, got


def venue_account(url: str, address: str) -> tuple[float, int, int]:
    """The venue's position in COIN, its open orders in it and the account's fills in it."""
    state = venue_info(url, {"type": "clearinghouseState", "user": address})
    position = sum(float(p["position"]["szi"]) for p in state["assetPositions"] if p["position"]["coin"] == COIN)
    orders = venue_info(url, {"type": "openOrders", "user": address})
    fills = venue_info(url, {"type": "userFills", "user": address})
    return position, sum(o["coin"] == COIN for o in orders), sum(f["coin"] == COIN for f in fills)


def compare(summary: dict, status: int, plan: Plan, venue: tuple[float, int, int],
            fills_before: tuple[int, int] = (0, 0)) -> list[str]:
    """What the agent's summary says against what the venue holds, each disagreement in words. ``fills_before``:
    of the venue's fills, those made before the run (a restarted run's: the killed run's, and those on its resting
    orders until the restart read the account), at least and at most: the summary counts the run's own."""
    position, orders, fills = venue
    problems = []

    def differs(name: str, ours, theirs) -> None:
        if ours is None or abs(float(ours) - float(theirs)) > TOLERANCE:
            problems.append(f"{name} {ours} != venue {theirs:g}")

    differs("position.final", summary["position"]["final"], position)
    differs("position.ledger", summary["position"].get("ledger"), position)  # the PnL ledger's own count
    differs("venue_position", summary.get("venue_position"), position)
    if summary.get("venue_open_orders") != orders:
        problems.append(f"venue_open_orders {summary.get('venue_open_orders')} != venue {orders}")
    lo, hi = fills_before
    counted = summary.get("fills")
    if not isinstance(counted, int) or not fills - hi <= counted <= fills - lo:
        problems.append(f"fills {counted} != venue {fills}" if hi == 0 else
                        f"fills {counted} != venue {fills} less the {lo} before the restart" if lo == hi else
                        f"fills {counted} != venue {fills} less {lo} to {hi} before the restart read the account")
    if summary.get("overfills"):
        problems.append(f"overfills {summary['overfills']}: fills past their orders' sizes")
    if status in (0, 5) and orders:  # (both say every order gone: 5 a Kill's end)
        problems.append(f"exit {status} with {orders} order(s) resting")
    want = {"duration": "duration reached", "SIGINTx": "SIGINT"}.get(plan.stop, plan.stop)
    said = summary.get("stop_reason")
    killed = isinstance(said, str) and KILL_STOP in said.split(", then ")
    if killed:  # a Kill ends the run once its work is done, or says itself before the stop it was given (after it,
        # the stop asked in the cycle the Kill came in: LiveDriver._killed)
        want = said if said == KILL_STOP else f"{want}, then {KILL_STOP}" if said.endswith(f", then {KILL_STOP}") \
            else f"{KILL_STOP}, then {want}"
    if said != want:
        problems.append(f"stop_reason {said!r}, stopped by {want!r}")
    if status == 5 and not killed or killed and status not in (3, 5):
        problems.append(f"exit {status} with stop_reason {said!r}: a Kill's exit is 5 (3 with orders resting)")
    return problems


def soak_one(root: Path, seed: int, duration_s: float) -> Result:
    plan = make_plan(seed, duration_s)
    folder = root / f"seed-{seed}"
    folder.mkdir(parents=True)
    words = (f"kill@{plan.kill_after_s:g}s restart " if plan.kill_after_s else "") + f"L{plan.level} {plan.stop}" + \
        (f"@{plan.stop_after_s:g}s" if plan.stop_after_s else "") + (" flatten" if plan.flatten else "") + \
        f" {len(plan.chaos['events'])} faults"
    result = Result(seed, words)
    t0 = time.monotonic()
    server, url = start_server(folder, plan)
    run = folder / "run"
    summary_file = run / "summary.json"
    fills_before = (0, 0)
    cut = None
    try:
        if plan.kill_after_s is not None:
            killed, killed_err = run_agent(folder, plan, url, duration_s, plan.kill_after_s, "killed")
            left = venue_account(url, plan.address)
            if killed == 5:  # a Kill ended it first (its work done): no crash to restart from, and no fault
                result.notes.append("the run to be killed was ended first by a Kill (exit 5)")
            elif killed != -signal.SIGKILL:  # it ended by itself before its kill: no crash to restart from
                result.problems.append(f"the run to be killed ended first, exit {killed}")
            if "Traceback" in killed_err:
                result.problems.append("a traceback in killed.err")
            result.notes.append(f"killed leaving {left[1]} order(s), position {left[0]:g}, {left[2]} fill(s)")
            if plan.cut:
                said = cut_as_a_crash(run, killed)
                result.notes.append(said)
                cut = said.rsplit(" ", 1)[-1] if said.startswith("its last line cut") else None
            # the killed run's checkpoint, if it wrote one, is not the restarted run's summary
            stale = summary_file.read_bytes() if summary_file.exists() else None
            watcher, at_restart = fills_when_written(summary_file, url, plan.address)
            latched = kill_latched(folder)
            if latched:
                result.notes.append("the killed run's Kill latched the account: the restart clears it (--clear-kill)")
            status, err = run_agent(folder, plan, url, duration_s, clear_kill=latched)
        else:
            status, err = run_agent(folder, plan, url, duration_s)
        if kill_latched(folder):
            result.notes.append("its Kill latched the account (the latch left in locks)")
        result.exit_status = status
        venue = venue_account(url, plan.address)
        if plan.kill_after_s is not None:
            watcher.join(1.0)
            fills_before = (left[2], at_restart[0] if at_restart else venue[2])
            if fills_before[1] > fills_before[0]:
                result.notes.append(f"{fills_before[1] - fills_before[0]} more fill(s) by when the restart had read "
                                    f"the account")
    finally:
        server.terminate()
        server.wait(10)
    result.venue_position = venue[0]
    result.wall_s = time.monotonic() - t0
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    if plan.kill_after_s is not None and summary is not None and summary_file.read_bytes() == stale:
        summary = None  # the killed run's, left as it was: the restarted run wrote none
    if status is None:
        result.outcome = "hung"
        result.problems.insert(0, f"still running {STARTUP_S + duration_s + GRACE_S + SLACK_S:g} s after its start: "
                                  f"killed")
        return result
    if "Traceback" in err:
        result.problems.append("a traceback in agent.err")
    if summary is None:
        if status in (130, 143) and plan.stop != "duration" and not any(venue):
            result.outcome = "stopped early"  # its signal came before it traded: nothing to compare
            return result
        result.problems.append("no summary.json" + (" of the restarted run" if plan.kill_after_s else ""))
    else:
        result.fills = summary.get("fills")
        mismatch = compare(summary, status, plan, venue, fills_before)
        if mismatch:
            result.outcome = "mismatch"
            result.problems += mismatch
    if status not in (0, 3, 5) or "Traceback" in err or summary is None or \
            any(p.startswith(("the run to be killed", "a traceback")) for p in result.problems):
        result.outcome = "crash"
        result.problems.insert(0, f"exit {status}: {err.strip().splitlines()[-1] if err.strip() else 'no stderr'}")
    if plan.kill_after_s is not None:
        read_log(run, folder, result, cut == "decisions.jsonl")
    if summary is not None and (run / "events.jsonl").exists():
        replay = subprocess.run([sys.executable, "-m", "agent.audit", str(run), "--replay"], cwd=_REPO,
                                capture_output=True, text=True)
        said = replay.stdout + replay.stderr
        (folder / "replay.out").write_text(said)
        lines = said.strip().splitlines()
        if replay.returncode != 0:
            # the run that differs, not the last one's line (another run's, identical)
            bad = next((line for line in lines if " differs " in line or " ends before " in line),
                       lines[-1] if lines else "")
            result.problems.append(f"replay exit {replay.returncode}: {bad}")
        elif plan.kill_after_s is not None and re.search(r"^run 2 ", said, re.M) is None:
            # both runs are in the journal: a replay of one of them has left the other unchecked
            result.problems.append("replay: not both runs replayed (see replay.out)")
        elif cut == "events.jsonl" and re.search(r"left out: \S*events\.jsonl: line \d+", said) is None:
            result.problems.append("replay: the journal's line cut by the crash not said (see replay.out)")
        if result.problems and result.outcome == "ok":
            result.outcome = "replay differs"
    return result


def cut_as_a_crash(run: Path, status: int | None = -signal.SIGKILL) -> str:
    """Cut the killed run's last line in half, as a host's crash (power lost, the page cache with it) leaves a file
    being written; a SIGKILL cannot here, each line going out whole in one write call. The line cut must be the last
    one written, or the files are no crash's: the driver journals an event, then the log gets its records (each with
    the event's ts). So the journal's last event is cut when its time is past the log's last record's (it gave none),
    and the log's last record when the journal's last event is the only one of the record's time (it gave it);
    several events of one time (a cycle's two timers) leave the order unknown, and nothing is cut. A run that ended
    by itself before its kill (``status``, its exit, not -SIGKILL) had no crash: nothing is cut (its last line
    written is its log's end record, after the journal's last event). Said in words for the row: "... in FILE"
    when cut."""
    if status != -signal.SIGKILL:
        return f"no line cut: the run ended by itself (exit {status}), no crash"
    def tail(path: Path) -> tuple[list[bytes], int]:
        """The file's last lines (its last MB), and the bytes after the last one (its newline)."""
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - (1 << 20)))
            text = fh.read()
        ends = 1 if text.endswith(b"\n") else 0
        return text[:len(text) - ends].split(b"\n")[1:], ends

    journal, log = run / "events.jsonl", run / "decisions.jsonl"
    if not (journal.exists() and log.exists() and journal.stat().st_size and log.stat().st_size):
        return "no line cut: a file empty or missing"
    (events, ends), (records, log_ends) = tail(journal), tail(log)
    if not events or not records:
        return "no line cut: a line longer than a MB"
    t_event, t_record = json.loads(events[-1]).get("ts"), json.loads(records[-1]).get("ts")
    if t_event != t_record:
        path, line = journal, events[-1]
    elif sum(json.loads(e).get("ts") == t_event for e in events[-8:]) == 1:
        path, line, ends = log, records[-1], log_ends
    else:
        return "no line cut: its last lines' order unknown (events of one time)"
    os.truncate(path, path.stat().st_size - ends - len(line) + len(line) // 2)
    return f"its last line cut mid-write in {path.name}"


def read_log(run: Path, folder: Path, result: Result, cut: bool) -> None:
    """``agent.audit RUN`` on a folder a killed run and its restart wrote: the log must read whole, a line the kill
    cut mid-write (the killed run's last; ``cut``: the soak cut one) said as a crash's cut, never as damage."""
    done = subprocess.run([sys.executable, "-m", "agent.audit", str(run)], cwd=_REPO, capture_output=True, text=True)
    said = done.stdout + done.stderr
    (folder / "audit.out").write_text(said)
    if done.returncode != 0:
        lines = said.strip().splitlines()
        result.problems.append(f"agent.audit exit {done.returncode}: {lines[-1] if lines else ''}")
    elif "unreadable line" in said:
        result.problems.append("agent.audit: " + said[said.index("unreadable line") - 2:].split(")")[0] + ")")
    elif "torn line" in said:
        result.notes.append("agent.audit said the cut line as a crash's")
    elif cut:
        result.problems.append("agent.audit: the log's line cut by the crash not said (see audit.out)")
    if result.outcome == "ok" and result.problems:
        result.outcome = "log damaged"


def table(results: list[Result]) -> str:
    rows = [("seed", "plan", "outcome", "exit", "fills", "venue pos", "wall s", "mismatch or fault; note")]
    for r in results:
        rows.append((str(r.seed), r.plan, r.outcome, "-" if r.exit_status is None else str(r.exit_status),
                     "-" if r.fills is None else str(r.fills),
                     "-" if r.venue_position is None else f"{r.venue_position:g}", f"{r.wall_s:.0f}",
                     "; ".join(r.problems + r.notes)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in rows)


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(prog="python bench/soak_live.py", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-9"),
                    help="the runs' seeds: 0-9 (the default), 3, 1,4,7 or 0-2,10; each seed draws its key, chaos "
                         "schedule, execution level, stop, and whether it is killed (SIGKILL) part way and restarted")
    ap.add_argument("--duration", type=bounded(positive_float, 3600.0, "an hour of wall clock a run"), default=30.0,
                    help="seconds each agent runs (its --duration; default 30, at most 3600). A run takes a few "
                         "seconds more to start and up to the shutdown grace (15 s) more to end")
    ap.add_argument("--out", type=non_empty, default="runs/soak",
                    help="folder for each run's files, as seed-N/ (default runs/soak); a seed's folder already "
                         "there is refused, not overwritten")
    args = ap.parse_args(argv)
    root = Path(args.out)
    if root.exists() and not root.is_dir():
        return fail(f"--out {root}: a file, not a folder: give a folder for the runs (made if missing)")
    taken = [s for s in args.seeds if (root / f"seed-{s}").exists()]
    if taken:
        more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
        return fail(f"--out {root}: it already holds seed-{taken[0]}{more} (an earlier soak's runs): remove them, or "
                    f"give another --out")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return fail(f"--out {root}: {e.strerror or e}")
    print_out(f"soak: {len(args.seeds)} run(s) of the live agent against twin serve, {args.duration:g} s each, "
              f"files under {root}", flush=True)
    results = []
    for i, seed in enumerate(args.seeds, 1):
        try:
            r = soak_one(root, seed, args.duration)
        except (RuntimeError, OSError) as e:  # the server would not start, or the venue would not answer
            r = Result(seed, "-", "crash", problems=[str(e)])
        results.append(r)
        print_out(f"[{i}/{len(args.seeds)}] seed {seed}: {r.plan}: {r.outcome}, exit {r.exit_status}, "
                  f"{r.wall_s:.0f} s" + (f": {'; '.join(r.problems + r.notes)}" if r.problems or r.notes else ""),
                  flush=True)
    print_out()
    print_out(table(results))
    bad = sum(r.outcome not in ("ok", "stopped early") for r in results)
    print_out(f"\n{bad} of {len(results)} run(s) failed" if bad else f"\nevery run passed ({len(results)})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
