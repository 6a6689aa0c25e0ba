"""The calibration report: the fitted ``TwinParams`` as JSON (``python -m agent --params`` runs them) and an
HTML page with each fit, its interval and a figure of the round trips, observed against the fitted twin's."""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from scipy import stats

from agent.audit.records import write_all_whole
from calibration.fit import (MIN_KS_ROUND_TRIPS, REQUESTS_ROW, TRANSPORT_OF, Fit, goodness, market_kept,
                             rejections_of, sample_leg, sample_round_trips)
from calibration.numbers_text import count_text as _n, durations_text, figure_text, interval_text
from calibration.observe import VENUE_TIME_ASSUMED

OUTPUT_FILES = ("twin_params.json", "calibration.json", "report.html")  # what write_report writes, all of it


def write_report(f: Fit, out: Path, source: str, rng: np.random.Generator, replay=None) -> dict:
    """``out``/twin_params.json and ``out``/report.html; returns the report's figures as a dict (also written
    as ``out``/calibration.json). ``replay``: a ``ReplayCheck`` of the fitted twin, reported beside."""
    summary, texts = report_files(f, source, rng, replay)
    write_files(out, texts)
    return summary


def report_files(f: Fit, source: str, rng: np.random.Generator, replay=None,
                 not_replayed: str | None = None) -> tuple[dict, dict[str, str]]:
    """``write_report``'s figures and the texts of its files, nothing written: the drawing takes a second or two,
    the writing an instant, and ``python -m calibration`` holds a signal over the writing alone. ``not_replayed``:
    why the fitted twin could not be replayed (report.html says it where the replay would be)."""
    o = f.observations
    summary = {
        "source": source, "runs": o.runs, "duration_s": o.duration_s, "places": o.places, "answered": o.answered,
        "place_requests": o.place_requests, "round_trips": len(o.round_trip_s),
        "latency": None, "rejections": {k: vars(v) for k, v in f.rejections.items()},
        "transport": vars(f.transport), "disconnects": vars(f.hazard_per_hour),
        "outage_median_s": f.outage_median_s, "outage_sigma": f.outage_sigma,
        "outages": vars(f.outages) if f.outages is not None else None,
        "kept_from_base": dict(f.kept), "left_out": list(o.left_out),
        "venue_time_assumed": VENUE_TIME_ASSUMED,  # (the feed's lags and the clock's moves rest on it)
    }
    fig = ""
    if f.latency is not None:
        ks, p = goodness(f.latency, o.round_trip_s, rng)
        leg = f.latency.leg
        summary["latency"] = {"leg": leg.model_dump(), "round_trip_body_median_ms": float(np.exp(f.latency.body_mu)),
                              "round_trip_spike_share": f.latency.spike_prob, "ks_distance": ks, "ks_pvalue": p,
                              "roles_held": f.latency.roles or None, "one_part": f.latency.parts or None}
        fig = _figure(o.round_trip_s, sample_round_trips(leg, 50_000, rng),
                      "place round trip, ms (order entry + response)")
    feed_fig = ""
    summary["feed"] = None
    if f.feed is not None:
        held = int(o.feed_held.sum()) if len(o.feed_held) == len(o.feed_lag_s) else 0
        summary["feed"] = {"leg": f.feed.leg.model_dump(), "n": f.feed.n, "held": held,
                           "held_share": held / max(len(o.feed_lag_s), 1), "dropped": o.feed_lags_dropped,
                           "ks_distance": None, "ks_pvalue": None, "roles_held": f.feed.roles or None,
                           "one_part": f.feed.parts or None}
        seen_again = replay.replayed.feed_lag_s if replay is not None else np.zeros(0)
        if len(seen_again) >= 20:  # the lags as seen, holds and all, against the fitted twin's as seen
            res = stats.ks_2samp(o.feed_lag_s, seen_again)
            summary["feed"].update(ks_distance=float(res.statistic), ks_pvalue=float(res.pvalue))
            feed_fig = _figure(o.feed_lag_s, seen_again, "book update lag, ms (the feed)", "the fitted twin replayed")
        else:  # no replay: the leg's own draws, before the socket's holds (so shorter than what was seen)
            feed_fig = _figure(o.feed_lag_s, sample_leg(f.feed.leg, 50_000, rng), "book update lag, ms (the feed)",
                               "drawn by the fitted leg (no holds)")
    summary["market"] = None
    summary["market_not_fitted"] = f.market_why or None  # (what the run had against what a fit needs)
    summary["market_kept"] = market_kept(f) if f.market is None else None
    summary["tick_taken"] = f.tick_why or None  # (the base's tick would list prices the venue refuses there)
    if f.market is not None:
        m = f.market
        summary["market"] = {**{k: v for k, v in vars(m).items() if k not in ("market", "regimes", "reach")},
                             "trade_rate_per_s": vars(m.trade_rate_per_s),
                             "regimes": vars(m.regimes) if m.regimes is not None else None,
                             "reach": vars(m.reach) if m.reach is not None else None,
                             "depth_decay_per_usd": m.market.depth_decay_per_usd,
                             "book_interval_s": m.market.book_interval_s}
    summary["quota"] = vars(f.quota) if f.quota is not None else None
    summary["informed"] = vars(f.informed) if f.informed is not None else None
    summary["fills"] = None
    if f.fills is not None:
        summary["fills"] = {"own_prints": o.own_prints,
                            "by_distance": [{"bucket": label, **vars(r)} for label, r in f.fills.by_distance],
                            "markouts": [vars(m) for m in f.fills.markouts]}
    summary["replay"] = None
    summary["not_replayed"] = not_replayed
    if replay is not None:
        ranges = replay.ranges or tuple((b, b) for _, _, b in replay.rows)
        summary["replay"] = {"duration_s": replay.duration_s, "round_trip_ks": replay.round_trip_ks,
                             "seeds": replay.seeds, "funded": replay.funded or None,
                             "rows": [{"what": w, "observed": a, "replayed": b, "replayed_min": lo, "replayed_max": hi}
                                      for (w, a, b), (lo, hi) in zip(replay.rows, ranges)]}
    summary = json_ready(summary)
    return summary, {"twin_params.json": f.params.model_dump_json(indent=2),
                     "calibration.json": json.dumps(summary, indent=2, allow_nan=False),
                     "report.html": _html(summary, fig, feed_fig,
                                          {k: rejections_of(o, k) for k in f.rejections})}


