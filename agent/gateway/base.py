"""The one interface between the agent and any venue.

A ``Gateway`` turns commands into venue requests and venue messages into events; it calls the
sink it was given with each event. Drivers own the gateway and the clock; nothing above this
interface knows which venue it is talking to.
"""
from __future__ import annotations

from typing import Callable, Protocol

from agent.gateway.events import Command, Event

EventSink = Callable[[Event], None]


class Gateway(Protocol):
    def start(self, sink: EventSink) -> None:
        """Connect, subscribe to the market and the account's channels, and begin delivering events."""

    def send(self, cmd: Command) -> None:
        """Send one command (a Batch is one venue action per kind)."""

    @property
    def stats(self) -> dict:
        """Counters for the summary: requests sent, rate-limited, disconnects, malformed messages."""
