"""The l2Book feed's cadence: a push on the first block at least book_interval_s after the last, at a phase of its
own. Pushed exactly every interval from the first subscription, it kept step with an agent cycling at the same
period, which then quoted on a book a whole interval old at every cycle."""
from __future__ import annotations

import numpy as np
import pytest

from twin.exchange import Exchange
from twin.faults.connection import ConnectionParams
from twin.messages import BookPush
from twin.params import TwinParams


def _push_times(seed: int, block_s: float, seconds: float = 120.0, subscribe_at: float = 0.3) -> np.ndarray:
    """When each l2Book push after the subscription's snapshot was made, s (delivered a picosecond later)."""
    params = TwinParams.model_validate({
        "connection": ConnectionParams(hazard_per_hour=0.0).model_dump(), "feed": {"block_s": block_s},
        "latency": {"feed": {"median_ms": 1e-9, "sigma": 0.0, "spike_prob": 0.0, "burst_rate_per_hour": 0.0}}})
    ex = Exchange.build(params, seed)
    made: list[float] = []
    ex.env.run(until=subscribe_at)
    conn = ex.connect(lambda p: made.append(ex.env.now) if type(p) is BookPush else None)
    conn.subscribe("l2Book", "BTC")
    ex.env.run(until=subscribe_at + seconds)
    assert made[0] == pytest.approx(subscribe_at, abs=1e-9)  # the snapshot a subscription is answered with
    return np.asarray(made[1:]) - subscribe_at


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pushes_wait_for_a_block_and_drift_against_a_fixed_period(seed):
    t = _push_times(seed, block_s=0.07)
    gaps = np.diff(t)
    assert 0.5 <= t[0] < 1.07 and gaps.min() >= 0.5 - 1e-9 and gaps.max() < 0.57
    assert 0.03 < gaps.mean() - 0.5 < 0.04 and gaps.max() - gaps.min() > 0.06  # a uniform part of a block
    # against a client's 0.5 s timer the pushes take every phase: a whole interval old at the timer, or fresh
    phase = np.mod(t, 0.5)
    assert np.histogram(phase, bins=5, range=(0.0, 0.5))[0].min() > 0.1 * len(t) / 5


def test_the_first_push_s_phase_is_the_seed_s_and_without_blocks_the_period_is_exact():
    firsts = {seed: _push_times(seed, block_s=0.0)[0] for seed in range(8)}
    assert all(0.5 <= f < 1.0 for f in firsts.values()) and len({round(f, 6) for f in firsts.values()}) == 8
    assert _push_times(3, block_s=0.0)[0] == firsts[3]  # the same seed, the same phase
    gaps = np.diff(_push_times(3, block_s=0.0))
    assert np.allclose(gaps, 0.5)


def test_bbo_is_pushed_at_blocks_only_when_the_top_of_the_book_changed():
    """The venue sends bbo "only when the bbo changes in a block": at block times, each push the book's best bid and
    ask as l2Book would give them then, none twice in a row, and fewer pushes than blocks."""
    from twin.messages import BboPush
    params = TwinParams.model_validate({
        "connection": ConnectionParams(hazard_per_hour=0.0).model_dump(),
        "latency": {"feed": {"median_ms": 1e-9, "sigma": 0.0, "spike_prob": 0.0, "burst_rate_per_hour": 0.0}}})
    ex = Exchange.build(params, 4)
    got: list = []

    def on_push(p) -> None:
        if type(p) is BboPush:
            book = ex.l2_book("BTC")
            got.append((ex.env.now, p, (book.bids[0], book.asks[0])))
    conn = ex.connect(on_push)
    conn.subscribe("bbo", "BTC")
    ex.env.run(until=60.0)
    blocks = int(60.0 / params.feed.block_s)
    assert 100 < len(got) < blocks
    for t, p, top in got:
        assert p.coin == "BTC" and (p.bid, p.ask) == top and p.bid[0] < p.ask[0]
        assert abs(t / params.feed.block_s - round(t / params.feed.block_s)) < 1e-6  # at a block
    assert all((a.bid, a.ask) != (b.bid, b.ask) for (_, a, _), (_, b, _) in zip(got, got[1:]))


def test_bbo_is_l2_book_s_top_with_the_agent_s_orders_and_fills_in_the_book():
    """The twin builds bbo's top level on its own (not from l2_book's 20 levels, for speed): with the agent's orders
    resting in the book, at the touch too, every push is l2_book's top; and so is the top right after another
    account's IOC has consumed displayed levels, a whole one among them."""
    from agent.config import AgentConfig
    from agent.session import build_session
    from twin.messages import BboPush
    params = TwinParams.model_validate({
        "connection": ConnectionParams(hazard_per_hour=0.0).model_dump(),
        "latency": {"feed": {"median_ms": 1e-9, "sigma": 0.0, "spike_prob": 0.0, "burst_rate_per_hour": 0.0}}})
    cfg = AgentConfig.model_validate({"session": {"bbo_feed": True}, "graduation": {"start_level": "FULL"}})
    ex, gw, _, driver = build_session(cfg, 0, params)
    checked = {"pushes": 0, "ours_at_top": 0, "consumed": 0}
    handle = gw._on_push

    def check(push) -> None:
        if type(push) is BboPush:
            book = ex.l2_book("BTC")
            assert (push.bid, push.ask) == (book.bids[0], book.asks[0])
            ours = {o.px for o in ex.books["BTC"].bids} | {o.px for o in ex.books["BTC"].asks}
            checked["pushes"] += 1
            checked["ours_at_top"] += push.bid[0] in ours or push.ask[0] in ours
            checked["consumed"] += bool(ex._consumed["BTC"])
        handle(push)
    gw._on_push = check
    taker = "0x" + "77" * 20
    ex.fund(taker, 10_000_000.0)

    def take():  # another account's IOC through the touch every 2 s: displayed levels consumed, some emptied
        from twin.messages import OrderSpec
        k = 0
        while True:
            yield ex.env.timeout(2.0)
            buy = k % 2 == 0
            k += 1
            book = ex.l2_book("BTC")
            top = book.asks[0] if buy else book.bids[0]
            px = top[0] + (5.0 if buy else -5.0)
            ex._place(ex.accounts[taker], OrderSpec("BTC", buy, px, round(top[1] * 1.5, 5), tif="Ioc"))
            # what a block now would push (the market's next event clears what fills consumed: a block seldom falls
            # between them, so the consumed book is checked here, at once)
            book = ex.l2_book("BTC")
            assert (ex._touch("BTC", True), ex._touch("BTC", False)) == (book.bids[0], book.asks[0])
            checked["consumed"] += bool(ex._consumed["BTC"])
    ex.env.process(take())
    driver.start()
    ex.env.run(until=600.0)
    assert checked["pushes"] > 3000 and checked["ours_at_top"] > 100 and checked["consumed"] > 200, checked
