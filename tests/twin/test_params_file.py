"""Twin parameter files: a bad one is refused naming the file, each field and its value, as the agent's
config and scenario files are (one format: common.files.describe_invalid)."""
from __future__ import annotations

import json

import pytest
from file_sections import one_key_file, section_keys

from twin.params import TwinParams


def test_a_params_file_round_trips(tmp_path):
    p = tmp_path / "twin.json"
    params = TwinParams()
    p.write_text(params.to_json())
    assert TwinParams.load(p) == params


def test_a_params_file_saved_with_a_byte_order_mark_reads_as_without(tmp_path, capsys):
    """A UTF-8 byte order mark (Notepad's "UTF-8 with BOM", PowerShell 5's ``Out-File -Encoding utf8``) before the
    JSON was refused as "Invalid JSON: expected value at line 1 column 1" showing the text from a '\\ufeff' the
    user never typed, while a config YAML with one read as without (YAML skips it)."""
    from agent.__main__ import main
    p = tmp_path / "twin.json"
    p.write_bytes(b"\xef\xbb\xbf" + b'{"latency": {"feed": {"sigma": 0.5}}}\r\n')
    assert TwinParams.load(p).latency.feed.sigma == 0.5
    assert main(["--params", str(p), "--duration", "10", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["simulated_s"] == pytest.approx(10.0, abs=1.0)


def _refused(tmp_path, text: str):
    """A params file of ``text``, refused: its path and the error's lines, the first naming the file."""
    p = tmp_path / "twin.json"
    p.write_text(text)
    with pytest.raises(ValueError) as e:
        TwinParams.load(p)
    lines = str(e.value).splitlines()
    assert lines[0] == f"{p}: invalid twin parameters:"
    return p, lines


def test_a_bad_params_file_names_the_file_each_field_and_its_value(tmp_path):
    p, lines = _refused(tmp_path, '{"latency": {"nonsense": 1}, "version": "two"}')
    assert "  latency.nonsense: Extra inputs are not permitted (got 1)" in lines
    said = "(got 'two': text, not a number: write a number, unquoted)"  # (a version is a number)
    assert any(line.startswith("  version: ") and line.endswith(said) for line in lines)
    assert not any("errors.pydantic.dev" in line for line in lines)


def test_a_params_file_that_is_not_utf8_text_is_named(tmp_path):
    p = tmp_path / "twin.json"
    p.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ValueError) as e:
        TwinParams.load(p)  # was Python's codec error, naming no file
    assert str(e.value) == f"{p}: not UTF-8 text (invalid start byte at byte 0)"


def test_a_params_file_that_is_not_json_says_so_on_one_line(tmp_path):
    p = tmp_path / "twin.json"
    p.write_text("latency:\n  nonsense: 1\n" * 40)  # YAML, and long
    with pytest.raises(ValueError) as e:
        TwinParams.load(p)
    lines = str(e.value).splitlines()
    assert len(lines) == 2 and lines[1].startswith("  (top level): Invalid JSON") and len(lines[1]) < 200
    assert lines[0] == f"{p}: not JSON: a twin parameters file (--params, calibration's --base) is JSON only, not YAML:"


def test_a_yaml_params_file_is_said_to_be_not_json_by_each_command_that_takes_one(tmp_path, capsys):
    """A YAML file given to --params (the agent's config is YAML) was refused as "invalid twin parameters" and
    "Invalid JSON", which did not say that the option reads JSON only. (calibration's --base reads it with the
    same TwinParams.load, once its run folder is read.)"""
    from agent.__main__ import main as agent_main
    from twin.__main__ import main as twin_main
    from twin.server.cli import serve_main
    p = tmp_path / "twin.yaml"
    p.write_text("latency:\n  feed:\n    sigma: 0.5\n")
    head = f"error: {p}: not JSON: a twin parameters file (--params, calibration's --base) is JSON only, not YAML:"
    for run in (lambda: agent_main(["--params", str(p)]), lambda: twin_main(["run", "--params", str(p)]),
                lambda: serve_main(["--port", "0", "--params", str(p)])):
        assert run() == 2
        lines = capsys.readouterr().err.splitlines()
        assert lines[0] == head and lines[1].startswith("  (top level): Invalid JSON"), lines


def test_a_dumped_params_file_serves_on_the_wall_clock_and_only_a_number_pins_it(tmp_path):
    """A fitted twin_params.json (a dump of every field) pinned the venue's clock to 2026-01-01 when served: a
    client taking nonces from the wall clock was outside the venue's nonce window on every action. The epoch's
    default is now null, which a dump keeps: served, the wall clock; simulated, 2026-01-01."""
    import json
    import time

    from twin.exchange import Exchange
    from twin.params import SIM_EPOCH_MS
    from twin.server.app import build_exchange

    p = tmp_path / "twin.json"
    p.write_text(TwinParams().to_json())
    assert json.loads(p.read_text())["venue"]["epoch_ms"] is None
    now_ms = time.time() * 1000
    assert abs(build_exchange(TwinParams.load(p)).epoch_ms - now_ms) < 5_000
    assert Exchange.build(TwinParams.load(p), 0).epoch_ms == SIM_EPOCH_MS
    pinned = TwinParams.model_validate({"venue": {"epoch_ms": 1_700_000_000_000}})
    assert build_exchange(pinned).epoch_ms == 1_700_000_000_000


def test_a_negative_venue_epoch_is_refused_naming_the_field_and_zero_is_taken(tmp_path):
    """venue.epoch_ms -1 was taken: a venue whose times (nonces, fills, funding hours) are before 1970."""
    p, lines = _refused(tmp_path, '{"venue": {"epoch_ms": -1}}')
    assert "  venue.epoch_ms: Input should be greater than or equal to 0 (got -1)" in lines
    assert TwinParams.model_validate({"venue": {"epoch_ms": 0}}).venue.epoch_ms == 0

def test_a_params_file_with_infinity_or_a_boolean_for_a_number_is_refused_naming_the_field(tmp_path):
    p = tmp_path / "twin.json"
    p.write_text('{"latency": {"feed": {"median_ms": 1e999}}, "connection": {"hazard_per_hour": true},'
                 ' "instruments": [{"name": "BTC", "only_isolated": true, "tick": false}]}')
    with pytest.raises(ValueError) as e:
        TwinParams.load(p)
    lines = str(e.value).splitlines()
    assert "  latency.feed.median_ms: Input should be a finite number (got inf)" in lines
    assert "  connection.hazard_per_hour: Input should be a valid number (got true)" in lines
    assert "  instruments.0.tick: Input should be a valid number (got false)" in lines
    assert not any("only_isolated" in line for line in lines)  # a real boolean field still takes one


def test_a_market_for_a_coin_no_instrument_lists_is_refused_naming_it(tmp_path):
    # it used to load, and the twin then died building its markets on a bare KeyError: 'ETH'
    p, lines = _refused(tmp_path, '{"markets": {"ETH": {}}}')
    assert any("markets" in line and "'ETH'" in line and "instruments" in line for line in lines[1:])


def test_a_coin_listed_twice_among_the_instruments_is_refused(tmp_path):
    """Two instruments of one coin were accepted, and a lookup took whichever it met first (a review)."""
    import json
    data = json.loads(TwinParams().to_json())
    data["instruments"].append(dict(data["instruments"][0]))
    p, lines = _refused(tmp_path, json.dumps(data))
    coin = data["instruments"][0]["name"]  # (a main-dex coin: its name is its coin)
    assert any(f"instruments list ['{coin}'] more than once" in line for line in lines), lines


@pytest.mark.parametrize("instrument, market, listed", [
    ({"tick": 0.1}, {}, "99997.8"),  # BTC (szDecimals 5) at 100000: six significant figures (the deepest bid, stressed)
    ({"tick": 0.01}, {"initial_mid": 3000.0}, "2999.78"),  # 2 decimals, the rule allows 6 - 5 = 1
    ({"tick": 0.0001, "sz_decimals": 1}, {"initial_mid": 12.3}, "12.2978"),  # a HIP-3-style tick at $12
    # asks past a power of ten that the book's ends do not show: its deepest ask, 1000.1, passes
    ({"tick": 0.01, "sz_decimals": 4}, {"initial_mid": 999.905}, "1000.01"),
    # a stressed half spread of 10 ticks reaches 10.0004 (the calm book's deepest ask is 9.9994)
    ({"tick": 0.0001, "sz_decimals": 1}, {"initial_mid": 9.9975, "half_spread_ticks_stressed": 10.0}, "10.0001"),
])
def test_a_tick_whose_book_lists_prices_the_venue_refuses_is_refused_naming_the_instrument(tmp_path, instrument,
                                                                                           market, listed):
    """The twin took any tick, so its synthetic book listed prices its own order check refused (hyperliquid.md §3.4):
    a probe joining the book at BTC tick 0.01 got 588 Tick errors in 300 s. The file is refused, naming the coin,
    a price its book would list and a tick that holds."""
    import json
    data = json.loads(TwinParams().to_json())
    data["instruments"][0].update(instrument)
    data["markets"]["BTC"].update(market)
    p, lines = _refused(tmp_path, json.dumps(data))
    assert any("instrument BTC: tick" in line and f"list {listed}," in line and "use a tick of at least" in line
               for line in lines), lines


def test_the_ticks_the_venue_allows_at_the_book_s_prices_are_taken():
    for tick, sz_decimals, mid in ((1.0, 5, 100_000.0), (0.1, 4, 3000.0), (0.0001, 1, 1.0), (1e-6, 0, 5e-5)):
        TwinParams.model_validate({"instruments": [{"tick": tick, "sz_decimals": sz_decimals}],
                                   "markets": {"BTC": {"initial_mid": mid}}})


def test_setting_one_key_of_a_section_to_its_shipped_value_changes_nothing(tmp_path):
    """Failing before the fix for latency.feed: it ships with a 40 ms median (order entry and replies 60 ms, the
    class's own), and a file naming any other key of it (``"feed": {"sigma": 0.35}``) got the class's 60 ms."""
    shipped = TwinParams()
    found = list(section_keys(shipped))
    assert (("latency", "feed"), "sigma", 0.35) in found
    p = tmp_path / "one-key.json"
    for path, key, value in found:
        p.write_text(json.dumps({"version": shipped.version, **one_key_file(path, key, value)}))
        assert TwinParams.load(p) == shipped, f"{'.'.join(path)}: setting {key} reset the section's other keys"


def test_a_latency_path_given_in_part_keeps_its_shipped_median(tmp_path):
    p = tmp_path / "twin.json"
    p.write_text('{"latency": {"feed": {"spike_prob": 0.1}, "order_entry": {"sigma": 0.5}}}')
    lat = TwinParams.load(p).latency
    assert (lat.feed.median_ms, lat.feed.spike_prob) == (40.0, 0.1)
    assert (lat.order_entry.median_ms, lat.order_entry.sigma, lat.response.median_ms) == (60.0, 0.5, 60.0)


@pytest.mark.parametrize("market, named, taken", [
    ({"book_interval_s": 0.05, "jump_rate_stressed_per_s": 100.0},
     ("jump_rate_stressed_per_s 100", "book_interval_s 0.05", "5 jumps a grid step"),
     {"jump_rate_stressed_per_s": 20.0}),
    ({"book_interval_s": 60.0, "trade_rate_calm_per_s": 1e5, "trade_rate_stressed_per_s": 1e5, "informed_share": 0.0},
     ("trade_rate_stressed_per_s 100000", "book_interval_s 60", "6e+06 trades a grid step"),
     {"book_interval_s": 5.0}),
])
def test_a_rate_a_grid_step_cannot_hold_is_refused_naming_both_fields(tmp_path, market, named, taken):
    """The market jumps at most once a grid step (a Bernoulli draw of probability rate × book_interval_s): 100 jumps
    a second on a 0.05 s grid made 20 a second, silently. A chunk ends on the book's grid (or at a shock), so it
    spans one grid step at least, and the bound on its cells (MAX_CHUNK_CELLS) cannot cut it: 1e5 trades a second on
    a 60 s grid held 6e6 trades in every chunk, the 1.3 GB for 10 s the bound was made for. Each refused, naming the
    rate, the interval and both values; the same market within the bound (one jump a step exactly, a shorter step)
    is taken."""
    p, lines = _refused(tmp_path, json.dumps({"markets": {"BTC": market}}))
    text = "\n".join(lines)
    assert "markets.BTC" in text and all(part in text for part in named), (named, text)
    p.write_text(json.dumps({"markets": {"BTC": {**market, **taken}}}))
    loaded = TwinParams.load(p).markets["BTC"]
    assert all(getattr(loaded, k) == v for k, v in taken.items())


@pytest.mark.parametrize("market, named", [
    ({"drift_coupling": 1000.0, "alpha_std_per_s": 0.1}, "drift (drift_coupling 1000 with alpha_std_per_s 0.1"),
    ({"jump_rate_calm_per_s": 1.0, "jump_size_std": 1.0}, "jumps (jump_rate_calm_per_s 1 with jump_size_std 1)"),
    ({"trade_rate_calm_per_s": 100.0, "informed_share": 1.0, "impact_bps": 1e4},
     "informed impact (trade_rate_calm_per_s 100 with informed_share 1 and impact_bps 10000)"),
])
def test_market_parameters_whose_mid_overflows_are_refused_naming_the_fields(tmp_path, market, named):
    """Each field in its range, these mids reached inf, then nan, within minutes (the first at t=20 s, the jumps'
    at t≈3300 s at 1e23 first), and the twin listed nan prices and refused every order as off the tick: refused now,
    naming the file, the market and the fields that move it."""
    p, lines = _refused(tmp_path, json.dumps({"markets": {"BTC": market}}))
    text = "\n".join(lines)
    assert "markets.BTC" in text and named in text and "at most 0.02 per √s" in text


def test_a_market_at_the_mid_s_variance_bound_is_taken_and_stays_finite():
    """The largest market the bound takes (0.0199 per √s in both regimes) runs an hour with finite prices."""
    import math

    import numpy as np

    from twin.market.base import BOOK
    from twin.market.synthetic import SyntheticMarket, SyntheticMarketParams
    p = SyntheticMarketParams(vol_calm_per_sqrt_s=0.0199, vol_stressed_per_sqrt_s=0.0199)
    market = SyntheticMarket(p, np.random.default_rng(0), chunk_seconds=600.0)
    chunks = [market.next_chunk()]
    while chunks[-1].t_end < 3600.0:  # (a chunk spans less than 600 s when that would hold too many cells)
        chunks.append(market.next_chunk())
    mids = np.concatenate([c.mid[(c.kind == BOOK) & (c.t < 3600.0)] for c in chunks])  # one a 0.1 s grid point
    assert mids.size == 36_000 and np.isfinite(mids).all() and 1e3 < mids.min() and mids.max() < 1e7
    assert 0.8 < np.std(np.diff(np.log(mids[::10]))) / (0.0199 * math.sqrt(1.0)) < 1.2  # it does move so much


def test_a_drift_whose_alpha_holds_for_a_year_is_refused_by_its_move_over_the_run():
    """The drift's variance was integrated over a day: an alpha of half-life 1e10 s (nearly constant) with
    drift_coupling 10 moves the mid 5.9 in log a day per alpha std, within the bound as a day's rate, and the run took
    it; over a year that is 2100, and the mid overflowed (seed 1: past 1e301 by day 52). Integrated over the longest
    run it is refused, naming the drift's fields; a half-life of an hour with the same drift is taken."""
    from pydantic import ValidationError

    from twin.market.synthetic import SyntheticMarketParams
    drift = {"drift_coupling": 10.0, "alpha_std_per_s": 6e-6}
    with pytest.raises(ValidationError) as e:
        SyntheticMarketParams(alpha_halflife_s=1e10, **drift)
    assert "most of it from its drift (drift_coupling 10 with alpha_std_per_s 6e-06 and alpha_halflife_s 1e+10)" in str(
        e.value)
    assert SyntheticMarketParams(alpha_halflife_s=3600.0, **drift).drift_coupling == 10.0
