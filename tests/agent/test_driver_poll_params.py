"""LiveDriver's stop-poll timings (shutdown_poll_s: how often the stop polls the venue's account; poll_wait_s: how long
each poll waits for its answer) checked when the driver is built: positive and finite, else a ValueError naming the
parameter and the value (a poll_wait_s of 0 timed every stop poll out at once: the stop read no account)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from agent.config import AgentConfig
from agent.core import AgentCore
from agent.live import LiveDriver


def _driver(**timing) -> LiveDriver:
    # (no gateway: the constructor only keeps it, and the checks come before any run)
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    return LiveDriver(None, core, 0.5, **timing)


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan], ids=["zero", "negative", "inf", "nan"])
@pytest.mark.parametrize("name", ["shutdown_poll_s", "poll_wait_s"])
def test_a_stop_poll_timing_not_positive_and_finite_is_refused_by_name(name, value):
    with pytest.raises(ValueError, match=rf"\b{name} must be a positive, finite number of seconds, got {value!r}"):
        _driver(**{name: value})


def test_positive_stop_poll_timings_are_kept():
    driver = _driver(shutdown_poll_s=0.05, poll_wait_s=0.5)
    assert (driver.shutdown_poll_s, driver.poll_wait_s) == (0.05, 0.5)
    assert (_driver().shutdown_poll_s, _driver().poll_wait_s) == (1.0, 5.0)  # (the shipped ones)