def write_files(out: Path, texts: dict[str, str]) -> None:
    """The calibration's files, all made before any is written, then all written to their temporary files before
    any replaces its earlier one (``write_all_whole``). twin_params.json was written first and the figures drawn
    after it: a kill then (seen in 7 of 14 seeded kills) left the new parameters beside the earlier calibration's
    report, which did not describe them, and nothing said so; a full disk at the second file did the same. Now a
    kill or a failed write leaves the earlier set or the new one (but for the instant of the renames)."""
    write_all_whole({out / name: (lambda f, text=text: f.write(text.encode())) for name, text in texts.items()})


def json_ready(x):
    """``x`` with numpy scalars as Python numbers and NaN or infinity as null: JSON has no NaN, and a reader
    of calibration.json in another language would refuse the file."""
    if isinstance(x, dict):
        return {k: json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _figure(observed: np.ndarray, fitted: np.ndarray, xlabel: str, fitted_label: str = "fitted twin") -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ms = observed * 1000.0
    bins = np.logspace(np.log10(max(ms.min(), 1.0) * 0.8), np.log10(ms.max() * 1.2), 60)
    ax.hist(ms, bins=bins, density=True, alpha=0.6, label=f"observed ({len(ms)})")
    ax.hist(fitted * 1000.0, bins=bins, density=True, histtype="step", linewidth=1.5, label=fitted_label)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _informed_text(i: dict | None, why: str | None) -> str:
    """The informed flow's fit, or why it is not fitted (``why``: its ``kept_from_base`` reason). It said "Too few
    trades to fit the informed flow" with no count or threshold, and the same where the probe showed no factor."""
    if i is None:
        return (f"The informed flow is not fitted ({html.escape(why or 'no reason given', quote=False)}): the base's "
                f"share kept.")
    return (f"Of {_n(i['trades'], 'market trade')}, {i['agree']:.1%} were on the side the mid then moved; the feed "
            f"shows 2h − 1 at {i['factor']:.2f} of the informed share (the fitted twin's market, probed: "
            f"{_n(i.get('probe_trades', 0), 'trade')}), so the informed share is {i['share']:.3f} (95%, the run's and "
            f"the probe's sampling both: {i['lo']:.3f} – {i['hi']:.3f}).")


def reach_text(r: dict | None, k: float) -> str:
    """The prints' reach as the printout and the report say it: the fitted k with its interval and the prints it is
    from, or why the base's ``k`` (scaled to the run's price) is kept. k is per price unit, so the mean reach 1/k is
    in price units (it read "mean reach past the mid 0.51", of no unit), and the shares are of the prints."""
    if r is None:
        return f"prints' reach: no print came with a touch seen before it; the base's {_fig(k, 4)} per price unit kept"
    shares = (f"{_num(r['beyond_share'], '.1%')} of the prints past the touch in force, "
              f"{_num(r['stale_share'], '.0%')} seen against a stale touch")
    seen = f"{r['beyond']:,} of {_n(r['n'], 'print')} past the touch seen; {shares}"
    if r["why"]:  # (the why begins with the counts: "1256 of 6730 prints past the touch seen" was said twice)
        return f"prints' reach not fitted ({r['why']}; {shares}): the base's {_fig(k, 4)} per price unit kept"
    return (f"prints' reach depth_decay_per_usd {_fig(r['k'], 4)} per price unit (95%: {_fig(r['lo'], 4)} – "
            f"{_fig(r['hi'], 4)}; mean reach past the mid {_fig(1 / r['k'], 4)} price units), from {seen}")


def trade_rate_text(r: dict) -> str:
    """The market's trades a second with their 95% interval, as the printout and the report say them: the printout
    read "3.89 trades/s", no interval, beside the report's "3.89 trades a second (95%: 3.8 – 3.98)"."""
    hi = math.inf if r["hi"] is None else r["hi"]  # (JSON's null: no bound)
    return f"{_fig(r['rate'], 3)} trades a second (95%: {interval_text(r['lo'], hi, 3)})"


def spread_text(half_spread_ticks: float) -> str:
    """The book's calm spread as the printout and the report say it, with the twin's parameter fitted from it: its
    book is the floor and the ceiling of the mid ± ``half_spread_ticks_calm``, a one-tick spread at 0, so the fit
    sets it to half the median spread past one tick (0 where the median is one tick or less). Both said it as "half
    spread 0.00 ticks", a book with no spread, of BTC's one-tick book."""
    return (f"median spread {1.0 + 2.0 * half_spread_ticks:.2f} ticks (the twin's half_spread_ticks_calm "
            f"{half_spread_ticks:.2f}: half the spread past one tick)")


def _regimes_text(r: dict | None) -> str:
    if r is None:
        return "Too few returns for the two-regime fit: the base's switching kept."
    if not r["separated"]:
        return ("One regime seen (the two-state fit found no stressed state at least 1.5 times as volatile, in spells "
                "of 30 s or more, switching often enough to fit): the calm volatility is the robust one above, the "
                "base's switching kept.")
    return (f"Two regimes (a two-state fit of {_n(r['steps'], 'return')} a second): calm "
            f"{_fig(r['vol_calm_per_sqrt_s'], 3)} "
            f"per √s, stressed {_fig(r['vol_stressed_per_sqrt_s'], 3)} per √s, {r['stressed_share']:.0%} of the "
            f"time stressed; "
            f"spells begin every {1 / r['calm_to_stressed_per_s'] / 60:.0f} min of calm and last "
            f"{1 / r['stressed_to_calm_per_s'] / 60:.1f} min; the trade rate is split between them in the base's ratio.")


def ks_text(ks: float | None, seen: int) -> str:
    """The replay's round-trip KS distance as the printout and the report say it, or why it was not measured (``seen``:
    the run's round trips): the report read "Kolmogorov-Smirnov distance –." where the printout said "not measured
    (fewer than 20 round trips seen)"."""
    if ks is not None and ks == ks:  # (NaN in the replay, null in calibration.json: not measured)
        return f"{ks:.3f}"
    short = "seen" if seen < MIN_KS_ROUND_TRIPS else "replayed"
    return f"not measured (fewer than {MIN_KS_ROUND_TRIPS} round trips {short})"


def run_text(s: dict) -> str:
    """What the run was, as the printout and the report say it (``s``: the report's figures). The printout read "5,553
    places (5,534 answered) in 2,806 requests, 2,795 round trips", the report "5,553 places, 2,795 requests of places
    answered (their round trips)": the one without the requests sent and the places answered, the other without what
    its round trips were."""
    return (f"{_n(s['runs'], 'run')}, {length_text(s['duration_s'])}, {_n(s['places'], 'place')} "
            f"({s['answered']:,} answered) in {_n(s['place_requests'], 'request')}, {s['round_trips']:,} of them "
            f"answered (their round trips)")


def length_text(s: float) -> str:
    """A run's or a replay's length in the unit that shows it: a 12 s run was "0.00 h", and its replay "0.02 h"
    (the console's and report.html's alike)."""
    if s < 600:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.2f} h"


