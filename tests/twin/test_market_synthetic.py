"""Tests of the synthetic market: invariants of every chunk, its statistics against its parameters,
the information its book and flow carry, and scripted shocks."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.market import BOOK, TRADE, MarketChunk, Shock, SyntheticMarket, SyntheticMarketParams

FIELDS = ("t", "kind", "idx", "bid_px", "bid_sz", "ask_px", "ask_sz", "trade_px", "trade_sz", "trade_side",
          "trade_informed", "mid", "regime")


def _chunks(params: SyntheticMarketParams | None = None, seconds: float = 100.0, seed: int = 0,
            chunk_seconds: float = 100.0, **kw) -> list[MarketChunk]:
    m = SyntheticMarket(params or SyntheticMarketParams(), np.random.default_rng(seed), chunk_seconds=chunk_seconds,
                        **kw)
    out = []
    while not out or out[-1].t_end < seconds - 1e-9:
        out.append(m.next_chunk())
    return out


class _Run:
    """Concatenated events of a run, split into the book and trade series."""

    def __init__(self, chunks: list[MarketChunk]) -> None:
        def events(c, kind, name):
            return getattr(c, name)[c.kind == kind]

        self.book_t = np.concatenate([events(c, BOOK, "t") for c in chunks])
        self.book_mid = np.concatenate([events(c, BOOK, "mid") for c in chunks])
        self.book_regime = np.concatenate([events(c, BOOK, "regime") for c in chunks])
        self.trade_t = np.concatenate([events(c, TRADE, "t") for c in chunks])
        self.trade_mid = np.concatenate([events(c, TRADE, "mid") for c in chunks])
        self.trade_regime = np.concatenate([events(c, TRADE, "regime") for c in chunks])
        for name in ("bid_px", "ask_px", "bid_sz", "ask_sz", "trade_px", "trade_sz", "trade_side",
                     "trade_informed"):
            setattr(self, name, np.concatenate([getattr(c, name) for c in chunks]))
        self.seconds = chunks[-1].t_end


def _on_grid(x: np.ndarray, step: float) -> bool:
    q = x / step
    return bool(np.all(np.abs(q - np.round(q)) < 1e-6))


def _check_chunk_invariants(chunks: list[MarketChunk], tick: float, lot: float) -> None:
    for prev, c in zip([None] + chunks[:-1], chunks):
        if prev is not None:
            assert c.t_start == prev.t_end
        n, nb, nt = c.t.size, c.bid_px.shape[0], c.trade_px.size
        assert c.t_start < c.t_end
        assert np.all(np.diff(c.t) >= 0)
        assert np.all((c.t >= c.t_start) & (c.t < c.t_end))
        assert all(getattr(c, f).shape[0] == n for f in ("kind", "idx", "mid", "regime"))
        assert np.array_equal(np.sort(c.idx[c.kind == BOOK]), np.arange(nb))
        assert np.array_equal(np.sort(c.idx[c.kind == TRADE]), np.arange(nt))
        assert c.kind.dtype == np.int8 and c.idx.dtype == np.int32 and c.trade_side.dtype == np.int8
        for px in (c.bid_px, c.ask_px, c.trade_px):
            assert _on_grid(px, tick)
        for sz in (c.bid_sz, c.ask_sz, c.trade_sz):
            assert _on_grid(sz, lot) and np.all(sz >= lot * (1 - 1e-9))
        assert np.all(c.bid_px[:, 0] < c.ask_px[:, 0])  # never crossed
        assert np.allclose(np.diff(c.bid_px, axis=1), -tick) and np.allclose(np.diff(c.ask_px, axis=1), tick)
        assert np.all(np.isin(c.trade_side, (-1, 1)))
        # A trade prints at or beyond the touch of the book shown just before it.
        last_book = np.maximum.accumulate(np.where(c.kind == BOOK, np.arange(n), -1))
        tr = c.kind == TRADE
        assert np.all(last_book[tr] >= 0)
        book_row = c.idx[last_book[tr]]
        side = c.trade_side[c.idx[tr]]
        px = c.trade_px[c.idx[tr]]
        buys, sells = side > 0, side < 0
        assert np.all(px[buys] >= c.ask_px[book_row[buys], 0] - 1e-9)
        assert np.all(px[sells] <= c.bid_px[book_row[sells], 0] + 1e-9)


def test_a_book_whose_mid_drifts_past_a_power_of_ten_lists_only_prices_the_venue_takes():
    """A coin on a 0.001 tick at 99.9 (its start passes the price rule: 99.999 has 5 significant figures) drifts
    past 100, where 5 significant figures leave 0.01: the book listed 100.001 and the like (a fifth of its prices
    over an hour at seed 1), which the venue, and the twin's own order check (Tick), refuse. Its levels and prints
    now take the coarser grid there, and the finer one again below: each level its own price's grid. (The whole
    book took the grid its deepest ask needed: with asks past 100, its bids at 99.99, 99.98, where the venue takes
    99.999, 99.998: a tenth of the prices it lists, and the asks below 100 likewise.)"""
    from twin.instruments import price_is_valid
    p = SyntheticMarketParams(initial_mid=99.9, vol_calm_per_sqrt_s=2e-4, calm_to_stressed_per_s=0.0,
                              trade_size_median=1.0, depth_at_touch=10.0)
    chunks = _chunks(p, seconds=600, seed=1, chunk_seconds=10.0, tick=0.001, lot=1.0)
    run = _Run(chunks)
    listed = np.concatenate([run.bid_px.ravel(), run.ask_px.ravel(), run.trade_px])
    assert not [px for px in listed[~np.isnan(listed)].tolist() if not price_is_valid(px, 0)][:3]
    above = run.ask_px[:, -1] >= 100.0  # rows reaching past 100
    assert 100 < above.sum() < above.size - 100  # (it crossed, and was below for a while too)
    # each level the next price the venue takes: 0.01 apart from 100 on, 0.001 below
    assert np.allclose(np.diff(run.ask_px, axis=1), np.where(run.ask_px[:, :-1] < 100.0 - 1e-9, 0.001, 0.01))
    assert np.allclose(np.diff(run.bid_px, axis=1), -np.where(run.bid_px[:, :-1] <= 100.0 + 1e-9, 0.001, 0.01))
    for side in (run.bid_px, run.ask_px):  # books with levels on both sides of 100, on both grids
        assert ((side.min(axis=1) < 100.0) & (side.max(axis=1) > 100.0)).sum() > 10
    assert np.all(run.bid_px[:, 0] < run.ask_px[:, 0])


def _taken_between(lo: int, hi: int, tick: float) -> list[int]:
    """The prices (in ticks) strictly between ``lo`` and ``hi`` that the venue's price rule takes."""
    from twin.instruments import price_is_valid
    return [n for n in range(lo + 1, hi) if price_is_valid(round(n * tick, 10), 0)]


