"""SIGTERM and SIGHUP as Ctrl-C (common.stop_signals): raised where the work is, the handlers put back after."""
from __future__ import annotations

import os
import signal

import pytest

from common.stop_signals import StopSignal, exit_status, interrupted_by, stop_signals_interrupt


def test_a_sigterm_inside_the_block_raises_stop_signal_once_and_the_handlers_are_put_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(StopSignal) as e:
        with stop_signals_interrupt() as caught:
            os.kill(os.getpid(), signal.SIGTERM)
    assert caught == [signal.SIGTERM] and e.value.name == "SIGTERM"
    assert interrupted_by(e.value) == "SIGTERM" and exit_status(e.value) == 143
    assert interrupted_by(KeyboardInterrupt()) == "Ctrl-C" and exit_status(KeyboardInterrupt()) == 130
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_sigterm_that_lands_in_a_finalizer_still_stops_the_work():
    """A StopSignal raised in a ``__del__`` (or a collected generator's ``finally``) is printed as "Exception ignored"
    and dropped by Python, and every later signal was then ignored as well (only the first raises): the work ran on
    to its end, and ``twin serve`` served on through every SIGTERM. Now it is sent again and raised in the work."""
    import sys

    class Dropped:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)

    hook = sys.unraisablehook
    ran = 0
    with pytest.raises(StopSignal) as e:
        with stop_signals_interrupt() as caught:
            Dropped()  # (collected at once: its __del__ runs here, and the signal lands in it)
            for ran in range(50_000_000):  # (a few seconds: the stop comes long before its end)
                pass
    assert e.value.name == "SIGTERM" and caught == [signal.SIGTERM] and ran < 50_000_000 - 1
    assert sys.unraisablehook is hook


def test_an_exception_a_finalizer_drops_that_is_no_stop_goes_to_the_hook_before(monkeypatch):
    import sys

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    class Failing:
        def __del__(self):
            raise ValueError("in a finalizer")

    with stop_signals_interrupt() as caught:
        Failing()
    assert [type(u.exc_value) for u in seen] == [ValueError] and caught == []


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP")
def test_a_signal_ignored_before_stays_ignored():
    """``nohup`` starts a process with SIGHUP ignored, so that closing the terminal does not end it: the handler put
    over it ended the run all the same."""
    held = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals_interrupt() as caught:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
        assert caught == [] and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, held)


def test_not_installed_it_touches_nothing():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with stop_signals_interrupt(install=False) as caught:
        assert {s: signal.getsignal(s) for s in before} == before
    assert caught == []