def _num(v, spec: str) -> str:
    """A number as the report shows it; "–" for none (an interval's bound JSON has no number for: infinite)."""
    return "–" if v is None else format(v, spec)


def cell_text(v) -> str:
    """A replay row's value as the printout and the report say it: four significant figures (``figure_text``), but
    its whole part never rounded, and "–" for none (nothing seen, or nothing replayed, there: NaN, or JSON's null).
    Four figures read the requests used per hour 15,520 in the row beside the quota line's 15,525, one figure two
    ways, the rounded one looking exact."""
    if v is None or v != v:
        return "–"
    whole = math.floor(math.log10(abs(v))) + 1 if abs(v) >= 1 else 0
    return figure_text(v, max(4, whole))


def _fig(v, digits: int) -> str:
    """A figure as ``figure_text`` gives it (the console's too); "–" for none (a bound JSON has no number for)."""
    return "–" if v is None else figure_text(v, digits)


def _rate_row(name: str, r: dict, of_what: str | None = None) -> str:
    """A share's row: its name, count, of how many, (``of_what``: what those are, where rows differ), share,
    interval."""
    what = "" if of_what is None else f"<td>{html.escape(of_what)}</td>"
    # (a share of nothing read "0 | 0 – 1": a rate of 0 where the base's is kept, as the kept list above says)
    share, interval = ("–", "none: nothing to count it of (the base's kept)") if r["n"] == 0 else \
        (_fig(r["rate"], 4), f"{_fig(r['lo'], 4)} – {_fig(r['hi'], 4)}")
    return (f"<tr><td>{html.escape(name)}</td><td>{r['count']:,}</td><td>{r['n']:,}</td>{what}"
            f"<td>{share}</td><td>{html.escape(interval, quote=False)}</td></tr>")