def test_a_book_past_a_power_of_ten_its_tick_does_not_divide_lists_only_prices_the_venue_takes():
    """A tick of 0.3 (one significant figure, which Instrument takes) does not divide 10000: from 10000 on, where 5
    significant figures leave whole numbers, the venue takes its multiples of 3 (10002, 10005), below it 9999.9.
    Stepped by the grid of the price it came from, the book listed 10000.2 (a level above 9999.9, or a best ask
    ceiled on the finer grid), which the venue refuses, and skipped 9999.9 below 10002 (its bids at 9999.0)."""
    from twin.instruments import price_is_valid
    tick = 0.3
    p = SyntheticMarketParams(initial_mid=9999.9, vol_calm_per_sqrt_s=2e-4, calm_to_stressed_per_s=0.0,
                              trade_size_median=1.0, depth_at_touch=10.0)
    run = _Run(_chunks(p, seconds=600, seed=1, chunk_seconds=10.0, tick=tick, lot=1.0))
    listed = np.concatenate([run.bid_px.ravel(), run.ask_px.ravel(), run.trade_px])
    assert not [px for px in listed[~np.isnan(listed)].tolist() if not price_is_valid(px, 0)][:3]
    straddling = (run.bid_px[:, -1] < 1e4) & (run.ask_px[:, -1] > 1e4)
    assert straddling.sum() > 100
    book = np.concatenate([run.bid_px[:, ::-1], run.ask_px], axis=1)[straddling]  # each row's prices, rising
    ticks = np.round(book / tick).astype(np.int64)
    assert np.all(np.diff(ticks, axis=1) > 0)  # strictly rising: never crossed, no level twice
    gaps = {(int(a), int(b)) for row in ticks for a, b in zip(row[:-1], row[1:])}
    skipped = {(a, b): _taken_between(a, b, tick) for a, b in gaps if b - a > 1}  # (one tick apart: none between)
    assert not {k: v for k, v in skipped.items() if v}  # each level the next price the venue takes


