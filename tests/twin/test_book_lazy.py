"""The exchange notes each book update (CoinBook.note_rows) and applies the cancel-ahead rule only when a queue is
read (a print reaching the clients' orders, hits_from_trade; catch_up). Held here to the rule run at every update
(advance_queue_rows), beside it: the same prints' fills, the same queues, whatever the sequence of books, joins,
cancels and prints, and through the book's cap on pending updates."""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from twin.book import ClientOrder, CoinBook

_PX = st.integers(95, 105).map(float)  # prices on a grid of 1.0 around the books' 100 (prints reach them)
_SZ = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5, 7.0])


@st.composite
def _side(draw, is_bid: bool) -> tuple[list, list]:
    """One side's rows: on the grid from a best near 100, or off it (a replayed book), nan-padded or empty."""
    n = draw(st.integers(0, 6))
    best = draw(st.integers(97, 103)).__float__() + (0.0 if is_bid else 1.0)
    step = -1.0 if is_bid else 1.0
    if draw(st.booleans()):
        pxs = [best + step * i for i in range(n)]
    else:
        pxs = sorted(set(draw(st.lists(_PX, min_size=n, max_size=n))), reverse=is_bid)
    szs = [draw(_SZ) for _ in pxs]
    pad = draw(st.integers(0, 2))
    return pxs + [math.nan] * pad, szs + [math.nan] * pad


_OP = st.one_of(
    st.tuples(st.just("book"), _side(True), _side(False)),
    st.tuples(st.just("add"), st.booleans(), _PX, _SZ, _SZ, st.sampled_from([0.1, 1.0, 5.0])),
    st.tuples(st.just("remove"), st.integers(0, 50)),
    st.tuples(st.just("trade"), st.booleans(), _PX, st.sampled_from([0.3, 1.0, 2.5, 9.0])),
)


def _states(book: CoinBook) -> list:
    return [(o.oid, o.queue_ahead, o.level_sz, o.sz) for o in book.bids + book.asks]


@settings(max_examples=1000, deadline=None)
@given(st.lists(_OP, max_size=40), st.sampled_from([1, 2, 3, 5, 512]), st.sampled_from([1.0, 2.0, 3.0]))
def test_noted_updates_applied_late_are_the_rule_applied_at_each(ops, cap, power):
    eager, lazy = CoinBook("X", 1.0, power), CoinBook("X", 1.0, power)
    lazy.max_pending = cap
    oid = 0
    for op in ops:
        if op[0] == "book":
            (bp, bs), (ap, as_) = op[1], op[2]
            eager.advance_queue_rows(bp, bs, ap, as_)
            lazy.note_rows(bp, bs, ap, as_)
        elif op[0] == "add":
            _, is_buy, px, ahead, behind, sz = op
            oid += 1
            for b in (eager, lazy):
                o = ClientOrder(oid, None, "u", "X", is_buy, px, sz, sz, False, "Alo", ahead, 0)
                o.level_sz = ahead + behind
                b.add(o)
        elif op[0] == "remove":
            orders = eager.bids + eager.asks
            if orders:
                gone = orders[op[1] % len(orders)].oid
                for b in (eager, lazy):
                    b.remove(next(o for o in b.bids + b.asks if o.oid == gone))
        else:
            _, is_buy, px, sz = op
            got = [[(o.oid, take) for o, take in b.hits_from_trade(is_buy, px, sz)] for b in (eager, lazy)]
            assert got[0] == got[1]
            hit = dict(got[0])
            for b in (eager, lazy):  # (the exchange's _fill: a filled order leaves the book)
                for o in [o for o in b.bids + b.asks if o.oid in hit]:
                    o.sz -= min(hit[o.oid], o.sz)
                    if o.sz <= 1e-12:
                        b.remove(o)
        assert len(lazy.pending) < cap
    lazy.catch_up()
    assert _states(lazy) == _states(eager)
    assert not lazy.pending


