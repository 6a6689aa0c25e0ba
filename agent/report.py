"""What a run did, as plain dicts for summaries and run folders: the keys twin sessions and live
sessions share (the README documents them), built in one place; and the summary-table rows they share."""
from __future__ import annotations

from agent.graduation.exposure import ExposureLevel
from common.json_text import finite


def trading_summary(core) -> dict:
    """PnL, fills, markouts, rejections and the safety ladder, from the core's own books."""
    led = core.ledger
    # NaN before the first book: a position's unrealised PnL (and the net) is then not measured, null in the
    # file; marked at 0 it read as a loss of the whole notional (a restart reconciled before its first book)
    mid = core.mid
    hist = core.safety.history
    return {
        "cycles": core.cycle,
        "pnl": {"realized_usd": led.realized, "unrealized_usd": led.unrealized(mid), "fees_usd": led.fees,
                "funding_usd": led.funding, "carried_usd": led.carried_usd, "net_usd": led.net(mid)},
        "fee_rate_bps": {"maker_paid": led.maker_fee_bps, "configured": core.cfg.quoting.maker_fee_bps},
        "fills": led.fills,
        "maker_share": led.maker_fills / led.fills if led.fills else None,
        "volume_usd": led.volume_usd,
        "markouts_bps": led.markouts_bps(),
        "rejections_by_reason": dict(sorted(core.tracker.rejections_by_reason.items())),
        "overfills": core.tracker.overfills,
        "stale_book_episodes": core.stale_book_episodes,
        # a Kill's arms of the venue's dead-man's switch held for the slow lane past the address cap (sent as it opens)
        "dead_man_arms_held": core.dead_man_arms_held,
        # events stamped before one already handled, each handled at that one's time (a live host's clock stepped
        # back), and the most one was behind: 0 in a twin session, whose clock never goes back
        "clock_steps_back": core.clock_steps_back,
        "clock_step_back_max_s": round(core.clock_step_back_max_s, 6),
        "safety": {"final_level": core.safety.level.name,
                   "max_level": max((t.to_level for t in hist), default=core.safety.level).name,
                   "transitions": [{"ts": round(t.ts, 3), "from": t.from_level.name, "to": t.to_level.name,
                                    "reason": t.reason} for t in hist],
                   # the rules of the final level whose entry condition held at the last update: what keeps the
                   # level up (none while it steps down, its dwell and recovery window running)
                   "held_by": held_by(core.safety)},
        "exposure": exposure_summary(core),
        # (the P(fill) score with the orders whose outcome is known at the core's latest event: its orders are the
        # tracker's)
        "shadow": {**core.graduation.shadow.summary(),
                   "p_fill": core.graduation.p_fill.summary(core.tracker.now, core.tracker.orders)},
    }


def coin_amounts(amounts: dict) -> dict:
    """A summary's position block with its coin amounts rounded to 10 decimals: a position summed from lot-sized
    fills in floating point carries residue (0.0004000000000000001) far below any venue's lot, which a file an
    operator reads should not show."""
    return {k: round(v, 10) if type(v) is float and v == v else v for k, v in amounts.items()}


def signed_usd(v: float | None) -> str:
    """A summary's PnL figure for the console: "+1.23", or "n/a (no mid yet)" when it is not measured (a
    position and no book yet: NaN in the summary, null in its file)."""
    return "n/a (no mid yet)" if v is None or v != v else f"{v:+.2f}"


def health_rows(s: dict) -> list[tuple[str, str]]:
    """The summary table's rows twin and live runs share, from a summary: what the venue refused, and how
    the connection and the book feed held."""
    rows = [
        ("rejections", ", ".join(f"{k} {v}" for k, v in s["rejections_by_reason"].items()) or "none"),
        ("rate limited", f"429s {s['rate_limited']['ip_429']}, address {s['rate_limited']['address']}"),
        ("disconnects", f"{s['disconnects']}"),
        ("stale book", f"{_times(s['stale_book_episodes'])} no book for risk.stale_book_s with the socket up "
                       f"(quotes pulled)"),
    ]
    if s.get("overfills"):  # (a row only when it happened: it never should)
        rows.append(("overfills", f"{s['overfills']} fills past their order's size: the excess was not booked "
                                  f"(overfill in the decision log)"))
    return rows


def _times(n: int) -> str:
    """A count of occasions in words: "1 time", "2 times" (the Quickstart's summary read "1 times")."""
    return f"{n} time{'' if n == 1 else 's'}"


