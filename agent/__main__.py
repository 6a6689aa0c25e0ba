"""``python -m agent``: run the market maker against the twin (default) and print a summary."""
from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path

if __name__ == "__main__":  # first: the imports below take ~90 ms, the live CLI's a second, the run's more
    from common.stop_signals import exit_at_once
    exit_at_once("before the run started")

from agent.report import fee_rate_text, graduation_rows, health_rows, safety_row, signed_usd
from common import json_text
from common.cli_errors import fail, print_note, print_out, say
from common.files import ArgumentParser, make_output_folder, missing_extra, unreadable
from common.stop_signals import begun, exit_status, interrupted_by
from common.units import non_empty, parse_seed

EPILOG = """examples:
  python -m agent                          # 2 simulated hours against the twin, seed 0
  python -m agent --duration 4h --seed 7 --out runs/demo
  python -m agent --config my.yaml --quiet
  python -m agent --show-config > my.yaml  # every setting, its default and what it does

Ctrl-C ends the run where it is and prints the summary of the time simulated so far (exit 130); SIGTERM and
SIGHUP alike (exit 143 and 129: 128 + the signal's number). While the command starts (its imports, before the
run), each ends it at once, one line saying so, with the same status; once the run has ended, while its summary
is printed, each waits for the summary's last line, then is said, with the same status.
A run folder that cannot be written (a full disk) is an error naming --out (exit 2); if the session ran,
its summary is printed first and the folder left incomplete.
The run folder (--out) gets decisions.jsonl (one line per quote cycle, plus fills; past
session.log_segment_mb it goes on in a fresh file, the full one kept as decisions-000001.jsonl, ...),
summary.json (keys documented in README.md), level_history.json (every exposure and safety level change)
and config.json, and at a Kill postmortem.json; `python -m agent.audit DIR` reads the log.
The same seed and config give the same summary (but for its wall-clock figures).
"""


def _wants_live(argv: list[str]) -> bool:
    for i, a in enumerate(argv):
        if a == "--venue" and i + 1 < len(argv):
            return argv[i + 1] == "live"
        if a.startswith("--venue="):
            return a.split("=", 1)[1] == "live"
    return False


def _live(argv: list[str], own_command_line: bool) -> int:
    """``own_command_line``: the process's, whose live run holds its stop signals to the process's exit."""
    try:
        from agent.live_cli import live_main
    except ImportError as e:  # aiohttp, eth-account, msgpack: the live extra's
        return fail(missing_extra(e, "live"))
    except KeyboardInterrupt:  # Ctrl-C in the second or so the imports take: a traceback, for a run not yet begun
        print_note("interrupted before trading started: no order was sent")
        return 130
    begun()  # (the live CLI's Ctrl-C, SIGTERM and SIGHUP before trading are its own: live_main)
    return live_main(argv, restore_signals=not own_command_line)


def _live_only(ap: argparse.ArgumentParser, unknown: list[str]) -> str:
    """Where ``unknown`` holds an option of the live run's (``--coin ETH``, as the README's live examples quote it),
    the words that say so, to follow argparse's "unrecognized arguments" (which said nothing of it); "" else, or
    without the live extra (its parser imports it)."""
    try:
        from agent.live_cli import build_parser
    except ImportError:
        return ""
    ours = set(ap._option_string_actions)
    live = {o for o in build_parser()._option_string_actions if o.startswith("--") and o not in ours}
    named = [o for o in (u.split("=", 1)[0] for u in unknown) if o in live]
    if not named:
        return ""
    coin = ("; against the twin, the coin is the config's session.coin (--config), its market the twin's "
            "(--params)") if "--coin" in named or "--dex" in named else ""
    what = "an option" if len(named) == 1 else "options"
    return f" ({', '.join(named)}: {what} of the live run (python -m agent --venue live; see its --help){coin})"