def _notes_html(s: dict) -> str:
    """What the fit kept of the base for want of a sample, and what the journal's reader left out."""
    kept = "".join(f"<li>{html.escape(k)}: {html.escape(why)}</li>" for k, why in s["kept_from_base"].items())
    left = "".join(f"<li>{html.escape(x)}</li>" for x in s["left_out"])
    # (it said "the run gave no sample of them" over a reach whose 1,276 prints past the touch did not bound it, and
    # over 2 outages where a fit needs 5: each item says what the run had)
    return ((f"<p>Kept from the base (the run gave no sample of them, or too small a one to fit):</p><ul>{kept}</ul>"
             if kept else "")
            + (f"<p>Left out of the journal:</p><ul>{left}</ul>" if left else ""))


def spikes_text(leg: dict, of: str = "", median: bool = True, sigma: bool = True) -> str:
    """A fitted leg's spikes as the printout and the report say them: ``spikes 3.00% OF, median 500 ms, sigma
    0.400``; ``no spikes`` when the share is fitted at 0. The fit then gives the spike component's median as the
    largest value seen and its sigma as 0.5 (``fit_mixture``'s one normal): numbers of nothing, which read as a
    spike median of 1922 ms. calibration.json and twin_params.json keep them (their keys are public, and the twin
    draws no spike at a share of 0 whatever they hold)."""
    if not leg["spike_prob"] > 0:
        return "no spikes"
    return (f"spikes {leg['spike_prob']:.2%}{' ' + of if of else ''}"
            + (f", median {leg['spike_median_ms']:.0f} ms" if median else "")
            + (f", sigma {leg['spike_sigma']:.3f}" if sigma else ""))


