"""The live path's differential check: a recorded run against ``twin serve`` replayed, deterministically, through
the live gateway and driver of a base revision and of this tree, and what each did compared line by line.

decisions_diff compares the core's decisions in the twin, where the in-process gateway stands in for the venue:
a change to ``agent/gateway/hyperliquid/`` (the parser, the request builder, the signing, the event translation
and the state around it) or to the live driver changes none of its runs. A live run cannot be compared as it is:
wall time and sockets make it another run each time. What does repeat is the live path's work on given input, so
the corpus (``bench/live_corpus.jsonl.gz``, recorded with ``--record`` from the live stack against ``twin serve``
on loopback, its provenance in its first line) keeps a run's input: every websocket frame the gateway read, every
REST answer it got (keyed by the request's kind), every command the driver sent and every event the driver fed the
core of its own (the cycle timers, the shutdown's weights), each at its time on the gateway's clock. The replay, in
a process of each revision's own (PYTHONPATH at its tree, as decisions_diff runs its worker), builds that
revision's ``HyperliquidGateway`` (its transport and socket cut out, its clock, nonces and monotonic clock the
replay's, a fixed key) and ``LiveDriver`` over a core built as ``live_core`` builds it, and walks the timeline: a
frame into the gateway's frame handler; a command into ``send``, each request it posts answered at once with the
next recorded answer of its kind, drained before the next item; a driver's event into the driver. Four files:
  - wire.txt: every request the gateway posted (path and body as it serialises it: actions, nonces, expiresAfter,
    signatures: ECDSA per RFC 6979 signs alike for a key and hash);
  - events.txt: every event the gateway gave (frames translated, replies read, fills delivered once, cloids named);
  - decisions.txt: the driver's commands (with their times) and the core's records, fed those events;
  - parsed.txt: a fresh ``VenueParser``'s reading of every recorded frame and answer, alone.
Not covered: the socket's life (connect, subscribe, pings, silence and stall watches, reconnects, the fill and
funding recoveries), the quota poll, timeouts and retries, concurrency (each command's requests finish before the
next item, where live they overlap), the live CLI and preflight, ``DryRunGateway``; and the venue's side (the
answers are the recorded ones, whatever the head sends). Open loop: the replayed commands are the recorded ones,
not the replayed core's. A recording is itself a live run (wall time, sockets): recorded again, the corpus differs,
so both revisions replay the one committed. The replay reaches into the gateway (``_post``, ``_on_frame``,
``_run_socket``, its module's ``time``) and builds it, the driver and the core by their keywords: a revision that
changed those raises, said as such (exit 1). In the lines printed, a value of 64 hex digits (a signature's r or s,
a trade's hash) is hidden, as every command here hides a key's form; the files keep it.

Prints each file's lines and digests at both revisions and each difference's first line; exit 0 when all four
are identical, 1 when any differs (or a replay raised), 2 for bad options. A few seconds a revision.

    python bench/live_diff.py --base ba4f897
    python bench/live_diff.py --record bench/live_corpus.jsonl.gz
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "bench" / "live_corpus.jsonl.gz"
FILES = ("wire.txt", "events.txt", "decisions.txt", "parsed.txt")
COIN = "BTC"
# the corpus's account: a key made from this text for it (it never held anything but the twin's test funds)
KEY_TEXT = b"hl-twin-mm bench/live_diff corpus key"


def corpus_key() -> str:
    return "0x" + hashlib.sha256(KEY_TEXT).hexdigest()


# ---------------------------------------------------------------------------------------------- commands as JSON

def encode_command(cmd) -> dict:
    """A command as JSON (its class under ``c``): the timeline's form, read back by ``decode_command``."""
    name = type(cmd).__name__
    if name == "Batch":
        return {"c": name, "commands": [encode_command(c) for c in cmd.commands]}
    if hasattr(cmd, "_fields"):  # PlaceOrder, CancelOrder, ModifyOrder
        fields = {k: getattr(cmd, k) for k in cmd._fields}
    else:
        import dataclasses
        fields = {f.name: getattr(cmd, f.name) for f in dataclasses.fields(cmd)}
    out = {"c": name}
    for k, v in fields.items():
        out[k] = v.value if hasattr(v, "value") else list(v) if isinstance(v, tuple) else v
    return out


