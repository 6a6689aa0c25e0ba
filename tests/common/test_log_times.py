"""The live run's (and twin serve's) log lines are stamped in UTC, as every time in its records and the audit's
``--from``/``--to`` are: stamped in the host's local time, without a zone, a log line's time pasted into
``python -m agent.audit RUN --from`` (which reads a date without a zone as UTC) picked a window hours off on any host
not on UTC, and beside the UTC time of the record it quoted on the same line (``... 14:50:44,360 INFO agent.live:
2026-12-06 19:50:44.360  snapshot ...``) the two read as one clock."""
from __future__ import annotations

import io
import logging
import os
import time

import pytest

from agent.audit.inspect import parse_time
from common.cli_errors import log_to_stderr


@pytest.fixture
def new_york():
    """The process's local zone New York (UTC-5 in December) for the test, put back after."""
    kept = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if kept is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = kept
        time.tzset()


def test_a_log_lines_time_is_utc_and_says_so_and_the_audit_reads_it_back(new_york, monkeypatch):
    root = logging.getLogger()
    kept, level = root.handlers[:], root.level
    root.handlers.clear()
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    try:
        handler = log_to_stderr(logging.INFO)
        assert handler is not None
        record = logging.LogRecord("agent.live", logging.INFO, __file__, 1, "snapshot", (), None)
        record.created, record.msecs = 1796586644.36, 360.0  # 2026-12-06 19:50:44.360 UTC, 14:50:44 in New York
        line = handler.format(record)
    finally:
        root.handlers[:] = kept
        root.setLevel(level)
    assert line.startswith("2026-12-06 19:50:44.360Z INFO agent.live: snapshot"), line
    stamp = line.split(" INFO ")[0]
    assert abs(parse_time(stamp, 0.0, "--from") - record.created) < 1e-3
