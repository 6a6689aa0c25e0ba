"""The quote cycle's quiet path and the market and order events' handlers, cut for bytecodes: each cut held to the
code it replaced, kept here verbatim, over a twin session's events replayed into two cores, one with the old code
and one with the new, compared after every event (the commands, the records, the state the cut touches), to the
bit (repr: nan and -0.0 too)."""
from __future__ import annotations

import math
import pickle

import pytest

from agent.config import AgentConfig
from agent.core import _BUY, _SNAPSHOT_PARTS, FOR_CANCEL_ALL, AgentCore, ArrivalEstimator
from agent.gateway.events import (CancelOrder, IpWeightSpent, ModifyAcknowledged, OrderAcknowledged,
                                  RateLimited)

from recorded_session import recorded_session

# bench_agent's stress profile (its config; the twin's rejections as shipped): a 100 ms cycle, 5 levels a side
STRESS = {"session": {"cycle_s": 0.1}, "quoting": {"ladder": {"n_levels": 5, "size_ratio": 1.2}},
          "risk": {"max_position": 0.1},
          "graduation": {"start_level": "FULL", "ceiling": "FULL", "paper_maker_fee_bps": 0.0,
                         "promotion": {"min_net_edge_bps": -100.0, "net_edge_z": 0.0}}}


@pytest.fixture(scope="module")
def session():
    cfg = AgentConfig.model_validate(STRESS)
    events, inst = recorded_session(cfg, 3, 90.0)
    return cfg, events, inst


def _handle_as_at_236138b(self, event):
    """AgentCore.handle at 236138b (the acks taken by its fall-through), verbatim."""
    if self._unbooked is not None:  # the last quote cycle's commands, sent since: booked before anything else
        self._book_cycle()
    # the tracker's clock is the events' clock, the latest time handled (a comparison and a store per event: the
    # store unconditional, at the same time too, costs fewer bytecodes than a second comparison)
    if event.ts < self.tracker.now:
        event = self._stepped_back(event)  # the clock stepped back (the rare path)
    else:
        self.tracker.now = event.ts
    cmds = []
    if not self.started and type(event) is not IpWeightSpent:
        # the session starts at the venue's first word: a gateway's note of weight it spent is none (a quota
        # poll's at 0 s would have moved every twin session's first snapshot, and what followed it)
        self.started = True
        self._request_snapshot(cmds, event.ts)
    fn = self._dispatch.get(type(event))
    if fn is None:
        t = type(event)
        if t is OrderAcknowledged or t is ModifyAcknowledged:
            o = self.tracker.orders.get(event.cloid if t is OrderAcknowledged else event.new_cloid)
            if o is not None and o.acked_ts < 0:
                self.graduation.note_ack(event.ts - o.sent_ts, event.ts)
        self.tracker.on_event(event)
        if t is RateLimited:
            self.errors.note(event.ts)
            self.graduation.note_rate_limited(event.ts)
            if event.request in _SNAPSHOT_PARTS and event.for_command != FOR_CANCEL_ALL and self.snapshot_pending \
                    and self.snapshot_retry_ts == math.inf:
                self.snapshot_retry_ts = event.ts + self._snapshot_backoff_s
                self._snapshot_backoff_s = min(2.0 * self._snapshot_backoff_s, self._snapshot_backoff_cap())
        if self.stopped and getattr(event, "resting", False):
            # a place that was in flight when everything was pulled has landed: pull it too
            cloid = getattr(event, "new_cloid", None) or event.cloid
            cmds.append(CancelOrder(cloid))
    else:
        fn(event, cmds)
    if cmds:
        if cmds is self._cycle_cmds:
            self._unbooked = (cmds, event.ts)
        else:  # sent outside a quote cycle: no cycle record names them
            self._book(cmds, event.ts)
            self._sent(event.ts, type(event).__name__, cmds)
    return cmds


