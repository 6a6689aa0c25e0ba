"""An option that takes one value, given twice, is refused naming both values: argparse kept the last and dropped
the first without a word, so ``python -m agent --venue live --config examples/live-first-run.yaml --config
fees.yaml`` (two files read as layers, as a scenario's sections are) ran on fees.yaml alone, without the first
run's ceiling and its demotion on fills that lose their fee; a key given twice in one YAML file is refused alike
("only one would count")."""
from __future__ import annotations

import pytest

from agent.__main__ import main as agent_main
from common.files import ArgumentParser

KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def test_a_store_option_given_twice_is_refused_naming_both_values(capsys):
    p = ArgumentParser(prog="p")
    p.add_argument("--config")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--fund", action="append")
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--config", "a.yaml", "--config=b.yaml"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--config given twice: only the last would count; give it once" in err, err
    # flags and repeatable options are not values given twice; each parse starts afresh
    args = p.parse_args(["--quiet", "--quiet", "--fund", "x", "--fund", "y", "--config", "a.yaml"])
    assert args.quiet and args.fund == ["x", "y"] and args.config == "a.yaml"
    assert p.parse_args(["--config", "b.yaml"]).config == "b.yaml"


def test_a_value_given_twice_is_refused_without_showing_it(capsys):
    """Neither value is echoed: one may be a key pasted in, or a URL's password (which --base-url refuses later,
    as it would be printed)."""
    p = ArgumentParser(prog="p")
    p.add_argument("--keystore")
    p.add_argument("--base-url")
    with pytest.raises(SystemExit):
        p.parse_args(["--keystore", "0x" + KEY, "--keystore", "ks.json"])
    err = capsys.readouterr().err
    assert "--keystore given twice" in err and KEY not in err, err
    with pytest.raises(SystemExit):
        p.parse_args(["--base-url", "http://127.0.0.1:3001", "--base-url", "http://u:hunter2@127.0.0.1:3001"])
    err = capsys.readouterr().err
    assert "--base-url given twice" in err and "hunter2" not in err, err


@pytest.mark.parametrize("argv", [
    ["--config", "a.yaml", "--config", "b.yaml", "--duration", "10"],
    ["--duration", "10", "--duration", "20"],
    ["--venue", "live", "--config", "a.yaml", "--config", "b.yaml"],
])
def test_the_agent_refuses_an_option_given_twice_before_it_runs(argv, capsys):
    with pytest.raises(SystemExit) as e:
        agent_main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "given twice" in err and "only the last would count" in err, err
