"""The one interface between the agent and any venue.

A ``Gateway`` turns commands into venue requests and venue messages into events; it calls the
sink it was given with each event. Drivers own the gateway and the clock; nothing above this
interface knows which venue it is talking to.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Protocol

from agent.gateway.events import (
    Batch, CancelAll, CancelOrder, Command, Event, ModifyOrder, PlaceOrder, RequestAccountSnapshot, ScheduleCancel,
)

EventSink = Callable[[Event], None]


class RecentOrders:
    """Something of each of the newest ``keep`` orders a gateway sent, by a key: a side by cloid (a ``ModifyOrder``
    need not say its side: the order it replaces had one), or a cloid by the venue's oid (a fill that comes with
    the oid alone). An OrderedDict, so the oldest goes in O(1) (a dict's first key, after many deletions at its
    front, is a scan to find)."""

    __slots__ = ("_of", "keep")

    def __init__(self, keep: int = 10_000) -> None:
        self._of: OrderedDict = OrderedDict()
        self.keep = keep

    def remember(self, key, value) -> None:
        self._of[key] = value
        if len(self._of) > self.keep:
            self._of.popitem(last=False)

    def get(self, key):
        return self._of.get(key)

    def __len__(self) -> int:
        return len(self._of)


class Gateway(Protocol):
    def start(self, sink: EventSink) -> None:
        """Connect, subscribe to the market and the account's channels, and begin delivering events."""

    def send(self, cmd: Command) -> None:
        """Send one command (a Batch is one venue action per kind)."""

    @property
    def stats(self) -> dict:
        """Counters for the summary: requests sent, rate-limited, disconnects, malformed messages."""


def split_batch(batch: Batch) -> tuple[list[CancelOrder], list[ModifyOrder], list[PlaceOrder], list[Command]]:
    """A batch's commands by kind: each of the first three goes to the venue as one action, in this
    order (cancels first: they reduce risk); the rest (rare in a batch) are sent one by one."""
    cancels: list[CancelOrder] = []
    modifies: list[ModifyOrder] = []
    places: list[PlaceOrder] = []
    rest: list[Command] = []
    for c in batch.commands:
        if isinstance(c, CancelOrder):
            cancels.append(c)
        elif isinstance(c, PlaceOrder):
            places.append(c)
        elif isinstance(c, ModifyOrder):
            modifies.append(c)
        else:
            rest.append(c)
    return cancels, modifies, places, rest


class CommandRouter:
    """``Gateway.send`` for any venue: a batch goes out as one venue action per kind (cancels first),
    a single command to its handler. A gateway provides the handlers, each sending one venue action."""

    def send(self, cmd: Command) -> None:
        if isinstance(cmd, Batch):
            cancels, modifies, places, rest = split_batch(cmd)
            if cancels:
                self._send_cancels(cancels)
            if modifies:
                self._send_modifies(modifies)
            if places:
                self._send_places(places)
            for c in rest:
                self.send(c)
        elif isinstance(cmd, PlaceOrder):
            self._send_places([cmd])
        elif isinstance(cmd, CancelOrder):
            self._send_cancels([cmd])
        elif isinstance(cmd, ModifyOrder):
            self._send_modifies([cmd])
        elif isinstance(cmd, CancelAll):
            self._send_cancel_all(cmd.known)
        elif isinstance(cmd, ScheduleCancel):
            self._send_schedule_cancel(cmd.at_ts)
        elif isinstance(cmd, RequestAccountSnapshot):
            self._send_snapshot_request()
        else:
            raise TypeError(f"unknown command {cmd!r}")

    def _send_places(self, places: list[PlaceOrder]) -> None:
        raise NotImplementedError

    def _send_cancels(self, cancels: list[CancelOrder]) -> None:
        raise NotImplementedError

    def _send_modifies(self, modifies: list[ModifyOrder]) -> None:
        raise NotImplementedError

    def _send_cancel_all(self, known: tuple[str, ...] = ()) -> None:
        raise NotImplementedError

    def _send_schedule_cancel(self, at_ts: float | None) -> None:
        raise NotImplementedError

    def _send_snapshot_request(self) -> None:
        raise NotImplementedError
