"""``python -m twin serve``: the twin as a loopback Hyperliquid venue (REST /info, /exchange and /ws).

``serve_main(argv)`` parses the options, builds and funds the twin, prints the URL and serves until
interrupted. Point the official SDK (or the agent's live gateway) at the printed URL.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Coroutine

from common.cli_errors import fail, log_to_stderr, print_note, print_out
from common.files import ArgumentParser, error_message, field_path, given, missing_extra, unreadable
from twin.server.clock import parse_speed
from twin.server.limits import WS_LIMIT_MAX, WsLimits
from common.units import non_empty, parse_port, parse_seed


MAX_FUND_USDC = 1e12  # an account's USDC on one dex, as the agent's collateral_usd at most


def _fund_arg(text: str) -> tuple[str, float, str]:
    """ADDRESS=USDC (the first dex) or ADDRESS=USDC@DEX (a HIP-3 dex: each dex margins apart)."""
    address, sep, rest = text.partition("=")
    usdc, _, dex = rest.partition("@")
    address = address.strip()
    if not sep or len(address) != 42 or not address.startswith("0x"):
        raise argparse.ArgumentTypeError(f"--fund {text!r}: expected ADDRESS=USDC or ADDRESS=USDC@DEX, e.g. "
                                         f"0xabc…(40 hex)=10000")
    try:
        int(address[2:], 16)
        amount = float(usdc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fund {text!r}: ADDRESS must be hex and USDC a number") from None
    if not (amount > 0 and math.isfinite(amount)):  # 'inf' parses: an account that then reported 0.0
        raise argparse.ArgumentTypeError(f"--fund {text!r}: USDC must be a positive finite number, got {usdc!r}")
    if amount > MAX_FUND_USDC:  # (1e300 was taken: an account no agent config can match, its sums near overflow)
        raise argparse.ArgumentTypeError(f"--fund {text!r}: USDC must be at most {MAX_FUND_USDC:g} (a trillion, the "
                                         f"agent's collateral_usd bound), got {usdc!r}")
    return address.lower(), amount, dex.strip()


WS_LIMIT_NAMES = tuple(WsLimits.model_fields)


def _ws_limit_arg(text: str) -> tuple[str, int]:
    """NAME=N: one of the server limits per IP, for a soak run that needs more or a test that wants fewer."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or name not in WS_LIMIT_NAMES:
        raise argparse.ArgumentTypeError(f"--ws-limit {text!r}: expected NAME=N, NAME one of {', '.join(WS_LIMIT_NAMES)}")
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= WS_LIMIT_MAX:
        raise argparse.ArgumentTypeError(f"--ws-limit {text!r}: N must be a whole number from 1 to {WS_LIMIT_MAX:,}")
    return name, n


def _speed_arg(text: str) -> float:
    try:
        return parse_speed(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m twin serve",
        description="Serve the twin over the venue's protocol (POST /info, POST /exchange, /ws) on one host "
                    "and port. Clients sign as on testnet (any base URL other than the mainnet one does).",
        epilog="It serves until Ctrl-C, SIGTERM or SIGHUP, which it says (stopped (SIGTERM)), exit status 128 + the "
               "signal's number: 130, 143, 129; its shutdown takes 8 s at most, and a second signal ends it at once. "
               "Exit status 2 for bad options or files, and when it cannot listen on --host and --port (in use, not "
               "allowed, no such host): what the system said.")
    p.add_argument("--host", type=non_empty, default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=parse_port, default=3001,
                   help="TCP port (default 3001, the SDK's LOCAL_API_URL; 0 picks one)")
    p.add_argument("--params", type=non_empty,
                   help="TwinParams JSON file (default: built-in parameters; keys left out keep them). Unless it "
                        "pins venue.epoch_ms to a number (null, as a dump of the parameters writes it, does not), "
                        "venue time starts at the wall clock so wall-clock nonces pass.")
    p.add_argument("--seed", type=parse_seed, default=0, help="random seed of the twin (default 0)")
    p.add_argument("--speed", type=_speed_arg, default=1.0,
                   help="simulated time per wall time: 'realtime' (default) or a factor such as 10x, at most 10000x")
    p.add_argument("--fund", type=_fund_arg, action="append", default=[], metavar="ADDRESS=USDC[@DEX]",
                   help="create an account holding USDC on the first perp dex, or with @DEX on that HIP-3 dex "
                        "(repeatable, once per address and dex; each dex margins apart, as on the venue: a HIP-3 coin "
                        "trades on what is funded on its dex, e.g. --fund 0x…=1000@hyna for hyna:LIT); only funded "
                        "accounts and their approved agents may trade")
    p.add_argument("--scenario", type=non_empty,
                   help="chaos schedule, YAML or JSON: {events: [...]} (or a scenario file's chaos: list) of "
                        "disconnect, http_429_burst, rejection_burst, latency_spike, quota_set, price_jump, regime, "
                        "market_param events, and a scenario's shorthands slide and quota_pinned; at_s is seconds of "
                        "venue time after the server starts")
    p.add_argument("--ws-limit", type=_ws_limit_arg, action="append", default=[], metavar="NAME=N",
                   help="change one of the venue's websocket server limits, each kept per client IP (every loopback "
                        "client shares 127.0.0.1), repeatable: connections (default 10), new_connections_per_minute "
                        "(30), subscriptions (1000), users (10, across user-specific subscriptions), "
                        "messages_per_minute (2000, across its sockets), posts_in_flight (100); a minute is venue time")
    return p


