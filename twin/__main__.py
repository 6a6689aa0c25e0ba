"""``python -m twin``: run the twin on its own (``run``), or serve the venue's protocol (``serve``)."""
from __future__ import annotations

import sys

if __name__ == "__main__":  # first: the imports below take a tenth of a second, serve's more
    from common.stop_signals import exit_at_once
    exit_at_once("before the run started")

from common import json_text
from common.cli_errors import fail, print_note, print_out
from common.files import ArgumentParser, unreadable
from common.units import non_empty, parse_duration, parse_seed


def main(argv: list[str] | None = None) -> int:
    own_command_line = argv is None  # (the process's: SIGTERM and SIGHUP then end a run as Ctrl-C does)
    parser = ArgumentParser(
        prog="python -m twin",
        description="The Hyperliquid digital twin. 'run' simulates the venue with a probe client that "
                    "quotes and cancels, and prints the venue's statistics.")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="{run,serve}")
    run = sub.add_parser("run", help="simulate the twin with a probe client and print statistics",
                         description="Simulate the twin with a probe client that quotes and cancels, and print the "
                                     "venue's statistics.",
                         epilog="Exit status 2 for a bad option or --params file; 130 when Ctrl-C cut the run (no "
                                "statistics); SIGTERM and SIGHUP alike (exit 143 and 129: 128 + the signal's number). One "
                                "while the statistics are printed waits for their last line, then is said, the same "
                                "status.")
    run.add_argument("--duration", default="10m", help="simulated time: seconds or 30m, 2h, 1d, 1h30m, at most 365d "
                                                       "(default 10m)")
    run.add_argument("--seed", type=parse_seed, default=0, help="random seed; the same seed gives the same run (default 0)")
    run.add_argument("--params", type=non_empty, help="TwinParams JSON file (default: built-in BTC perp parameters; "
                                                     "keys left out keep them)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--json", action="store_true", help="print the statistics as JSON")
    sub.add_parser("serve", help="serve the venue's REST and websocket protocol on loopback over the twin "
                                 "(see 'python -m twin serve --help')", add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from twin.server.cli import serve_main
        return serve_main(argv[1:], own_command_line=own_command_line) or 0
    args = parser.parse_args(argv)

    from twin.params import TwinParams
    from twin.session import run_probe_session
    from common.stop_signals import begun, exit_status, interrupted_by, stop_signals_interrupt

    try:
        duration = parse_duration(args.duration, "--duration")
        params = TwinParams.load(args.params) if args.params else TwinParams()
    except OSError as e:
        return fail(unreadable("--params", e))
    except ValueError as e:
        return fail(str(e))
    from common.stop_signals import SignalsBetweenEvents
    begun()
    printed = False
    try:
        with stop_signals_interrupt(install=own_command_line):
            stats = run_probe_session(duration, args.seed, params, progress=not args.quiet)
            with SignalsBetweenEvents():  # a signal while they are printed waits for their last line, then is said
                _print_stats(stats, duration, args.seed, args.json)
                sys.stdout.flush()  # (a pipe's buffer: lost if a signal then ends the process)
                printed = True
    except KeyboardInterrupt as e:  # (was a KeyboardInterrupt traceback, raised through SimPy's step)
        print_note(f"interrupted ({interrupted_by(e)})"
                   + (" once the run had ended: the statistics above are whole" if printed else ": no statistics"))
        return exit_status(e)
    return 0


def _print_stats(stats: dict, duration: float, seed: int, as_json: bool) -> None:
    if as_json:
        print_out(json_text.dumps(stats, indent=2, default=float))
        return
    print_out(f"twin session: {duration:.0f} simulated s in {stats['wall_s']:.2f} s wall "
              f"({stats['sim_s_per_wall_s']:.0f} sim s per wall s), seed {seed}")
    for k, v in stats["counters"].items():
        print_out(f"  {k:<20} {v}")
    # (the replies, errors and quota were dicts' reprs: "{'cumVlm': 2200.7929999999997, 'nRequestsUsed': 68, ...}")
    print_out(f"  probe replies        {_counts(stats['probe_replies'])}")
    print_out(f"  probe errors         {_counts(stats['probe_errors'])}")
    # (the two a healthy run gives, read as the venue's faults: the probe's post-only quotes and its blind cancels)
    said = [why for code, why in _PROBE_ERRORS.items() if stats["probe_errors"].get(code)]
    if said:
        print_out(f"                       ({'; '.join(said)}: the probe causes them, a healthy venue answers so)")
    print_out(f"  probe fills          {stats['probe_fills']}  position {stats['probe_position']:+.5f}  "
              f"account value {stats['probe_account_value']:.2f}")
    q = stats["quota"]
    print_out(f"  quota                {q['nRequestsUsed']:,} of {q['nRequestsCap']:,} requests used, cumVlm "
              f"{_usd(q['cumVlm'])} USDC traded")


# what the probe's usual errors are: it quotes post-only a few ticks out, and cancels each order at its next
# interval without watching for fills
_PROBE_ERRORS = {"BadAloPx": "BadAloPx, a post-only quote the book had moved through",
                 "MissingOrder": "MissingOrder, a cancel of an order filled since"}


def _counts(counts: dict) -> str:
    """``ok 37`` or ``BadAloPx 6, MissingOrder 21``; ``none``."""
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


def _usd(x: float) -> str:
    """A USDC amount as the venue's userRateLimit gives cumVlm: rounded to 6 decimals, no float noise
    (``2200.793``, not ``2200.7929999999997``); twin.server.wire's ``usd_num``, which needs the live extra."""
    from decimal import Decimal
    text = format(Decimal(repr(round(float(x), 6))), "f")
    return text if "." in text else text + ".0"


if __name__ == "__main__":
    from common.console import drop_output_unread
    drop_output_unread()  # (| head: not an error)
    sys.exit(main())