def test_default_chunks_hold_the_invariants():
    chunks = _chunks(seconds=300, chunk_seconds=10.0,
                     shocks=[Shock(33.333, "price_jump", 0.01), Shock(50.0, "regime", 1, 40.0)])
    _check_chunk_invariants(chunks, tick=1.0, lot=1e-5)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), thin=st.booleans(), chunk_seconds=st.sampled_from([0.35, 3.0, 10.0]),
       shock_t=st.floats(0.0, 20.0))
def test_invariants_hold_across_seeds_markets_and_chunkings(seed, thin, chunk_seconds, shock_t):
    params = SyntheticMarketParams.thin_hip3() if thin else SyntheticMarketParams(calm_to_stressed_per_s=0.05)
    tick, lot = (1e-4, 0.1) if thin else (1.0, 1e-5)
    shocks = [Shock(shock_t, "price_jump", -0.02), Shock(shock_t / 2, "regime", 1, 5.0)]
    chunks = _chunks(params, seconds=30, seed=seed, chunk_seconds=chunk_seconds, tick=tick, lot=lot, shocks=shocks)
    _check_chunk_invariants(chunks, tick, lot)


def test_same_seed_gives_identical_chunks_and_another_seed_does_not():
    shocks = [Shock(7.77, "price_jump", -0.01), Shock(15.0, "param", 0.5, name="informed_share")]
    a = _chunks(seconds=40, seed=42, chunk_seconds=10.0, shocks=shocks)
    b = _chunks(seconds=40, seed=42, chunk_seconds=10.0, shocks=shocks)
    c = _chunks(seconds=40, seed=43, chunk_seconds=10.0, shocks=shocks)
    assert len(a) == len(b) == 5  # four 10 s chunks, one split at the price jump
    for x, y in zip(a, b):
        for f in FIELDS:
            assert np.array_equal(getattr(x, f), getattr(y, f), equal_nan=True), f
        assert (x.t_start, x.t_end) == (y.t_start, y.t_end)
    assert not np.array_equal(a[-1].mid, c[-1].mid)


def test_latent_mid_path_does_not_depend_on_chunking():
    # Without informed impact, the mid on the grid comes only from the latent draws.
    params = SyntheticMarketParams(informed_share=0.0)
    a, b = _Run(_chunks(params, seconds=60, chunk_seconds=10.0)), _Run(_chunks(params, seconds=60, chunk_seconds=0.7))
    n = min(a.book_t.size, b.book_t.size)
    assert n >= 590
    assert np.array_equal(a.book_t[:n], b.book_t[:n])
    assert np.allclose(a.book_mid[:n], b.book_mid[:n], rtol=1e-12, atol=0)


