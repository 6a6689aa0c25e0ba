"""The exchange's hottest network paths write their helpers out (the queue's entry pushed where call_later, _schedule
and _delivery_at would push it, a delivery's checks where _delivered makes them). These hold each written-out path
to the plain rule it replaced, kept here: one twin runs the exchange's own, one the plain helpers bound in their place,
on the same seed and the same random plan of orders, cancels, modifies and socket drops (frames lost on their way
among them): every reply and push, at the same clock, the same counters, and the same queue left (times, priorities,
ids), which a shortcut that pushed its entry at another time or id, or dropped a frame it should deliver, breaks."""
from __future__ import annotations

import types

import pytest
from hypothesis import given, settings, strategies as st

import twin.exchange
from twin.calls import call_later, start_loop
from twin.exchange import Exchange, _Delivery
from twin.messages import (
    CancelAction, ConnectionEvent, ModifyAction, OrderAction, OrderInfo, OrderSpec, OrderUpdate, OrderUpdatePush,
    Resting,
)
from twin.params import TwinParams

from old_remove import old_remove

USER = "0x" + "cd" * 20
# sockets that drop often (frames lost on their way), and a grid for actions (replies in a block)
_PARAMS = {
    "plain": TwinParams.model_validate({"connection": {"hazard_per_hour": 400.0, "outage_median_s": 0.3}}),
    "block": TwinParams.model_validate({"connection": {"hazard_per_hour": 400.0, "outage_median_s": 0.3},
                                        "venue": {"action_block_s": 0.2}}),
}


def _plain_send_frame(ex, conn, frame):
    conn.frame = frame
    conn.frame_at = ex.env._now
    ex._schedule(ex._delivery_at(conn), _Delivery.make(ex._on_frame_delivery, conn, conn.epoch, frame))


def _plain_set_status(ex, o, status):
    now = ex.env._now
    now_ms = ex.epoch_ms + int(now * 1000.0)
    user, cloid = o.user, o.cloid
    info = twin.exchange._order_fields(o)
    statuses = ex.order_status
    oid = o.oid
    if oid not in statuses:
        ex._keep_status_of(user, oid)
        if cloid is not None:
            by_cloid = ex._status_by_cloid.get(user)
            if by_cloid is None:
                by_cloid = ex._status_by_cloid[user] = {}
            by_cloid[cloid] = oid
    statuses[oid] = (user, status, now_ms) + info
    if ex.log is not None:
        ex._log("status", o.oid, status)
    conns = ex._subs.get(("orderUpdates", user))
    if conns:
        update = OrderUpdate(OrderInfo(*info), status, now_ms)
        for conn in conns:
            frame = conn.frame
            if frame is not None and conn.frame_at == now:
                frame.append(update)
            else:
                ex._send_frame(conn, [update])


def _plain_frame_delivered(ex, d):
    conn, frame = d.conn, d.push
    if conn.frame is frame:
        conn.frame = None
    d.push = OrderUpdatePush(tuple(frame))
    ex._delivered(d)


def _plain_submit(ex, user, action, on_reply, conn=None, expires_after_s=None, fifo=None, link_down=False):
    t = ex.env._now
    if ex._rest_fails(conn, link_down):
        ex._lose(on_reply)
        return
    delay = ex.latency.order_entry.sample(t)
    if fifo is not None:
        if fifo[0] - t > delay:
            delay = fifo[0] - t
        fifo[0] = t + delay
    call_later(ex.env, delay, ex._arrive_action, user.lower(), action, on_reply, expires_after_s, t)


def _plain_reply(ex, on_reply, reply):
    call_later(ex.env, ex.latency.response.sample(ex.env._now), on_reply, reply)


# the loops start_waking runs that wrote their waits out, as start_loop ran them (their bodies after each wait are
# the exchange's own, here by a call)
def _plain_book_feed(ex):
    interval = ex.params.feed.book_interval_s
    block = ex.params.feed.block_s
    uniform = ex._feed_rng.uniform
    yield uniform(0.0, interval)
    while True:
        yield interval + uniform(0.0, block) if block else interval
        for coin in ex.markets:
            key = ("l2Book", coin)
            if key in ex._subs:
                ex._publish(key, ex.l2_book(coin))


def _plain_funding(ex):
    due_ms = twin.exchange.next_settlement_ms(ex.now_ms())
    while True:
        yield max(0.0, (due_ms - ex.epoch_ms) / 1000.0 - ex.env._now)
        ex._settle_funding(due_ms)
        due_ms = twin.exchange.next_settlement_ms(due_ms)


def _plain_margin_checks(ex):
    interval = ex.params.venue.margin_check_interval_s
    while True:
        yield interval
        marks = ex.marks
        dex_of_coin = ex._dex_of_coin
        for acct in ex.accounts.values():
            if not acct.positions:
                continue
            for dex in sorted(acct.dexes()):
                for coin, p in list(acct.positions.items()):
                    if p.szi and p.isolated and dex_of_coin.get(coin, "") == dex:
                        mark = marks.get(coin, p.entry_px)
                        if p.margin_usd + (mark - p.entry_px) * p.szi < abs(p.szi) * mark / (2.0 * p.max_leverage):
                            ex._liquidate_isolated(acct, coin)
                value, _, maintenance, any_cross = acct.cross_margin(marks, dex)
                if any_cross and value < maintenance:
                    ex._liquidate(acct, dex)
                    continue
                if ex._available_margin(acct, dex) < 0.0:
                    for o in [o for o in ex.orders.values()
                              if o.user == acct.address and not o.reduce_only and dex_of_coin[o.coin] == dex]:
                        ex._remove(o, "marginCanceled")
                        ex.counters["margin_cancels"] += 1


