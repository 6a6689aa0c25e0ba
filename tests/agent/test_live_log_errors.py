"""A live run whose logs cannot be written (a full disk) says why in one line: the system's refusal, not a
traceback, which put the reason in its last line under four stacks of frames on the operator's console."""
from __future__ import annotations

import logging

import pytest

from agent.live import LiveDriver


class _Driver:
    """What ``LiveDriver``'s log paths use of the driver."""

    def __init__(self, fail: Exception) -> None:
        self.stops: list = []
        self.journal = object()

        def sink(rec) -> None:
            raise fail

        self.record_sink = sink
        self.on_kill = None
        self.core = type("Core", (), {"drain_records": staticmethod(lambda: [{"type": "cycle"}])})()

    def request_stop(self, why: str, fault: bool = False) -> None:
        self.stops.append((why, fault))

    def _cannot_write(self, what, error):
        LiveDriver._cannot_write(self, what, error)


@pytest.mark.parametrize("path", ["records", "journal"])
def test_a_full_disk_is_said_in_one_line_with_the_systems_reason_and_stops_the_run(path, caplog):
    caplog.set_level(logging.INFO)
    d = _Driver(OSError(28, "No space left on device"))
    if path == "records":
        LiveDriver._records(d)
        what = "the decision log"
    else:
        LiveDriver._journal(d, d.record_sink, None)
        what = "the event journal"
    assert d.stops == [(f"{what} could not be written", True)]
    assert f"cannot write {what} (a full disk?): No space left on device: stopping, pulling every order" in caplog.text
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_a_bug_in_a_log_writer_keeps_its_traceback(caplog):
    d = _Driver(TypeError("Object of type Thing is not JSON serializable"))
    LiveDriver._records(d)
    assert d.stops == [("the decision log could not be written", True)]
    assert any(r.exc_info for r in caplog.records) and "not JSON serializable" in caplog.text
