"""``python -m calibration RUN``: fit the twin from a live run's event journal, and report."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # first: the imports below take a second or so
    from common.stop_signals import exit_at_once
    exit_at_once("before the calibration started")

from common.cli_errors import fail, print_error, print_note, print_out
from common.files import ArgumentParser, lacks_matplotlib
from common.units import non_empty, non_negative_float, positive_int

EPILOG = """examples:
  python -m calibration runs/testnet-t1                    # writes runs/testnet-t1/calibration/
  python -m calibration runs/testnet-t1 --out fits/t1
  python -m agent --params fits/t1/twin_params.json        # the agent against the fitted twin

RUN is a live run folder (python -m agent --venue live --out RUN), whose events.jsonl is replayed through the
agent's core to recover every order's sending time. Writes twin_params.json (the base with the fitted parts
set), calibration.json and report.html; then runs the fitted twin with the run's agent config for as long
(--replay-hours caps it) and reports what it shows beside what was seen (fills by distance from the touch and
markouts among it). Exit status 2 for a folder without a journal or a bad base file, for a journal that cannot
be the run as it was (a line damaged or written twice, runs on two coins), and for an --out that cannot be
written (a full disk: nothing written, an earlier calibration there left whole); 130 when Ctrl-C cut the fit,
the replay or the report's drawing (nothing written); SIGTERM and SIGHUP alike (exit 143 and 129: 128 + the
signal's number). A signal once the files are being written waits for them to be whole, then is said, with the
same exit status."""


def main(argv: list[str] | None = None) -> int:
    own_command_line = argv is None  # (the process's: SIGTERM and SIGHUP then end the work as Ctrl-C does)
    ap = ArgumentParser(prog="python -m calibration", description="Fit the twin's latency (orders and "
                                 "feed), rejection, transport-failure, disconnect, quota and market parameters\nfrom "
                                 "a live run, measure its fills and markouts, and write them with a report.",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    # (the usage read "run", the options' help "RUN" and the epilog "RUN_DIR": one name; and --out said nothing of
    # the folder it takes, which is refused holding other files)
    ap.add_argument("run", metavar="RUN", type=non_empty,
                    help="a live run folder (python -m agent --venue live --out RUN), with its events.jsonl")
    ap.add_argument("--out", metavar="DIR", help="the folder to write twin_params.json, calibration.json and "
                    "report.html in (default RUN/calibration): made if not there; one holding other files is refused, "
                    "an earlier calibration there replaced")
    ap.add_argument("--base", metavar="FILE", type=non_empty,
                    help="twin parameters JSON the fit starts from (default: the twin's defaults)")
    ap.add_argument("--replay-hours", metavar="HOURS", type=non_negative_float, default=6.0, help="run the fitted "
                    "twin with the run's agent config for the run's length, at most this many hours, and report it "
                    "beside what was seen (0: no replay; default 6)")
    ap.add_argument("--replay-seeds", metavar="N", type=positive_int, default=1, help="replay the fitted twin on "
                    "this many seeds and give each row the replayed value's range over them (default 1; seeds x "
                    "--replay-hours at most a year: 1,460 at 6 h): what the agent's own path decides (requests, fills, "
                    "markouts) varies from seed to seed")
    ap.add_argument("--quiet", action="store_true", help="no progress bars (the journal's replay, the fitted twin's)")
    args = ap.parse_args(argv)
    too_many = _too_many_seeds(args.replay_seeds, args.replay_hours)
    if too_many:
        return fail(too_many)
    lacking = lacks_matplotlib("report.html's figure")  # before the fit and the replay, which take minutes
    if lacking:
        return fail(lacking)

    import numpy as np

    from calibration.fit import fit, replay_check
    from calibration.observe import journal_files, observe_journal
    from calibration.report import report_files, write_files
    from twin.params import TwinParams
    from common.stop_signals import SignalsBetweenEvents
    from common.stop_signals import begun, exit_status, interrupted_by, remove_made_folders, stop_signals_interrupt

    out = Path(args.out) if args.out else Path(args.run) / "calibration"
    # before the work (the fit and the replay take minutes), and the inputs before the output folder is made; an
    # error the system gives (a name too long, a file not there) with the option or argument it is about
    step = "RUN"
    try:
        journal_files(args.run)
        step = "--base"
        base = TwinParams.load(args.base) if args.base else TwinParams()
        step = "--out"
        made: list[Path] = []  # the folders made for it (the output folder, and those above it that were not there)
        replacing = _check_out(out, args.out, made)
    except ValueError as e:
        return fail(str(e))
    except OSError as e:
        what = {"RUN": f"{args.run}", "--base": f"--base {args.base}", "--out": f"--out {args.out or out}"}[step]
        return fail(str(e) if e.errno is None else f"{what}: {e.strerror or e}")
    bar = None
    begun()
    try:
        with stop_signals_interrupt(install=own_command_line):
            try:
                bar = _bar(Path(args.run) / "events.jsonl", args.quiet)
                obs = observe_journal(args.run, bar.update if bar is not None else None)
            finally:
                if bar is not None:
                    bar.close()
            f = fit(obs, base)
            replay, not_replayed = None, None
            if args.replay_hours > 0 and obs.config is not None:
                replay = replay_check(f, obs.config, max_s=args.replay_hours * 3600.0, progress=not args.quiet,
                                      seeds=args.replay_seeds)
                if replay is None:
                    # (said as a HIP-3 coin the base lacks, for BTC on a base without it: its market too short
                    # to fit; said where the replay's line goes, and in report.html, which said nothing: it was
                    # printed before the calibration's first line)
                    not_replayed = (f"it has no market for {obs.coin} (the base has none, and the run's was not "
                                    f"fitted: {f.market_why})")
    except (ValueError, OSError, KeyboardInterrupt) as e:
        # a journal refused, or Ctrl-C (the replay takes minutes: it was a KeyboardInterrupt traceback), SIGTERM or
        # SIGHUP: nothing written, and a folder made for this run only is not left behind empty
        stopped = isinstance(e, KeyboardInterrupt)
        if stopped:
            print_note(f"interrupted ({interrupted_by(e)}): nothing written")
        else:
            print_error(str(e))
        remove_made_folders(made)
        return exit_status(e) if stopped else 2
    written = False  # the files, whole: then only the lines that say what they hold are left
    try:
        with stop_signals_interrupt(install=own_command_line):
            s, texts = report_files(f, str(args.run), np.random.default_rng(0), replay, not_replayed)
            # a signal in the writing or the lines after it is held to their end (an instant): it was the default
            # action there, killed unsaid, and in the renames it left the new files beside the earlier ones
            with SignalsBetweenEvents():
                write_files(out, texts)
                written = True
                _say(s, obs, f, replay, out, replacing, not_replayed)
                sys.stdout.flush()  # (a pipe's buffer: lost if a signal then ends the process)
    except KeyboardInterrupt as e:  # while the figures were drawn, before any file was written: the folder is as it
        # was; or held while the files were written, then said
        if written:
            print_note(f"interrupted ({interrupted_by(e)}) once the calibration was written: {out} holds it whole")
            return exit_status(e)
        print_note(f"interrupted ({interrupted_by(e)}): nothing written"
                   + (f"; {out} holds the earlier calibration" if replacing else ""))
        remove_made_folders(made)
        return exit_status(e)
    except OSError as e:  # a full disk: it was a traceback, exit 1, with the new parameters beside the earlier report
        print_error(f"--out {out}: {e.strerror or e}: nothing written"
                    + (f"; {out} holds the earlier calibration" if replacing else ""))
        remove_made_folders(made)
        return 2
    return 0


def _say(s: dict, obs, f, replay, out: Path, replacing: bool, not_replayed: str | None = None) -> None:
    """What the calibration found and wrote, on stdout (``s``: the report's figures; ``not_replayed``: why the
    fitted twin could not be replayed)."""
    from calibration.fit import market_kept
    from calibration.numbers_text import count_text as _n, interval_text
    from calibration.report import (OUTPUT_FILES, cell_text, disconnects_text, figure_text as _figure, json_ready,
                                    ks_text, length_text as _length, outages_text, reach_text, rejections_of, run_text,
                                    spikes_text, spread_text, trade_rate_text)

    lat = s["latency"]
    print_out(run_text(s))
    if lat:
        leg = lat["leg"]
        print_out(f"latency per leg: body median {leg['median_ms']:.1f} ms, sigma {leg['sigma']:.3f}; "
                  f"{spikes_text(leg, 'of legs', sigma=False)} (KS {lat['ks_distance']:.3f})")
        for said in (lat.get("roles_held"), lat.get("one_part")):
            if said:
                print_out(f"latency: {said}")
    else:
        print_out("latency: too few round trips to fit (the base's kept)")
    feed = s["feed"]
    if feed:
        ks = f", KS {feed['ks_distance']:.3f} against the replay" if feed["ks_distance"] is not None else ""
        print_out(f"feed latency, {_n(feed['n'], 'book update')}: body median {feed['leg']['median_ms']:.1f} ms, sigma "
                  f"{feed['leg']['sigma']:.3f}; {spikes_text(feed['leg'], 'of updates', median=False, sigma=False)} "
                  f"({feed['held_share']:.0%} of the updates right behind another frame: censored{ks})")
        for said in (feed.get("roles_held"), feed.get("one_part")):
            if said:
                print_out(f"feed latency: {said}")
    else:
        print_out("feed latency: too few book updates with comparable clocks (the base's kept)")
    for k, r in f.rejections.items():
        print_out(f"rejections {k}: {_figure(r.rate, 4)} (95%: {_figure(r.lo, 4)} – {_figure(r.hi, 4)}), "
                  f"{r.count:,} of {r.n:,} {rejections_of(obs, k, one=r.n == 1)}")
    t = f.transport  # (report.html's table gave it, the printout only the replay's row, where there was one)
    if "rejections.rest_failure_prob" not in dict(f.kept):
        print_out(f"lost in transport: {_figure(t.rate, 4)} (95%: {interval_text(t.lo, t.hi, 4)}), {t.count:,} of "
                  f"{_n(t.n, 'request of places', 'requests of places')} (none of their places answered)")
    for k, why in f.kept:
        print_out(f"{k}: the base's kept ({why})")
    m = f.market
    if m is not None:
        print_out(f"market {m.coin}, {_n(m.updates, 'book update')} and {_n(m.trades, 'trade')}: volatility "
                  f"{_figure(m.vol_per_sqrt_s, 3)} per √s of the log mid, {trade_rate_text(vars(m.trade_rate_per_s))}"
                  f", their sizes median {_figure(m.trade_size_median, 4)} {m.coin}, median "
                  f"{_figure(m.depth_at_touch, 4)} {m.coin} at the touch, {spread_text(m.half_spread_ticks)}")
        if m.reach is not None and not m.reach.why:  # (not fitted: the kept lines above say why)
            print_out(reach_text(json_ready(vars(m.reach)), m.market.depth_decay_per_usd))
        if f.tick_why:
            print_out(f"tick: {f.tick_why}")
        r = m.regimes
        if r is not None and r.separated:
            print_out(f"regimes: calm {_figure(r.vol_calm_per_sqrt_s, 3)} / stressed "
                      f"{_figure(r.vol_stressed_per_sqrt_s, 3)} per √s, "
                      f"stressed {r.stressed_share:.0%} of the time, spells every "
                      f"{1 / r.calm_to_stressed_per_s / 60:.0f} min lasting {1 / r.stressed_to_calm_per_s / 60:.1f} "
                      f"min")
        else:
            print_out("regimes: one seen (the base's switching kept)")
        i = f.informed
        if i is not None:  # (not fitted: the kept lines above say why, with the numbers)
            print_out(f"informed flow: {i.share:.3f} of the trades (95%: {i.lo:.3f} – {i.hi:.3f}; {i.agree:.1%} of "
                      f"{i.trades:,} on the side the mid then moved, the feed's factor {i.factor:.2f})")
    else:
        print_out(f"market: not fitted, {market_kept(f)} ({f.market_why})")
    if f.fills is not None and f.fills.by_distance:
        # (the share to four figures as report.html's table and the replay's rows give it: it read "0.56 (421/747)"
        # beside the page's and the row's 0.5636)
        print_out("filled, of the orders rested: " + ", ".join(f"{label} {_figure(r.rate, 4)} ({r.count:,} of {r.n:,})"
                                                             for label, r in f.fills.by_distance))
        marks = [m for m in f.fills.markouts if m.n > 1]  # (none: the line said nothing after its colon)
        # (the mean as the replay's row gives it, cell_text: it read "10 s -0.379 bps" beside the row's -0.3787)
        print_out("maker fills' markouts: " + (", ".join(f"{m.horizon_s:g} s {'+' * (m.mean_bps > 0)}"
                                                         f"{cell_text(m.mean_bps)} bps (standard error "
                                                         f"{m.se_bps:.3f}, {_n(m.n, 'fill')})" for m in marks)
                                               or "too few maker fills"))
    if f.quota is not None:
        rate = (f"one request per {_figure(f.quota.usd_per_request, 4)} USDC traded"
                if f.quota.usd_per_request is not None else "too little traded for the cap's growth")
        print_out(f"quota: {rate}; started with {_n(f.quota.start_headroom, 'request')} of headroom, used "
                  f"{f.quota.used_per_hour:,.0f} requests an hour")
    print_out(f"disconnects: {disconnects_text(s)}")
    if s["outages"] is not None:
        print_out(outages_text(s["outages"]))
    for x in obs.left_out:
        print_out(f"left out: {x}")
    if replay is not None:
        def row(w, a, b, lo, hi):
            spread = f" ({cell_text(lo)} – {cell_text(hi)})" if replay.seeds > 1 else ""
            return f"{w} {cell_text(a)} / {cell_text(b)}{spread}"
        ranges = replay.ranges or tuple((b, b) for _, _, b in replay.rows)
        ks = f"KS {ks_text(replay.round_trip_ks, len(replay.observed.round_trip_s))}"
        print_out(f"the fitted twin replayed for {_length(replay.duration_s)} on {_n(replay.seeds, 'seed')}: round "
                  f"trips {ks} against the observed; seen / replayed"
                  f"{' (range over the seeds)' if replay.seeds > 1 else ''}: "
                  + "; ".join(row(w, a, b, lo, hi) for (w, a, b), (lo, hi) in zip(replay.rows, ranges)))
        if replay.funded:
            print_out(f"the replay's account: {replay.funded}")
    if not_replayed:
        print_out(f"the fitted twin is not replayed: {not_replayed}")
    print_out("wrote " + ", ".join(str(out / name) for name in OUTPUT_FILES)
              + (" (replacing an earlier calibration's)" if replacing else ""))


def _too_many_seeds(seeds: int, hours: float) -> str | None:
    """The error for a ``--replay-seeds`` past its bound, or None. Each seed replays up to ``--replay-hours`` of the
    fitted twin, one after another, so the bound is the project's on any simulated length (``MAX_DURATION_S``, a
    year; past it is a typo): seeds x hours at most a year, 1,460 seeds at the default 6 h. One seed is always
    taken: its replay is the run's own length, however large ``--replay-hours`` (a cap) is."""
    from common.units import MAX_DURATION_S

    if hours <= 0 or seeds <= 1:  # (0 hours: no replay, the seeds unused)
        return None
    highest = max(1, int(MAX_DURATION_S // (hours * 3600.0)))
    if seeds <= highest:
        return None
    return (f"--replay-seeds {seeds}: at most {highest:,} with --replay-hours {hours:g} (each seed replays up to "
            f"{hours:g} h of the fitted twin, one after another: past a year simulated in all is a typo)")


def _bar(journal: Path, quiet: bool):
    """A progress bar over the journal's bytes (its segments too), or None: quiet, or nothing to read."""
    from agent.audit.records import log_files
    files = log_files(journal)
    if quiet or not files:
        return None
    from tqdm import tqdm
    return tqdm(total=sum(f.stat().st_size for f in files), unit="B", unit_scale=True, desc="replaying the journal",
                leave=False)


def _check_out(out: Path, given: str | None, made: list[Path]) -> bool:
    """Make the output folder now, before any work (ValueError naming it and why not). A folder holding
    anything but an earlier calibration's files is refused (they would sit beside a report that does not
    describe them); an earlier calibration is replaced: True, said when the new one is written. The folders made
    are added to ``made``."""
    from agent.audit.records import temporary_path
    from calibration.report import OUTPUT_FILES
    from common.files import make_output_folder

    if given == "":
        make_output_folder("")  # refused: an empty path
    shown = given if given is not None else str(out)
    if out.is_dir():
        # (a kill mid-write leaves a temporary file)
        ours = set(OUTPUT_FILES) | {temporary_path(out / n).name for n in OUTPUT_FILES}
        others = sorted(p.name for p in out.iterdir() if p.name not in ours)
        if others:
            raise ValueError(f"--out {shown}: holds files that are not a calibration's ({', '.join(others[:3])}"
                             f"{', ...' if len(others) > 3 else ''}): choose another --out, or an empty folder")
    replacing = out.is_dir() and any((out / name).exists() for name in OUTPUT_FILES)
    make_output_folder(out, given=shown, made=made)
    return replacing


if __name__ == "__main__":
    from common.console import drop_output_unread
    drop_output_unread()  # (| head: not an error)
    sys.exit(main())
