"""When does a signal's scorecard count it degraded on evidence (what demotes an exposure level and escalates the
safety ladder), and when does it retire it (weight 0 until reinstated)? Measures the false alarms of a stationary
signal and the delay to catch a lost skill, at the shipped scorecard config, so README's Validation figures can be
re-run:

    python bench/scorecard_demotion.py            # the shipped rule, the figures README quotes
    python bench/scorecard_demotion.py --rules    # the same periods judged by other demotion rules, side by side
    python bench/scorecard_demotion.py --every 1  # rare outcomes: one a period (a period is evaluate_timer_s)
    python bench/scorecard_demotion.py --session 5440 --seeds 0.25  # how long a false retirement lasts

A signal calls p = 0.5 ± U(0, 0.1) and the mid goes up with probability p (a 55%-right signal) or, its skill lost,
0.5; moves are half-normal. The scorecard evaluates when due, every evaluate_every_n_outcomes (20) outcomes, as
ModelScorecard.on_mid does while outcomes come often (``--every 1``: rare ones, a period at each outcome). Cases:

- stationary: 1,200 seeds, 600 outcomes of history (the baseline measured, as 50 minutes into a session), then 1,440
  (a two-hour session at one outcome per 5 s): demotions (rising edges of degraded on evidence) per 1,000 outcomes
  and the share of sessions with at least one;
- lost: 600 seeds, 2,000 skilled outcomes then 2,000 without skill: the share caught, and the outcomes from the loss
  to the first demotion (median, 90th percentile);
- partial: as lost, the skill falling to 52% or 51% (a signal half-useful: its periods straddle the thresholds).

Each counted evaluation's (bad period, verdict degraded) is kept, so ``--rules`` judges the same periods by
"m bad of the last n" rules without re-running the scorecards. Some 50 s (``--seeds 0.25``: a quarter of the seeds).
A seed retired before the loss is not caught (a retired model is not degraded on evidence): 5% of them when 20 bad
periods in a row retired (the rule until 6 December), none now. Retirement: the share of stationary sessions retired
at some point, of their periods spent retired, how long a retirement lasted (reinstated by the stretch's end: longer
with ``--session``), and the delay from a loss to retirement; each with the mean blend weight over the stretch.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import SHIPPED_SCORECARD  # noqa: E402
from agent.validation import ModelScorecard, ScorecardConfig, Verdict  # noqa: E402
from common.cli_errors import print_out  # noqa: E402
from common.files import ArgumentParser  # noqa: E402
from common.units import bounded, positive_float, positive_int  # noqa: E402

EDGE = 0.1  # p = 0.5 ± U(0, EDGE): right 0.5 + EDGE/2 of the time


def periods(card: ModelScorecard, rng: np.random.Generator, n: int, hit: float | None) -> list[tuple]:
    """Feed ``n`` outcomes (``hit`` None: the up-move with probability p; else right with probability ``hit`` on
    p's side); returns each counted evaluation's (bad period, degraded verdict, degraded on evidence, retired,
    blend weight)."""
    out = []
    ps = 0.5 + rng.uniform(-EDGE, EDGE, n)
    u = rng.random(n)
    mv = np.abs(rng.standard_normal(n))
    for p, r, m in zip(ps.tolist(), u.tolist(), mv.tolist()):
        if hit is None:
            up = r < p
        else:
            up = (r < hit) == (p > 0.5)
        card.add_outcome(p, up, m if up else -m)
        if card.evaluation_due(0.0):
            card.evaluate(0.0)
            if card.proven:
                out.append((card.metrics().consecutive_bad > 0, card.verdict is Verdict.DEGRADED,
                            card.degraded_on_evidence, card.verdict is Verdict.RETIRED, card.weight()))
    return out


def flags_by_rule(history: list[tuple], rows: list[tuple], m: int, n: int) -> list[bool]:
    """Degraded on evidence in ``rows`` under "m bad of the last n periods since the verdict was last healthy, the
    verdict degraded" (m = n: m in a row), the periods of ``history`` (before them) counted too."""
    bad: list[bool] = []
    out = []
    for i, r in enumerate(history + rows):
        bad.append(r[0])
        if i >= len(history):
            out.append(r[1] and sum(bad[-n:]) >= m)
        if not r[1] and not r[3]:  # healthy (neither degraded nor retired): ModelScorecard clears them
            bad.clear()
    return out


def rising(flags: list[bool]) -> list[int]:
    """The indices where ``flags`` turns True."""
    return [i for i, (a, b) in enumerate(zip([False] + flags, flags)) if b and not a]


def simulate(cfg: ScorecardConfig, cases: dict[str, tuple]) -> dict[str, list]:
    """Per case: a list, per seed, of (the rows of its history, the rows of its judged stretch)."""
    res = {}
    for name, (seeds, seed0, before, after, hit) in cases.items():
        rows = []
        for s in range(seeds):
            rng = np.random.default_rng(seed0 + s)
            card = ModelScorecard("m", cfg)
            rows.append((periods(card, rng, before, None), periods(card, rng, after, hit)))
        res[name] = rows
    return res


def summary(res: dict[str, list], judge, step: int) -> dict[str, str]:
    """One line per case; ``judge(history, rows)`` gives each judged period's degraded on evidence."""
    out = {}
    for name, per_seed in res.items():
        flags = [judge(h, rows) for h, rows in per_seed]
        if name == "stationary":
            n_out = sum(len(f) for f in flags) * step
            events = sum(len(rising(f)) for f in flags)
            sessions = sum(bool(rising(f)) for f in flags)
            periods_ = [r for _, rows in per_seed for r in rows]
            bad = sum(r[0] for r in periods_) / max(1, len(periods_))
            out[name] = (f"{1000 * events / n_out:.2f} per 1,000 outcomes, in {100 * sessions / len(flags):.1f}% of "
                         f"sessions (bad periods {100 * bad:.1f}%, retired in {_retired(per_seed)})")
        else:
            d = sorted(step * (r[0] + 1) if r else math.inf for r in map(rising, flags))
            caught = [x for x in d if x < math.inf]
            early = sum(bool(rows) and rows[0][3] for _, rows in per_seed)  # retired before the loss
            out[name] = (f"caught {100 * len(caught) / len(d):.1f}% (retired before the loss {early}, retired in "
                         f"{_retired(per_seed)}), {_delay(d, step, 'caught')}")
    return out


def retirement(res: dict[str, list], step: int) -> dict[str, str]:
    """One line per case on retirement (weight 0 until reinstate_after_periods good periods in a row): stationary,
    the share of sessions retired at some point, the periods spent retired, and how long a retirement lasted; else
    the outcomes from the loss to retirement. Each with the mean blend weight over the judged stretch."""
    out = {}
    for name, per_seed in res.items():
        rows = [r for _, rs in per_seed for r in rs]
        w = sum(r[4] for r in rows) / max(1, len(rows))
        if name == "stationary":
            flags = [[r[3] for r in rs] for _, rs in per_seed]
            sessions = sum(any(f) for f in flags)
            spans = []  # each retirement begun in the stretch: periods until reinstated (None: not by its end)
            for f in flags:
                for i in rising(f):
                    k = f.index(False, i) if False in f[i:] else None
                    spans.append(None if k is None else k - i)
            back = sorted(step * k for k in spans if k is not None)
            line = (f"retired in {100 * sessions / len(flags):.1f}% of sessions, "
                    f"{100 * sum(map(sum, flags)) / len(rows):.1f}% of periods; {len(spans)} retirements, "
                    f"{len(back)} reinstated by the end")
            if back:
                line += f" (a median {back[len(back) // 2]} outcomes later, 90% within {back[int(0.9 * len(back))]})"
        else:
            d = sorted(step * (f.index(True) + 1) if True in f else math.inf
                       for f in ([r[3] for r in rs] for _, rs in per_seed))
            early = sum(bool(rs) and rs[0][3] for _, rs in per_seed)
            line = (f"retired {100 * sum(x < math.inf for x in d) / len(d):.1f}% (before the loss {early}), "
                    f"{_delay(d, None, 'retired')}")
        out[name] = f"{line}; mean weight {w:.2f}"
    return out


def _delay(d: list, step: int | None, what: str) -> str:
    """The median and 90th percentile of the sorted delays ``d`` (outcomes from the loss; inf: a seed never
    ``what``), in periods too with ``step``. A percentile past the seeds ``what`` is said as such: it printed
    "a median inf outcomes" (and "inf periods") where under half were, as at ``--seeds 0.002``."""
    med, p90 = d[len(d) // 2], d[int(0.9 * len(d))]
    if med == math.inf:
        return f"none {what}" if d[0] == math.inf else f"under half {what}: no median"
    periods_ = f" ({med / step:.0f} periods)" if step else ""
    return (f"a median {med} outcomes after the loss{periods_}, "
            + (f"90% within {p90}" if p90 < math.inf else f"under 90% {what}"))


def _retired(per_seed: list) -> str:
    """How many seeds' judged stretch ends retired, of how many."""
    return f"{sum(bool(rows) and rows[-1][3] for _, rows in per_seed)}/{len(per_seed)}"


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(description="\n\n".join(__doc__.split("\n\n")[:2]),  # (what it measures, how to run it)
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    shipped = ScorecardConfig(**SHIPPED_SCORECARD)
    ap.add_argument("--rules", action="store_true", help="also judge the periods by m-of-n rules")
    # (bounded: --every 0 or past the 1,440 outcomes of a session left no period to count, a ZeroDivisionError after
    # the seconds of measuring; --seeds nan a ValueError)
    ap.add_argument("--seeds", type=bounded(positive_float, 100.0, "times the seed counts"), default=1.0,
                    help="scale the seed counts (default 1; 0.25 for a quick look)")
    ap.add_argument("--every", type=bounded(positive_int, 500, "outcomes a period, the window's 500 at most"),
                    default=None, help="outcomes a period (evaluate_every_n_outcomes; 1: rare outcomes, a period "
                                       "each evaluate_timer_s; at most 500, the window; default: the shipped "
                                       f"validation.scorecard's, {shipped.evaluate_every_n_outcomes})")
    ap.add_argument("--session", type=bounded(positive_int, 1_000_000, "outcomes of the stationary stretch"),
                    default=1440, help="outcomes of the stationary stretch (default 1440, a two-hour session at "
                                       "one outcome per 5 s; 5440: long enough to see a retired signal reinstated)")
    a = ap.parse_args(argv)
    cfg = shipped
    if a.every is not None:
        cfg = cfg.model_copy(update={"evaluate_every_n_outcomes": a.every})
    k = lambda n: max(1, int(n * a.seeds))  # noqa: E731
    cases = {
        "stationary": (k(1200), 10000, 600, a.session, None),
        "lost": (k(600), 20000, 2000, 2000, 0.5),
        "partial 52%": (k(600), 30000, 2000, 2000, 0.52),
        "partial 51%": (k(600), 40000, 2000, 2000, 0.51),
    }
    res = simulate(cfg, cases)
    step = cfg.evaluate_every_n_outcomes
    print_out(f"shipped rule ({cfg.demote_after_periods} bad of the last {cfg.demote_within_periods} periods):")
    for name, line in summary(res, lambda h, rows: [r[2] for r in rows], step).items():
        print_out(f"  {name:12s} {line}")
    if cfg.retire_within_outcomes:
        rule = (f"bad for {cfg.retire_bad_share:.0%} of the last {cfg.retire_within_outcomes} outcomes, "
                f"{cfg.retire_after_periods} periods at least")
    else:
        rule = f"{cfg.retire_after_periods} bad periods in a row"
    print_out(f"retirement ({rule}; reinstated at {cfg.reinstate_after_periods} good periods in a row):")
    for name, line in retirement(res, step).items():
        print_out(f"  {name:12s} {line}")
    if a.rules:
        for m, n in ((1, 1), (5, 5), (5, 7), (6, 8), (6, 9), (6, 10), (7, 10)):
            print_out(f"{m} of the last {n}:")
            for name, line in summary(res, lambda h, rows: flags_by_rule(h, rows, m, n), step).items():
                print_out(f"  {name:12s} {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
