"""``python -m twin run``'s statistics as a person reads them, not Python's reprs of its dicts."""
from __future__ import annotations

import pytest

from twin.__main__ import main


def test_twin_runs_statistics_print_no_dict_and_the_volume_as_the_venue_gives_it(capsys):
    """The quota line was ``{'cumVlm': 2200.7929999999997, 'nRequestsUsed': 68, 'nRequestsCap': 12200}`` (a float's
    repr) and the probe's replies and errors dicts alike."""
    assert main(["run", "--duration", "20", "--seed", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "{" not in out and "'" not in out, out
    lines = out.splitlines()
    assert "  probe replies        ok 37" in lines
    assert "  probe errors         BadAloPx 6, MissingOrder 21" in lines
    # said what they are: a healthy run's "errors", read as the venue's faults otherwise
    assert ("                       (BadAloPx, a post-only quote the book had moved through; MissingOrder, a cancel of "
            "an order filled since: the probe causes them, a healthy venue answers so)") in lines, out
    assert "  quota                68 of 12,200 requests used, cumVlm 2200.793 USDC traded" in lines, out


def test_the_volume_is_the_venues_string():
    from twin.__main__ import _usd
    wire = pytest.importorskip("twin.server.wire")  # (the live extra's msgpack)
    for x in (2200.7929999999997, 0.0, 1e-7, 123456789.1234567, 3.0):
        assert _usd(x) == wire.usd_num(x)