def test_an_order_takes_only_the_updates_after_it_joined():
    """The one fact the late rule adds: an order joining after updates still pending must not take them (here they
    would have read its queue as cancelled twice)."""
    eager, lazy = CoinBook("X", 1.0, 2.0), CoinBook("X", 1.0, 2.0)
    for b in (eager, lazy):
        first = ClientOrder(1, None, "u", "X", True, 99.0, 1.0, 1.0, False, "Alo", 4.0, 0)
        first.level_sz = 6.0
        b.add(first)
    rows = ([100.0, 99.0], [1.0, 5.0], [101.0], [1.0])
    eager.advance_queue_rows(*rows)
    lazy.note_rows(*rows)
    for b in (eager, lazy):
        late = ClientOrder(2, None, "u", "X", True, 99.0, 1.0, 1.0, False, "Alo", 5.0, 0)
        b.add(late)  # joined behind the 5.0 shown after the update: its queue is that
        late.level_sz = 5.0
    rows = ([100.0, 99.0], [1.0, 2.0], [101.0], [1.0])
    eager.advance_queue_rows(*rows)
    lazy.note_rows(*rows)
    assert len(lazy.pending) == 2  # (nothing read the queues: both updates are pending)
    assert lazy.hits_from_trade(False, 99.0, 0.5) == [] and eager.hits_from_trade(False, 99.0, 0.5) == []
    assert _states(lazy) == _states(eager) and not lazy.pending


def test_each_side_takes_what_it_owes_whatever_the_other_has_taken():
    """The sides catch up apart (a print reaches one side): a print on the asks after one on the bids still takes
    the updates the asks owe, and letting go of what the bids no longer owe keeps what the asks do."""
    eager, lazy = CoinBook("X", 1.0, 2.0), CoinBook("X", 1.0, 2.0)
    for b in (eager, lazy):
        for oid, is_buy, px in ((1, True, 99.0), (2, False, 101.0)):
            o = ClientOrder(oid, None, "u", "X", is_buy, px, 1.0, 1.0, False, "Alo", 3.0, 0)
            o.level_sz = 4.0
            b.add(o)
    for rows in (([100.0, 99.0], [1.0, 2.0], [101.0, 102.0], [2.0, 1.0]),
                 ([100.0, 99.0], [1.0, 1.5], [101.0, 102.0], [1.5, 1.0])):
        eager.advance_queue_rows(*rows)
        lazy.note_rows(*rows)
    for is_buy, px in ((False, 99.0), (True, 101.0)):
        assert [(o.oid, t) for o, t in lazy.hits_from_trade(is_buy, px, 0.25)] == \
            [(o.oid, t) for o, t in eager.hits_from_trade(is_buy, px, 0.25)]
        side = (lambda b: b.asks) if is_buy else (lambda b: b.bids)  # (the other side's may still be owed)
        assert [(o.queue_ahead, o.level_sz) for o in side(lazy)] == [(o.queue_ahead, o.level_sz) for o in side(eager)]
    assert _states(lazy) == _states(eager) and not lazy.pending


def test_a_session_with_the_late_rule_is_the_session_with_the_rule_at_each_update():
    """A quoting agent's session, two minutes, the exchange noting its updates or applying the rule at each: the same
    fills to the bit, and the same queues at the end."""
    from agent.config import AgentConfig
    from agent.session import build_session

    cfg = AgentConfig.model_validate({"session": {"cycle_s": 0.1}, "quoting": {"ladder": {"n_levels": 5}},
                                      "graduation": {"start_level": "FULL", "ceiling": "FULL"}})

    def run(max_pending: int | None) -> tuple:
        ex, _, _, driver = build_session(cfg, 3)
        book = ex.books["BTC"]
        if max_pending is not None:
            book.max_pending = max_pending  # (1: every update applied as it is noted, the rule at each)
        driver.start()
        ex.env.run(until=120.0)
        assert len(book.pending) < book.max_pending
        book.catch_up()
        return [(f.oid, f.px, f.sz, f.time_ms) for u in ex.accounts for f in ex.user_fills(u)], _states(book)

    late = run(None)
    assert run(1) == late
    assert run(7) == late
    assert len(late[0]) > 5  # (fills there were: prints reached the agent's queues)