def outages_text(o: dict) -> str:
    """The outages' fitted length as the printout and the report say it, each parameter with its 95% interval
    and the count it is from (a bare "sigma 0.128" from two outages read as a fit), and where the agent's reconnect
    backoff is in the lengths though the run said when the venue refused (the twin's outages then too long), or a
    silent socket's silence before its drop was declared is out of them (then too short). The median and its
    interval in ms under a second (``durations_text``): "median 0.00 s (95%: 0.00 – 0.01)" was a 3 ms one. Sigma's
    interval is labelled 95% as every other interval is (it read "sigma 0.792 (0.623 – 1.012)", which could be any
    spread), sigma and its ends to three significant figures (``interval_text``), as one figure reads alike."""
    quiet = o.get("silence_out_s") or 0.0
    (median, lo, hi), unit = durations_text(o["median_s"], o["median_lo"], o["median_hi"])
    return (f"outages log-normal, median {median} {unit} (95%: {lo} – {hi}), "
            f"sigma {figure_text(o['sigma'], 3)} (95%: {interval_text(o['sigma_lo'], o['sigma_hi'], 3)}), from "
            f"{_n(o['n'], 'outage')}"
            + (" (drop to reconnect, the agent's backoff in them: the venue's part alone determined no fit)"
               if o.get("backoff_in") else "")
            + (f" (from when each drop was declared: a silent socket's outage began up to {quiet:.1f} s before, not in "
               f"them: the venue's part alone determined no fit)" if quiet > 0.0 else ""))


def disconnects_text(s: dict) -> str:
    """The drops and their rate per connected hour as the printout and the report say them (``s``: the report's
    figures), or why the rate is not fitted. With no time connected (a run whose socket dropped as it began) the report
    read "1 drop over 0 s: 0 per connected hour (95%: 0 – –)", a rate of none and an interval with no upper end, where
    the printout said the base's was kept; now both say that, and why."""
    d, kept = s["disconnects"], s["kept_from_base"].get("connection.hazard_per_hour")
    seen = f"{_n(d['count'], 'drop')} over {length_text(s['duration_s'])}"
    if kept is not None:
        return f"{seen}, not fitted ({kept}): the base's rate kept"
    hi = math.inf if d["hi"] is None else d["hi"]  # (JSON's null: no bound)
    # (the rate as the replay's row "disconnects per connected hour" gives it, cell_text: the line read 2.01 beside the
    # row's 2.006)
    return f"{seen}, {cell_text(d['rate'])} per connected hour (95%: {interval_text(d['lo'], hi, 3)})"


def p_text(p) -> str:
    """A test's p-value as the report says it: "p < 0.001" below that, else its three figures (``figure_text``).
    ``.3g`` gave a poor fit's "p = 3.21e-06" (a KS test of 10,000 round trips against 100,000 draws tells a few
    hundredths of distance), the one exponent left in report.html; "0.00000321" would be as true, and a p of 1e-300
    three hundred zeros long."""
    return "p < 0.001" if p is not None and p < 0.001 else f"p = {_fig(p, 3)}"


def _touch_text(rp: dict | None) -> str:
    """This run's touch moves, seen and replayed, as the sub-second paragraph says them before the twin's own figures
    for scale: it gave those alone ("the default read 4.4 times by 2.8"), figures of other runs that read as this
    one's."""
    rows = {r["what"]: r for r in rp["rows"]} if rp is not None else {}
    moves, ticks = rows.get("bbo touch moves a second"), rows.get("bbo touch move, mean ticks")
    if moves is None or ticks is None:
        return "this run: no replay, or too few bbo pushes, to set them beside"
    return (f"this run: {cell_text(moves['observed'])} moves a second of {cell_text(ticks['observed'])} ticks seen, "
            f"{cell_text(moves['replayed'])} of {cell_text(ticks['replayed'])} replayed, in the rows below")


