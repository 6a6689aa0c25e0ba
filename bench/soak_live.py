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

A run fails when the agent crashed (an exit status other than 0 or 3, or a traceback), hung (still running
long after its duration and shutdown grace: killed), its summary disagrees with the venue (position, the
venue's position and open orders as it last read them, fills; or exit 0 with orders resting), its stop reason is
not the stop it was given, or its replay differs. A run stopped by its signal before it traded (exit 130 or 143,
no summary) fails only if the venue holds anything for the account. Each run's files (the chaos schedule, the
server's and the agent's output, the run folder) are kept under --out/seed-N to read afterwards.

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
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.faults.chaos import ChaosSchedule
from twin.faults.rejections import ORDER_REASONS
from twin.units import bounded, non_empty, positive_float

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
TOLERANCE = 1e-9  # coin: positions are decimals of a few places, sent and read back as text


def parse_seeds(text: str) -> list[int]:
    """``0-9``, ``3``, ``1,4,7`` or ``0-2,10``: the seeds in the order given, each once."""
    seeds: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise argparse.ArgumentTypeError(f"expected seeds as 0-9, 3 or 1,4,7 (non-negative, ranges low-high), "
                                             f"got {text!r}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi - lo >= 10_000:
            raise argparse.ArgumentTypeError(f"expected at most 10000 seeds in a range (each is a run of wall-clock "
                                             f"time), got {text!r}")
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    return seeds


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
    return Plan(seed, key, Account.from_key(key).address, level, stop, stop_after, flatten,
                chaos_schedule(rng, STARTUP_S + duration_s))


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


def run_agent(folder: Path, plan: Plan, url: str, duration_s: float) -> tuple[int | None, str]:
    """The live CLI's exit status (None: hung, killed) and its stderr."""
    argv = [sys.executable, "-m", "agent", "--venue", "live", "--base-url", url, "--execution-level", str(plan.level),
            "--start-level", "Full" if plan.level == 4 else "MicroLive", "--duration", f"{duration_s:g}",
            "--out", str(folder / "run"), "--seed", str(plan.seed), "--quiet"]
    if plan.flatten:
        argv.append("--flatten-on-stop")
    env = dict(os.environ, HL_SECRET_KEY=plan.key, HL_ACCOUNT_ADDRESS=plan.address)
    with open(folder / "agent.out", "w") as out, open(folder / "agent.err", "w") as err:
        agent = subprocess.Popen(argv, cwd=_REPO, env=env, stdout=out, stderr=err)
        limit = STARTUP_S + duration_s + GRACE_S + SLACK_S
        if plan.stop_after_s is not None:
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
    return status, (folder / "agent.err").read_text()


def venue_account(url: str, address: str) -> tuple[float, int, int]:
    """The venue's position in COIN, its open orders in it and the account's fills in it."""
    state = venue_info(url, {"type": "clearinghouseState", "user": address})
    position = sum(float(p["position"]["szi"]) for p in state["assetPositions"] if p["position"]["coin"] == COIN)
    orders = venue_info(url, {"type": "openOrders", "user": address})
    fills = venue_info(url, {"type": "userFills", "user": address})
    return position, sum(o["coin"] == COIN for o in orders), sum(f["coin"] == COIN for f in fills)


def compare(summary: dict, status: int, plan: Plan, venue: tuple[float, int, int]) -> list[str]:
    """What the agent's summary says against what the venue holds, each disagreement in words."""
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
    if summary.get("fills") != fills:
        problems.append(f"fills {summary.get('fills')} != venue {fills}")
    if summary.get("overfills"):
        problems.append(f"overfills {summary['overfills']}: fills past their orders' sizes")
    if status == 0 and orders:
        problems.append(f"exit 0 with {orders} order(s) resting")
    want = {"duration": "duration reached", "SIGINTx": "SIGINT"}.get(plan.stop, plan.stop)
    if summary.get("stop_reason") != want:
        problems.append(f"stop_reason {summary.get('stop_reason')!r}, stopped by {want!r}")
    return problems


def soak_one(root: Path, seed: int, duration_s: float) -> Result:
    plan = make_plan(seed, duration_s)
    folder = root / f"seed-{seed}"
    folder.mkdir(parents=True)
    words = f"L{plan.level} {plan.stop}" + (f"@{plan.stop_after_s:g}s" if plan.stop_after_s else "") + \
            (" flatten" if plan.flatten else "") + f" {len(plan.chaos['events'])} faults"
    result = Result(seed, words)
    t0 = time.monotonic()
    server, url = start_server(folder, plan)
    try:
        status, err = run_agent(folder, plan, url, duration_s)
        result.exit_status = status
        venue = venue_account(url, plan.address)
    finally:
        server.terminate()
        server.wait(10)
    result.venue_position = venue[0]
    result.wall_s = time.monotonic() - t0
    run = folder / "run"
    summary_file = run / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    if status is None:
        result.outcome, result.problems = "hung", [f"still running {STARTUP_S + duration_s + GRACE_S + SLACK_S:g} s "
                                                   f"after its start: killed"]
        return result
    if "Traceback" in err:
        result.problems.append("a traceback in agent.err")
    if summary is None:
        if status in (130, 143) and plan.stop != "duration" and not any(venue):
            result.outcome = "stopped early"  # its signal came before it traded: nothing to compare
            return result
        result.problems.append("no summary.json")
    else:
        result.fills = summary.get("fills")
        mismatch = compare(summary, status, plan, venue)
        if mismatch:
            result.outcome = "mismatch"
            result.problems += mismatch
    if status not in (0, 3) or "Traceback" in err or summary is None:
        result.outcome = "crash"
        result.problems.insert(0, f"exit {status}: {err.strip().splitlines()[-1] if err.strip() else 'no stderr'}")
    if summary is not None and (run / "events.jsonl").exists():
        replay = subprocess.run([sys.executable, "-m", "agent.audit", str(run), "--replay"], cwd=_REPO,
                                capture_output=True, text=True)
        (folder / "replay.out").write_text(replay.stdout + replay.stderr)
        if replay.returncode != 0:
            said = (replay.stdout + replay.stderr).strip().splitlines()
            result.problems.append(f"replay exit {replay.returncode}: {said[-1] if said else ''}")
            if result.outcome == "ok":
                result.outcome = "replay differs"
    return result


def table(results: list[Result]) -> str:
    rows = [("seed", "plan", "outcome", "exit", "fills", "venue pos", "wall s", "mismatch or fault")]
    for r in results:
        rows.append((str(r.seed), r.plan, r.outcome, "-" if r.exit_status is None else str(r.exit_status),
                     "-" if r.fills is None else str(r.fills),
                     "-" if r.venue_position is None else f"{r.venue_position:g}", f"{r.wall_s:.0f}",
                     "; ".join(r.problems)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1] for row in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/soak_live.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-9"),
                    help="the runs' seeds: 0-9 (the default), 3, 1,4,7 or 0-2,10; each seed draws its key, chaos "
                         "schedule, execution level and stop")
    ap.add_argument("--duration", type=bounded(positive_float, 3600.0, "an hour of wall clock a run"), default=30.0,
                    help="seconds each agent runs (its --duration; default 30, at most 3600). A run takes a few "
                         "seconds more to start and up to the shutdown grace (15 s) more to end")
    ap.add_argument("--out", type=non_empty, default="runs/soak",
                    help="folder for each run's files, as seed-N/ (default runs/soak); a seed's folder already "
                         "there is refused, not overwritten")
    args = ap.parse_args(argv)
    root = Path(args.out)
    taken = [s for s in args.seeds if (root / f"seed-{s}").exists()]
    if taken:
        more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
        print(f"error: --out {root}: it already holds seed-{taken[0]}{more} (an earlier soak's runs): remove them, or "
              f"give another --out", file=sys.stderr)
        return 2
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"error: --out {root}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"soak: {len(args.seeds)} run(s) of the live agent against twin serve, {args.duration:g} s each, "
          f"files under {root}", flush=True)
    results = []
    for i, seed in enumerate(args.seeds, 1):
        try:
            r = soak_one(root, seed, args.duration)
        except (RuntimeError, OSError) as e:  # the server would not start, or the venue would not answer
            r = Result(seed, "-", "crash", problems=[str(e)])
        results.append(r)
        print(f"[{i}/{len(args.seeds)}] seed {seed}: {r.plan}: {r.outcome}, exit {r.exit_status}, "
              f"{r.wall_s:.0f} s" + (f": {'; '.join(r.problems)}" if r.problems else ""), flush=True)
    print()
    print(table(results))
    bad = sum(r.outcome not in ("ok", "stopped early") for r in results)
    print(f"\n{bad} of {len(results)} run(s) failed" if bad else f"\nevery run passed ({len(results)})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