def load_chaos(path: str):
    """The ChaosSchedule in a YAML or JSON file, its shorthands expanded; ValueError naming the file and the problem."""
    from twin.faults.chaos import ChaosSchedule, expand_shorthands

    return ChaosSchedule(events=expand_shorthands(read_chaos_file(path).events))


def read_chaos_file(path: str):
    """The ChaosFile in a YAML or JSON file, its events as written (a slide, a quota_pinned one each: the start
    counted them expanded, 125 for feb09's two); ValueError naming the file and the problem."""
    import yaml
    from pydantic import ValidationError

    from twin.faults.chaos import ChaosFile
    from common.files import load_yaml, read_text

    try:
        data = load_yaml(read_text(path), path)  # JSON is YAML
    except OSError as e:
        raise ValueError(f"--scenario {path}: cannot read it: {e.strerror or e}") from None
    except yaml.YAMLError as e:  # (read, and not YAML: "cannot read it (ScannerError: ...)" said otherwise)
        raise ValueError(f"--scenario {path}: not valid YAML: {e}") from None
    except ValueError as e:  # not UTF-8 (read_text names the file)
        raise ValueError(f"--scenario {e}") from None
    key = "events"  # (the list is named in errors as the file names it)
    if isinstance(data, dict) and "events" not in data and "chaos" in data:
        # the rest of a scenario is not the server's to apply: said, as an operator replaying an incident against a
        # live agent took the venue's and the start's overrides (feb09's) for served too
        left = [k for k in ("market", "twin", "start", "agent") if data.get(k)]
        if left:
            print_note(f"note: --scenario {path}: serving its chaos list only; not applied: its "
                       f"{', '.join(left)} section{'s' if len(left) > 1 else ''} (twin parameters go in a --params "
                       f"file; the agent's config and starting state are the client's)")
        key, data = "chaos", {"events": data["chaos"] or []}
    elif isinstance(data, dict) and "events" not in data and ("invariants" in data or "incident" in data):
        # (a scenario file without chaos was refused as "name: Extra inputs are not permitted", its first key)
        raise ValueError(f"--scenario {path}: a scenario file with no chaos: list, nothing to schedule (serve takes "
                         f"a scenario's chaos list only, not its market, twin or start sections)")
    if data is None:  # ("got NoneType" named Python's type, not the file's problem)
        raise ValueError(f"--scenario {path}: empty: no events in it (give {{events: [...]}})")
    if not isinstance(data, dict):
        raise ValueError(f"--scenario {path}: expected a mapping with an 'events' list, got {type(data).__name__}")
    try:  # (a scenario's shorthands, slide and quota_pinned, are expanded by load_chaos as its runner does)
        return ChaosFile.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = first["loc"]
        where = field_path((key, *loc[1:]) if loc[:1] == ("events",) else loc)
        raise ValueError(f"--scenario {path}: {where}: {error_message(first['msg'])} "
                         f"({given(first.get('input'))})") from None