def main(argv: list[str] | None = None) -> int:
    own_command_line = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    if _wants_live(argv):
        return _live(argv, own_command_line)
    ap = ArgumentParser(prog="python -m agent", description="The market maker, against the twin or a venue.",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venue", choices=["twin", "live"], default="twin",
                    help="where to trade: 'twin' (in-process digital twin, default) or 'live' (Hyperliquid, or "
                         "twin serve via --base-url; see `python -m agent --venue live --help`)")
    ap.add_argument("--duration", default="2h", help="simulated time: seconds, or 30m, 2h, 1d, 1h30m, at most 365d "
                                                  "(default 2h; in the twin's markets the agent's fills lose on "
                                                  "average, so it stays in Shadow: README's Quickstart)")
    ap.add_argument("--seed", type=parse_seed, default=0, help="seed of the twin and the agent (default 0)")
    ap.add_argument("--config", type=non_empty, help="agent config YAML (validated; unknown keys are errors; every "
                                                      "key left out, in a section given too, keeps the shipped "
                                                      "default, which --show-config prints)")
    ap.add_argument("--params", type=non_empty, help="twin parameters JSON (TwinParams; default: the built-in "
                                                      "parameters, a BTC perp market; keys left out keep them)")
    ap.add_argument("--out", help="run folder for the decision log and summary.json (default: none, nothing written; "
                                  "one holding an earlier run is refused)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    ap.add_argument("--show-config", action="store_true", help="print the effective agent config (the defaults, "
                    "with --config applied) as YAML with every field described, and exit: a file to start from "
                    "(the run's --duration, --seed, --out and --json are refused with it: the config holds none of "
                    "them)")
    said = ap.error

    def error(message: str):  # (argparse's "unrecognized arguments: ..." said nothing of the live run's options)
        unknown = message.split(": ", 1)[1].split() if message.startswith("unrecognized arguments: ") else []
        said(message + (_live_only(ap, unknown) if unknown else ""))
    ap.error = error
    args = ap.parse_args(argv)
    if args.venue == "live":  # as argparse read it: abbreviated (--ven live); given twice, refused by the parser
        return _live(argv, own_command_line)
    if args.show_config:
        idle = _idle_with_show_config(ap, argv)
        if idle:
            return fail(idle)

    from agent.config import AgentConfig
    from agent.session import RunFolderError, run_session
    from twin.params import TwinParams
    from common.stop_signals import stop_signals_interrupt
    from common.units import parse_duration

    try:
        duration = parse_duration(args.duration, "--duration")
        config = AgentConfig.load(args.config) if args.config else AgentConfig()
        params = TwinParams.load(args.params) if args.params else None
    except OSError as e:  # the file named by --config or --params
        return fail(unreadable("--config" if e.filename == args.config else "--params", e))
    except ValueError as e:
        return fail(str(e))
    problem = market_problem(config.session.coin, params or TwinParams(), args.params)
    if problem is not None and not args.show_config:
        # the coin is the config file's (session.coin): named, as search names it (a typo there, 'btc', read as a
        # coin the twin's parameters lack)
        return fail(f"--config {args.config}: {problem}" if args.config else problem)
    if args.show_config:
        from agent.config import config_yaml
        print_out(config_yaml(config), end="")
        return 0
    if args.out is not None:  # (an empty --out is refused, not taken for "no folder")
        from agent.audit.records import refuse_earlier_run
        try:
            refuse_earlier_run(make_output_folder(args.out), "choose another --out, or remove the folder")
        except (FileExistsError, ValueError) as e:
            return fail(str(e))
    from common.stop_signals import SignalsBetweenEvents
    begun()
    printed = False  # the summary, whole
    try:
        with stop_signals_interrupt(install=own_command_line) as caught:
            summary = run_session(config, args.seed, duration, Path(args.out) if args.out is not None else None,
                                  params, progress=not args.quiet)
            signum = caught[0] if caught else signal.SIGINT
            # the run folder is written: a signal while the summary is printed waits for its last line (it was the
            # default action there, killed unsaid, or a traceback), then is said
            with SignalsBetweenEvents():
                status = exit_status(signum) if _print_summary(summary, duration, args.json, signum,
                                                               config.session.coin) else 0
                if sys.stdout is not None:  # (None: started with its stdout closed, `>&-`, where print prints nothing)
                    sys.stdout.flush()  # (a pipe's buffer: lost if a signal then ends the process)
                printed = True
            return status  # (128 + the number of the signal that cut the run, as a shell reports it)
    except RunFolderError as e:  # a full disk: what the session computed is still printed, then the error
        if e.summary is not None:
            _print_summary(e.summary, duration, args.json, caught[0] if caught else signal.SIGINT, config.session.coin)
        ran = "" if e.summary is None else " (the session ran: the summary above; the run folder is incomplete)"
        return fail(f"--out {args.out}: {e}{ran}")
    except KeyboardInterrupt as e:  # once the session had ended (it ends itself on the ones that come during it)
        print_note(f"interrupted ({interrupted_by(e)}) once the run had ended: "
                   + ("the summary above is whole" if printed else "no summary printed; the run folder is whole"
                      if args.out is not None else "no summary printed"))
        return exit_status(e)


# what only a run uses: the config --show-config prints holds no length, seed, folder or summary format
_RUN_ONLY = ("--duration", "--seed", "--out", "--json")


def _idle_with_show_config(ap: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The error for options given with --show-config that do nothing there, or None. They were ignored unsaid
    (``--show-config --seed 7 --out runs/x`` printed the config, ran nothing and wrote nothing, exit 0), where a
    user could take them for set in the config printed. Refused rather than printed into it: the config holds no
    run length, seed or folder (a run's are its command line's), and --json would be a second format of a file
    that --config reads as YAML. Told by a second parse with no defaults, so one given at its default is named
    too, abbreviated or not."""
    for action in ap._actions:
        action.default = argparse.SUPPRESS
    given = vars(ap.parse_args(argv))
    named = [o for o in _RUN_ONLY if o.lstrip("-").replace("-", "_") in given]
    if not named:
        return None
    them = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    does, it = ("does", "it") if len(named) == 1 else ("do", "them")
    return (f"{them} {does} nothing with --show-config, which prints the agent config as YAML (what --config reads) "
            f"and exits; the config holds no run length, seed or run folder: give {it} to the run, without "
            f"--show-config")


def _print_summary(summary: dict, duration: float, as_json: bool, signum: int = signal.SIGINT,
                   coin: str | None = None) -> bool:
    """The summary on stdout (and on stderr how much of the run it covers when a signal cut it); whether it was."""
    say(json_text.dumps(summary, indent=2, default=float) if as_json
        else format_summary(summary, duration, interrupted_by(signum), coin), sys.stdout)
    if summary["interrupted"]:
        by = "" if signum == signal.SIGINT else f" by {interrupted_by(signum)}"
        print_note(f"interrupted{by}: the summary covers {_ms(summary['simulated_s'])} of {_ms(duration)} "
                   "simulated s")
    return summary["interrupted"]


def market_problem(coin: str, params, params_file: str | None) -> str | None:
    """Why a twin session on ``coin`` could not trade (None: it can; ``twin.params.market_problem``), with what to
    do about it on this command line. A coin the twin lists without a market process has an empty book: the agent
    would wait for one the whole session and report nothing."""
    from twin.params import market_problem as twin_market_problem

    problem = twin_market_problem(params, coin, f"--params {params_file}" if params_file else "the twin's defaults")
    if problem is None:
        return None
    kind, text = problem
    if kind == "unlisted":
        return f"{text}: add it under instruments in a --params file, with a market under markets"
    # the preset a HIP-3 coin's market is like, the default one otherwise (the thin preset for BTC, and BTC
    # twice in one dict, was what this suggested for a params file without BTC's market)
    preset, like = ("M.thin_hip3()", "the thin HIP-3 preset") if ":" in coin else ("M()", "the default market")
    markets = f"{{{coin!r}: {preset}}}" if coin == "BTC" else f"{{'BTC': M(), {coin!r}: {preset}}}"
    return (f"{text} and the agent never quote. "
            f"Give --params a file with one under markets; for {like}: python -c \"from twin.params "
            f"import TwinParams; from twin.market.synthetic import SyntheticMarketParams as M; "
            f"print(TwinParams(markets={markets}).model_dump_json(indent=2))\" > params.json")


def _ms(seconds: float) -> str:
    """Seconds to the ms, trailing zeros dropped (0.5, 90.5, 7200): rounded whole, a 0.5 s run read "0 s"."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def format_summary(s: dict, asked: float | None = None, stopped_by: str = "a signal", coin: str | None = None) -> str:
    """The summary as a table; a run a signal cut (``interrupted``) says so in its first row, with the simulated
    time ``asked`` (its table read as a whole run's, the word on stderr alone: lost from ``> run.txt``). Its head
    names the coin traded, as the live run's does (``session.coin`` hyna:LIT read "agent vs twin, seed 0", its
    position and limit in units it did not name)."""
    pnl = s["pnl"]
    pos = s["position"]
    mk = ", ".join(f"{h} {v:+.2f}" if v is not None else f"{h} n/a" for h, v in s["markouts_bps"].items())
    maker = f"{s['maker_share']:.0%}" if s["maker_share"] is not None else "n/a"
    rows = [
        ("simulated", f"{_ms(s['simulated_s'])} s"
                      + (f" of {_ms(asked) if asked is not None else '?'} asked (interrupted: {stopped_by})"
                         if s["interrupted"] else "")
                      + f" in {s['wall_s']:.2f} s wall ({s['sim_s_per_wall_s']} sim s/wall s)"),
        ("quote cycles", f"{s['cycles']}"),
        ("PnL net", f"{signed_usd(pnl['net_usd'])} USDC (realised {pnl['realized_usd']:+.2f}, unrealised "
                    f"{signed_usd(pnl['unrealized_usd'])}, fees {pnl['fees_usd']:.2f}, funding "
                    f"{pnl['funding_usd']:+.2f})"),
        ("fills", f"{s['fills']} (maker {maker}), volume {s['volume_usd']:,.0f} USDC"),
        ("fee rate", fee_rate_text(s["fee_rate_bps"])),
        ("markouts", f"{mk} bps"),
        ("position", f"final {pos['final']:+.5f}, max |pos| {pos['max_abs']:.5f}, max worst-case "
                     f"{pos['max_worst_case']:.5f} vs limit {pos['limit']:.5f}"),
        *health_rows(s),
        safety_row(s),
        *graduation_rows(s),
        *timeline_rows(s["timeline"]),
        ("signal weights", ", ".join(f"{k} {v:.2f}" for k, v in s["signal_weights"].items())),
        # (in summary.json's words: "sent" is actions, "items" what the venue's address budget counts)
        ("requests", f"{s['requests']['sent']} actions, {s['requests']['items']} items; venue used "
                     f"{s['requests']['venue_used']} of cap {s['requests']['venue_cap']}"),
    ]
    w = max(len(k) for k, _ in rows)
    head = f"agent vs twin, {coin}, seed {s['seed']}" if coin else f"agent vs twin, seed {s['seed']}"
    return head + "\n" + "\n".join(f"  {k:<{w}}  {v}" for k, v in rows)


def timeline_rows(tl: dict) -> list[tuple[str, str]]:
    """The levels over time, one digit per bucket; none for a run Ctrl-C stopped before its first event (whose
    summary was a KeyError here, no summary printed and exit 1 instead of 130)."""
    if not tl["buckets"]:
        return [("levels over time", "none (no simulated time)")]
    return [("levels over time", f"exposure {tl['exposure']}  (0 Shadow … 5 Optimized)"),
            ("", f"safety   {tl['safety']}  (0 Green … 4 Kill; one digit per {_seconds(tl['bucket_s'])} s)")]


def _seconds(s: float) -> str:
    """A bucket's width (> 0) to three figures, whole seconds from 100 s, never in exponent form: rounded whole, a run
    under 15 s read "one digit per 0 s" and one of 100 s "per 3 s" (30 digits of 3.33 s)."""
    return f"{s:.{max(0, 2 - math.floor(math.log10(s)))}f}"


if __name__ == "__main__":
    sys.exit(main())