_PLAIN_LOOPS = {"_run_book_feed": _plain_book_feed, "_run_funding": _plain_funding,
                "_run_margin_checks": _plain_margin_checks}


def _make_plain(ex: Exchange, monkeypatch) -> None:
    """The plain helpers bound in place of the written-out paths (the frame's delivery through its callbacks), and
    the loops above started by start_loop where the exchange starts its own by start_waking."""
    ex._send_frame = types.MethodType(_plain_send_frame, ex)
    ex._set_status = types.MethodType(_plain_set_status, ex)
    # (the old _remove: the order out of the book, then _set_status, which the exchange's _remove writes out, and
    # a taker's statuses with it)
    ex._remove = types.MethodType(old_remove, ex)
    ex._on_frame_delivery = (types.MethodType(_plain_frame_delivered, ex),)
    ex.submit = types.MethodType(_plain_submit, ex)
    ex._reply = types.MethodType(_plain_reply, ex)
    waking = twin.exchange.start_waking

    def start(env, make, *args):
        plain = _PLAIN_LOOPS.get(getattr(make, "__name__", ""))
        if plain is None or getattr(make, "__self__", None) is not ex:
            waking(env, make, *args)
        else:
            start_loop(env, plain(ex))
    monkeypatch.setattr(twin.exchange, "start_waking", start)


_step = st.tuples(
    st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.7]),  # wait before it
    st.sampled_from(["place", "place", "cross", "cancel", "modify", "drop", "batch"]),
    st.integers(0, 6),  # ticks away from the touch
    st.booleans(),  # side
    st.booleans(),  # over the socket's stream (fifo)
)


def _run(seed: int, plan: list, params: str, plain: bool, kept: int | None = None) -> tuple:
    with pytest.MonkeyPatch.context() as mp:
        if kept is not None:  # (the orders orderStatus keeps a user, few: _keep_status_of's forgetting reached)
            mp.setattr(twin.exchange, "ORDERS_KEPT", kept)
        return _run_on(seed, plan, params, mp if plain else None)


def _run_on(seed: int, plan: list, params: str, plain) -> tuple:
    ex = Exchange.build(_PARAMS[params], seed)
    if plain is not None:
        _make_plain(ex, plain)
    ex.fund(USER, 50_000.0)
    got: list = []

    def on_push(p):
        got.append((ex.env._now, "push", p))
        if type(p) is ConnectionEvent and p.up:  # (a dropped socket's subscriptions are gone: the client's again)
            subscribe()

    def subscribe():
        conn.subscribe("orderUpdates", USER)
        conn.subscribe("trades", "BTC")
        conn.subscribe("l2Book", "BTC")
    conn = ex.connect(on_push)
    subscribe()
    ex.env.run(until=1.0)
    oids: list[int] = []
    fifo = [0.0]

    def on_reply(r):
        got.append((ex.env._now, "reply", r))
        for s in getattr(r, "statuses", ()):
            if type(s) is Resting:
                oids.append(s.oid)

    tick = ex.instruments["BTC"].tick
    names = [0]
    for k, (wait, what, away, is_buy, over_stream) in enumerate(plan):
        if wait:
            ex.env.run(until=ex.env._now + wait)
        bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
        px = bb - away * tick if is_buy else ba + away * tick

        def spec(p=px, buy=is_buy, tif="Gtc"):  # (every other order under a cloid: orderStatus keeps those too)
            names[0] += 1
            cloid = f"0x{names[0]:032x}" if names[0] % 2 else None
            return OrderSpec("BTC", buy, p, 0.001, tif=tif, cloid=cloid)
        if what == "drop":
            ex.drop_connections(0.1 * (away + 1))
            continue
        if what == "place":
            action = OrderAction((spec(),))
        elif what == "batch":
            action = OrderAction(tuple(spec(px - i * tick if is_buy else px + i * tick) for i in range(away + 1)))
        elif what == "cross":
            action = OrderAction((spec(ba + tick if is_buy else bb - tick, tif="Ioc"),))
        elif not oids:
            continue
        elif what == "cancel":
            action = CancelAction((("BTC", oids[away % len(oids)]),))
        else:
            action = ModifyAction(((oids[away % len(oids)], spec()),))
        ex.submit(USER.upper(), action, on_reply, conn=conn, fifo=fifo if over_stream else None,
                  expires_after_s=ex.env._now + 0.5 if k % 5 == 4 else None)
    ex.env.run(until=ex.env._now + 3.0)
    return got, dict(ex.counters), conn.delivered, conn.dropped, ex.env._now, \
        [entry[:3] for entry in sorted(ex.env._queue)], ex.order_status, ex._status_by_cloid, ex._status_order


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**16), st.lists(_step, min_size=1, max_size=30), st.sampled_from(sorted(_PARAMS)),
       st.sampled_from([None, 1, 3, 8]))
def test_the_written_out_paths_are_the_plain_rule(seed, plan, params, kept):
    plan = [(0.0, "place", 1, True, False)] + plan  # (an order first: the plan's cancels and modifies have one)
    theirs = _run(seed, plan, params, plain=True, kept=kept)
    ours = _run(seed, plan, params, plain=False, kept=kept)
    assert ours == theirs
    assert any(kind == "reply" for _, kind, _ in theirs[0])  # (replies came: the comparison is of some)


def test_the_plan_loses_frames_on_their_way():
    """The plan reaches the dropped frame's path (a frame whose socket dropped before its delivery), which a plan
    that never dropped one would leave untested."""
    plan = [(0.0, "place", 1, True, False), (0.0, "drop", 0, True, False)] * 5
    lost = 0
    for seed in range(10):
        dropped = _run(seed, plan, "plain", plain=False)[3]
        lost += dropped
    assert lost > 0