def decode_command(d: dict):
    from agent.gateway import events as ev

    d = dict(d)
    cls = getattr(ev, d.pop("c"))
    if cls is ev.Batch:
        return ev.Batch(tuple(decode_command(c) for c in d["commands"]))
    if "side" in d and d["side"] is not None:
        d["side"] = ev.Side(d["side"])
    if "tif" in d:
        d["tif"] = ev.Tif(d["tif"])
    if "known" in d:
        d["known"] = tuple(d["known"])
    return cls(**d)


# ---------------------------------------------------------------------------------------------- recording

def _request_kind(body: dict) -> str:
    return body.get("type") or body["action"]["type"]


def record(path: Path, seconds: float, speed: float, seed: int) -> dict:
    """The live stack (HyperliquidGateway, LiveDriver, a core at Full) against ``twin serve`` in a thread on loopback
    for ``seconds`` of the venue's time at ``speed``, its input written to ``path``: what the replay feeds."""
    import numpy as np

    from agent.audit.event_log import encode
    from agent.config import AgentConfig
    from agent.gateway.hyperliquid.gateway import HyperliquidGateway
    from agent.gateway.hyperliquid.nonces import NonceManager
    from agent.live import LiveDriver, live_core
    from agent.quoting.ladder import venue_price_decimals
    from twin.faults.chaos import ChaosSchedule, Http429Burst, PriceJump, RejectionBurst
    from twin.faults.connection import ConnectionParams
    from twin.params import TwinParams
    from twin.server.app import BackgroundServer, TwinServer, build_exchange
    from eth_account import Account

    key = corpus_key()
    addr = Account.from_key(key).address.lower()
    # faults the replay should read: refused orders, HTTP 429s, a jump that fills the quotes (no disconnect: the
    # socket's life is not replayed)
    schedule = ChaosSchedule(events=[
        PriceJump(at_s=0.35 * seconds, fraction=0.004), PriceJump(at_s=0.6 * seconds, fraction=-0.006),
        RejectionBurst(at_s=0.45 * seconds, duration_s=5.0, rate=0.5, reason="PerpMargin"),
        Http429Burst(at_s=0.75 * seconds, duration_s=2.0)])
    params = TwinParams(connection=ConnectionParams(hazard_per_hour=0.0))
    # (the dead-man's switch armed whatever the volume: its scheduleCancel actions and answers in the corpus too)
    overrides = {"graduation": {"start_level": "FULL"}, "session": {"cycle_s": 0.25},
                 "risk": {"dead_man_min_volume_usd": 0.0}}
    cfg = AgentConfig.model_validate(overrides)
    timeline: list = []
    rest: list = []
    ex = build_exchange(params, seed=seed, fund={addr: 100_000.0}, schedule=schedule)
    with BackgroundServer(TwinServer(ex, speed=speed)) as bg:
        def clock() -> float:
            return ex.epoch_ms / 1000.0 + bg.server.clock.target()

        async def run() -> dict:
            gw = HyperliquidGateway(bg.base_url, key, COIN, clock=clock, rng=np.random.default_rng(seed),
                                    quota_poll_s=cfg.session.quota_poll_s / speed, action_ttl_s=5.0 * speed,
                                    nonces=NonceManager(lambda: int(clock() * 1000)), clock_rate=speed)
            post, on_frame, emit = gw._post, gw._on_frame, gw._emit
            told = [False]  # an event on its way from the gateway (else the driver's own)

            async def recorded_post(where: str, body: dict):
                # kept in the order sent (the replay sends in it), not answered: concurrent answers come in any order
                row = [where, _request_kind(body), None, None, clock()]
                rest.append(row)
                row[2], row[3] = await post(where, body)
                return row[2], row[3]

            def recorded_frame(data):
                timeline.append(["frame", clock(), data if isinstance(data, str) else data.decode("utf-8", "replace")])
                return on_frame(data)

            def gateway_emit(ev) -> None:
                told[0] = True
                try:
                    emit(ev)
                finally:
                    told[0] = False

            gw._post, gw._on_frame, gw._emit = recorded_post, recorded_frame, gateway_emit
            asset = await gw.prepare()
            book = gw.parser.book((await gw.query_info({"type": "l2Book", "coin": COIN})), clock())
            mid = 0.5 * (book.bids[0][0] + book.asks[0][0])
            tick = 10.0 ** -venue_price_decimals(mid, asset.sz_decimals)
            prefix = 0x5eed0001
            core = live_core(cfg, seed, tick, asset.sz_decimals, prefix)

            class Commands(list):
                def append(self, cmd) -> None:
                    timeline.append(["cmd", clock(), encode_command(cmd)])

            class Driven(list):
                def append(self, ev) -> None:
                    if not told[0]:
                        timeline.append(["event", clock(), encode(ev)])

            driver = LiveDriver(gw, core, cfg.session.cycle_s, clock=clock, time_scale=speed,
                                command_log=Commands(), event_log=Driven())
            await driver.run(duration_s=seconds, shutdown_grace_s=5.0)
            await gw.close()
            return {"tick": tick, "sz_decimals": asset.sz_decimals, "cloid_prefix": prefix, "user": gw.user,
                    "stop_reason": driver.stop_reason, "base_url": bg.base_url}

        got = asyncio.run(run())
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    changed = [line[3:] for line in subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                                                   capture_output=True, text=True).stdout.splitlines()
               if (ROOT / line[3:]).resolve() != path.resolve()]
    if changed:  # (the tree the recording ran: the commit, and what was changed in it or added to it)
        commit += f" with changes to {', '.join(changed)}"
    head = {"provenance": {
        "what": "bench/live_diff.py's corpus: the input of a live run (HyperliquidGateway and LiveDriver, a core at "
                "Full) against twin serve on loopback, in a thread of the recording process",
        "recorded_by": f"python bench/live_diff.py --record {path} --seconds {seconds:g} --speed {speed:g} "
                       f"--seed {seed}",
        "commit": commit, "recorder_sha256": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "recorded_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "twin": {"seed": seed, "speed": speed, "params": "TwinParams(connection.hazard_per_hour=0)",
                 "schedule": json.loads(schedule.to_json())}},
        "config": overrides, "seed": seed, "coin": COIN, "action_ttl_s": 5.0 * speed, "clock_rate": speed, **got,
        "frames": sum(1 for t in timeline if t[0] == "frame"), "commands": sum(1 for t in timeline if t[0] == "cmd"),
        "answers": len(rest)}
    lines = [json.dumps(head, sort_keys=True)] + [json.dumps(["rest", *r]) for r in rest] + \
        [json.dumps(t) for t in timeline]
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))
    return head


