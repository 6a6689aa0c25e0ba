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
