"""A live dry run's stop (execution level 2, the default) on twin serve: each order cancelled once. The dry run cancels
every order that rests (``DryRunGateway``); the stop's pull named them all again, those whose dry cancel was on its
way too, and an ack after the stop had the core's cancel and the dry run's both sent: the venue answered the second
"never placed, already canceled, or filled". (tests/agent/test_one_cancel_out.py: the core's own, sans-IO.)"""
from __future__ import annotations

import collections
import json

from agent.gateway.hyperliquid.gateway import HyperliquidGateway
from agent.live_cli import live_main

from test_live_gateway import ADDR, KEY, _interrupt_once_handled, _quick, served


def test_a_dry_runs_stop_cancels_each_order_once(tmp_path, monkeypatch):
    """Every cancel action the gateway sends (by cloid, a cancel-all's named ones and its listing's) counted by
    cloid: each order once. (Fails at 3cdacb5, three runs of three: an order acknowledged resting just before the
    stop, its dry cancel and the stop's both sent, the second answered CancelMissingOrder.)"""
    sent: collections.Counter = collections.Counter()
    run_cancel = HyperliquidGateway._run_cancel
    cancel_listed = HyperliquidGateway._cancel_listed

    def by_cloid(self, action, cloids):
        sent.update(cloids)
        return run_cancel(self, action, cloids)

    def listed(self, by_oid, told=False):
        sent.update(by_oid.values())
        return cancel_listed(self, by_oid, told)
    monkeypatch.setattr(HyperliquidGateway, "_run_cancel", by_cloid)
    monkeypatch.setattr(HyperliquidGateway, "_cancel_listed", listed)
    out = tmp_path / "run"
    with served(speed=1.0, params=_quick()) as (bg, ex, clock):
        interrupter = _interrupt_once_handled(2.5)
        code = live_main(["--venue", "live", "--base-url", bg.base_url, "--execution-level", "2", "--start-level",
                          "MicroLive", "--duration", "20", "--out", str(out), "--quiet", "--shutdown-grace", "5"],
                         env={"HL_SECRET_KEY": KEY, "HL_ACCOUNT_ADDRESS": ADDR})
        interrupter.join(1.0)
        venue_open = bg.call(lambda: ex.open_orders(ADDR))
    summary = json.loads((out / "summary.json").read_text())
    assert code == 0 and summary["stop_reason"] == "SIGINT" and venue_open == ()
    assert summary["gateway"]["dry_run_cancels"] > 0 and len(sent) >= summary["gateway"]["dry_run_cancels"]
    assert [c for c, n in sent.items() if n > 1] == []