class _CoreAt236138b(AgentCore):
    """The core with the old handle, and the acks not in its dispatch (as at 236138b)."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self._dispatch = {t: h for t, h in self._dispatch.items()  # (a dict, its get)
                          if t is not OrderAcknowledged and t is not ModifyAcknowledged}

    handle = _handle_as_at_236138b

    def _on_bbo(self, ev, cmds: list) -> None:
        """At 236138b, verbatim."""
        if self.best_bid == self.best_bid:  # (a book already)
            self._take_touch(ev.bid, ev.ask)

    def _on_trade(self, ev, cmds: list) -> None:
        """At 236138b, verbatim (but for its comment on stale prints)."""
        side = 1 if ev.side is _BUY else -1  # ev.side.value, read once (an enum's value is a Python-level property)
        made, made_ms = self._made_at(ev.ts, ev.tid), ev.tid >> 64
        if made_ms and self._book_ms - made_ms > self._stale_book_ms:
            self.stale_prints += 1
            self._paper_trade(ev, side, made)
            return
        if self.mid == self.mid:
            arrivals = self.arrivals
            if arrivals is None:
                est = self.cfg.quoting.estimators
                arrivals = self.arrivals = ArrivalEstimator(
                    est, None if est.arrival_max_depth_bps is None else est.arrival_max_depth_bps * 1e-4 * self.mid)
            arrivals.on_trade(ev.ts, ev.px, self.mid, side)
        self.signals.signals[1].update(ev.ts, side, ev.sz)
        self._paper_trade(ev, side, made)


_PARTS = ("signals", "ledger", "validation", "safety", "regime", "vol", "arrivals", "budget", "overlay")


def _state(core: AgentCore) -> tuple:
    """What the cuts touch: the touch and mid, graduation's ack EWMA, its gap model's and paper fills' sums, the
    tracker's version, position and live set; and the models' state pickled (their doubles to the bit). (Not
    graduation and the tracker whole: some of their arrays are made with numpy.empty, whose unused cells differ
    from core to core)"""
    g, tr = core.graduation, core.tracker
    sh, pa = g.shadow, g.paper
    return (repr((core.best_bid, core.best_ask, core.mid, g._ack_ewma, g._ack_ts, tr.version, tr.position,
                  sorted(tr.live_set), core.stopped, sh.paper_volume, sh.real_volume, sh.paper_fills, sh.real_fills,
                  sh.grid_volume, sh._run, pa.fills, pa.position, pa.markouts.resolved, pa.markouts.net_bps)),
            *(pickle.dumps(getattr(core, name)) for name in _PARTS))


def _replay(session, old: AgentCore, new: AgentCore, stop_at: int | None = None) -> tuple[int, int]:
    """Both cores fed the session's events, compared after each; ``stop_at``: both stopped (as a kill leaves
    them) from that event on, so that acks landing after it are pulled. Returns the acks handled, and how many of
    them sent a command (a pull)."""
    _, events, _ = session
    acks = pulled = 0
    for i, ev in enumerate(events):
        if i == stop_at:
            old.stopped = new.stopped = True
        got, want = new.handle(ev), old.handle(ev)
        assert repr(got) == repr(want), (i, ev)
        assert _state(new) == _state(old), (i, ev)
        assert repr(new.drain_records()) == repr(old.drain_records()), (i, ev)
        if type(ev) is OrderAcknowledged or type(ev) is ModifyAcknowledged:
            acks += 1
            pulled += bool(got)
    return acks, pulled


def _cores(session) -> tuple[AgentCore, AgentCore]:
    import numpy as np
    cfg, _, inst = session
    return (_CoreAt236138b(cfg, np.random.default_rng(0), tick=inst.tick, sz_decimals=inst.sz_decimals),
            AgentCore(cfg, np.random.default_rng(0), tick=inst.tick, sz_decimals=inst.sz_decimals))


@pytest.mark.parametrize("stop_frac", [None, 0.5])
def test_acks_have_their_handlers_and_do_as_handles_fall_through_did(session, stop_frac):
    """Acks (two events in five of a stress session) have handlers of their own, off handle's fall-through: the
    same round trips to graduation (an order's first ack only, a modify's under its new cloid), the same tracker,
    and an ack of an order resting after a stop pulled, under the same cloid, as at 236138b. Broken on purpose
    (_on_modify_ack looking up ``ev.cloid`` for ``ev.new_cloid``), this fails: the ack latency's EWMA parts."""
    _, events, _ = session
    old, new = _cores(session)
    stop_at = None if stop_frac is None else int(stop_frac * len(events))
    acks, pulled = _replay(session, old, new, stop_at)
    assert acks > 100
    assert (pulled > 0) == (stop_at is not None)
    assert new.graduation._ack_ts > 0.0


def test_prints_and_bbos_are_handled_as_at_236138b(session):
    """A print's handler has its made time (_made_at) and the paper fill models' call (_paper_trade) written out, a
    bbo's its touch (_take_touch): the same made times to the gap model, the same touch and mid, every event of
    the session compared, as at 236138b. Broken on purpose (a print's made time without the clocks' offset,
    ``made_ms * 1e-3``), this fails: the gap model's sums part."""
    _, events, _ = session
    old, new = _cores(session)
    _replay(session, old, new)
    kinds = {type(ev).__name__ for ev in events}
    assert {"TradeObserved", "BboUpdated", "BookUpdated"} <= kinds
    assert any(type(ev).__name__ == "TradeObserved" and ev.tid >> 64 > 0 for ev in events)  # venue times given
    assert new.graduation.shadow.paper_volume > 0.0


def test_every_event_is_dispatched_by_a_subscript_as_handle_did_at_236138b(session):
    """handle looks every event's handler up with a subscript of _Dispatch, whose missing types (cancels' answers,
    429s, the venue's own cancels) get _on_other, handle's fall-through at 236138b: the session replayed into a
    core with that handle, compared after every event, and the dispatch keeps each type met under its handler.
    Broken on purpose (the acks' entries left out of the dispatch, so that they fall to _on_other), this fails."""
    _, events, _ = session
    old, new = _cores(session)
    _replay(session, old, new)
    met = {type(ev) for ev in events}
    assert {"CancelAcknowledged", "CancelRejected"} <= {t.__name__ for t in met}
    assert all(t in new._dispatch for t in met)
    assert new._dispatch[type(next(ev for ev in events if type(ev).__name__ == "CancelRejected"))] == new._on_other
