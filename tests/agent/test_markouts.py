"""The one markout queue the ledger, graduation and Shadow's paper fills share."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from agent.markouts import MAX_LATE_S, MarkoutQueue


def test_markouts_resolve_when_due_signed_so_that_positive_made_money():
    q = MarkoutQueue(10.0)
    q.add(0.0, +1, 100.0, 2.0)  # bought at 100
    q.add(1.0, -1, 101.0, 1.0)  # sold at 101
    assert q.on_mid(9.9, 200.0) == 0 and q.pending == 2  # nothing due before its horizon
    assert q.on_mid(10.0, 100.5) == 1  # the buy: +0.5 × 2
    assert q.on_mid(11.0, 102.0) == 1  # the sell: −1.0 × 1
    assert (q.resolved, q.positive, q.pending) == (2, 1, 0)
    assert q.sum_usd == pytest.approx(0.5 * 2.0 - 1.0)


def test_a_fill_at_the_later_mid_is_not_positive():
    q = MarkoutQueue(1.0)
    q.add(0.0, -1, 100.0)
    q.on_mid(5.0, 100.0)
    assert (q.resolved, q.positive, q.sum_usd) == (1, 0, 0.0)


def test_a_fill_counts_as_positive_edge_only_above_its_fee():
    """Graduation's evidence is net of fees: a fill whose markout is smaller than what it paid lost money.
    The fee it says it paid wins over the queue's rate; a rebate (negative fee) counts for it."""
    q = MarkoutQueue(1.0, fee_rate=2e-4)  # 2 bp when the fill does not say
    q.add(0.0, +1, 100.0, 2.0, fee=0.03)  # paid 0.015 a unit: +0.01 of markout does not cover it
    q.add(0.0, +1, 100.0, 2.0, fee=0.01)  # paid 0.005 a unit: covered
    q.add(0.0, -1, 100.0, 1.0, fee=-0.02)  # a rebate of 0.02 a unit: a −0.01 markout still made money
    q.add(0.0, +1, 100.0)  # a paper fill: 2 bp of 100 = 0.02 a unit, twice the markout
    q.add(0.0, -1, 100.0)  # a paper sell: −0.01 of markout, and the fee on top
    assert q.on_mid(1.0, 100.01) == 5
    assert q.positive == 2
    assert q.sum_usd == pytest.approx(0.01 * 2 + 0.01 * 2 - 0.01)  # the ledger's sum stays gross of fees


def test_without_a_fee_the_share_is_the_gross_one():
    q = MarkoutQueue(1.0)
    q.add(0.0, +1, 100.0, 1.0, fee=0.0)
    q.add(0.0, +1, 100.0)
    q.on_mid(1.0, 100.000001)
    assert q.positive == 2


def test_the_ledger_reports_the_maker_fee_rate_the_venue_charged():
    """The rate an operator should set as quoting.maker_fee_bps: maker fills' fees over their notional
    only (a taker fill's fee is another rate), a rebate negative, None before a maker fill."""
    from agent.ledger import Ledger
    led = Ledger()
    assert led.maker_fee_bps is None
    led.on_fill(0.0, +1, 100.0, 10.0, fee=0.45, is_maker=False)  # 4.5 bp taker: not the maker rate
    assert led.maker_fee_bps is None
    led.on_fill(1.0, -1, 100.0, 10.0, fee=0.15, is_maker=True)  # 1.5 bp
    led.on_fill(2.0, +1, 200.0, 5.0, fee=0.15, is_maker=True)
    assert led.maker_fee_bps == pytest.approx(1.5)
    rebate = Ledger()
    rebate.on_fill(0.0, +1, 100.0, 10.0, fee=-0.02, is_maker=True)
    assert rebate.maker_fee_bps == pytest.approx(-0.2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, -1]), st.floats(90.0, 110.0), st.floats(0.001, 2.0),
                          st.floats(0.0, 0.001)), min_size=1, max_size=30), st.floats(90.0, 110.0))
def test_net_of_fees_never_counts_more_fills_favourable_than_gross(fills, mid):
    """A fee (≥ 0) can only take a fill out of the favourable ones; with no fee the two counts agree, and
    the USDC sum is gross either way."""
    gross, net, free = MarkoutQueue(1.0), MarkoutQueue(1.0), MarkoutQueue(1.0)
    for side, px, sz, rate in fills:
        gross.add(0.0, side, px, sz)
        net.add(0.0, side, px, sz, fee=px * sz * rate)
        free.add(0.0, side, px, sz, fee=0.0)
    for q in (gross, net, free):
        q.on_mid(1.0, mid)
    assert net.positive <= gross.positive == free.positive
    assert net.sum_usd == gross.sum_usd