def load_corpus(path: Path) -> tuple[dict, list, list]:
    """(its head line, its REST answers, its timeline)."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    head = lines[0]
    rest = [x[1:] for x in lines[1:] if x[0] == "rest"]
    timeline = [x for x in lines[1:] if x[0] != "rest"]
    return head, rest, timeline


# ---------------------------------------------------------------------------------------------- the replay
# Runs inside the revision's own process: it imports that tree's packages only (PYTHONPATH), never this tree's.

class _Time:
    """The ``time`` module as the gateway reads it, its monotonic clock the replay's (the expiresAfter and the
    dead-man's switch measure the host's clock against it)."""

    def __init__(self, clock) -> None:
        self._clock = clock

    def monotonic(self) -> float:
        return self._clock()

    def __getattr__(self, name):
        return getattr(time, name)


def _line(x) -> str:
    return json.dumps(x, sort_keys=True, default=repr)


def replay(corpus: Path, out: Path) -> None:
    """The corpus through this process's gateway, driver and parser (the module docstring says how), its four files
    written to ``out``."""
    import numpy as np

    import agent.gateway.hyperliquid.gateway as gwmod
    from agent.audit.event_log import decode
    from agent.config import AgentConfig
    from agent.gateway.hyperliquid.nonces import NonceManager
    from agent.gateway.hyperliquid.parse import VenueParser
    from agent.live import LiveDriver, live_core

    head, rest, timeline = load_corpus(corpus)
    now = [timeline[0][1] if timeline else 0.0]

    def clock() -> float:
        return now[0]

    gwmod.time = _Time(clock)
    answers: dict[tuple[str, str], deque] = {}
    for where, kind, status, payload, _ in rest:
        answers.setdefault((where, kind), deque()).append((status, payload))
    wire, events, decisions = [], [], []

    async def post(where: str, body: dict):
        wire.append(f"{where} {json.dumps(body, separators=(',', ':'))}")
        queue = answers.get((where, _request_kind(body)))
        if not queue:
            return gwmod._TRANSPORT, "not in the corpus"
        return queue.popleft()

    async def no_socket() -> None:
        return None

    cfg = AgentConfig.model_validate(head["config"])
    core = live_core(cfg, head["seed"], head["tick"], head["sz_decimals"], head["cloid_prefix"])

    class Commands(list):
        def append(self, cmd) -> None:
            decisions.append(f"{clock()!r} {cmd!r}")

    class Quiet:  # the driver's gateway: the recorded commands go to the replayed one, not these
        in_flight = 0
        placing_in_flight = 0

        def send(self, cmd) -> None:
            pass

    driver = LiveDriver(Quiet(), core, cfg.session.cycle_s, clock=clock, time_scale=head["clock_rate"],
                        record_sink=lambda r: decisions.append(_line(r)), command_log=Commands())

    def sink(ev) -> None:
        events.append(repr(ev))
        driver.on_event(ev)

    async def run() -> None:
        gw = gwmod.HyperliquidGateway(head["base_url"], corpus_key(), head["coin"], clock=clock,
                                      rng=np.random.default_rng(head["seed"]), quota_poll_s=0,
                                      action_ttl_s=head["action_ttl_s"], clock_rate=head["clock_rate"],
                                      nonces=NonceManager(lambda: int(clock() * 1000)))
        gw._post, gw._run_socket = post, no_socket
        # (no retries, as none are covered: a set-up query the corpus has no answer for, as one a revision added
        # since its recording, is asked once, not again after 7.5 s of the replay's wall time asleep)
        gw.setup_retry_s = ()
        await gw.prepare()
        gw.start(sink)
        for kind, ts, data in timeline:
            now[0] = ts
            if kind == "frame":
                gw._on_frame(data)
            elif kind == "event":
                driver.on_event(decode(data))
            else:
                gw.send(decode_command(data))
                while gw.in_flight:  # its requests, each answered at once
                    await gw.drain(60.0)
                await asyncio.sleep(0)  # the events a send gives soon (a command not sent: its rejection)
                await asyncio.sleep(0)
        events.append(f"stats {_line(gw.stats)}")  # (its counts: malformed frames, prints repeated, not sent, ...)
        await gw.close()

    asyncio.run(run())
    parser = VenueParser(head["coin"], head["user"])
    parsed = []
    for kind, ts, data in timeline:
        if kind == "frame":
            parsed.append(repr(parser.ws(data, ts)))
    readers = {"/exchange": lambda b, ts: parser.action_reply(b),
               "clearinghouseState": lambda b, ts: parser.account_state(b),
               "openOrders": lambda b, ts: parser.open_orders(b), "userFillsByTime": parser.fill_page,
               "userFunding": parser.funding_page, "userRateLimit": parser.quota, "l2Book": parser.book,
               "meta": lambda b, ts: parser.asset(b, None, head["coin"])}
    for where, kind, status, payload, ts in rest:
        read = readers.get(where if where == "/exchange" else kind)
        parsed.append(f"{where} {kind} {status}: " + (repr(read(payload, ts)) if status == 200 and read else "-"))
    parsed.append(f"malformed {parser.malformed}")
    for name, lines in zip(FILES, (wire, events, decisions, parsed)):
        (out / name).write_text("\n".join(lines) + "\n")


def worker(corpus: Path, out: Path) -> int:
    """The replay into ``out``; one that raises leaves error.txt there. The gateway's and the driver's log lines go to
    log.txt (read, not compared: a warning's text is no decision), not to the console."""
    import logging
    import traceback

    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "log.txt")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    try:
        replay(corpus, out)
    except Exception:
        (out / "error.txt").write_text(traceback.format_exc())
    finally:
        handler.close()
    return 0


