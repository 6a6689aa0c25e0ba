"""Exchange._level_rows keeps each side's level rows as lists from one book update to the next (_rows_of, dropped
by _run_market and _jump as they move the book): whenever asked, they must be the book's rows made afresh."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from twin.exchange import Exchange
from twin.messages import OrderAction, OrderSpec, TradePush
from twin.params import TwinParams

USER = "0x" + "cd" * 20


def _fresh(ex: Exchange, coin: str, is_buy: bool) -> tuple | None:
    pxs = (ex.bid_px if is_buy else ex.ask_px).get(coin)
    if pxs is None:
        return None
    szs = (ex.bid_sz if is_buy else ex.ask_sz)[coin]
    return pxs.tolist(), szs.tolist()


def _check_every_step(ex: Exchange, until: float, every: int) -> int:
    """Step the session to ``until``, asking for both sides' rows after every ``every``-th step (not every one:
    rows kept over several book updates are asked for too). How many times they were compared."""
    env, n, checked = ex.env, 0, 0
    while env.peek() < until:
        env.step()
        n += 1
        if n % every == 0:
            _compare(ex)
            checked += 1
    return checked


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**16), st.integers(1, 7), st.lists(st.tuples(st.booleans(), st.integers(-2, 4)), max_size=8))
def test_rows_asked_for_are_the_books_rows_with_orders_resting(seed, every, orders):
    """Orders resting: every market event goes through SimPy one by one (the queue model asks for the rows)."""
    ex = Exchange.build(TwinParams(), seed)
    ex.fund(USER, 50_000.0)
    ex.connect(lambda p: None if isinstance(p, TradePush) else None).subscribe("trades", "BTC")
    ex.env.run(until=1.0)
    for buy, ticks in orders:
        px = (ex.best_bid["BTC"] - ticks) if buy else (ex.best_ask["BTC"] + ticks)
        ex.submit(USER, OrderAction((OrderSpec("BTC", buy, float(px), 0.001, tif="Alo"),)), lambda r: None)
    assert _check_every_step(ex, 20.0, every) > 0


def _compare(ex: Exchange) -> None:
    for coin in ex.markets:
        for is_buy in (True, False):
            rows = ex._level_rows(coin, is_buy)
            fresh = _fresh(ex, coin, is_buy)
            assert (rows is None) == (fresh is None)
            if rows is not None:
                assert (rows[2], rows[3]) == fresh


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16), st.lists(st.floats(0.01, 3.0), min_size=1, max_size=15))
def test_rows_asked_for_are_the_books_rows_across_jumps(seed, waits):
    """Nobody watching: between two scheduled events (a checker's) the market jumps over its own (_jump moves the
    book)."""
    ex = Exchange.build(TwinParams(), seed)
    before = ex.counters["book_updates"]

    def checker():
        for w in waits:
            yield ex.env.timeout(w)
            _compare(ex)

    ex.env.process(checker())
    ex.env.run(until=sum(waits) + 0.5)
    assert ex.counters["book_updates"] > before
