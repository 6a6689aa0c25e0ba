"""The one markout queue the ledger, graduation and Shadow's paper fills share."""
from __future__ import annotations

import pytest

from agent.markouts import MarkoutQueue


def test_markouts_resolve_when_due_signed_so_that_positive_made_money():
    q = MarkoutQueue(10.0)
    q.add(0.0, +1, 100.0, 2.0)  # bought at 100
    q.add(1.0, -1, 101.0, 1.0)  # sold at 101
    assert q.on_mid(9.9, 200.0) == 0 and q.pending == 2  # nothing due before its horizon
    assert q.on_mid(10.0, 100.5) == 1  # the buy: +0.5 × 2
    assert q.on_mid(11.0, 102.0) == 1  # the sell: −1.0 × 1
    assert (q.resolved, q.positive, q.pending) == (2, 1, 0)
    assert q.sum_usd == pytest.approx(0.5 * 2.0 - 1.0)


def test_a_fill_at_the_later_mid_is_not_positive():
    q = MarkoutQueue(1.0)
    q.add(0.0, -1, 100.0)
    q.on_mid(5.0, 100.0)
    assert (q.resolved, q.positive, q.sum_usd) == (1, 0, 0.0)