def _seeds_spread_text(rp: dict) -> str:
    """How far this replay's seeds set its requests used per hour apart, or that one seed shows no spread. The report
    said "in the twin, two-hour runs of one configuration on different seeds used 3,300 to 7,100 requests an hour",
    a figure of 1 December (600de53) of a configuration it did not name, beside a run whose replay used 17,760 (the
    calibration tests' config)."""
    if rp["seeds"] <= 1:
        return "one seed here: a row's range over seeds needs two or more"
    row = next((r for r in rp["rows"] if r["what"] == REQUESTS_ROW), None)
    if row is None or row["replayed_min"] is None or row["replayed_max"] is None:
        return f"here, the {rp['seeds']:,} seeds' ranges below"
    lo, hi = cell_text(row["replayed_min"]), cell_text(row["replayed_max"])
    return f"here, the {_n(rp['seeds'], 'seed')} used {lo} to {hi} requests an hour"


def _leg_html(lead: str, fitted: dict, of: str, against: str, fig: str) -> str:
    leg = fitted["leg"]
    p = html.escape(p_text(fitted["ks_pvalue"]))
    ks = (f" {against}: Kolmogorov-Smirnov distance {fitted['ks_distance']:.3f} ({p})."
          if fitted["ks_distance"] is not None else f" {against}.")
    roles = "".join(f" {html.escape(said[0].upper() + said[1:], quote=False)}."
                    for said in (fitted.get("roles_held"), fitted.get("one_part")) if said)
    return (f"<p>{lead}Body median {leg['median_ms']:.1f} ms, sigma {leg['sigma']:.3f}; "
            f"{spikes_text(leg, of)}.{roles}{ks}</p><img alt='latencies' src='data:image/png;base64,{fig}'>")