def test_mid_starts_at_initial_mid_and_book_straddles_it():
    c = _chunks(SyntheticMarketParams(initial_mid=123_456.0), seconds=10, chunk_seconds=10.0)[0]
    assert c.t[0] == 0.0 and c.kind[0] == BOOK and c.mid[0] == pytest.approx(123_456.0, rel=1e-14)
    books = c.kind == BOOK
    assert np.all(c.bid_px[:, 0] <= c.mid[books] + 1e-6) and np.all(c.ask_px[:, 0] >= c.mid[books] - 1e-6)
    assert np.all(c.ask_px[:, 0] - c.bid_px[:, 0] <= 2.0)  # calm default: a one-tick spread (two when the mid sits on a tick)


def test_realised_volatility_per_regime_matches_params():
    # Jumps and informed impact off, so grid-to-grid log moves are the diffusion (plus a tiny drift).
    params = SyntheticMarketParams(jump_rate_calm_per_s=0.0, jump_rate_stressed_per_s=0.0, informed_share=0.0,
                                   calm_to_stressed_per_s=1 / 60, stressed_to_calm_per_s=1 / 30)
    run = _Run(_chunks(params, seconds=3000))
    r = np.diff(np.log(run.book_mid))
    reg = run.book_regime[1:]
    dt = params.book_interval_s
    for regime, sigma in ((0, params.vol_calm_per_sqrt_s), (1, params.vol_stressed_per_sqrt_s)):
        moves = r[reg == regime]
        assert moves.size > 5000
        realised = moves.std() / math.sqrt(dt)
        assert realised == pytest.approx(sigma, rel=0.05)  # sampling error ≈ 1%
    # The chain spends 1/60 : 1/30 of its time stressed : calm in the long run, i.e. 2/3 calm.
    assert np.mean(run.book_regime == 0) == pytest.approx(2 / 3, abs=0.15)  # ~30 cycles: sd ≈ 0.05


def test_trade_rate_per_regime_matches_params():
    params = SyntheticMarketParams(calm_to_stressed_per_s=1 / 60, stressed_to_calm_per_s=1 / 60)
    run = _Run(_chunks(params, seconds=2000))
    dt = params.book_interval_s
    for regime, rate in ((0, params.trade_rate_calm_per_s), (1, params.trade_rate_stressed_per_s)):
        time_in = np.sum(run.book_regime == regime) * dt
        count = np.sum(run.trade_regime == regime)
        assert time_in > 500
        assert count / time_in == pytest.approx(rate, rel=0.06)  # Poisson error ≤ 2.5%


def test_trade_reach_decays_exponentially_with_depth_at_the_param_rate():
    k = 0.4
    params = SyntheticMarketParams(depth_decay_per_usd=k, trade_rate_calm_per_s=20.0, calm_to_stressed_per_s=0.0)
    run = _Run(_chunks(params, seconds=1000))
    # Distance of the print beyond the mid, in USD; for integer d past the touch,
    # P(distance ≥ d) ∝ e^(−k d) (the tick rounding only scales it).
    dist = np.where(run.trade_side > 0, run.trade_px - run.trade_mid, run.trade_mid - run.trade_px)
    d = np.arange(2, 10)
    survival = np.array([np.mean(dist >= x) for x in d])
    slope = np.polyfit(d, np.log(survival), 1)[0]
    assert -slope == pytest.approx(k, rel=0.2)
    # Sizes: log-normal with the given median.
    assert np.median(run.trade_sz) == pytest.approx(params.trade_size_median, rel=0.05)


