"""The venue's websocket server limits per IP (hyperliquid.md §4, "Server limits per IP"), kept per remote address.

``WsLimits`` holds the figures, the venue's by default; ``HostBudget`` is one address's use of them.
"""
from __future__ import annotations

from collections import deque

from pydantic import Field

from common.files import FileModel

WINDOW_S = 60.0  # the venue's "per minute" (hyperliquid.md §4); a sliding window of simulated seconds, as the REST
# IP weight's (twin/faults/quota.py): at --speed 10x a minute passes in 6 wall seconds


# the most any server limit may be set to: past it a limit is a typo, not a soak run's need (1e300 was taken)
WS_LIMIT_MAX = 10**9


class WsLimits(FileModel):
    """The figures are the venue's [DOCS rate-limits, in hyperliquid.md §4]; a test or a soak run that needs more
    (or wants to reach one sooner) sets it here rather than being refused by a figure it did not choose."""
    connections: int = Field(10, ge=1, le=WS_LIMIT_MAX,
                             description="Websocket connections open at once from one IP (venue: 10).")
    new_connections_per_minute: int = Field(
        30, ge=1, le=WS_LIMIT_MAX,
        description="Websocket handshakes from one IP in any minute of venue time, refused ones included (venue: 30).")
    subscriptions: int = Field(1000, ge=1, le=WS_LIMIT_MAX,
                               description="Subscriptions held at once across one IP's sockets (venue: 1000).")
    users: int = Field(10, ge=1, le=WS_LIMIT_MAX,
                       description="Unique users across one IP's user-specific subscriptions (venue: 10).")
    messages_per_minute: int = Field(
        2000, ge=1, le=WS_LIMIT_MAX,
        description="Messages one IP sends to the server in any minute of venue time, across its sockets and refused "
                    "ones included (venue: 2000).")
    posts_in_flight: int = Field(100, ge=1, le=WS_LIMIT_MAX,
                                 description="Post requests one IP has in flight at once (venue: 100).")


class SlidingWindow:
    """Events in the last ``window_s``. Every attempt counts, refused or not: whether the venue counts the ones it
    refuses is UNCONFIRMED, and counting them is the strict reading (a client retrying in a tight loop stays out
    until it slows down, where a lenient venue would let it in at the window's edge)."""

    __slots__ = ("limit", "window_s", "_times")

    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def admit(self, now_s: float) -> bool:
        """Counts an attempt at ``now_s``; True if it is within the limit."""
        times = self._times
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        times.append(now_s)
        return len(times) <= self.limit

    def empty_at(self, now_s: float) -> bool:
        """Whether no attempt is left in the window at ``now_s`` (the next ``admit`` drops every one kept)."""
        times = self._times
        return not times or times[-1] <= now_s - self.window_s


class HostBudget:
    """One remote address's connections, messages and posts (its subscriptions are counted on its sockets)."""

    __slots__ = ("open", "handshakes", "messages", "posts")

    def __init__(self, limits: WsLimits) -> None:
        self.open = 0  # sockets accepted and not yet closed
        self.handshakes = SlidingWindow(limits.new_connections_per_minute)
        self.messages = SlidingWindow(limits.messages_per_minute)
        self.posts = 0  # post requests in flight

    def idle_at(self, now_s: float) -> bool:
        """No socket, no post in flight and both windows empty at ``now_s``: the record says nothing a fresh one
        would not, and can be dropped (a server seeing many addresses kept one for each for its whole life)."""
        return (self.open == 0 and self.posts == 0 and self.handshakes.empty_at(now_s)
                and self.messages.empty_at(now_s))