def _html(s: dict, fig: str, feed_fig: str, rejected_of: dict[str, str]) -> str:
    """report.html's text; ``rejected_of``: each rejection reason's ``rejections_of``."""
    lat = s["latency"]
    parts = [f"<h1>Calibration of the twin</h1><p>From {html.escape(s['source'])}: {run_text(s)}.</p>",
             _notes_html(s), "<h2>Order latency (each leg: order entry, response)</h2>"]
    if lat is None:
        parts.append("<p>Too few round trips to fit: the base's latency is kept.</p>")
    else:
        parts.append(_leg_html("", lat, "of legs", "Round trips drawn from the fitted legs against the observed", fig))
    feed = s["feed"]
    parts.append("<h2>Feed latency (book updates: arrival less the venue's time on them)</h2><p>A socket delivers in "
                 "order: a slow message holds back those behind it, and an update that arrived right behind another "
                 "push may have waited for it (its own latency is then only known to be at most its lag). The leg is "
                 "fitted by censored maximum likelihood, those updates giving its CDF, and set as the twin's feed, "
                 "which adds the holds itself. The lags are on the venue's clock, the host's skew measured at the "
                 f"run's start, and a move of the host's clock found, by the account snapshots: "
                 f"{html.escape(VENUE_TIME_ASSUMED, quote=False)}.</p>")
    if feed is None:
        parts.append("<p>Too few book updates with comparable clocks to fit: the base's feed latency is kept.</p>")
    else:
        against = ("The lags as seen against the fitted twin's, replayed" if feed["ks_distance"] is not None else
                   "Against the fitted leg's own draws, which have no holds (no replay to compare with)")
        dropped = (f" {feed['dropped']:,} more had a lag outside (0, 60] s, after the host clock's measured skew: not "
                   f"a latency (clocks apart), left out. " if feed.get("dropped") else "")
        parts.append(_leg_html(f"{_n(feed['n'], 'update')}, {feed['held']:,} ({feed['held_share']:.0%}) of them right "
                               f"behind another frame on the socket.{dropped} ", feed, "of updates", against,
                               feed_fig))
    parts.append("<h2>Rejections and transport failures (each a share of what its row counts, Wilson 95%)</h2>"
                 "<table border=1 cellpadding=4><tr><th>reason</th><th>count</th><th>of</th><th>of what</th>"
                 "<th>share</th><th>interval</th></tr>")
    parts += [_rate_row(k, v, rejected_of[k]) for k, v in s["rejections"].items()] or \
        ["<tr><td colspan=6>none</td></tr>"]
    parts.append(_rate_row("requests lost in transport (none of their places answered)", s["transport"],
                           TRANSPORT_OF) + "</table>")
    # (it said "too few outages to fit their length", where the printout's kept line gave how many and how many a fit
    # needs)
    kept = s["kept_from_base"].get("connection.outage_median_s", "")
    outage = outages_text(s["outages"]) if s["outages"] is not None else \
        html.escape(f"the outages' length not fitted ({kept}): the base's kept", quote=False)
    parts.append(f"<h2>Disconnects</h2><p>{html.escape(disconnects_text(s), quote=False)}; {outage}.</p>")
    q = s["quota"]
    parts.append("<h2>The quota (the address budget)</h2>")
    if q is None:
        parts.append("<p>Fewer than two userRateLimit reports: the base's quota is kept.</p>")
    else:
        rate = (f"the cap grew one request per {_fig(q['usd_per_request'], 4)} USDC traded (the venue's rule: 1)"
                if q["usd_per_request"] is not None else "too little traded to fit the cap's growth (the base's rate kept)")
        parts.append(f"<p>{_n(q['reports'], 'report')}: {rate}; the run started with "
                     f"{_n(q['start_headroom'], 'request')} of headroom (the fitted twin's initial buffer) and used "
                     f"{_num(q['used_per_hour'], ',.0f')} requests an hour.</p>")
    m = s["market"]
    parts.append("<h2>The market (the feed)</h2>")
    if m is None:
        parts.append(f"<p>Not fitted ({html.escape(s['market_kept'] or '', quote=False)}): "
                     f"{html.escape(s['market_not_fitted'] or '', quote=False)}.</p>")
    else:
        r = m["trade_rate_per_s"]
        two = m["regimes"] is not None and m["regimes"]["separated"]
        vol_source = "the two-regime fit's calm one" if two else "robust: a calm regime's diffusion"
        coin = html.escape(m["coin"])
        informed = _informed_text(s["informed"], s["kept_from_base"].get(f"markets.{m['coin']}.informed_share"))
        parts.append(f"<p>{coin}: {_n(m['updates'], 'book update')}, {_n(m['trades'], 'trade')}. Volatility "
                     f"{_fig(m['vol_per_sqrt_s'], 3)} per √s of the log mid ({vol_source}); {trade_rate_text(r)}, "
                     f"sizes log-normal with median {_fig(m['trade_size_median'], 4)} {coin} and log std "
                     f"{m['trade_size_log_std']:.3f}; "
                     f"{_fig(m['depth_at_touch'], 4)} {coin} shown at the touch (median), growing "
                     f"{m['depth_growth_per_level']:.3f} of it a level, log noise "
                     f"{m['depth_noise_log_std']:.3f}; {spread_text(m['half_spread_ticks'])}; "
                     f"{html.escape(reach_text(m.get('reach'), m['depth_decay_per_usd']), quote=False)}. "
                     f"{_regimes_text(m['regimes'])} {informed} Jumps and the latent alpha stay the base's.</p>")
        if s["tick_taken"]:
            parts.append(f"<p>{html.escape(s['tick_taken'], quote=False)}.</p>")
        parts.append(f"<p>Not calibrated: the mid's path under a second (book_interval_s {m['book_interval_s']:g} s, "
                     f"the mid's steps between book pushes). A maker's fills depend on it: in the twin nearly every "
                     f"maker fill is of a quote the mid stepped through, losing about 0.58·σ·√book_interval_s at the "
                     f"fill (README, Graduation: why the fills lose in the twin). The feed cannot show it: l2Book "
                     f"comes at least 0.5 s apart (2-5 s reported since 2026-07), bbo at blocks (~70 ms) and only "
                     f"when the touch changed, both in whole ticks, so the mid inside the spread and its steps "
                     f"within a block are never seen. What it shows, how often the bbo's touch moves and by how many "
                     f"ticks, the replay sets beside the fitted twin's ({_touch_text(s['replay'])}; for scale, the "
                     f"README's twin runs on the twin's BTC market: watched at Shadow, none of our quotes at the "
                     f"touch, a 0.4 s path moves the touch some 2 times a second by 4-5 ticks, the default 0.1 s one 8 "
                     f"times by 2.5; quoting at Full, the pushes with one of our quotes at a side left out, the "
                     f"default read 4.4 times by 2.8: the replay, quoting alike, is the one to set it against), with "
                     f"the maker fills and markouts: the checks of it there are.</p>")
    fl = s["fills"]
    if fl is not None:
        parts.append("<h2>Fills (measured: the replay below sets the fitted twin's beside them)</h2><p>Of the orders the "
                     "venue acknowledged resting, the share that filled at all, by their distance behind their "
                     "side's touch then (the market's own touch: our orders taken out of the book), Wilson 95%. "
                     f"{_n(fl['own_prints'], 'print')} of our own fills (told by their tid) "
                     f"{'was' if fl['own_prints'] == 1 else 'were'} left out of the market's trades.</p>"
                     "<table border=1 cellpadding=4><tr><th>rested</th><th>filled</th><th>of</th>"
                     "<th>share</th><th>interval</th></tr>")
        parts += [_rate_row(r["bucket"], r) for r in fl["by_distance"]] or ["<tr><td colspan=5>no resting orders</td></tr>"]
        parts.append("</table><table border=1 cellpadding=4><tr><th>maker fills' markout</th><th>fills</th>"
                     "<th>mean, bps</th><th>standard error, bps</th></tr>")
        for m in fl["markouts"]:
            mean = cell_text(m["mean_bps"])  # (the replay's row's figures: it read -0.379 beside the row's -0.3787)
            se = "–" if m["se_bps"] is None else f"{m['se_bps']:.3f}"
            parts.append(f"<tr><td>{m['horizon_s']:g} s on</td><td>{m['n']:,}</td><td>{mean}</td><td>{se}</td></tr>")
        parts.append("</table><p>A markout is the market's mid that long after the fill against its price, positive "
                     "when the mid moved our way.</p>")
    rp = s["replay"]
    if rp is not None:
        took = length_text(rp["duration_s"])
        parts.append(f"<h2>The fitted twin replayed</h2><p>The fitted twin run with the run's agent config for "
                     f"{took}, observed the same way (a dry run's far orders aside, it quotes as "
                     f"a twin session does), on {_n(rp['seeds'], 'seed')}. What the agent's own path decides (requests "
                     f"used, fills, markouts, and through the socket's load the feed's lags) varies from seed to seed, "
                     f"at times as much as from twin to venue ({_seeds_spread_text(rp)}): --replay-seeds gives each "
                     f"row its range over seeds, and a seen value inside it is as near as the twin can come. Round "
                     f"trips, observed against replayed (the first seed): Kolmogorov-Smirnov distance "
                     f"{ks_text(rp['round_trip_ks'], s['round_trips'])}.</p>"
                     f"<table border=1 cellpadding=4><tr><th></th><th>observed</th><th>replayed</th>"
                     + ("<th>replayed, range over the seeds</th>" if rp["seeds"] > 1 else "") + "</tr>"
                     + "".join(f"<tr><td>{html.escape(r['what'])}</td><td>{cell_text(r['observed'])}</td>"
                               f"<td>{cell_text(r['replayed'])}"
                               + (f"</td><td>{cell_text(r['replayed_min'])} – {cell_text(r['replayed_max'])}"
                                  if rp["seeds"] > 1 else "")
                               + "</td></tr>" for r in rp["rows"])
                     + "</table>")
        if rp.get("funded"):  # (not the run's first snapshot: a unified account's margin is not in it)
            parts.append(f"<p>The replay's account: {html.escape(rp['funded'], quote=False)}.</p>")
    elif s.get("not_replayed"):
        parts.append(f"<h2>The fitted twin replayed</h2><p>Not replayed: "
                     f"{html.escape(s['not_replayed'], quote=False)}.</p>")
    parts.append("<p>Not fitted yet (the base's values are kept): the queue model's parameter, the market's "
                 "jumps, latent alpha and informed impact, how long the noise on the size at a price holds "
                 "(depth_refresh_s), the mid's path under a second (book_interval_s), the quota's slow lane. "
                 "Fills and markouts are "
                 "measured and compared with the fitted twin's, above.</p>")
    return "<!doctype html><html><head><meta charset='utf-8'><title>Calibration</title></head><body>" + \
        "".join(parts) + "</body></html>"