def test_a_level_beyond_the_touch_is_reached_at_the_documented_rate_and_the_touch_by_every_trade():
    """λ(δ) = A·e^(−kδ): a buy reaches an ask δ from the mid with probability e^(−kδ) (a sell, a bid alike), for
    each level beyond the touch; the touch is reached by every trade of its side (it prints there at least). A
    print at the tick the reach rounded up to, not down, reached levels e^(k·tick) times as often (2.7 here)."""
    k = 1.0
    params = SyntheticMarketParams(depth_decay_per_usd=k, trade_rate_calm_per_s=50.0, calm_to_stressed_per_s=0.0,
                                   informed_share=0.0)
    chunks = _chunks(params, seconds=400, chunk_seconds=100.0)
    reached = {i: [] for i in range(4)}
    documented = {i: [] for i in range(4)}
    for c in chunks:
        last_book = np.maximum.accumulate(np.where(c.kind == BOOK, np.arange(c.t.size), -1))
        tr = c.kind == TRADE
        row, j, mid = c.idx[last_book[tr]], c.idx[tr], c.mid[tr]
        side, px = c.trade_side[j], c.trade_px[j]
        for i in reached:  # the level i ticks beyond its side's touch, as the book before the trade showed it
            level = np.where(side > 0, c.ask_px[row, 0] + i, c.bid_px[row, 0] - i)
            reached[i].append(np.where(side > 0, px >= level, px <= level))
            documented[i].append(np.exp(-k * np.abs(level - mid)))
    assert np.concatenate(reached[0]).all()
    for i in (1, 2, 3):
        seen, expected = np.concatenate(reached[i]).mean(), np.concatenate(documented[i]).mean()
        assert seen == pytest.approx(expected, rel=0.08), i  # ≥ 600 trades reach level 3: Poisson error ≤ 4%


def test_the_size_at_a_price_holds_until_redrawn_at_the_refresh_rate_across_chunks():
    """The noise on the size shown at a price belongs to the price and is redrawn at Poisson times, rate
    1/depth_refresh_s: on a still book (each price at one level) the 40 prices' sizes change about 40 × 200 s / 20 s
    = 400 times in 200 s, however the events are chunked, not at each of the 2,000 book events; around each
    level's median they keep the noise's spread, as calibration reads it."""
    still = SyntheticMarketParams(initial_mid=100_000.3, vol_calm_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0,
                                  drift_coupling=0.0, alpha_std_per_s=0.0, calm_to_stressed_per_s=0.0,
                                  informed_share=0.0, depth_refresh_s=20.0)
    for chunk_seconds in (0.35, 10.0):
        run = _Run(_chunks(still, seconds=200, chunk_seconds=chunk_seconds))
        assert (run.bid_px == run.bid_px[0]).all() and (run.ask_px == run.ask_px[0]).all()  # a still book
        changes = (np.diff(run.bid_sz, axis=0) != 0).sum() + (np.diff(run.ask_sz, axis=0) != 0).sum()
        assert changes == pytest.approx(400, rel=0.2), chunk_seconds  # Poisson sd 20
    run = _Run(_chunks(SyntheticMarketParams(book_coupling=0.0, calm_to_stressed_per_s=0.0), seconds=2000))
    sz = np.stack([run.bid_sz, run.ask_sz])
    median = np.median(sz, axis=1)
    base = 0.5 * (1.0 + 0.2 * np.arange(20))
    assert np.allclose(median, base, rtol=0.05)
    assert np.std(np.log(sz / median[:, None, :])) == pytest.approx(0.4, abs=0.02)