def held_by(safety) -> list[str]:
    """The rules holding the safety ladder at its level: those of that level (or above, at Kill) whose entry
    condition held at the last update. A lower level's rule (a reconnection's Yellow, at Red) holds nothing."""
    level = safety.level
    return [h.describe() for h in safety.hits if h.level >= level] if level else []


def safety_row(s: dict) -> tuple[str, str]:
    """The summary table's safety row: where the ladder ended and, above Green, what holds it there (an
    operator watching a run sit at Red wants the rule, not only the level). At Kill, that it stays: a rule no longer
    holding does not bring it down (it said "it steps down once its dwell and ... have passed", which Kill never
    does)."""
    sf = s["safety"]
    text = f"final {sf['final_level']}, max {sf['max_level']}, {len(sf['transitions'])} transitions"
    if sf["final_level"] == "KILL":  # (no dwell or window brings it down: the escalator's manual_reset only)
        held = sf.get("held_by") or []
        text += f"; {held_text(held) if held else 'no rule holds it now'}: Kill does not step down, only a manual " \
                f"reset leaves it"
    elif sf["final_level"] != "GREEN":
        text += "; " + held_text(sf.get("held_by") or [])
    return "safety", text


def held_text(held: list[str], dwell: str = "its dwell", window: str = "safety.recovery_window_s") -> str:
    """What holds a level above Green, in words (the summary's row, the live console's reminder): its rules, or
    that none does and it steps down once its dwell and recovery window have passed (named, or given in s)."""
    if held:
        text = "held by " + "; ".join(held)
        if any(h.startswith("exchange_health") for h in held):
            text += (" (the address request budget left: it grows only with the account's traded volume, a request "
                     "per USDC, or with requests bought with the venue's reserveRequestWeight action; at Red nothing "
                     "is quoted, so a flat run stays here until one of those grows it)")
        return text
    return f"no rule holds it now: it steps down once {dwell} and {window} have passed"


def graduation_rows(s: dict) -> list[tuple[str, str]]:
    """The summary table's rows twin and live runs share for the graduation ladder: where the run went, what
    held it, and how real the paper evidence it was promoted on turned out."""
    e = s["exposure"]
    return [
        ("exposure", f"{e['start_level']} → {e['final_level']} (max {e['max_level']}; {e['promotions']} promotions, "
                     f"{e['demotions']} demotions; confidence {e['confidence']['overall']:.2f})"),
        ("promotion held by", held_by_text(e["promotion_held_by"])),
        ("sim-to-real", shadow_text(s["shadow"])),
        ("P(fill)", p_fill_text(s["shadow"]["p_fill"], dry_run=s.get("execution_level") == 2)),
    ]


def shadow_text(sh: dict) -> str:
    """The summary row for ``shadow``: the sim-to-real gap beside the volumes it is made of, and the queue
    share the real fills imply next to the one the paper model uses."""
    if not sh["paper_fills"] and not sh["real_fills"]:
        return "not measured (no fill, real or paper, of orders resting at a level that places them)"
    gap = "n/a" if sh["gap"] is None else f"{sh['gap']:.2f}"
    fit = "n/a" if sh["at_price_share_fit"] is None else f"{sh['at_price_share_fit']:.2f}"
    return (f"gap {gap} (paper {sh['paper_fills']} fills {sh['paper_volume']:.6g}, real {sh['real_fills']} fills "
            f"{sh['real_volume']:.6g}); at-price share fit {fit} (paper model {sh['at_price_share']:g})")


def p_fill_text(p: dict, dry_run: bool = False) -> str:
    """The summary row for ``shadow.p_fill``: GLFT's fill model scored on the real quotes, its Brier beside the base
    rate's (lower is better: above it, the model tells filling quotes from the rest worse than the rate alone). A dry
    run (execution level 2) cancels each order as soon as it rests: no horizon would score it, so the row says that
    rather than to shorten the horizon."""
    head = f"{p['orders']} quotes ({p['filled']} filled, {p['censored']} moved before {p['horizon_s']:g} s)"
    if p["brier"] is None:
        if not p["orders"]:
            return head + "; not scored: no quote acknowledged"
        why = ("a dry run (execution level 2) cancels each order as soon as it rests" if dry_run else
               "shorten shadow.p_fill_horizon_s")
        return head + f"; not scored: the outcome at T known for {p['outcome_known_share']:.0%} ({why})"
    slope = "n/a" if p["calibration_slope"] is None else f"{p['calibration_slope']:.2f}"
    cox = "n/a" if p["logit_slope"] is None else f"{p['logit_slope']:.2f}"
    return (f"{head}; predicted {p['predicted']:.2f}, observed {p['observed']:.2f}; Brier {p['brier']:.3f} vs base "
            f"rate {p['brier_base']:.3f}; calibration slope {slope} (logit {cox})")


