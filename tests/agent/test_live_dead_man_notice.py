"""The dead-man's switch on the live path for an account under the venue's volume rule: the venue refuses
scheduleCancel to an account that has traded less than $1,000,000 (hyperliquid.md §2.2), and the agent's heartbeat
does not ask (risk.dead_man_min_volume_usd). The operator is told so at the start, once. Against ``twin serve``
(whose rule is the venue's) over loopback, through the live CLI."""
from __future__ import annotations

import logging

from agent.live_cli import live_main

from test_live_gateway import ADDR, KEY, served

NOTICE = "the dead-man's switch (scheduleCancel) is not armed"


def test_a_live_run_under_the_venues_volume_rule_says_at_its_start_once_that_the_switch_is_not_armed(caplog, tmp_path):
    """Before: nothing said until the summary's "never armed" at the end of the run, so an operator who counted on
    the venue pulling the orders of a dead process learnt otherwise after the run. Now one warning at the start, on
    the venue's first quota report (no request of its own), naming the rule, the account's volume and what it means."""
    caplog.set_level(logging.INFO)
    with served(speed=1.0) as (bg, ex, clock):
        code = live_main(["--base-url", bg.base_url, "--execution-level", "4", "--start-level", "Full",
                          "--duration", "2", "--out", str(tmp_path / "run")],  # (said ~0.1 s in)
                         env={"HL_SECRET_KEY": KEY, "HL_ACCOUNT_ADDRESS": ADDR})
        refused = bg.call(lambda: ex.schedule_cancel.get(ADDR))
    assert code == 0 and refused is None
    messages = [r.getMessage() for r in caplog.records]
    said = [m for m in messages if NOTICE in m]
    assert len(said) == 1, [m for m in messages if "dead" in m]
    assert "less than $1,000,000 (this account: $" in said[0] and "risk.dead_man_min_volume_usd" in said[0]
    assert "orders rest at the venue" in said[0]
    # at the start: before the run's first order was acknowledged... said before the stop, well before its end
    stop = next(i for i, m in enumerate(messages) if m.startswith("stopping ("))
    assert messages.index(said[0]) < stop
