"""Property tests of the venue model over random order sequences and fault schedules.

A client process submits random actions (post-only, GTC and IOC orders at random distances from
the touch, reduce-only ones, cancels, modifies) while a random chaos schedule runs; then the
venue's books are checked against the fills it reported.
"""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings, strategies as st

from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule
from twin.messages import (
    ANON_ADDRESS, ActionOk, CancelAction, ModifyAction, OrderAction, OrderSpec, Resting, TradePush,
)
from twin.params import TwinParams

USER = "0x" + "ab" * 20
TERMINAL = {"filled", "canceled", "marginCanceled", "reduceOnlyCanceled", "scheduledCancel", "liquidatedCanceled"}

op = st.tuples(
    st.sampled_from(["alo", "gtc", "ioc", "ro", "cancel", "modify"]),
    st.booleans(),  # buy?
    st.integers(-3, 6),  # ticks away from the touch on our side (negative crosses)
    st.integers(1, 40),  # size in 0.001 BTC
    st.floats(0.05, 3.0),  # wait before the next op, s
)
fault = st.one_of(
    st.builds(lambda t, d: {"kind": "disconnect", "at_s": t, "duration_s": d}, st.floats(0, 60), st.floats(0.5, 10)),
    st.builds(lambda t, d: {"kind": "http_429_burst", "at_s": t, "duration_s": d}, st.floats(0, 60), st.floats(0.5, 10)),
    st.builds(lambda t, d, r: {"kind": "rejection_burst", "at_s": t, "duration_s": d, "rate": r, "reason": "Oracle"},
              st.floats(0, 60), st.floats(0.5, 10), st.floats(0, 1)),
    st.builds(lambda t, m: {"kind": "latency_spike", "at_s": t, "duration_s": 5, "multiplier": m},
              st.floats(0, 60), st.floats(1, 20)),
    st.builds(lambda t, n: {"kind": "quota_set", "at_s": t, "remaining_requests": n}, st.floats(0, 60),
              st.integers(0, 5)),
    st.builds(lambda t, f: {"kind": "price_jump", "at_s": t, "fraction": f}, st.floats(0, 60), st.floats(-0.01, 0.01)),
)


def run(ops, faults, seed, params: TwinParams | None = None, on_trade=None):
    sched = ChaosSchedule(events=faults)
    ex = Exchange.build(params or TwinParams(), seed, sched, record=True)
    ex.fund(USER, 20_000.0)
    if on_trade is not None:
        ex.connect(lambda p: on_trade(p) if isinstance(p, TradePush) else None).subscribe("trades", "BTC")
    live: list[int] = []

    def on_reply(reply):
        if isinstance(reply, ActionOk):
            for st_ in reply.statuses:
                if isinstance(st_, Resting):
                    live.append(st_.oid)

    def client():
        env = ex.env
        yield env.timeout(1.0)
        for kind, buy, ticks, size, wait in ops:
            bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
            px = (bb - ticks) if buy else (ba + ticks)
            spec = OrderSpec("BTC", buy, float(px), size / 1000.0,
                             reduce_only=kind == "ro", tif={"gtc": "Gtc", "ioc": "Ioc"}.get(kind, "Alo"))
            if kind == "cancel" and live:
                ex.submit(USER, CancelAction((("BTC", live.pop(0)),)), on_reply)
            elif kind == "modify" and live:
                ex.submit(USER, ModifyAction(((live.pop(0), spec),)), on_reply)
            elif kind not in ("cancel", "modify"):
                ex.submit(USER, OrderAction((spec,)), on_reply)
            yield env.timeout(wait)

    ex.env.process(client())
    ex.env.run(until=90.0)
    return ex


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=40), st.lists(fault, max_size=4), st.integers(0, 2**16))
def test_venue_books_reconcile_with_its_fills(ops, faults, seed):
    ex = run(ops, faults, seed)
    acct = ex.accounts[USER]
    fills = ex.fills[USER]
    # position and cash reconcile exactly with the fills the venue reported
    pos = sum(f.sz if f.side == "B" else -f.sz for f in fills)
    assert math.isclose(acct.position("BTC").szi, pos, abs_tol=1e-9)
    cash = acct.deposits + sum(f.closed_pnl - f.fee for f in fills)
    assert math.isclose(acct.cash, cash, rel_tol=0, abs_tol=1e-6)
    fee_expected = sum(f.px * f.sz * (0.00045 if f.crossed else 0.00015) for f in fills)
    assert math.isclose(sum(f.fee for f in fills), fee_expected, abs_tol=1e-9)

    statuses: dict[int, list[str]] = {}
    for row in ex.log:
        if row[1] == "status":
            statuses.setdefault(row[2], []).append(row[3])
    infos = {oid: ex.order_status_of(USER, oid)["order"] for oid in statuses}
    for f in fills:
        info = infos[f.oid]
        # no fill at a price worse than the limit
        assert (f.px <= info.limit_px) if f.side == "B" else (f.px >= info.limit_px)
        # post-only never takes liquidity
        if info.tif == "Alo":
            assert not f.crossed
        # reduce-only never increases |position|
        if info.reduce_only:
            end = f.start_position + (f.sz if f.side == "B" else -f.sz)
            assert abs(end) <= abs(f.start_position) + 1e-12
    # every order ends in exactly one terminal state (or is still open at the venue)
    for oid, seq in statuses.items():
        terminal = [s for s in seq if s in TERMINAL]
        assert len(terminal) <= 1, (oid, seq)
        if not terminal:
            assert oid in ex.orders, (oid, seq)
        else:
            assert oid not in ex.orders and seq[-1] in TERMINAL
    # the quota is never negative
    used, cap, _ = ex.quotas[USER].status()
    assert used >= 0 and cap >= ex.params.quota.initial_buffer


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=40), st.integers(0, 2**16))
def test_every_client_fill_is_a_public_print(ops, seed):
    """The venue prints every trade, ours included (trades carry ``users``: [buyer, seller]); a fill
    the twin's market print did not cause must be printed with the fill's own tid, or a paper fill
    model watching the tape (the shadow) misses it. Sockets never drop here: every print arrives. A fill and its
    print carry one hash, the taker order's transaction's (twin.messages.fill_hash)."""
    params = TwinParams.model_validate({"connection": {"hazard_per_hour": 0}})
    prints: list[TradePush] = []
    ex = run(ops, [], seed, params, prints.append)
    ours = {p.tid: p for p in prints if p.users is not None}
    market = [p for p in prints if p.users is None]
    fills = ex.fills[USER]
    assert {f.tid for f in fills} >= set(ours)  # no client print without its fill
    fills = [f for f in fills if f.time_ms < ex.now_ms() - 5_000]  # older than any push still in flight
    for f in fills:
        p = ours.get(f.tid)
        if p is None:
            # filled by a market print: a trade at the same moment through or at its price, the other way
            assert not f.crossed, f
            # (the print of the market's aggressor: its transaction's hash, which the fill carries too)
            assert any(m.time_ms == f.time_ms and m.side != f.side and m.taker_oid == f.taker_oid
                       and (m.px <= f.px if f.side == "B" else m.px >= f.px) for m in market), f
            continue
        assert (p.px, p.sz, p.time_ms, p.taker_oid) == (f.px, f.sz, f.time_ms, f.taker_oid)
        assert (f.taker_oid == f.oid) == f.crossed  # the hash of our order's transaction when it took
        # the aggressor: our side when we took, the other side when the market crossed our resting order
        assert (p.side == f.side) == f.crossed, (p, f)
        assert p.users == ((USER, ANON_ADDRESS) if f.side == "B" else (ANON_ADDRESS, USER))