# two maker rates, in bps, closer than this are the same (a fee computed from rounded USDC amounts)
FEE_MATCH_BPS = 0.05


def fee_rate_text(f: dict) -> str:
    """The summary row for ``fee_rate_bps``: what the maker fills paid beside what the quotes assume, flagged
    when they differ (by more than rounding): the quotes then price the wrong fee."""
    paid = f["maker_paid"]
    listed = f.get("venue_listed")  # live runs: the account's rate as userFees lists it
    venue = f"; the venue lists {listed:.2f} bp" if listed is not None else ""
    if paid is None:
        return f"no maker fill; quoting.maker_fee_bps {f['configured']:g}{venue}"
    flag = "" if abs(paid - f["configured"]) < FEE_MATCH_BPS else "  (differs: set quoting.maker_fee_bps to what you pay)"
    return f"maker fills paid {paid:.2f} bp; quoting.maker_fee_bps {f['configured']:g}{venue}{flag}"


def held_by_text(held: list[dict]) -> str:
    """The summary row for ``exposure.promotion_held_by``."""
    if not held:
        return "nothing (not evaluated yet)"
    parts = []
    for c in held:
        if c["op"] == "ceiling":
            # (by name, as the config spells it: the number, summary.json's, read as a count of something)
            parts.append(f"its ceiling (graduation.ceiling {ExposureLevel(c['threshold']).name})")
            continue
        v = "not measured" if c["value"] is None else f"{c['value']:.4g}"
        need = "≥" if c["op"] == ">=" else "≤" if c["op"] == "<=" else c["op"]
        parts.append(f"{c['name']} {v} (needs {need} {c['threshold']:.4g})")
    return ", ".join(parts)


def level_history(core) -> dict:
    """The run folder's level_history.json: every exposure-level change with its evidence (each
    promotion lists every criterion's value and threshold), and the safety ladder's transitions."""
    hist = core.exposure.history
    return {"start_level": hist.start_level.name, "exposure": hist.to_records(),
            "safety": [{"ts": t.ts, "from": t.from_level.name, "to": t.to_level.name, "reason": t.reason}
                       for t in core.safety.history]}


def exposure_summary(core) -> dict:
    g = core.graduation
    hist = g.controller.history
    c = g.confidence
    return {"start_level": hist.start_level.name, "final_level": g.level.name,
            "max_level": max([hist.start_level, *(t.to_level for t in hist)]).name,
            "promotions": sum(1 for t in hist if t.kind == "promote"),
            "demotions": sum(1 for t in hist if t.kind == "demote"),
            "transitions": [{"ts": round(t.ts, 3), "from": t.from_level.name, "to": t.to_level.name, "kind": t.kind,
                             "trigger": t.trigger.name if t.trigger else None, "reason": t.reason} for t in hist],
            "confidence": {"model": c.model_confidence, "execution": c.execution_confidence,
                           "safety": c.safety_confidence, "overall": c.overall},
            "size_mult": g.size_mult, "limit_scale": g.limit_scale, "paper_fills": g.paper.fills,
            # (a sum of paper fills in floating point: its residue cut as the position block's, coin_amounts)
            "paper_position": coin_amounts({"paper": g.paper.position})["paper"],
            "promotion_held_by": promotion_held_by(g.controller.last_checks,
                                                   ceiling=int(g.cfg.ceiling) if g.level >= g.cfg.ceiling else None)}


def promotion_held_by(checks, ceiling: int | None = None) -> list[dict]:
    """The promotion criteria that failed at the last evaluation (empty: none failed, or none evaluated):
    why a session stayed at its level, which the transitions alone cannot say. At its ceiling (``ceiling``,
    the level number) that is what holds it, whatever the criteria say."""
    if ceiling is not None:
        return [{"name": "ceiling", "value": ceiling, "threshold": ceiling, "op": "ceiling"}]
    return [{"name": c.name, "value": finite(c.value), "threshold": c.threshold, "op": c.op}
            for c in checks if not c.passed]