def test_the_ledger_markout_is_over_the_resolved_fills_notional_only():
    """A fill whose horizon has not come (the session's last seconds, a flatten at the end) has no markout
    yet: its notional must not dilute the resolved fills' bps."""
    from agent.ledger import Ledger
    led = Ledger((1.0,))
    led.on_fill(0.0, +1, 100.0, 1.0, 0.0, True)
    led.on_mid(1.0, 101.0)  # +1 USDC on 100 of notional: +100 bp
    assert led.markouts_bps()["1s"] == pytest.approx(100.0)
    led.on_fill(1.5, +1, 100.0, 100.0, 0.0, True)  # a large fill, not yet due
    assert led.markouts_bps()["1s"] == pytest.approx(100.0)
    led.on_mid(2.5, 100.0)  # now due, at its own price: 0 on 10,000 of notional
    assert led.markouts_bps()["1s"] == pytest.approx(1.0 / 10_100.0 * 1e4)


def test_a_fill_due_in_a_feed_gap_is_expired_not_measured_by_the_first_mid_after_it():
    """A lost socket, then a jump: the first mid after the outage resolved every fill due in it, a 10 s markout
    measured over the whole gap and mostly the jump (the scorecards already drop such outcomes)."""
    q = MarkoutQueue(10.0)
    q.add(0.0, +1, 100.0, 1.0)   # due at 10: the feed is down from 8 to 30
    q.add(5.0, -1, 100.0, 1.0)   # due at 15: likewise
    q.add(21.0, +1, 100.0, 1.0)  # due at 31: after the gap
    q.on_mid(7.9, 100.0)
    assert q.on_mid(30.0, 80.0) == 0  # the jump in the outage is no markout of theirs
    assert (q.resolved, q.sum_usd, q.pending) == (0, 0.0, 1)  # the two due in the gap are dropped
    assert q.on_mid(31.5, 101.0) == 1 and q.sum_usd == 1.0  # a mid within max_late_s of due measures it
    q.add(40.0, +1, 100.0, 1.0)
    assert q.on_mid(50.0 + MAX_LATE_S, 102.0) == 1  # exactly max_late_s late still counts


def test_a_fill_delivered_out_of_order_resolves_when_due_not_behind_the_fill_ahead_of_it():
    """A fill made earlier but delivered later (recovered at a reconnect) is due before the fill ahead of it: it
    resolves at its own horizon, and ``made_by`` tells it apart by when it was made, not where it sits in the queue."""
    q = MarkoutQueue(10.0)
    q.add(6.0, +1, 100.0, 1.0)
    q.add(4.0, +1, 100.0, 1.0)  # made before, delivered after
    assert q.next_due == 14.0
    assert q.on_mid(14.0, 100.5) == 1  # the one made at 4 s, at its horizon
    assert q.sum_usd == pytest.approx(0.5) and q.next_due == 16.0
    q.add(5.0, -1, 100.0, 1.0)
    assert q.on_mid(16.0, 100.0, made_by=5.0) == 1  # only the one made by 5 s
    assert q.pending == 1 and q.on_mid(16.0, 100.0) == 1


def _add_as_at_236138b(self: MarkoutQueue, ts: float, side: int, px: float, sz: float = 0.0,
                       fee: float | None = None) -> None:
    """MarkoutQueue.add at 236138b (every fill through _queue's call), verbatim."""
    per_unit = fee / sz if fee is not None and sz > 0.0 else px * self.fee_rate
    self._queue((ts + self.horizon_s, side, px, sz, per_unit))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "add", "add_fee", "mid", "mid_by"]),
                          st.one_of(st.floats(-2.0, 3.0), st.just(0.0)), st.sampled_from([1, -1]),
                          st.floats(1.0, 200.0), st.one_of(st.just(0.0), st.floats(0.0, 5.0)),
                          st.floats(-0.01, 0.05)), max_size=80),
       st.sampled_from([0.5, 1.0, 5.0]), st.floats(0.0, 1e-3))
def test_add_is_as_it_was_at_236138b_to_the_bit(steps, horizon_s, fee_rate):
    """add has _queue's in-order test written out (the rare fill made before one queued still goes to _queue): two
    queues fed the same fills (made out of order too, equal times, with and without a fee, size 0) and mids
    (resolving by made_by too), one through add at 236138b kept verbatim, are the same after every step, pickled,
    and resolve the same counts. Broken on purpose (every fill appended, ``if False:`` for the in-order test), this
    fails."""
    import pickle
    new, old = MarkoutQueue(horizon_s, fee_rate), MarkoutQueue(horizon_s, fee_rate)
    ts = 10.0
    for kind, dt, side, px, sz, fee in steps:
        ts += dt
        if kind.startswith("add"):
            f = fee if kind == "add_fee" else None
            new.add(ts, side, px, sz, f)
            _add_as_at_236138b(old, ts, side, px, sz, f)
        elif kind == "mid":
            assert new.on_mid(ts, px) == old.on_mid(ts, px)
        else:
            assert new.on_mid(ts, px, ts - 2.0) == old.on_mid(ts, px, ts - 2.0)
        assert pickle.dumps(new) == pickle.dumps(old)