def serve_main(argv: list[str] | None = None, *, own_command_line: bool | None = None) -> int:
    """``own_command_line`` (by default, when ``argv`` is None): the process's, which SIGTERM and SIGHUP then stop as
    Ctrl-C does; a caller in-process (a test) keeps its handlers."""
    own_command_line = argv is None if own_command_line is None else own_command_line
    args = build_parser().parse_args(argv)
    from twin.faults.chaos import ChaosSchedule, expand_shorthands, market_param_misfit
    from twin.params import TwinParams
    try:
        from twin.server.app import CannotListen, TwinServer, build_exchange, serve
    except ImportError as e:  # aiohttp, eth-account, msgpack: the live extra's
        return fail(missing_extra(e, "live"))

    try:
        params = TwinParams.load(args.params) if args.params else TwinParams()
        chaos = read_chaos_file(args.scenario) if args.scenario else None
        schedule = None if chaos is None else ChaosSchedule(events=expand_shorthands(chaos.events))
    except OSError as e:  # the --params file (read_chaos_file names its own)
        return fail(unreadable("--params", e))
    except ValueError as e:
        return fail(str(e))
    for coin, market in params.markets.items() if schedule is not None else ():
        misfit = market_param_misfit(schedule.events, market)  # (each event was checked on the default market)
        if misfit is not None:
            _, ev, problem = misfit
            source = f"--params {args.params}" if args.params else "the default"
            return fail(f"--scenario {args.scenario}: the market_param at_s {ev.at_s:g} ({ev.name} {ev.value:g}) does "
                        f"not fit {source} markets.{coin}: {problem}")
    dexes = sorted({i.dex for i in params.instruments})
    funds: dict[tuple[str, str], float] = {}
    for address, usdc, dex in args.fund:
        if dex not in dexes:
            return fail(f"--fund {address}={usdc:g}@{dex}: the twin lists no dex {dex!r} (its dexes: "
                        f"{', '.join(repr(d) for d in dexes)}; the first dex is '', written without @)")
        if (address, dex) in funds:  # (they were added up, said only in the start line: a line a script repeated
            # gave the account twice the money; an address is no secret, and a key is refused as one by _fund_arg)
            return fail(f"--fund {address} given twice for {f'dex {dex!r}' if dex else 'the first dex'} "
                        f"({funds[address, dex]:g} and {usdc:g} USDC): give each address once per dex, with its whole "
                        f"amount")
        funds[address, dex] = usdc
    server = TwinServer(build_exchange(params, args.seed, funds, schedule=schedule), speed=args.speed,
                        limits=WsLimits(**dict(args.ws_limit)))
    # the events as the file writes them, and the steps the twin plays where a slide or a quota_pinned makes more
    n_chaos = len(chaos.events) if chaos is not None else 0
    n_steps = len(schedule.events) if schedule is not None else 0
    chaos_said = f"{n_chaos} chaos event(s)" + (f", {n_steps} steps" if n_steps != n_chaos else "")

    def ready(url: str) -> None:
        print_out(f"twin venue listening on {url} (info {url}/info, exchange {url}/exchange, "
                  f"websocket ws{url[4:]}/ws), speed {args.speed:g}x, seed {args.seed}, "
                  f"{len({a for a, _ in funds})} funded account(s), {chaos_said}", flush=True)
        for (address, dex), usdc in funds.items():  # where each holds what: each dex margins apart
            print_out(f"  {address}: {usdc:,.2f} USDC on {f'dex {dex!r}' if dex else 'the first dex'}", flush=True)

    if own_command_line:  # the lines logging's last resort wrote (a failed request's traceback), keys hidden
        log_to_stderr(logging.WARNING, "%(message)s")
    from common.stop_signals import begun, exit_status, interrupted_by
    begun()
    try:  # (SIGTERM, a service manager's stop, was its default action: killed unsaid, where Ctrl-C exited 0 unsaid)
        signum = serve_until_stopped(lambda stop: serve(server, args.host, args.port, on_ready=ready, stop=stop),
                                     own_signals=own_command_line)
    except KeyboardInterrupt as e:  # (a caller in-process, whose handlers are kept: its Ctrl-C)
        print_note(f"stopped ({interrupted_by(e)})")
        return exit_status(e)
    except CannotListen as e:  # refused at the start, as a bad option is (it was exit 1; a traceback for some hosts)
        return fail(f"--host {args.host} --port {args.port}: cannot listen there: {e}")
    except OSError as e:
        return fail(f"cannot listen on {args.host}:{args.port}: {e}", code=1)
    if signum is not None:
        print_note(f"stopped ({interrupted_by(signum)})")
        return exit_status(signum)
    return 0


def serve_until_stopped(served: Callable[[asyncio.Event], Coroutine], own_signals: bool) -> int | None:
    """``served(stop)`` (``serve(..., stop=stop)``) run on a loop of its own; with ``own_signals`` (the process's
    command line), Ctrl-C, SIGTERM and SIGHUP set its stop, and the first one's number is returned (None: it ended
    otherwise). A second one ends the process at once, said, the first one's status.

    The signal sets the stop, from the loop, where the server then shuts down as written: it raised a
    KeyboardInterrupt wherever it landed, and one that landed inside the loop's machinery (the ``call_soon`` that
    schedules a task's wake-up once its future is done) left that task waiting for good on a future already done,
    which no cancel wakes: ``asyncio.run``'s ``_cancel_all_tasks`` then waited on it for ever, no CPU used, and a
    second SIGTERM was ignored. The tasks left once it has ended are cancelled and waited for within a bound, not
    for ever as ``asyncio.run`` does."""
    from common.bounded_loop import run_bounded
    from common.stop_signals import STOP_SIGNALS, exit_status, interrupted_by
    from twin.server.app import CANCEL_GRACE_S, SHUTDOWN_S

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    caught: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        caught.append(signum)
        if len(caught) == 1:  # (from a handler: only what is safe between any two bytecodes, as asyncio's own does)
            loop.call_soon_threadsafe(stop.set)
            return
        os.write(2, f"stopped ({interrupted_by(caught[0])}) at once: a second {interrupted_by(signum)} cut its "
                    f"shutdown short\n".encode())
        os._exit(exit_status(caught[0]))

    held = {}
    if own_signals:
        for s in (signal.SIGINT, *STOP_SIGNALS):
            if signal.getsignal(s) is not signal.SIG_IGN:  # (one ignored when the process started stays ignored)
                held[s] = signal.signal(s, on_signal)
    try:
        # (the server's own shutdown bounds itself: given its bound when cut short, by an in-process Ctrl-C)
        run_bounded(loop, served(stop), SHUTDOWN_S + 2 * CANCEL_GRACE_S, CANCEL_GRACE_S)
    finally:
        for s, handler in held.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
    return caught[0] if caught else None


if __name__ == "__main__":
    sys.exit(serve_main())
