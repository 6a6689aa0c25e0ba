"""A tool's standard output whose reader stops listening (``| head``, a closed terminal) is not an error: what
is written after goes nowhere, and the tool carries on to its files and its exit status."""
from __future__ import annotations

import os
import sys


class _DroppedWhenUnread:
    """``stream`` as it is, but for a BrokenPipeError on a write or flush: the stream's descriptor is pointed at
    the null device and the write taken as done. Raised, it ended ``python -m scenarios run X | head -1`` on a
    traceback with exit status 1, which says an invariant broke, and a search piped so before its results.json."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._drop()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop()

    def _drop(self) -> None:
        unread(self._stream)  # (what the buffer still holds goes there too, at the next flush or at exit)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def unread(stream) -> None:
    """``stream``'s descriptor pointed at the null device: its reader is gone, and what is written there from now
    on (the buffer's rest too) goes nowhere instead of raising again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):
        pass


def drop_output_unread() -> None:
    """For a tool run as the process's command line (its ``if __name__ == "__main__"``), not for a caller's."""
    if not isinstance(sys.stdout, _DroppedWhenUnread):
        sys.stdout = _DroppedWhenUnread(sys.stdout)