def _flow_and_return(run: _Run, window_s: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Signed-volume imbalance over each window, and the log mid return over the next window."""
    n = int(run.seconds // window_s)
    w = np.minimum((run.trade_t // window_s).astype(int), n - 1)
    signed = np.bincount(w, run.trade_side * run.trade_sz, n)
    total = np.bincount(w, run.trade_sz, n)
    imbalance = signed / np.maximum(total, 1e-12)
    at = np.searchsorted(run.book_t, np.arange(n) * window_s)
    ret = np.diff(np.log(run.book_mid[at]))
    return imbalance[:-2], ret[1:]


def _book_and_return(run: _Run, window_s: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Depth imbalance of the whole book at each window start, and the log mid return over the window."""
    at = np.searchsorted(run.book_t, np.arange(int(run.seconds // window_s)) * window_s)
    bid, ask = run.bid_sz[at].sum(axis=1), run.ask_sz[at].sum(axis=1)
    return ((bid - ask) / (bid + ask))[:-1], np.diff(np.log(run.book_mid[at]))


def test_informed_flow_imbalance_predicts_the_next_move():
    params = SyntheticMarketParams(informed_share=0.3, flow_coupling=0.0)
    imbalance, ret = _flow_and_return(_Run(_chunks(params, seconds=4000)))
    assert np.corrcoef(imbalance, ret)[0, 1] > 0.12  # ≈ 0.2; null sd ≈ 0.035


def test_uninformed_flow_imbalance_predicts_nothing():
    params = SyntheticMarketParams(informed_share=0.0, flow_coupling=0.0)
    imbalance, ret = _flow_and_return(_Run(_chunks(params, seconds=10_000, seed=3)))
    assert abs(np.corrcoef(imbalance, ret)[0, 1]) < 0.07  # null sd ≈ 0.022


def test_book_imbalance_predicts_the_next_move_only_with_book_coupling():
    informative = _book_and_return(_Run(_chunks(SyntheticMarketParams(book_coupling=0.25), seconds=10_000)))
    noise = _book_and_return(_Run(_chunks(SyntheticMarketParams(book_coupling=0.0), seconds=10_000, seed=5)))
    assert np.corrcoef(*informative)[0, 1] > 0.07  # ≈ 0.13; null sd ≈ 0.022
    assert abs(np.corrcoef(*noise)[0, 1]) < 0.07  # null sd ≈ 0.022


def test_informed_trades_are_the_share_asked_and_trade_with_the_move():
    params = SyntheticMarketParams(informed_share=0.4, impact_bps=0.0)
    run = _Run(_chunks(params, seconds=1000))
    assert run.trade_informed.mean() == pytest.approx(0.4, abs=0.03)
    # Each informed trade's side is the sign of the mid's move over the horizon after it.
    later = np.searchsorted(run.book_t, run.trade_t + params.informed_horizon_s, side="right") - 1
    ok = run.trade_informed & (run.trade_t + params.informed_horizon_s < run.book_t[-1])
    move = np.sign(run.book_mid[later[ok]] - run.trade_mid[ok])
    assert np.mean(move == run.trade_side[ok]) > 0.97  # exact except for ties and alpha fallbacks
    unk = ~run.trade_informed & (run.trade_t + params.informed_horizon_s < run.book_t[-1])
    assert abs(np.mean(np.sign(run.book_mid[later[unk]] - run.trade_mid[unk]) == run.trade_side[unk]) - 0.5) < 0.03


def test_informed_trades_move_the_mid_by_the_impact():
    quiet = dict(vol_calm_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0, drift_coupling=0.0, calm_to_stressed_per_s=0.0)
    params = SyntheticMarketParams(informed_share=1.0, impact_bps=2.0, **quiet)
    run = _Run(_chunks(params, seconds=50, chunk_seconds=10.0))
    # With no diffusion the mid moves only by impact: the total log move is the signed count × impact.
    expected = np.sum(run.trade_side[run.trade_t < run.book_t[-1]]) * 2e-4
    assert math.log(run.book_mid[-1] / run.book_mid[0]) == pytest.approx(expected, abs=1e-12)
    assert run.trade_side.size > 100


def test_price_jump_moves_the_mid_by_the_fraction_at_its_time():
    params = SyntheticMarketParams(informed_share=0.0)
    jumps = [Shock(12.345, "price_jump", -0.03), Shock(30.0, "price_jump", 0.05)]
    chunks = _chunks(params, seconds=60, chunk_seconds=10.0, shocks=jumps)
    ends = [c.t_end for c in chunks]
    assert ends[:2] == [10.0, 12.345] and 30.0 in ends  # split at each shock
    run = _Run(chunks)
    i = np.searchsorted(run.book_t, 12.345)
    assert run.book_t[i] == 12.345
    assert run.book_mid[i] / run.book_mid[i - 1] == pytest.approx(0.97, rel=1e-12)  # no diffusion between
    j = np.searchsorted(run.book_t, 30.0)
    assert run.book_t[j] == pytest.approx(30.0)
    assert run.book_mid[j] / run.book_mid[j - 1] == pytest.approx(1.05, rel=2e-3)  # plus one grid step's move
    assert np.all(np.abs(np.diff(np.log(run.book_mid[:i]))) < 0.002)


def test_forced_regime_holds_for_its_duration_and_widens_the_spread():
    params = SyntheticMarketParams(calm_to_stressed_per_s=0.0)
    chunks = _chunks(params, seconds=60, chunk_seconds=10.0, shocks=[Shock(15.05, "regime", 1, 20.0)])
    run = _Run(chunks)
    inside = (run.book_t >= 15.05) & (run.book_t < 35.05)
    assert np.all(run.book_regime[inside] == 1) and np.all(run.book_regime[~inside] == 0)
    trades_inside = (run.trade_t >= 15.05) & (run.trade_t < 35.05)
    assert np.all(run.trade_regime[trades_inside] == 1) and np.all(run.trade_regime[~trades_inside] == 0)
    spread = run.ask_px[:, 0] - run.bid_px[:, 0]
    assert spread[inside].min() >= 6.0 and spread[~inside].max() <= 2.0  # 3-tick vs 0.5-tick half spread
    depth = run.bid_sz.sum(axis=1)
    assert np.median(depth[inside]) < 0.6 * np.median(depth[~inside])  # stressed book is thinner


def test_param_shock_applies_from_its_time():
    shocks = [Shock(20.0, "param", 0.0, name="trade_rate_calm_per_s"),
              Shock(30.0, "param", 40.0, name="trade_rate_calm_per_s")]
    run = _Run(_chunks(SyntheticMarketParams(calm_to_stressed_per_s=0.0), seconds=40, chunk_seconds=10.0,
                       shocks=shocks))
    assert np.sum(run.trade_t < 20.0) > 40
    assert np.sum((run.trade_t >= 20.0) & (run.trade_t < 30.0)) == 0
    assert np.sum(run.trade_t >= 30.0) > 250


def test_bad_shocks_are_refused_at_construction():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="levels"):
        SyntheticMarket(SyntheticMarketParams(), rng, shocks=[Shock(1.0, "param", 3, name="levels")])
    with pytest.raises(ValueError, match="informed_share"):
        SyntheticMarket(SyntheticMarketParams(), rng, shocks=[Shock(1.0, "param", 2.0, name="informed_share")])
    with pytest.raises(ValueError, match="regime"):
        SyntheticMarket(SyntheticMarketParams(), rng, shocks=[Shock(1.0, "regime", 2, 5.0)])


def test_params_forbid_unknown_fields_and_describe_every_field():
    with pytest.raises(ValueError):
        SyntheticMarketParams(trade_rate=3.0)
    assert all(f.description for f in SyntheticMarketParams.model_fields.values())
    p = SyntheticMarketParams()
    assert SyntheticMarketParams.model_validate_json(p.model_dump_json()) == p


def test_prices_stay_positive_when_the_mid_falls_near_zero():
    # A 99.99% crash leaves BTC (tick $1, 20 levels) near $10: the book's deeper bids would sit at and below
    # zero, and sell prints reaching far enough would print there; the venue lists no such price.
    chunks = _chunks(SyntheticMarketParams(), seconds=30, chunk_seconds=10.0,
                     shocks=[Shock(5.0, "price_jump", -0.9999)])
    for c in chunks:
        for px, sz in ((c.bid_px, c.bid_sz), (c.ask_px, c.ask_sz)):
            listed = ~np.isnan(px)
            assert np.all(px[listed] >= 1.0) and np.all(sz[~listed] == 0.0)
            assert np.all(listed[:, 0])  # the touch stays listed
        assert c.trade_px.size > 0 and np.all(c.trade_px >= 1.0)
    assert chunks[-1].mid[-1] < 20.0


@settings(max_examples=200, deadline=None)
@given(phi=st.floats(0.0, 0.999999), state=st.floats(-50.0, 50.0), scale=st.floats(1e-9, 10.0),
       seed=st.integers(0, 2**32 - 1), n=st.integers(1, 1100))
def test_the_latent_drift_path_is_scipys_ar1_filter_bit_for_bit(phi, state, scale, seed, n):
    """The drift's AR(1) recursion left scipy.signal.lfilter (its import was most of a session's start):
    every seeded path stays what it was only if each value is lfilter's exactly, not merely close."""
    from scipy.signal import lfilter

    from twin.market.synthetic import _ar1
    x = np.random.default_rng(seed).standard_normal(n) * scale
    want, _ = lfilter([1.0], [1.0, -phi], x, zi=[phi * state])
    got = _ar1(x, phi, state)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("busy", [dict(trade_rate_calm_per_s=1e5, trade_rate_stressed_per_s=1e5, informed_share=0.0),
                                  dict(book_interval_s=0.001, levels=100)])
def test_a_busy_market_s_chunks_are_bounded_in_cells_not_seconds(busy):
    """A trade rate of 1e5 without informed flow (so the mid's bound does not refuse it) is in its field's range,
    and its 60 s chunk (the exchange's) held 6e6 trades: 1.3 GB and 4 s of wall time for a run of 10 s. A book every
    ms of 100 levels was 720 MB. A chunk now spans less when it would hold more than MAX_CHUNK_CELLS (1e6) on average:
    the stream is as continuous, and the default market's chunks span their 60 s as before."""
    from twin.market.synthetic import MAX_CHUNK_CELLS
    market = SyntheticMarket(SyntheticMarketParams(**busy), np.random.default_rng(0), chunk_seconds=60.0)
    t, levels = 0.0, market.p.levels
    for _ in range(2):
        c = market.next_chunk()
        assert c.t_start == t and 0 < c.t_end - t <= 10.0  # (1e5 cells a second)
        assert c.trade_px.size + c.bid_px.size <= 1.05 * MAX_CHUNK_CELLS and c.bid_px.shape[1] == levels
        t = c.t_end
    default = SyntheticMarket(SyntheticMarketParams(), np.random.default_rng(0), chunk_seconds=60.0)
    assert [default.next_chunk().t_end for _ in range(2)] == [60.0, 120.0]


@pytest.mark.parametrize("market", [dict(levels=100), dict(book_interval_s=0.02), dict(book_interval_s=0.01, levels=50),
                                    dict(trade_rate_calm_per_s=300.0, trade_rate_stressed_per_s=900.0)])
def test_a_market_users_ran_before_the_chunk_bound_gives_the_same_events_for_its_seed(market, monkeypatch):
    """The market's draws depend on its chunking, and the bound on a chunk's cells (MAX_CHUNK_CELLS) cut chunks that
    were cheap: at 50k cells a 100-level book at the default 0.1 s (1000 cells a second), a 20 ms book or a busy
    coin's 900 trades a second took chunks under the exchange's 60 s, so the same seed and config gave another
    market than before, unsaid. The bound is for chunks that cost hundreds of MB; these run as they did."""
    import twin.market.synthetic as synthetic

    def first_chunks():
        m = SyntheticMarket(SyntheticMarketParams(**market), np.random.default_rng(4), chunk_seconds=60.0)
        return [m.next_chunk() for _ in range(2)]

    bounded = first_chunks()
    monkeypatch.setattr(synthetic, "MAX_CHUNK_CELLS", math.inf)  # the chunks before the bound: chunk_seconds
    unbounded = first_chunks()
    assert [c.t_end for c in bounded] == [c.t_end for c in unbounded] == [60.0, 120.0]
    for b, u in zip(bounded, unbounded):
        assert all(np.array_equal(getattr(b, f), getattr(u, f), equal_nan=True) for f in FIELDS)