@settings(max_examples=5, deadline=None)
@given(st.lists(op, min_size=5, max_size=20), st.lists(fault, max_size=3), st.integers(0, 2**16))
def test_same_seed_same_log(ops, faults, seed):
    a = run(ops, faults, seed)
    b = run(ops, faults, seed)
    assert a.log == b.log
    assert len(a.log) > 100


def test_different_seed_different_market():
    a = run([("alo", True, 1, 1, 1.0)], [], 1)
    b = run([("alo", True, 1, 1, 1.0)], [], 2)
    assert [r for r in a.log if r[1] == "trade"] != [r for r in b.log if r[1] == "trade"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=60), st.integers(-5, 1300), st.one_of(st.none(), st.integers(-5, 1300)),
       st.integers(1, 10))
def test_fills_by_time_are_the_window_oldest_first_at_most_the_cap(gaps, start, end, cap_scale):
    """userFillsByTime gives fills with start ≤ time ≤ end, oldest first, at most 2000, of the newest 10000 (the
    fills the venue keeps): the same rows a scan of those gives (the twin binary-searches it). Times repeat (fills
    in one block), the cap is hit when the window is large enough, and older fills are there past 10000 rows."""
    import simpy
    from twin.messages import FillInfo

    ex = Exchange(simpy.Environment(), TwinParams(), 0)
    ex.fund(USER, 10_000.0)
    t = 0
    rows = ex.fills[USER]
    for i, gap in enumerate(gaps * cap_scale * 20):  # up to 12,000 rows: the caps of 2,000 and 10,000 bind
        t += gap // 10  # most gaps are zero: many fills share a millisecond
        rows.append(FillInfo("BTC", 100.0, 0.001, "B", t, 0.0, "Open Long", 0.0, i, i, False, 0.0, None, 1))
    scanned = [f for f in rows[-10_000:] if f.time_ms >= start and (end is None or f.time_ms <= end)][:2000]
    assert list(ex.user_fills_by_time(USER.upper(), start, end)) == scanned


def test_paging_fills_by_time_from_the_start_reaches_the_newest_10000_and_no_older():
    """"Only the 10000 most recent fills are available" (docs): a client paging from an account's first fill, on
    from each page's last time, reads the newest 10000 once each and stops at a short page."""
    import simpy
    from twin.messages import FillInfo

    ex = Exchange(simpy.Environment(), TwinParams(), 0)
    ex.fund(USER, 10_000.0)
    rows = ex.fills[USER]
    for i in range(12_345):
        rows.append(FillInfo("BTC", 100.0, 0.001, "B", 1_000 + i // 2, 0.0, "Open Long", 0.0, i, i, False, 0.0, None,
                             1))
    seen: dict[int, FillInfo] = {}
    start, pages = 0, 0
    while True:
        page = ex.user_fills_by_time(USER, start)
        pages += 1
        seen.update((f.tid, f) for f in page)
        if len(page) < 2000:
            break
        start = page[-1].time_ms
    assert sorted(seen) == list(range(12_345 - 10_000, 12_345)) and pages == 6