# ---------------------------------------------------------------------------------------------- comparing

def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def compare(base: Path, head: Path) -> list[tuple[str, int, int, str, str, str | None]]:
    """Each file's (name, lines at base, lines at head, the two digests, its first difference described or None)."""
    from decisions_diff import _short, first_difference

    rows = []
    for name in FILES:
        la = (base / name).read_text().splitlines() if (base / name).exists() else []
        lb = (head / name).read_text().splitlines() if (head / name).exists() else []
        diff = None
        if la != lb:
            i, x, y = first_difference(la, lb)
            diff = f"{name} line {i}\n    - {_short(x)}\n    + {_short(y)}"
        rows.append((name, len(la), len(lb), _digest(la), _digest(lb), diff))
    return rows


def _run(tree: Path, corpus: Path, out: Path, python: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(tree))
    subprocess.run(["nice", "-n", "5", python, str(Path(__file__).resolve()), "--worker", str(corpus), str(out)],
                   cwd=tree, env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 3 and argv[0] == "--worker":  # _run's own call: the revision's packages only (its PYTHONPATH)
        sys.path[0:1] = [os.environ.get("PYTHONPATH", ".")]
        return worker(Path(argv[1]), Path(argv[2]))
    sys.path[:0] = [str(ROOT)]
    from common.cli_errors import fail, print_out
    from common.files import ArgumentParser
    from common.units import bounded, non_negative_int, positive_float
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="base revision (a git rev, checked out as a worktree under --work, removed at the "
                                   "end) or a tree's path; needed unless --record")
    ap.add_argument("--head", default=str(ROOT), help="the tree compared with it (default: this one)")
    ap.add_argument("--corpus", type=Path, default=None,
                    help="the recorded run replayed (default: the committed one, bench/live_corpus.jsonl.gz)")
    ap.add_argument("--work", type=Path, default=None, help="where the replays' files are written (default: a "
                                                            "temporary folder, removed when all are identical)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter (default: this one)")
    ap.add_argument("--record", type=Path, default=None, metavar="FILE",
                    help="instead: record a corpus to FILE from a live run against twin serve (this tree's code)")
    ap.add_argument("--seconds", type=bounded(positive_float, 3600.0, "an hour of the venue's time"), default=300.0,
                    help="--record: the run's length in the venue's seconds (default 300)")
    ap.add_argument("--speed", type=bounded(positive_float, 100.0, "the twin's fastest useful speed"), default=5.0,
                    help="--record: the twin's speed, venue seconds a wall second (default 5)")
    ap.add_argument("--seed", type=non_negative_int, default=0, help="--record: the twin's and the core's seed "
                                                                     "(default 0)")
    args = ap.parse_args(argv)
    if args.record is not None:
        head = record(args.record, args.seconds, args.speed, args.seed)
        size = args.record.stat().st_size
        print_out(f"wrote {args.record} ({size / 1024:.0f} KiB): {head['frames']} frames, {head['commands']} commands,"
                  f" {head['answers']} REST answers; the run stopped: {head['stop_reason']}")
        return 0
    args.corpus = args.corpus or CORPUS
    if args.base is None:
        return fail("--base is required (a git rev or a tree's path), unless --record")
    if not Path(args.head).is_dir():
        return fail(f"--head {args.head}: not a folder: give a tree's path")
    if not args.corpus.is_file():
        return fail(f"--corpus {args.corpus}: not a file")
    if shutil.which(args.python) is None:
        return fail(f"--python {args.python}: not an interpreter that can be run")
    if args.work is not None:
        from common.files import make_output_folder
        try:
            make_output_folder(args.work, "--work")
        except ValueError as e:
            return fail(str(e))
    sys.path[:0] = [str(ROOT / "bench")]
    from decisions_diff import _remove_tree, _tree
    work = args.work or Path(tempfile.mkdtemp(prefix="live_diff-"))
    try:
        base_tree, made = _tree(args.base, work)
    except subprocess.CalledProcessError as e:
        said = e.stderr.decode(errors="replace").strip() if e.stderr else ""
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        return fail(f"--base {args.base}: neither a folder nor a revision git can check out" + (f" ({said})" if said
                                                                                             else ""))
    trees = {"base": base_tree, "head": Path(args.head).resolve()}
    try:
        t0 = time.perf_counter()
        for side, tree in trees.items():
            _run(tree, args.corpus.resolve(), work / side, args.python)
        wall = time.perf_counter() - t0
    finally:
        if made:
            _remove_tree(base_tree)
    print_out(f"corpus {args.corpus}; base {trees['base']}, head {trees['head']}; replayed in {wall:.1f} s")
    print_out(f"\n{'file':<15}{'base lines':>11}{'head lines':>11}  {'base sha256':<17}{'head sha256':<17}same")
    rows = compare(work / "base", work / "head")
    for name, na, nb, da, db, diff in rows:
        print_out(f"{name:<15}{na:>11}{nb:>11}  {da[:16]:<17}{db[:16]:<17}{'yes' if diff is None else 'NO'}")
    raised = [side for side in trees if (work / side / "error.txt").exists()]
    for side in raised:
        print_out(f"\nthe replay at {side} raised:\n{(work / side / 'error.txt').read_text().rstrip()}")
    for *_, diff in rows:
        if diff:
            print_out(f"\n{diff}")
    differs = bool(raised) or any(r[-1] for r in rows)
    if differs or args.work is not None:
        print_out(f"\nthe replays' files are in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if differs else 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["--worker"]:
        sys.path[:0] = [str(ROOT)]
        from common.console import drop_output_unread
        drop_output_unread()  # (| head: not an error)
    sys.exit(main())
