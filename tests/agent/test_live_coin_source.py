"""A coin the venue does not list, when it is the --config file's session.coin (no --coin given), is refused naming
that file: the error named the venue, the coin and the venue's listing, not where the coin came from, so a typo in
the config ('btc', 'ETH' for a testnet coin not listed) read as a --coin the operator never gave."""
from __future__ import annotations

from agent.live_cli import live_main
from test_live_gateway import KEY, served


def test_a_coin_from_the_config_the_venue_does_not_list_names_the_config_file(tmp_path, capsys):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text('session:\n  coin: "btc"\n')
    with served() as (bg, ex, clock):
        assert live_main(["--base-url", bg.base_url, "--config", str(cfg), "--quiet"],
                         env={"HL_SECRET_KEY": KEY}) == 2
        err = capsys.readouterr().err
        assert "coin 'btc' is not in the first dex meta universe, which lists BTC" in err, err
        assert f"session.coin in --config {cfg}" in err, err
        # given with --coin, it is the option's: named so
        assert live_main(["--base-url", bg.base_url, "--config", str(cfg), "--coin", "NOPE", "--quiet"],
                         env={"HL_SECRET_KEY": KEY}) == 2
        err = capsys.readouterr().err
        assert "coin 'NOPE' is not in the first dex" in err and "--config" not in err, err
