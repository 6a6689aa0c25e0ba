"""``python -m agent --venue live``: the market maker against Hyperliquid (testnet by default) or ``twin serve``.

``live_main(argv)`` reads the options and the signing key (environment or keystore; never printed
or logged), runs the core through ``HyperliquidGateway`` and ``LiveDriver`` until the duration is
over, SIGINT/SIGTERM/SIGHUP or a Kill's work done, then pulls every order and writes the state and the summary.
Exit codes: 0 done; 1 the venue could not be used (or the run's files, or a Kill's latch, could not be written at the
end); 2 bad options (a coin the venue does not list among them), no key or a key the venue refuses, or an account and
coin a live Kill latched (``agent.kill_latch``); 3 orders may still rest; 4 the run stopped itself on a fault (a core
error, a log it could not write), every order pulled; 5 a Kill stopped the run (its latch written: later starts are
refused until --clear-kill), or a stop after one; 130 (SIGTERM 143, SIGHUP 129) interrupted before trading started.
When several apply the first of 3, 4, 1, 5 is given: 5 says every order gone, the files and the latch written.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import functools
import getpass
import json
import logging
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from agent.gateway.hyperliquid.gateway import MAINNET_URL, TESTNET_URL
from agent.gateway.hyperliquid.wire import is_address
from agent.kill_latch import CLEAR_OPTION
from agent.report import (FEE_MATCH_BPS, fee_rate_text, graduation_rows, health_rows, held_by, held_text, safety_row,
                          signed_usd)
from agent.run_lock import venue_key
from agent.safety.escalator import SafetyLevel
from common import json_text
from common.cli_errors import fail, log_apart_from_stderr, log_to_stderr, print_error, print_note, say
from common.files import ArgumentParser, make_output_folder, read_text, short_repr, unreadable
from common.stop_signals import StopSignal, exit_status, raise_stop_signals
from common.units import non_empty, parse_seed, positive_float

log = logging.getLogger("agent.live")

EPILOG = """keys (never printed or logged):
  HL_SECRET_KEY        the private key that signs: the account's, or an approved agent (API) wallet's
  HL_ACCOUNT_ADDRESS   the account traded and queried (required when the key is an agent's)
  --keystore FILE      an encrypted keystore instead of HL_SECRET_KEY (password: HL_KEYSTORE_PASSWORD
                       or a prompt)

execution levels (DESIGN §6): 0 paper, 1 twin-grade paper (both: use `python -m agent --venue twin`),
  2 dry-run (real signed orders far from the touch, cancelled as soon as they rest; the default),
  3 micro-live, 4 full live.

exit status:
  0 the run ended (its duration, SIGINT, SIGTERM or SIGHUP) with every order gone, no Kill in it
  1 the venue could not be used, or the run's files could not be written at the end
  2 bad options, a coin the venue does not list, no key, or a key the venue does not accept for the account,
    or an account and coin a live Kill latched (see below); nothing was sent
  3 orders of ours may still rest at the venue: check and cancel them
  4 the run stopped itself on a fault (a core error, a log it could not write), every order pulled
  5 a Kill stopped the run (stop_reason "kill": its work done, every order gone, flat or held), or the
    duration or a signal stopped it after one ("kill, then SIGTERM"); its latch holds every later start on
    the account and coin until --clear-kill
  130 interrupted (Ctrl-C) before trading started (its imports, the options and the key, the checks with
      the venue before the first order): no order was sent, the connection closed (given 3 s), the locks
      released; a second signal meanwhile ends it at once
  143, 129 SIGTERM, SIGHUP alike, their line naming them
  when several apply, the first of 3, 4, 1, 5 (a Kill whose latch could not be written ends with 1, or 3 or 4
  as above, and says so)

after a Kill: the run stops quoting, cancels every order (and flattens or holds: safety.kill_action), and a latch
  file is written beside the run lock (venue, account, coin); once the venue lists none of its orders (and no
  position, when flattening) the run stops by itself, exit 5. A flatten still working keeps it up until then (or
  --duration, or a signal). Every later start on them is refused (exit 2, naming the postmortem) until one with
  --clear-kill. Delete nothing by hand before reading the postmortem: the next start has a fresh drawdown
  baseline.

examples:
  python -m twin serve --port 3001 --fund 0xYOURADDRESS=100000 &
  HL_SECRET_KEY=... python -m agent --venue live --base-url http://127.0.0.1:3001 --execution-level 4 --duration 5m
  HL_SECRET_KEY=... HL_ACCOUNT_ADDRESS=0x... python -m agent --venue live --network testnet --coin ETH --out runs/t1
  python -m agent.audit runs/t1 --from 2026-11-30T14:00 --to 2026-11-30T14:05   # what it saw and sent then
"""

START_LEVELS = ("Shadow", "MicroLive", "Ramping", "Cautious", "Full", "Optimized")  # ExposureLevel's, in its order
_PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class UsageError(Exception):
    """A problem with the options or the key: the message is safe to print (it never holds a secret)."""


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m agent --venue live", epilog=EPILOG,
                                description="The market maker against the live venue (or twin serve).",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--venue", choices=["live"], default="live", help=argparse.SUPPRESS)
    p.add_argument("--network", choices=["mainnet", "testnet"], default="testnet", help="default testnet")
    p.add_argument("--base-url", type=non_empty,
                   help="REST base URL; overrides --network (e.g. http://127.0.0.1:3001 for twin serve). Any URL other "
                        "than the mainnet one signs as testnet. No user or password in it (refused: it would be "
                        "printed; the venue needs none).")
    p.add_argument("--coin", type=non_empty,
                   help="coin to quote (default: the config's session.coin); HIP-3 as dex:COIN")
    p.add_argument("--dex", type=non_empty, help="HIP-3 dex name; --coin X --dex d quotes d:X")
    p.add_argument("--config", type=non_empty, help="agent config YAML (validated; unknown keys are errors; every "
                                                     "key left out, in a section given too, keeps the shipped "
                                                     "default)")
    p.add_argument("--start-level", default="Shadow", type=_start_level,
                   help=f"exposure level to start at: {', '.join(START_LEVELS)} (default Shadow: nothing placed "
                        "but the reduce-only exits of a position the account holds in the coin; the config's "
                        "graduation.shadow_exits false places none)")
    p.add_argument("--execution-level", type=int, choices=range(5), default=2, metavar="0-4",
                   help="0-1 paper (use the twin), 2 dry-run (default), 3 micro-live (the exposure capped at "
                        "MicroLive, whatever graduation's evidence), 4 full live (graduation may promote up to "
                        "graduation.ceiling)")
    p.add_argument("--duration", type=non_empty,
                   help="how long to run: seconds, or 30m, 2h, 1h30m, at most 365d (default: until SIGINT, SIGTERM or "
                        "SIGHUP)")
    p.add_argument("--out", help="run folder: config.json, decisions.jsonl (continued in a fresh file past "
                   "session.log_segment_mb, the full ones kept as decisions-000001.jsonl, ...), events.jsonl "
                   "(every event the agent handled, segmented alike: `python -m agent.audit DIR --replay` "
                   "replays the run exactly), state.json, summary.json (rewritten every session.checkpoint_s while it runs), "
                   "level_history.json, postmortem-*.json (at a Kill). A run into a folder an earlier live run of "
                   "this venue, account and coin wrote carries it on; any other run's folder is refused")
    p.add_argument("--no-events", action="store_true",
                   help="do not write events.jsonl (some 300-500 MB a day, about the decision log's size as "
                        "shipped; segmented like it, closed segments may be gzipped)")
    p.add_argument("--keystore", type=non_empty, help="encrypted keystore file with the signing key")
    p.add_argument("--i-understand-mainnet", action="store_true",
                   help="required to trade on mainnet: real money")
    p.add_argument("--seed", type=parse_seed, default=0,
                   help="seed of the agent's and the reconnect jitter's randomness (default 0)")
    p.add_argument("--allow-oversized-position", action="store_true",
                   help="start even when the account already holds more of the coin than safety.position_kill_frac x "
                        "risk.max_position: the first cycle is then a Kill, which flattens it through the book "
                        "(safety.kill_action flatten) or holds it and stops (hold). Without it such a run is refused")
    p.add_argument("--shutdown-grace", type=_grace, default=15.0,
                   help="seconds to wait at the end for the venue to confirm every order is gone (default 15; "
                        "positive: with no time the connection closes before the cancels land, and the orders rest; "
                        f"at most {MAX_GRACE_S:g})")
    p.add_argument("--flatten-on-stop", action="store_true",
                   help="at the end (--duration, SIGINT, SIGTERM, SIGHUP) also close the position through the book, as a "
                        "Kill's flatten does: reduce-only IOCs 1%% through the touch, again for what is left, within "
                        "--shutdown-grace. Without it a stop pulls the orders and leaves the position. Not at the stop "
                        "a Kill makes when safety.kill_action is hold: that holds the position as the Kill does. "
                        "Execution levels 3 and 4 only (a dry run's orders cannot close anything)")
    p.add_argument(CLEAR_OPTION, action="store_true",
                   help="clear the latch a live Kill on this venue, account and coin left (in the lock folder, "
                        "whatever --out it ran with), after reading its postmortem: without it a start on a latched "
                        "account and coin is refused (exit 2); with it the latch is removed once the checks with "
                        "the venue pass and the --out folder is begun (a start refused before then leaves it), said "
                        "in the log and in the decision log's start record (kill_cleared), and the run goes on. "
                        "Nothing to clear: said as a warning (under --quiet too), and the run goes on")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    return p


MAX_GRACE_S = 3600.0  # a venue that has not confirmed the cancels in an hour will not: exit 3 says to check


def _grace(text: str) -> float:
    """--shutdown-grace: positive, and at most an hour. 1e300 was taken: a venue that never confirmed kept the
    process waiting for ever, the exit status that says orders may rest (3) never given."""
    value = positive_float(text)
    if value > MAX_GRACE_S:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_GRACE_S:g} s, got {short_repr(text)}")
    return value


def _start_level(text: str) -> str:
    from agent.graduation.exposure import level_named
    level = level_named(text)  # as a config names it: blind to case, '_' and '-'
    if level is None:
        raise argparse.ArgumentTypeError(f"--start-level {text!r}: expected one of {', '.join(START_LEVELS)}")
    return START_LEVELS[level]


def load_key(keystore: str | None, env: dict) -> tuple[object, str | None]:
    """(Wallet, account address or None) from --keystore or HL_SECRET_KEY; UsageError (no secret in it) if absent."""
    from agent.gateway.hyperliquid.signing import Wallet

    if keystore:
        if _PRIVATE_KEY.match(keystore.strip()):  # echoed in the error below, into the console and the logs
            raise UsageError("--keystore takes a keystore file, and was given a private key (64 hex digits; value "
                             "not shown): set HL_SECRET_KEY instead, and clear the key from the shell's history")
        path = Path(keystore)
        try:
            text = read_text(path)  # (at most a config's size: /dev/zero given here took all memory)
        except OSError as e:  # (what the system said: "(FileNotFoundError)" named a class, not the problem)
            raise UsageError(unreadable("--keystore", e)) from None
        except ValueError as e:  # not UTF-8, or past its size (naming the file)
            raise UsageError(f"--keystore {e}") from None
        try:
            blob = json.loads(text)
        except (ValueError, RecursionError) as e:  # (its message gives the place, never the text: nothing secret
            # shown; RecursionError: nested past json's limit; a bare ValueError: an integer past Python's 4,300
            # digits, which read_text's handler here said as "--keystore Exceeds the limit ...", naming no file)
            said = e if isinstance(e, (json.JSONDecodeError, RecursionError)) else "a number too long to read"
            raise UsageError(f"--keystore {path}: not a keystore JSON: {said}") from None
        password = env.get("HL_KEYSTORE_PASSWORD")
        if password is None:
            if not sys.stdin.isatty():
                raise UsageError(f"--keystore {path}: set HL_KEYSTORE_PASSWORD (no terminal to ask for it)")
            password = getpass.getpass(f"password for {path}: ")
        from eth_account import Account
        try:
            wallet = Wallet(Account.from_key(Account.decrypt(blob, password)))
        except Exception:
            raise UsageError(f"--keystore {path}: wrong password or not a keystore") from None
        if env.get("HL_SECRET_KEY", "").strip():  # (one exported in a profile: which wallet signs, said)
            print_note(f"note: HL_SECRET_KEY is set too and not used: the key in --keystore {path} signs "
                       f"(its address {wallet.address})")
    else:
        secret = env.get("HL_SECRET_KEY", "").strip()
        if not secret:
            raise UsageError("no signing key: set HL_SECRET_KEY (the account's key, or an approved agent "
                             "wallet's) and HL_ACCOUNT_ADDRESS (the account; required for an agent key), "
                             "or pass --keystore FILE")
        if not _PRIVATE_KEY.match(secret):
            # (eth-account pads a short key with zeros: one digit lost in a paste is another key, another address)
            raise UsageError(f"HL_SECRET_KEY is not a valid private key: 64 hex digits (0x optional); it has "
                             f"{len(secret)} characters (value not shown){_shape_said(secret, 64)}")
        try:
            wallet = Wallet(secret)
        except ValueError:
            raise UsageError("HL_SECRET_KEY is not a valid private key (value not shown)") from None
    account = env.get("HL_ACCOUNT_ADDRESS", "").strip() or None
    if account is not None and not is_address(account):
        raise UsageError(_bad_address_text(account))
    return wallet, account


def _bad_address_text(account: str) -> str:
    """Why HL_ACCOUNT_ADDRESS is refused, without its value: a private key pasted there in its place would
    otherwise be printed to the terminal, and from there into shell scrollback and CI logs."""
    text = f"HL_ACCOUNT_ADDRESS must be 0x + 40 hex digits; it has {len(account)} characters (value not shown)"
    if _PRIVATE_KEY.match(account):
        text += (": it looks like a private key (64 hex digits), which must not go in that variable; set it to "
                 "the account's 0x address")
    else:
        text += _shape_said(account, 40)
    return text


def _shape_said(value: str, digits: int) -> str:
    """What is wrong with a key's or an address's shape, in words that show none of it: the length alone ("it has 68
    characters") left the operator counting, where the usual causes are quotes kept around it (a docker --env-file
    or systemd EnvironmentFile line ``HL_SECRET_KEY="0x..."`` keeps them), ``0X``, or a wrapped paste's space."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return ": it is in quotes (a docker --env-file or systemd EnvironmentFile keeps them): remove them"
    if value.startswith("0X"):
        return ": it starts with 0X: write 0x"
    if any(c.isspace() for c in value):
        return ": it holds a space or a line break (a paste wrapped?)"
    body = value[2:] if value.startswith("0x") else value
    other = sum(c not in "0123456789abcdefABCDEF" for c in body)
    if other:
        return f": {other} of its characters are not hex digits"
    return f": {len(body)} hex digits where {digits} are needed"


def live_main(argv: list[str] | None = None, env: dict | None = None, *, restore_signals: bool | None = None) -> int:
    """The live CLI; its exit status. Until trading starts (the options, the key, the locks, the checks with the
    venue before any order), SIGTERM and SIGHUP end it as Ctrl-C does: said in one line, every lock released and
    the gateway closed (before, their default action killed it unsaid); once the run's loop is up they are taken
    there (``_StartUpStop``), not raised where they land. From then the run's own handlers stop it
    (LiveDriver), and once it has stopped SIGINT, SIGTERM and SIGHUP are ignored until its end is written and said
    (a second Ctrl-C cut it short: exit 130 saying no order was sent, or the process killed by the signal, neither
    the 0 nor the 3 a supervisor reads). ``restore_signals``: put their handlers back on return (by default when
    ``argv`` is given, a call in-process, whose SIGTERM and SIGHUP are then left alone; run as the process's own
    command line they stay ignored to its exit, whose interpreter shutdown a Ctrl-C could still cut)."""
    if restore_signals is None:
        restore_signals = argv is not None
    held = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    if not restore_signals:
        raise_stop_signals()  # (replaced by the run's own once trading starts: _run)
    try:
        return _live_main(argv, env)
    except KeyboardInterrupt as e:  # before the run's own handlers are in: the locks released, the gateway closed
        by = f" ({e.name})" if isinstance(e, StopSignal) else ""  # (Ctrl-C's line as it was)
        print_note(f"interrupted{by} before trading started: no order was sent")
        return exit_status(e)
    finally:
        for s, handler in held.items():
            if restore_signals and handler is not None:  # (None: set outside Python, cannot be put back)
                signal.signal(s, handler)


def _live_main(argv: list[str] | None, env: dict | None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ) if env is None else env
    log_to_stderr(logging.WARNING if args.quiet else logging.INFO)  # (keys hidden: the venue's text, the URL)
    try:
        plan = _plan(args, env)
    except UsageError as e:
        return fail(str(e))
    from agent.audit.records import refuse_another_live_run
    from agent.kill_latch import Latched, latch_path
    from agent.run_lock import RunLock, RunLocked
    account = plan.account or plan.wallet.address
    plan.latch_path = latch_path(plan.base_url, account, plan.coin)  # (a Kill's latch, keyed as the run lock)
    locks = [RunLock(plan.base_url, account, plan.coin)]
    if plan.out is not None:
        locks.append(RunLock.for_folder(plan.out))
    try:
        try:
            for lock in locks:
                lock.acquire()
            if plan.out is not None:  # (under the folder's lock: no other run can start writing it meanwhile)
                refuse_another_live_run(plan.out, base_url=plan.base_url, account=account, coin=plan.coin)
            # (under the account's lock: no other agent on this host can be killed onto the latch meanwhile)
            plan.kill_cleared = _kill_latched(plan.latch_path, args.clear_kill)
        except (RunLocked, FileExistsError, Latched) as e:
            return fail(str(e))
        stop = _StartUpStop(plan)
        try:
            code = _run_in_a_loop_of_its_own(_run(plan, stop), plan.grace)
        except asyncio.CancelledError:  # (the stop's cancel, landed in the close of a fault's: as the stop)
            if not stop.caught or stop.handed:
                raise
        if stop.caught and not stop.handed:  # the checks cut short (_StartUpStop): said by live_main, unlocked first
            raise StopSignal(stop.caught[0]) if stop.caught[0] != signal.SIGINT else KeyboardInterrupt()
        return code
    finally:
        _drop_unwritten_folder(plan)  # (before the folder's lock is released: no other run is writing it)
        for lock in locks:
            lock.release()


def _kill_latched(path: Path, clear: bool) -> dict | None:
    """The start's check of the Kill latch (``agent.kill_latch``), before anything is asked of the venue: refused
    (``Latched``, exit 2) on a latch, or on a file there that cannot be read as one; with ``--clear-kill`` the latch
    is returned instead, to be removed and named in the start record (``{"unreadable": why}`` for one that could not
    be read). Refused before the venue is asked anything, the refusal takes no time: a Ctrl-C then is the start's
    (exit 130), the latch left as it was. With ``--clear-kill`` the latch is read here and removed only once the
    checks with the venue have passed and the run folder is begun (``_clear_latch``): a start refused before then (a
    position past the Kill threshold, the venue not answering, a run folder it cannot write) or a Ctrl-C leaves it,
    and the next start without the option is refused again."""
    from agent.kill_latch import Latched, read_latch, refusal_text
    try:
        latch = read_latch(path)
    except Latched as e:
        if not clear:
            raise
        latch = {"unreadable": str(e)}
    if latch is None:
        if clear:  # (a warning: an operator who asked to clear a Kill must hear there was none, under --quiet too; a
            # Kill on another venue URL, account or coin latched another file, and this one's latch was looked for)
            log.warning("%s: no Kill latch for this account and coin (%s): nothing to clear (a Kill of a run on "
                        "another venue URL, account or coin latched that one's, not this one's)", CLEAR_OPTION, path)
        return None
    if not clear:
        raise Latched(refusal_text(path, latch))
    log.info("%s: the Kill latch %s will be cleared once the checks with the venue pass and the run folder is begun",
             CLEAR_OPTION, path)
    return latch


def _clear_latch(path: Path, latch: dict) -> None:
    """``--clear-kill``'s removal, the checks with the venue passed, the run folder begun (its start record, which
    names the latch, written) and nothing sent yet, still under the account's lock: ``Latched`` (exit 2) when it
    cannot be removed."""
    from agent.kill_latch import Latched
    what = "a Kill at " + str(latch.get("killed_at")) if "unreadable" not in latch else "unreadable"
    try:
        path.unlink()
    except FileNotFoundError:  # (removed by hand during the checks: not this start's clearing, said as it is)
        done = f"the Kill latch {path} ({what}) read at the start was gone by the checks' end (removed meanwhile)"
    except OSError as e:
        raise Latched(f"{CLEAR_OPTION}: cannot remove the Kill latch {path}: {e.strerror or e}") from None
    else:
        done = f"cleared the Kill latch {path} ({what}) on {CLEAR_OPTION}"
    log.warning("%s: trading again on this account and coin, the drawdown baseline its value now", done)


def _close_logs(writer, journal, end: dict | None = None) -> None:
    """The run folder's logs just begun, closed on a start refused before any order (``end``: the decision log's last
    line); the disk that refused them may refuse this too: the refusal is what is said."""
    for log_file, last in ((writer, end), (journal, None)):
        if log_file is None:
            continue
        with contextlib.suppress(OSError):
            if last is not None:
                log_file.write(last)
            log_file.close()


def _drop_unwritten_folder(plan: _Plan) -> None:
    """A run refused before it wrote anything (a coin the venue does not list, a check before the first order, a
    run already trading the coin) left the --out folder it had made holding its lock file alone: an empty run
    folder where none was. Removed, with the folders above it the run made; a folder that was there is kept."""
    if plan.made is None:
        return
    try:
        if any(p.name != ".run.lock" for p in plan.out.iterdir()):
            return
        (plan.out / ".run.lock").unlink(missing_ok=True)
        for folder in (plan.out, *plan.out.parents):
            folder.rmdir()
            if folder == plan.made:
                break
    except OSError:  # (kept: something else was put in it meanwhile)
        pass


# the signals a live run stops on (LiveDriver.install_signal_handlers); Windows has no SIGHUP
_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class _Plan:
    """Everything the run needs, checked: no I/O yet."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)

    def __repr__(self) -> str:  # the wallet's repr shows its address only; say so explicitly anyway
        return f"_Plan(base_url={self.base_url!r}, coin={self.coin!r}, account={self.account!r})"


def _plan(args: argparse.Namespace, env: dict) -> _Plan:
    from agent.config import AgentConfig
    from common.units import parse_duration

    base_url = (args.base_url or (MAINNET_URL if args.network == "mainnet" else TESTNET_URL)).strip().rstrip("/")
    if not re.match(r"^https?://", base_url):
        raise UsageError(f"--base-url {args.base_url!r}: expected http://host:port or https://host")
    if "@" in base_url.split("://", 1)[1].split("/", 1)[0]:
        # (not echoed: the value holds the credential) the URL is shown in the console, the start record, the
        # summary and every gateway error; the venue needs no login (an action is authenticated by its signature)
        raise UsageError("--base-url: a user or password in the URL would be printed in the logs and the run folder; "
                         "the venue needs none (actions are signed): give the host alone")
    if "?" in base_url or "#" in base_url:
        # (not echoed: a token is what a query usually carries) the base URL is printed in the console, the start
        # record, the summary and every gateway error, and the venue's paths are appended to it
        raise UsageError("--base-url: a query string or fragment (?..., #...) would be printed in the logs and the run "
                         "folder, and the venue's paths go after it; give scheme, host and port alone")
    try:  # (a port past 65535 or not a number, no host: "no answer" after a minute of retries, said as the venue's)
        from urllib.parse import urlsplit
        parts = urlsplit(base_url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError as e:
        raise UsageError(f"--base-url {args.base_url!r}: {str(e).lower()}") from None
    if not parts.hostname or not port_ok:
        raise UsageError(f"--base-url {args.base_url!r}: expected http://host:port or https://host (no host, or "
                         f"port 0)")
    if venue_key(base_url) == venue_key(MAINNET_URL):
        # one spelling: the gateway signs as mainnet by this URL alone, and the confirmation below keys on it (the
        # host in capitals or with :443 was taken for a custom venue: no confirmation asked, signed as testnet)
        base_url = MAINNET_URL
    mainnet = args.network == "mainnet" or base_url == MAINNET_URL
    if mainnet and not args.i_understand_mainnet:
        raise UsageError("mainnet trades real money: add --i-understand-mainnet to confirm")
    if args.execution_level < 2:
        raise UsageError(f"--execution-level {args.execution_level} is paper trading, which needs no venue: run "
                         f"`python -m agent --venue twin` (levels 2-4 use the venue)")
    if args.flatten_on_stop and args.execution_level < 3:
        raise UsageError("--flatten-on-stop needs --execution-level 3 or 4: a dry run (2) places its orders far from "
                         "the touch, which cannot close a position")
    try:
        config = AgentConfig.load(args.config) if args.config else AgentConfig()
        duration = parse_duration(args.duration, "--duration") if args.duration else None
    except OSError as e:
        raise UsageError(unreadable("--config", e)) from None
    except ValueError as e:
        raise UsageError(str(e)) from None
    coin = args.coin or config.session.coin
    if args.dex:
        if ":" in coin and coin.split(":", 1)[0] != args.dex:
            raise UsageError(f"--coin {coin!r} names another dex than --dex {args.dex!r}")
        coin = coin if ":" in coin else f"{args.dex}:{coin}"
    from agent.graduation.exposure import ExposureLevel
    level = ExposureLevel(START_LEVELS.index(args.start_level))  # as _start_level spelt it: MicroLive, MICRO_LIVE
    collateral_set = "collateral_usd" in config.session.model_fields_set  # (before the dump below sets every field)
    data = config.model_dump()
    data["session"]["coin"] = coin
    data["graduation"]["start_level"] = level
    if args.execution_level == 3:
        # micro-live: an operator's cap on the exposure, whatever graduation's evidence says
        micro = ExposureLevel.MICRO_LIVE
        if level > micro:
            raise UsageError(f"--start-level {args.start_level} needs --execution-level 4: level 3 is micro-live, its "
                             f"exposure capped at MicroLive (graduation promotes up to it, not past)")
        data["graduation"]["ceiling"] = min(config.graduation.ceiling, micro)
    kill_holds = args.execution_level == 2 and config.safety.kill_action == "flatten"
    if kill_holds:
        # a dry run places every order 5% from the touch (DryRunGateway), a Kill's flatten IOC too: it could never
        # fill, and the core sent it again at every book as it does for an IOC a falling book left unfilled (134
        # requests in 75 s against twin serve, the position never closed). As --flatten-on-stop is refused here,
        # a Kill holds the position; said at the start (_trade)
        data["safety"]["kill_action"] = "hold"
    if level > config.graduation.ceiling:
        raise UsageError(f"--start-level {args.start_level} is above graduation.ceiling "
                         f"{config.graduation.ceiling.name} in the config: start at or below it (promotion never "
                         f"passes the ceiling; a start above it would trade above it)")
    config = AgentConfig.model_validate(data)  # validated again, with the start level and the ceiling
    wallet, account = load_key(args.keystore, env)
    last_nonce = 0
    made = None  # the first folder on --out's path that was not there: the run's to remove if it writes nothing
    if args.out is not None:  # created now, the last check: a folder that cannot be is refused before connecting,
        # and a run refused for its options or its key leaves no empty folder behind
        from agent.live import last_nonce_of
        # (os.path.exists: False where the system refuses to look, which make_output_folder then names)
        made = next((p for p in reversed([Path(args.out), *Path(args.out).parents]) if not os.path.exists(p)), None)
        try:
            folder = make_output_folder(args.out)
            # an earlier run into this folder: its nonces were signed by the venue's clock or past it
            last_nonce = last_nonce_of(folder / "state.json", int(time.time() * 1000))
        except ValueError as e:
            raise UsageError(str(e)) from None
    return _Plan(base_url=base_url, network="mainnet" if mainnet else ("testnet" if not args.base_url else "custom"),
                 config=config, coin=coin, duration=duration, wallet=wallet, account=account,
                 execution_level=args.execution_level, start_level=args.start_level, seed=args.seed,
                 out=Path(args.out) if args.out else None, grace=args.shutdown_grace, json=args.json,
                 events=not args.no_events, allow_oversized=args.allow_oversized_position,
                 collateral_set=collateral_set, flatten_on_stop=args.flatten_on_stop, last_nonce=last_nonce,
                 made=made, kill_holds=kill_holds, kill_cleared=None,
                 coin_source=None if args.coin else (f"session.coin in --config {args.config}" if args.config
                                                     else "the shipped session.coin"))


# the start-up abort's bounds: the gateway's close on a signal before trading (its socket's close handshake, its HTTP
# session; aiohttp's own websocket close waits 10 s), then that close left this long after its cancel
START_ABORT_CLOSE_S = 3.0
CANCEL_GRACE_S = 1.0


class _StartUpStop:
    """Ctrl-C, SIGTERM and SIGHUP from the start of the run's loop until trading starts (``handover``, where
    LiveDriver's handlers take them): the first cancels the run's task from inside the loop, a second ends the
    process at once. They raised a KeyboardInterrupt wherever they landed: one that landed in the loop's own
    ``call_soon`` as a done future (a venue's answer read) scheduled the run task's wake-up lost that wake-up, and
    ``asyncio.run``'s cancel then waited for ever on a task nothing would step, no CPU used, until a supervisor's
    SIGKILL. The handler only schedules the cancel (``call_soon_threadsafe``, safe between any two bytecodes, as
    asyncio's own SIGINT handler does). Kept to the process's end once it has caught one (live_main puts the ones
    before back for a caller in-process): a second signal, or one once the loop is gone, ends the process there and
    then, said in the first one's line and status, the folder it made removed while empty."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.caught: list[int] = []
        self.handed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None

    def install(self) -> None:
        self.loop, self.task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            for s in _STOP_SIGNALS:
                if signal.getsignal(s) is not signal.SIG_IGN:  # (one ignored when the process started stays so)
                    signal.signal(s, self._on_signal)
        except ValueError:  # not the main thread: no handler can be set there (nor can LiveDriver's)
            pass

    def _on_signal(self, signum: int, _frame) -> None:
        self.caught.append(signum)
        if len(self.caught) == 1 and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self._cancel)
                return
            except RuntimeError:  # (the loop closed meanwhile: ended below, as a second one is)
                pass
        _drop_unwritten_folder(self.plan)
        first = self.caught[0]
        by = f" ({signal.Signals(first).name})" if first != signal.SIGINT else ""  # (Ctrl-C's line as it was)
        os.write(2, f"interrupted{by} before trading started: no order was sent\n".encode())
        os._exit(exit_status(first))

    def _cancel(self) -> None:
        if not self.handed and not self.task.done():
            self.task.cancel()

    def handover(self) -> None:
        """Trading starts: the driver's handlers take the signals from here (a signal caught from now until they
        are in is its stop: _trade). A signal caught before, its cancel swallowed on the way, stops the start here,
        before any order."""
        if self.caught:
            raise asyncio.CancelledError
        self.handed = True


def _run_in_a_loop_of_its_own(run, shutdown_grace_s: float) -> int:
    """``asyncio.run(run)``, but the tasks left once it has ended are cancelled and waited for within a bound, not
    for ever as ``asyncio.run`` does (common.bounded_loop). A run cut short by a KeyboardInterrupt out of the loop (a
    caller in-process) gets its own stop's time: its shutdown's grace and the gateway's close."""
    from common.bounded_loop import run_bounded
    return run_bounded(asyncio.new_event_loop(), run, shutdown_grace_s + START_ABORT_CLOSE_S + 2 * CANCEL_GRACE_S,
                       CANCEL_GRACE_S)


async def _closed_within(gw, seconds: float) -> None:
    """``gw.close()`` given ``seconds``, then cancelled and left ``CANCEL_GRACE_S`` later (common.bounded_loop.within);
    a failure to close is logged, not raised over the stop."""
    from common.bounded_loop import within
    try:
        await within(gw.close(), seconds, "the gateway's close", CANCEL_GRACE_S)
    except Exception as e:
        log.warning("the gateway's close failed: %s", e)


async def _run(plan: _Plan, stop: _StartUpStop | None = None) -> int:
    from agent.gateway.hyperliquid.gateway import HyperliquidGateway
    from agent.live import live_jitter_rng

    stop = stop or _StartUpStop(plan)
    stop.install()
    plan.start_up_stop = stop
    cfg = plan.config
    gw = HyperliquidGateway(plan.base_url, plan.wallet, plan.coin, account_address=plan.account,
                            rng=live_jitter_rng(plan.seed), quota_poll_s=cfg.session.quota_poll_s,
                            action_ttl_s=cfg.risk.ack_timeout_s, book_fast=cfg.session.book_feed == "fast",
                            bbo=cfg.session.bbo_feed, last_nonce=plan.last_nonce)
    plan.wallet = None  # the gateway holds the only reference from here on
    try:
        return await _trade(plan, gw)
    except asyncio.CancelledError:
        if not stop.caught or stop.handed:
            raise
        # a Ctrl-C, SIGTERM or SIGHUP before trading started (a check waiting on the venue, the fee rate asked, the
        # run folder begun): the session closed, within its bound, no aiohttp complaint after the one line, which
        # _live_main has said once the locks are released
        await _closed_within(gw, START_ABORT_CLOSE_S)
        return exit_status(stop.caught[0])
    except BaseException:  # a fault (once trading, the run's end has closed it, and signals stop the run instead)
        await _closed_within(gw, START_ABORT_CLOSE_S)
        raise


async def _trade(plan: _Plan, gw) -> int:
    """The checks before any order, then the run (trading from ``driver.install_signal_handlers``)."""
    from agent.audit.event_log import EventJournal
    from agent.audit.records import JsonlWriter, end_record, run_folder_sink, start_record, write_whole
    from agent.config import with_venue_maker_fee
    from agent.gateway.hyperliquid.gateway import CoinNotListed, GatewayError
    from agent.live import KILL_STOP, DryRunGateway, LiveDriver, live_core, live_summary, run_cloid_prefix
    from agent.preflight import Refused, preflight
    from agent.quoting.ladder import venue_price_decimals

    try:
        asset, mid, cfg, told, skew_s = await preflight(gw, plan)
    except (GatewayError, Refused) as e:
        await gw.close()
        if isinstance(e, CoinNotListed) and plan.coin_source:  # (--coin not given: the config's coin, a typo there)
            return fail(f"{e} (the coin is {plan.coin_source}; --coin overrides it)")
        return fail(str(e), code=1 if isinstance(e, GatewayError) and not isinstance(e, CoinNotListed) else 2)
    try:
        listed_fee_bps: float | None = await gw.maker_fee_rate() * 1e4
    except GatewayError as e:  # not needed to trade: said, and the static check below stands in
        listed_fee_bps = None
        log.warning("cannot read the account's fee rate (%s): quoting.maker_fee_bps is not checked against it", e)
    if plan.account is None and gw.signer == gw.user:
        log.info("HL_ACCOUNT_ADDRESS not set: trading as the key's own address %s", gw.user)
    if not asset.dex:  # the venue's rate for Shadow's paper fills (a HIP-3 dex's deployer sets its own: not this)
        cfg = with_venue_maker_fee(cfg, listed_fee_bps)
    paper_fee = paper_fee_fallback(cfg, plan.execution_level, asset.dex or None)
    tick = 10.0 ** -venue_price_decimals(mid, asset.sz_decimals)
    cloid_prefix = run_cloid_prefix()
    core = live_core(cfg, plan.seed, tick, asset.sz_decimals, cloid_prefix)
    gateway = DryRunGateway(gw, asset.sz_decimals) if plan.execution_level == 2 else gw
    writer = journal = None
    closings = _SegmentClosings()
    if plan.out is not None:
        try:
            plan.out.mkdir(parents=True, exist_ok=True)
            # whole or not at all: a restart into the folder onto a full disk (or killed mid-write) truncated the
            # earlier run's config.json in place and left its first bytes, no JSON
            text = cfg.model_dump_json(indent=2).encode()
            write_whole(plan.out / "config.json", lambda f: f.write(text))
            # every line handed to the OS as it is written: a live process killed outright (OOM, kill -9) loses
            # nothing it logged (a twin run batches: it is reproduced by its seed); some 50 writes a second
            seg = cfg.session.log_segment_bytes
            writer = JsonlWriter(plan.out / "decisions.jsonl", flush_every=1, segment_bytes=seg, off_loop=closings)
            if plan.events:
                journal = EventJournal(JsonlWriter(plan.out / "events.jsonl", flush_every=1, segment_bytes=seg,
                                                   off_loop=closings))
        except OSError as e:  # a disk full, say: before any order, so nothing to pull
            await gw.close()
            return fail(f"--out {plan.out}: cannot write the run folder: {e.strerror or e}")
    latch = _KillLatch(plan.latch_path, plan.out, base_url=plan.base_url, account=gw.user, coin=plan.coin)
    driver = LiveDriver(gateway, core, cfg.session.cycle_s, journal=journal, on_kill=latch.killed,
                        record_sink=_told(run_folder_sink(writer, plan.out, live=True, wrote=latch.postmortem_written,
                                                          durable=latch.postmortem_durable) if writer else None))
    closings.failed = functools.partial(driver.request_stop, fault=True)
    if writer is not None:
        start = start_record(driver.clock(), cfg, venue="live", network=plan.network, base_url=plan.base_url,
                             account=gw.user, coin=plan.coin, asset=asset.asset, sz_decimals=asset.sz_decimals,
                             tick=tick, execution_level=plan.execution_level, start_level=plan.start_level,
                             seed=plan.seed, cloid_prefix=f"0x{cloid_prefix:08x}",
                             clock_skew_s=None if skew_s is None else round(skew_s, 3),
                             **({} if plan.kill_cleared is None else {"kill_cleared": plan.kill_cleared}))
        try:
            writer.write(start)
            if journal is not None:
                journal.start(start)
        except OSError as e:  # (a disk full since the folder was begun: before any order, the latch still there)
            _close_logs(writer, journal)
            await gw.close()
            return fail(f"--out {plan.out}: cannot write the run folder: {e.strerror or e}")
    if plan.kill_cleared is not None:  # (--clear-kill: the checks passed, the run begun in its folder; nothing sent)
        from agent.kill_latch import Latched
        try:
            _clear_latch(plan.latch_path, plan.kill_cleared)
        except Latched as e:  # (the start record said kill_cleared: its end says it was not)
            _close_logs(writer, journal, end_record(driver.clock(), f"refused: {e}"))
            await gw.close()
            return fail(str(e))
    log.info("trading %s (asset %d, szDecimals %d, tick %g) at %s as %s, execution level %d, start level %s",
             plan.coin, asset.asset, asset.sz_decimals, tick, plan.base_url, gw.user, plan.execution_level,
             plan.start_level)
    for level, text in told:
        log.log(level, "%s", text)
    if plan.execution_level == 3:
        log.info("execution level 3 (micro-live): the exposure is capped at MicroLive; level 4 lets graduation "
                 "promote past it")
    if plan.kill_holds:
        log.info("execution level 2 (dry run): a Kill cancels everything and holds the position (safety.kill_action "
                 "flatten is for levels 3 and 4: here its IOC would go 5% from the touch and could never fill)")
    if plan.start_level == "Shadow" and cfg.graduation.shadow_exits:
        log.info("starting in Shadow: if the account holds a %s position, it is worked off with reduce-only orders "
                 "(graduation.shadow_exits; false holds it)", plan.coin)
    for warned in (promotion_gate_warning(cfg.graduation, plan.execution_level),
                   net_edge_demotion_warning(cfg.graduation, plan.execution_level)):
        if warned:
            log.warning("%s", warned)
    if paper_fee is not None:
        log.log(*paper_fee)
    if listed_fee_bps is None:
        unpriced = fee_warning(cfg.quoting.maker_fee_bps, plan.execution_level)
        if unpriced:
            log.warning("%s", unpriced)
    else:
        level, text = fee_check(cfg.quoting.maker_fee_bps, listed_fee_bps, plan.execution_level, bool(asset.dex))
        log.log(level, "%s", text)
    plan.start_up_stop.handover()
    remove_handlers = driver.install_signal_handlers()
    if plan.start_up_stop.caught:  # (one that came as the driver's handlers went in: its stop)
        driver.request_stop(signal.Signals(plan.start_up_stop.caught[0]).name)
    summarise = functools.partial(live_summary, core, gateway, driver, coin=plan.coin, network=plan.network,
                                  execution_level=plan.execution_level, start_level=plan.start_level,
                                  listed_maker_fee_bps=listed_fee_bps)
    checkpoints = None
    checkpoint_writing: list[asyncio.Future] = []
    if plan.out is not None:
        def checkpoint() -> Callable[[], None]:
            return _run_files_writer(plan.out, core, gateway, driver, summarise())
        checkpoints = asyncio.create_task(_checkpoints(cfg.session.checkpoint_s / driver.time_scale, driver, checkpoint,
                                                       lambda: core.reconciled, checkpoint_writing))
    reminders = asyncio.create_task(_level_reminders(_REMIND_S / driver.time_scale, driver, core))
    try:
        await driver.run(plan.duration, shutdown_grace_s=plan.grace, flatten_on_stop=plan.flatten_on_stop)
    finally:
        reminders.cancel()
        if checkpoints is not None:
            checkpoints.cancel()
        remove_handlers(hold=True)  # the stop is under way: seen to its end (live_main puts the handlers back)
        await latch.settled()
        await closings.settled()
        for done in checkpoint_writing:  # (a checkpoint's files still being written: before the end's, not over them)
            with contextlib.suppress(Exception):  # (its failure is logged as it ends: _said_failed)
                await done
        snap = driver.final_snapshot
        if writer is not None:
            try:
                writer.write(end_record(driver.clock(), driver.stop_reason or "error", position=core.tracker.position,
                                        venue_open_orders=len(snap.open_orders) if snap is not None else None))
                writer.close()
            except OSError as e:  # the orders are pulled by now: say so, and go on to the summary
                log.error("cannot finish the decision log: %s", e.strerror or e)
        if journal is not None:
            try:
                journal.close()
            except OSError as e:
                log.error("cannot finish the event journal: %s", e.strerror or e)
    summary = summarise()
    unsaved = False
    if plan.out is not None:
        try:
            _write_run_files(plan.out, core, gateway, driver, summary)
        except OSError as e:
            # (a disk full): the summary below, the position left and the orders still resting must still be
            # said; before, the traceback took their place, and the operator never heard of the position left
            unsaved = True
            print_error(f"--out {plan.out}: cannot write the run's summary and state: {e.strerror or e} (the "
                        f"summary below is the only copy)")
    held = position_left(summary, plan.coin, plan.flatten_on_stop and not driver.kill_held, driver.kill_held,
                         core.lot, core.held_below_lot)
    left = summary["venue_open_orders"]
    resting = None
    if left is None or left > 0:
        resting = (f"warning: the venue {'could not confirm' if left is None else f'still lists {left}'} open "
                   f"order(s) of ours on {plan.coin}: check and cancel them")
    unlatched = latch.missing_text()
    # (a Kill stopped it only when it ended it itself, "kill": after one, the duration or a signal did)
    how = "a Kill stopped this run" if driver.stop_reason == KILL_STOP else "this run reached a Kill"
    killed = None if driver.kill_ts is None or unlatched else (
        f"note: {how} ({driver.stop_reason}): every later start on this account and coin is refused until one with "
        f"{CLEAR_OPTION}; read the postmortem first")
    # in the log too, where it is kept apart from stderr (a caller's own handler, a file): a terminal gone (SIGHUP, a
    # closed pipe) still leaves them there. Not where the log is stderr (the CLI's own), where they are printed after
    # the summary: logged there as well, an operator read each twice
    for text in (held, resting, unlatched, killed):
        if text:
            log_apart_from_stderr(log, logging.WARNING, text)
    say(json_text.dumps(summary, indent=2, default=float) if plan.json else format_live_summary(summary), sys.stdout)
    for text in (held, resting, unlatched, killed):
        if text:
            print_note(text)
    if resting:
        return 3
    if driver.stopped_on_fault:  # before the files' 1: a full disk stops the run (a log it could not write), then
        return 4                 # fails the files at the end too, and the supervisor must hear of the fault stop
    if unsaved or unlatched:
        return 1
    if driver.kill_ts is not None:  # after 3, 4 and 1: the Kill's own code says its end was otherwise clean
        return 5
    return 0


def fee_warning(maker_fee_bps: float, execution_level: int) -> str | None:
    """What an operator must hear before real quotes go out without the maker fee in them (levels 3 and 4:
    the dry run's orders rest far from the touch and are cancelled, so they never pay it)."""
    if execution_level < 3 or maker_fee_bps:
        return None
    return ("quoting.maker_fee_bps is 0: the quotes are the model's spread alone, not net of your maker fee "
            "(1.5 bp on the venue's base tier), so each fill pays the fee out of the spread; set your tier's "
            "rate in --config")


def promotion_gate_warning(graduation, execution_level: int) -> str | None:
    """What an operator must hear before graduation may promote real quotes on the point share of fills with a
    positive edge (``positive_edge_z`` 0, the twin's default): a share just over the threshold on a few dozen
    fills is chance as often as skill (fees_exceed_spread promoted some seeds at 36-38% against 0.35). Only
    where a promotion can place real orders: levels 3 and 4, started below the ceiling."""
    promotion = graduation.promotion
    if execution_level < 3 or promotion.positive_edge_z or promotion.min_positive_edge_share <= 0.0 or \
            graduation.start_level >= graduation.ceiling:
        return None
    return (f"graduation.promotion.positive_edge_z is 0: promotion from {graduation.start_level.name} (up to "
            f"{graduation.ceiling.name}) holds the share of fills with a positive edge itself against "
            f"min_positive_edge_share {promotion.min_positive_edge_share:g}, where a share just over it on a few dozen "
            f"fills is chance as often as skill; with real money on the next level set it to 1 or more in --config "
            f"(its Wilson lower bound: for 0.35, 0.44 on 30 fills, 0.40 on 100)")


def net_edge_demotion_warning(graduation, execution_level: int) -> str | None:
    """What an operator must hear before real orders go out with no demotion on net edge (``demote_net_edge_z``
    null, the twin's default): a level whose real fills lose their fee is then left only on a drawdown of
    ``demote_drawdown`` of the collateral, far off at MicroLive's sizes, or a degraded signal or the safety ladder
    (started at MicroLive on the twin's default market, 48 minutes at 1.6 bp lost a fill). Levels 3 and 4 only."""
    if execution_level < 3 or graduation.demote_net_edge_z is not None:
        return None
    return ("graduation.demote_net_edge_z is null: a level whose real fills lose their fee on average is not demoted "
            "for it (only a drawdown of graduation.demote_drawdown, a degraded signal or the safety ladder demote); "
            "set it to 2 in --config (examples/live-first-run.yaml does)")


def paper_fee_fallback(config, execution_level: int, dex: str | None) -> tuple[int, str] | None:
    """(log level, text) when Shadow's paper fills are priced by the quote model's ``quoting.maker_fee_bps`` because
    the venue's rate is not known (``graduation.paper_maker_fee_bps`` left null by ``with_venue_maker_fee``: a HIP-3
    ``dex``, whose deployer sets its own, or ``userFees`` not read): on the default 0 the promotion evidence is
    fee-free, and an agent whose paper fills lose their fee can be promoted. A warning where a promotion out of
    Shadow places real orders (levels 3 and 4), information in a dry run; None where the rate is set or Shadow cannot
    be left (ceiling Shadow). A warning, not a refusal, as for the other gaps the start names: the quote model's rate
    may well be the right one (an operator who set it to the tier's), and a userFees query that failed is no reason
    to stop a run."""
    from agent.graduation.exposure import ExposureLevel
    graduation = config.graduation
    if graduation.paper_maker_fee_bps is not None or graduation.ceiling <= ExposureLevel.SHADOW:
        return None
    fee = config.quoting.maker_fee_bps
    why = f"dex {dex!r} is a HIP-3 dex, whose deployer sets its own fees" if dex else \
        "the venue's userFees could not be read"
    text = (f"graduation.paper_maker_fee_bps is null and {why}: Shadow's paper fills pay quoting.maker_fee_bps, "
            f"{fee:g} bp, in the promotion evidence" + (" (no fee: a paper fill that loses less than the venue's "
                                                       "fee counts as a gain)" if not fee else ""))
    if execution_level < 3:
        return logging.INFO, text + " (a dry run: no promotion places real orders)"
    return logging.WARNING, text + "; a promotion out of Shadow places real orders: set " \
                                   "graduation.paper_maker_fee_bps in --config to the maker fee this account pays here"


def fee_check(configured_bps: float, listed_bps: float, execution_level: int, hip3: bool) -> tuple[int, str]:
    """(log level, text) for the maker rate the venue lists for the account (``userFees``) against
    ``quoting.maker_fee_bps``, which the quotes assume (Shadow's paper fills pay the listed rate in the promotion
    evidence, ``graduation.paper_maker_fee_bps``, but on a HIP-3 dex). A warning when they differ
    and real quotes go out (levels 3, 4); information otherwise. On a HIP-3 dex the deployer sets the fees,
    so the listed rate (the first dex's) is only a guide there: the summary's fee rate row is what was paid."""
    head = f"the venue lists this account's maker fee as {listed_bps:.2f} bp (userFees); quoting.maker_fee_bps is " \
           f"{configured_bps:g}"
    if hip3:
        return logging.INFO, head + " (a HIP-3 dex sets its own fees: the summary's fee rate row shows what was paid)"
    if abs(listed_bps - configured_bps) < FEE_MATCH_BPS:
        return logging.INFO, head
    if execution_level < 3:
        return logging.INFO, head + " (they differ; nothing placed at this level pays it)"
    return logging.WARNING, head + ": the quotes price the wrong fee (each fill pays it out of the spread); set " \
                                   "quoting.maker_fee_bps to what you pay in --config"


def _write_run_files(out: Path, core, gateway, driver, summary: dict) -> None:
    """state.json, level_history.json and summary.json, each replaced whole (never half written)."""
    _run_files_writer(out, core, gateway, driver, summary)()


def _run_files_writer(out: Path, core, gateway, driver, summary: dict) -> Callable[[], None]:
    """What ``_write_run_files`` writes, read now (on the event loop: the core is not for threads), and what writes
    it, which a checkpoint runs in a thread (its six fsyncs held the loop, a cycle's commands behind them)."""
    from agent.audit.records import json_file_text, write_bytes_whole
    from agent.live import state_of
    from agent.report import level_history
    # made text here too, not only read: the summary holds the gateway's counters (its ``stats``, a dict the loop
    # goes on adding to), and a thread walking them as the loop added a key raised "dictionary changed size"
    texts = {name: json_file_text(obj).encode() for name, obj in (
        ("state.json", state_of(core, gateway, driver)), ("level_history.json", level_history(core)),
        ("summary.json", summary))}

    def write() -> None:
        for name, data in texts.items():
            write_bytes_whole(out / name, data)
    return write


async def _checkpoints(every_s: float, driver, write, ready: Callable[[], bool] = lambda: True,
                       writing: list | None = None) -> None:
    """While the run goes on, the run folder's state and summary every ``every_s`` wall seconds: a process killed
    outright (an OOM, kill -9, the host going down) cannot write them at its end, and without them an operator
    has only the decision log to learn the position and the PnL it left. The first is written as soon as
    ``ready()`` (the account reconciled: the position is the venue's), not ``every_s`` in: a run killed in its
    first minute would leave no state of its own, and in a folder carried on from an earlier run, that run's
    state and summary, describing another run, in their place. A failed checkpoint (a full disk, or a bug in the
    summary) is logged and tried again at the next, never fatal: the decision log is the record (a log that
    cannot be written stops the run). ``write()`` runs on the event loop and may return what writes the files,
    then run in a thread of the loop's executor (its fsyncs, 1.2 s at 200 ms each, held back every cycle): the
    write under way is kept in ``writing``, for the end to await before it writes the files itself."""
    loop = asyncio.get_running_loop()
    while not ready():
        await asyncio.sleep(min(every_s, _READY_POLL_S))
        if driver.stopped:
            return
    while not driver.stopped:  # (once stopped, the end writes them)
        try:
            off_loop = write()
            if off_loop is not None:
                done = loop.run_in_executor(None, off_loop)
                done.add_done_callback(_said_failed)  # (said as it ends: this task may be cancelled meanwhile)
                if writing is not None:
                    writing[:] = [done]
                with contextlib.suppress(Exception):  # (said by _said_failed)
                    await asyncio.shield(done)  # (cancelled at the end: the write goes on, the end awaits it)
        except Exception:
            _said_failed()
        await asyncio.sleep(every_s)


def _said_failed(done: asyncio.Future | None = None) -> None:
    """A checkpoint that failed, logged: on the loop (``done`` None, in an ``except``), or as its thread's write
    ends, which the end of the run (the checkpoints cancelled, the write shielded) awaits without saying it again."""
    e = None if done is None or done.cancelled() else done.exception()
    if done is None or e is not None:
        log.error("cannot write the run folder's state and summary (checkpoint); trading goes on",
                  exc_info=e if done is not None else True)


_READY_POLL_S = 0.5  # until the first checkpoint: how often the run is asked whether its account is reconciled


async def _level_reminders(every_s: float, driver, core) -> None:
    """While the safety ladder stays at Red (quotes pulled, only reduce-only exits), a console warning every
    ``every_s`` saying so and what holds it: the transition is logged once, and a run can sit at Red for many
    minutes (its dwell is 300 s, and a rule may hold it longer) with the console silent."""
    while not driver.stopped:
        await asyncio.sleep(every_s)
        text = still_at_red(core.safety, driver.clock())
        if text is not None and not driver.stopped:
            log.warning("%s", text)


def still_at_red(safety, now: float) -> str | None:
    """The reminder for a ladder at Red (None below Red, and at Kill, which stops the run and says so)."""
    level = safety.level
    if level != SafetyLevel.RED:
        return None
    since = now - safety.history[-1].ts if safety.history else math.nan
    cfg = safety.cfg
    why = held_text(held_by(safety), f"Red's {cfg.dwell_red_s:g} s dwell", f"a {cfg.recovery_window_s:g} s clear window")
    return f"safety still RED after {since:.0f} s (quotes pulled, only reduce-only exits placed): {why}"


_REMIND_S = 60.0  # how often a run held at Red says so on the console (wall seconds at time scale 1)


_SWITCH = {  # the venue's dead-man's switch at the end of a run, for the summary table
    "off": "never armed (under risk.dead_man_min_volume_usd traded, or nothing rested)",
    "armed": "armed at the end: the venue cancels what rests if nothing re-arms it",
    "unconfirmed": "unconfirmed: the last arm was never acknowledged (lost on its way, or an error answer)",
    "clearing": "clearing: a clear sent and never acknowledged (lost, an error answer, or refused for the rate): "
                "the switch may still fire, with nothing to cancel, using one of the venue's ten a day",
    "cleared": "cleared (nothing rested; the venue acknowledged it)",
    # (why it fired: a clear never acknowledged, a re-arm or clear held back by the budget, a refusal leaving a switch
    # the venue took standing, or nothing re-arming it while the agent was blind: the core's dead_man_why says which)
    "expired": "expired: {why}",
    "refused": "refused by the venue ({why})",  # (what was refused and what stands: refused_text)
    "lapsing": "left to lapse (the address budget was down to its cancel reserve)",
}
_TOLD = {"safety", "level", "postmortem", "dead_man", "venue_account_change", "foreign_orders", "flatten_held",
         "flatten_again", "sub_lot_position", "funding", "overfill", "clock_step_back", "quota_hold", "ip_weight_hold"}
_WARN = {"postmortem", "venue_account_change", "foreign_orders", "flatten_held", "flatten_again", "sub_lot_position",
         "overfill", "clock_step_back"}


def _told(inner):
    """The record sink of a live run: what an operator watching the console must see as it happens (the safety
    and exposure levels moving, a Kill, the dead-man's switch armed or refused, the venue changing the
    account) is logged, in the words ``python -m agent.audit`` uses, and every record goes on to the run
    folder when there is one."""
    from agent.audit.inspect import describe
    first_snapshot = True

    def sink(rec: dict) -> None:
        nonlocal first_snapshot
        kind = rec.get("type")
        if kind == "snapshot" and first_snapshot:
            # what the account held when the run began: a position or orders an earlier run (or a person) left
            first_snapshot = False
            left = rec.get("open_orders") or 0
            # orders a dead run left resting (or a person placed) trade real money under this run's limits: a warning,
            # seen under --quiet too; an account found with none is routine
            (log.warning if left else log.info)("%s%s", describe(rec, wall=True),
                     f" at the start: the {left} this run did not place (an earlier run's, or placed by hand) count "
                     f"in its limits, and are kept where they fit its quotes, else cancelled" if left else " at the start")
        elif kind in _TOLD:
            warn = kind in _WARN or (kind == "safety" and rec.get("to", 0) >= 3) or \
                (kind == "dead_man" and rec.get("state") in ("refused", "lapsing", "unconfirmed", "expired")) or \
                (kind == "ip_weight_hold" and rec.get("state") == "held")  # (requests past the share: whose?)
            (log.warning if warn else log.info)("%s", describe(rec, wall=True))
        if inner is not None:
            inner(rec)
    return sink


class _SegmentClosings:
    """The run folder's logs' full segments, synced and named in threads of the loop's executor (``JsonlWriter``'s
    ``off_loop``): on the loop, each rotation's fsync held the cycles back (0.2 s a segment at 200 ms an fsync). A
    failure is said, and stops the run (``failed``: the driver's stop, as a log it cannot write on the loop does:
    ``LiveDriver._cannot_write``); the segment stays under its closing name, read as its segment, named by the next
    run."""

    def __init__(self) -> None:
        self._pending: list[asyncio.Future] = []
        self.failed: Callable[[str], None] | None = None  # (told why, on the loop: set once the driver is made)

    def __call__(self, close: Callable[[], None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # (no loop: closed here)
            try:
                close()
            except Exception as e:
                self._said(e, "")
            return
        self._pending = [f for f in self._pending if not f.done()]  # (a session of days: only those under way)
        done = loop.run_in_executor(None, close)
        done.add_done_callback(self._closed)
        self._pending.append(done)

    def _closed(self, done: asyncio.Future) -> None:
        """On the loop, as a closing ends: a failure said and the run stopped. In the thread, it was only said, and the
        run traded on with its record not known on disk (a disk refusing an fsync: EIO, ENOSPC)."""
        if done.cancelled() or done.exception() is None:
            return
        self._said(done.exception(), "; stopping, pulling every order")
        if self.failed is not None:
            self.failed("a segment of the run folder's log could not be synced to disk")

    @staticmethod
    def _said(e: BaseException, then: str) -> None:
        log.error("cannot close a full segment of the run folder's log: %s: it is read where it is, under its "
                  "hidden .closing name, and the next run into the folder syncs and names it%s",
                  getattr(e, "strerror", None) or e, then)

    async def settled(self) -> None:
        """Every segment closed (before the end's summary: the folder as the run left it); a failure said as it
        ended (``_closed``)."""
        for done in self._pending:
            with contextlib.suppress(Exception):
                await done


class _KillLatch:
    """A live Kill's latch (``agent.kill_latch``): put in place at the Kill (``stage_latch``: no fsync), made durable
    off the event loop (a thread of the loop's executor), so that its fsyncs never hold back the cancels and the
    flatten the Kill has just sent; a latch that cannot be written (its folder not writable, a full disk) is said
    at once on the console, naming the file and the error, and again at the end, whose exit status is then 1 (or 3,
    4): the Kill itself goes on. One staged but not made durable (the disk refusing its fsync) is said as such: in
    place, a restart refused while it is there, lost only if the host goes down first."""

    def __init__(self, path: Path, run_folder: Path | None, *, base_url: str, account: str, coin: str) -> None:
        self.path = path
        self.run_folder = run_folder
        self.about = {"base_url": base_url, "account": account, "coin": coin}
        self.failed: str | None = None
        self.staged = False  # (a failed durable write's latch: in place all the same, not on disk)
        self._pending: list[asyncio.Future] = []
        self._latch: dict | None = None  # the last Kill's, until its postmortem file is named in it
        self._staged_now = False

    def postmortem_written(self, path: Path) -> None:
        """The Kill's postmortem file, written by the record sink after the latch was put in place (``killed``):
        named in it, in place at once; its durable write, which follows the Kill's records, writes it so."""
        from agent.kill_latch import stage_latch
        latch = self._latch
        if latch is None or latch["postmortem"] is not None:  # (a Kill's latch names its own postmortem)
            return
        latch["postmortem"] = str(Path(path).resolve())
        with contextlib.suppress(OSError):  # (the latch staged without it stands; the durable write says a failure)
            stage_latch(self.path, latch)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # (no loop: the durable write ran already, without the file's name)
            self._write(latch, self._staged_now)

    def postmortem_durable(self, write: Callable[[], object], path: Path) -> None:
        """The Kill's postmortem file, put in place by the record sink (``run_folder_sink``), made durable as the
        latch is, off the event loop: its fsyncs, in the Kill's cycle, held back the cancels (0.4 s at 200 ms an
        fsync). A failure is said; the file is in place, and the decision log holds the record too."""
        def durable() -> None:
            try:
                write()
            except Exception as e:
                log.error("the postmortem %s is in place but could not be made durable: %s: the host going down "
                          "before it reaches the disk may lose it (the decision log holds it too)", path,
                          getattr(e, "strerror", None) or e)
        self._off_loop(durable)

    def killed(self, postmortem: dict) -> None:
        """The Kill handed over before any record of its cycle is written (``LiveDriver.on_kill``): the latch in
        place at once, its postmortem file named once written (``postmortem_written``), then made durable."""
        from agent.kill_latch import latch_record, stage_latch
        latch = self._latch = latch_record(postmortem, self.run_folder, None, **self.about)
        try:
            # in place at once (a write and a rename, no fsync: some 100 µs), so that a process killed outright a
            # moment after its Kill leaves it too; made durable in a thread (its fsyncs held the loop for ms)
            stage_latch(self.path, latch)
            staged = True
        except OSError:
            staged = False  # (write_latch, next, meets it again and says so)
        self._staged_now = staged
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # (no loop: written here)
            self._write(latch, staged)
        else:  # a task's first step runs once the Kill's records are written (the postmortem file named in the latch)
            self._pending.append(loop.create_task(self._durable(latch, staged)))

    async def _durable(self, latch: dict, staged: bool) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._write, latch, staged)

    def _off_loop(self, write: Callable[[], object]) -> None:
        """``write()`` in a thread of the loop's executor (``settled`` awaits it), or here when there is no loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # (no loop: written here)
            write()
        else:
            self._pending.append(loop.run_in_executor(None, write))

    def _write(self, latch: dict, staged: bool) -> None:
        from agent.kill_latch import write_latch
        try:
            write_latch(self.path, latch)
        except Exception as e:  # (whatever it is: the Kill goes on, and the failure is said)
            self.failed = f"{getattr(e, 'strerror', None) or e}"
            self.staged = staged  # (its failure leaves the staged latch in place: a restart is refused)
            if staged:
                log.error("the Kill latch %s is in place but could not be made durable: %s: a restart is refused "
                          "while it is there, but the host going down before it reaches the disk may lose it",
                          self.path, self.failed)
            else:
                log.error("cannot write the Kill latch %s: %s: a restart will NOT be refused; read the postmortem "
                          "before starting this account and coin again", self.path, self.failed)
            return
        log.warning("Kill latched in %s: a start on this account and coin is refused until one with %s",
                    self.path, CLEAR_OPTION)

    async def settled(self) -> None:
        """Every latch write done (the end says whether one failed)."""
        for done in self._pending:
            await done

    def missing_text(self) -> str | None:
        if self.failed is None:
            return None
        if self.staged:
            return (f"warning: the Kill latch {self.path} is in place but could not be made durable ({self.failed}): "
                    f"the next start on this account and coin is refused while it is there, but the host going down "
                    f"before it reaches the disk may lose it; read the postmortem before starting it again")
        return (f"warning: the Kill latch {self.path} could not be written ({self.failed}): the next start on this "
                f"account and coin will not be refused; read the postmortem before starting it again")


def position_left(s: dict, coin: str, flatten_asked: bool = False, kill_held: bool = False,
                  lot: float | None = None, ended_on: float = 0.0) -> str | None:
    """What an operator must be told when a run ends holding a position: a stop pulls the orders, it does not
    flatten (a Kill with safety.kill_action flatten does), and "stopped" reads as "done" unless said. ``kill_held``:
    a Kill set to hold ended the run, and its stop held too, --flatten-on-stop given (``LiveDriver.kill_held``).
    ``lot``: the coin's lot now; a part of the position below it (one opened on a finer lot, the venue having lowered
    the coin's size decimals under it) no order closes, the flatten's neither, and is said so. ``ended_on``: the
    position the flatten ended on (``AgentCore.held_below_lot``); held, with whole lots beside such a part, those lots
    are worth less than the venue's minimum order, and no order closes them either (a partial close under it)."""
    from agent.audit.inspect import plain_size
    pos = s["venue_position"] if s["venue_position"] is not None else s["position"]["final"]
    if not pos:
        return None
    whose = "the venue's position" if s["venue_position"] is not None else "the agent's count: the venue's unread"
    # (exact, past the float of the wire's decimal: floored with an epsilon of 1e-9 lots, 384.62287 BTC was said to
    # hold 0.00001 below one lot, that no order could close)
    from agent.core import FINEST_LOT, whole_lots
    lots = whole_lots(pos, round(-math.log10(lot))) if lot else abs(pos)
    below = round(abs(pos) - lots, FINEST_LOT)
    sub_lot = (f"{'all' if not lots else f'{plain_size(below)} {coin}'} of it below one lot of {coin} "
               f"({plain_size(lot)}: the venue "
               f"lowered the coin's size decimals under the position): no order can close that (the venue takes sizes "
               f"on its lot only), the agent's flatten (a Kill's, --flatten-on-stop) and Shadow's exits neither. Close "
               f"it another way (the venue's app)") if below > 0.0 else ""
    if sub_lot and not lots:
        return f"note: the run ends holding {plain_size(pos, True)} {coin} ({whose}), {sub_lot}"
    if sub_lot and abs(pos - ended_on) <= 1e-12:
        # (the flatten ended on it at once: "--flatten-on-stop did not close it within --shutdown-grace", that
        # Shadow's exits work it off, and that only the part below one lot is beyond an order, were all untrue)
        return (f"note: the run ends holding {plain_size(pos, True)} {coin} ({whose}), which no order can close: "
                f"{plain_size(lots)} {coin} in whole lots worth less than the venue's minimum order (a partial close "
                f"under it the venue refuses), beside {sub_lot}")
    how = ("--flatten-on-stop did not close it within --shutdown-grace" if flatten_asked else
           "the Kill holds it (safety.kill_action hold), and so did the stop it made: --flatten-on-stop closes it at "
           "a stop given (--duration, a signal)" if kill_held else
           "a stop pulls the orders and leaves the position (--flatten-on-stop closes it through the book)")
    return (f"note: the run ends holding {plain_size(pos, True)} {coin} ({whose}): {how}. The next run starts from it "
            f"(in Shadow, reduce-only exits work it off: graduation.shadow_exits), or close it in the app" +
            (f"; {sub_lot}" if sub_lot else ""))


def _cycle_cost(c: dict | None) -> str:
    # every cycle tick is timed, the ones that do not requote (the budget, a stale book) too: "quote cycles"
    # above counts only the requotes
    if not c or not c["cycles"]:
        return "no cycle ticks"
    return f"p50 {c['p50']:.0f} µs, p99 {c['p99']:.0f} µs, max {c['max']:.0f} µs over {c['cycles']} cycle ticks"


def carried_text(carried: float | None) -> str:
    """The PnL row's note of what a position left by an earlier run had made before this session (left out of
    the net), when there was one."""
    if not carried:  # 0.0, or None: no mid came
        return ""
    return f"; not counted: {signed_usd(carried)} the starting position had made before"


def refusals_text(refusals: dict | None) -> str:
    """The run's scheduleCancel refusals for the dead-man switch's row, by the venue's text with their count: the
    rejections row counted them (ScheduleCancelRefused N) and the switch's own why is the last word only, so an
    operator saw how many and not why ("" when there were none)."""
    if not refusals:
        return ""
    n = sum(refusals.values())
    return f"; {n} refusal{'s' if n != 1 else ''} by the venue: " + "; ".join(
        f"{text!r} x{k}" for text, k in refusals.items())


def refused_text(refused: dict | None) -> str:
    """What the dead-man switch's row adds to a refusal (``refused``: the summary's ``dead_man_switch_refused``,
    ``AgentCore.dead_man_refusal``): which request the venue refused, what the agent held back for it (an arm's holds
    the arms an hour, a clear's the clears; nothing is asked again once the run has ended), and whether a switch the
    venue took before may still stand, to fire at its time. It said "asked again after an hour", of a clear's too and
    of a stopped run, and nothing of a switch left standing."""
    if not refused:  # (a summary that does not say)
        return ": a switch the venue took before may still stand, to fire at its time"
    if refused["request"] == "clear":
        what, fire = "the last clear was refused (clears held back an hour after it, arms not)", "on what of ours rests"
    else:
        what, fire = ("the last arm was refused, so it set no switch (arms held back an hour after it, clears not)",
                      "cancelling what of ours rests")
    at = refused.get("fires_by")
    if at is None:
        return f": {what}; no switch the venue took stands"
    when = datetime.datetime.fromtimestamp(at, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f": {what}; the switch the venue took before may still stand, and fires by {when}, {fire} then (one of "
            f"the venue's ten a day)")


def arms_held_text(held: int | None) -> str:
    """What the dead-man switch's row adds for a Kill's arms held for the venue's slow lane past the address cap (the
    summary's ``dead_man_arms_held``, ``AgentCore.dead_man_arms_held``): summary.json counted them and the row said
    nothing, so a run whose Kill left what rested to its pulls alone for a while read as one whose switch stood as
    asked ("" when none). A hold is sent as the lane opens while orders of ours are left, and not once the pulls have
    taken them all (it would fire on nothing: ``AgentCore._send_held_arm``): the row's state says whether it was."""
    if not held:
        return ""
    return (f"; {held:,} arm{'s' if held != 1 else ''} held for the venue's slow lane past the address cap (a Kill's: "
            f"sent only once the lane opened, what rested left to the pulls until then)")


def dead_man_row(s: dict) -> str:
    """The summary table's row for the venue's dead-man's switch (``s``: the live summary)."""
    state = s["dead_man_switch"]
    return (_SWITCH.get(state, state).format(why=s.get("dead_man_switch_why") or "no reason given") +
            (refused_text(s.get("dead_man_switch_refused")) if state == "refused" else "") +
            refusals_text(s.get("dead_man_switch_refusals")) + arms_held_text(s.get("dead_man_arms_held")))


def format_live_summary(s: dict) -> str:
    pnl, pos = s["pnl"], s["position"]
    rows = [
        ("stopped", f"{s['stop_reason']} after {s['wall_s']:.1f} s"),
        ("quote cycles", f"{s['cycles']}"),
        ("PnL net", f"{signed_usd(pnl['net_usd'])} USDC (fees {pnl['fees_usd']:.2f}, "
                    f"funding {pnl['funding_usd']:+.2f}{carried_text(pnl['carried_usd'])})"),
        ("fills", f"{s['fills']}, volume {s['volume_usd']:,.0f} USDC"),
        ("fee rate", fee_rate_text(s["fee_rate_bps"])),
        ("position", f"agent {pos['final']:+.6f}, venue "
                     f"{'unread' if s['venue_position'] is None else s['venue_position']}"),
        *health_rows(s),
        safety_row(s),
        *graduation_rows(s),
        ("requests", f"{s['requests']['sent']} actions, {s['requests']['items']} items"),
        ("core per cycle", _cycle_cost(s.get("core_cycle_us"))),
        ("dead-man switch", dead_man_row(s)),
    ]
    w = max(len(k) for k, _ in rows)
    head = f"agent vs {s['network']} venue, {s['coin']}, execution level {s['execution_level']}\n"
    return head + "\n".join(f"  {k:<{w}}  {v}" for k, v in rows)


if __name__ == "__main__":
    sys.exit(live_main())
