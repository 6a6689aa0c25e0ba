"""The loopback venue: Hyperliquid's POST /info, POST /exchange and /ws served by aiohttp over the twin.

``TwinServer`` checks what the venue checks before an action reaches the exchange (deserialization,
signer, agent wallets, nonces), hands the action to ``Exchange.submit`` and answers with the twin's
reply once its simulated round trip is over; ``SimClock`` keeps simulated time on the wall clock.
``BackgroundServer`` runs one on a thread for synchronous clients such as the official SDK.
"""
from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from typing import Any, Callable, Mapping

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web

from common.bounded_loop import within
from twin.exchange import Exchange, asset_data_key
from twin.faults.chaos import ChaosSchedule
from twin.faults.connection import ConnectionModel, ConnectionParams
from twin.faults.quota import exchange_weight, info_weight
from twin.messages import (
    ActionErr, ActionOk, ActiveAssetData, BboPush, BookPush, ConnectionEvent, FillsPush, FundingPush, HttpError, OrderUpdatePush, Push,
    TradePush, TradesSnapshot, TransportFailure, UserEventPush,
)
from twin.params import TwinParams
from twin.server import wire
from twin.server.auth import (
    DESERIALIZE_FAILED, U64, UNABLE_TO_RECOVER, MalformedAction, NonceWindow, UnrecoverableSignature,
    recover_l1_signer, recover_user_signed_action_signer,
)
from twin.server.clock import SimClock
from twin.server.limits import HostBudget, WsLimits

log = logging.getLogger(__name__)

GREETING = "Websocket connection established."
WS_IDLE_TIMEOUT_S = 60.0  # the venue closes a socket that has sent nothing for 60 s (hyperliquid.md §4)
# the close handshake's bound, s: past it the connection is dropped (a client that has stopped reading never takes
# the close frame off a full send buffer, and held ws.close(), and the server's shutdown with it, for good)
WS_CLOSE_TIMEOUT_S = 2.0
# a stop's bounds, s (``serve``): requests in flight answered within HANDLER_GRACE_S (each bound twice by aiohttp:
# the wait for the handler, then for it to end once cancelled), the whole shutdown within SHUTDOWN_S, and a task
# cancelled at a bound given CANCEL_GRACE_S to end before it is left
HANDLER_GRACE_S = 2.0
SHUTDOWN_S = 8.0
CANCEL_GRACE_S = 1.0
FAST_BOOK_LEVELS = 5  # an l2Book subscription with "fast": true gets 5 levels a side (the venue's docs)
WS_CHANNELS = {"l2Book": "coin", "bbo": "coin", "trades": "coin", "orderUpdates": "user", "userFills": "user",
               "userEvents": "user", "userFundings": "user", "activeAssetData": "user and coin"}
USER_CHANNELS = frozenset(k for k, field in WS_CHANNELS.items() if field.startswith("user"))
LINK_DOWN = "The twin's connection model has this link down (a scripted or random outage): retry later."
# UNCONFIRMED: what the venue sends past a server limit, an error frame or a close, is not on record (hyperliquid.md
# §4). The twin refuses a handshake with HTTP 429 and a message with an error frame (the socket stays up), and says so
LIMIT_TEXT = "the twin's refusal; the venue's is UNCONFIRMED"
# An account "can have 1 unnamed approved wallet and up to 3 named ones" (docs exchange endpoint, approveAgent's
# agentName; hyperliquid.md §3.2). The venue's refusal of a fourth name is not on record: this text is the twin's
# guess, UNCONFIRMED (README, the twin's known gaps).
MAX_NAMED_AGENTS = 3
TOO_MANY_AGENTS = "Too many named API wallets: an account can have 1 unnamed and up to 3 named ones."
BUDGETS_SWEPT_PAST = 64  # per-address limit records kept before the idle ones are first dropped (TwinServer.budget)
# frames queued for one socket that its client has not taken off (it stopped reading): past it the connection is
# dropped (WsSession.send_text). Minutes of a book, bbo and trades stream at 1x; a client reading keeps a handful
MAX_UNREAD_FRAMES = 10_000


def build_exchange(params: TwinParams | None = None, seed: int = 0,
                   fund: Mapping[str | tuple[str, str], float] | None = None, wall_epoch: bool = True,
                   schedule: ChaosSchedule | None = None) -> Exchange:
    """A twin for serving. With ``wall_epoch`` (unless the params pin ``venue.epoch_ms``) simulated t=0 is now,
    so the venue's clock agrees with clients that take nonces from the wall clock. ``fund`` maps an address (the
    first dex) or an (address, dex) pair to the USDC it holds there."""
    params = params or TwinParams()
    if wall_epoch and params.venue.epoch_ms is None:
        venue = params.venue.model_copy(update={"epoch_ms": int(time.time() * 1000)})
        params = params.model_copy(update={"venue": venue})
    ex = Exchange.build(params, seed, schedule)
    for key, usdc in (fund or {}).items():
        address, dex = (key, "") if isinstance(key, str) else key
        ex.fund(address, usdc, dex)
    return ex


class TwinServer:
    """The venue's REST and websocket protocol over one ``Exchange``."""

    def __init__(self, exchange: Exchange, speed: float = 1.0, reply_timeout_s: float = 30.0,
                 limits: WsLimits | None = None, max_unread_frames: int = MAX_UNREAD_FRAMES) -> None:
        self.exchange = exchange
        self.max_unread_frames = max_unread_frames
        self.dropped_unread = 0  # sockets dropped for a client that stopped reading (WsSession.send_text)
        self.limits = limits or WsLimits()
        self.assets = wire.AssetMap(exchange.params.instruments)
        self.nonces = NonceWindow()
        self.agents: dict[str, tuple[str, str]] = {}  # agent address -> (account address, agent name)
        self.clock = SimClock(exchange.env, speed)
        self.reply_timeout_s = reply_timeout_s
        self.refused_ws = 0  # handshakes refused while the client's path was down
        self.silent_drops = exchange.params.connection.silent_drops  # a drop leaves its socket open and mute
        self.muted_ws = 0  # sockets dropped silently (ConnectionParams.silent_drops)
        self.refused_ws_limits = 0  # handshakes refused by a server limit (connections, new connections a minute)
        self._budgets: dict[str, HostBudget] = {}  # remote address -> its use of the server limits
        self._sweep_budgets_at = BUDGETS_SWEPT_PAST  # their count at which the idle ones are next dropped
        self.sessions: set[WsSession] = set()  # the open sockets (for the fault hooks)
        # the network path from each client host: down during the schedule's disconnects, and for the
        # rest of an outage that dropped one of its sockets, so a reconnect only succeeds once it is over
        self._links: dict[str, ConnectionModel] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/info", self.handle_info)
        app.router.add_post("/exchange", self.handle_exchange)
        app.router.add_get("/ws", self.handle_ws)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_shutdown(self, _app: web.Application) -> None:
        """Each open socket closed as a server going down does it (1001, going away): they were dropped without a
        close frame, an abnormal closure (1006) to their clients, and a stop in-process (``serve``'s ``stop``)
        waited on them until aiohttp's shutdown timeout. All at once, each bounded (``WsSession.close``): one
        after the other, each deaf client added its timeout to the stop."""
        await asyncio.gather(*(session.close(WSCloseCode.GOING_AWAY, b"server shutdown")
                               for session in list(self.sessions)))

    async def _on_startup(self, _app: web.Application) -> None:
        self.clock.start()

    async def _on_cleanup(self, _app: web.Application) -> None:
        await self.clock.stop()

    # ------------------------------------------------------------------ /info

    async def handle_info(self, request: web.Request) -> web.StreamResponse:
        body = await _read_body(request)
        if not isinstance(body, bytes):  # (it could not be read: answered)
            return body
        reply = await self.info_reply_later(body, request.remote or "")
        if reply is None:  # lost in transport: the client sees a reset connection
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=502)
        return _http(*reply)

    async def info_reply_later(self, body: bytes | Any, host: str) -> tuple[int, Any] | None:
        """``info_reply`` as the venue gives it: from the state when the request arrives, after the latencies the
        twin draws (None: lost in transport, at its rate, more often while ``host``'s path is down)."""
        now = self.clock.catch_up()
        reply = await self._replied(self.exchange.request_computed, lambda: self.info_reply(body),
                                    link_down=self.link(host).is_down(now))
        return None if isinstance(reply, TransportFailure) else reply

    async def _replied(self, send: Callable[..., None], *args: Any, **kwargs: Any) -> Any:
        """The reply the exchange gives to ``send(*args, on_reply=..., **kwargs)`` (a request to it: ``submit``,
        ``request_computed``), after the latencies the twin draws; None when none comes within reply_timeout_s."""
        fut: asyncio.Future = asyncio.get_running_loop().create_future()

        def on_reply(reply: Any) -> None:
            if not fut.done():
                fut.set_result(reply)
        send(*args, on_reply=on_reply, **kwargs)
        try:
            return await asyncio.wait_for(fut, self.reply_timeout_s)
        except asyncio.TimeoutError:
            return None

    def info_reply(self, body: bytes | Any) -> tuple[int, Any]:
        """(HTTP status, JSON payload or text) for an /info body (bytes, or already parsed JSON)."""
        try:
            req = wire.loads(body) if isinstance(body, (bytes, bytearray)) else body
            kind, payload, n_items = self._info(req)
        except MalformedAction:
            return 422, DESERIALIZE_FAILED
        if not self.exchange.ip_limiter.try_spend(info_weight(kind, n_items), self.exchange.env.now):
            self.exchange.counters["http_429"] += 1
            return 429, None
        return 200, payload

    def _info(self, req: Any) -> tuple[str, Any, int]:
        if not isinstance(req, dict) or not isinstance(req.get("type"), str):
            raise wire.malformed("type", req)
        kind = req["type"]
        ex = self.exchange
        insts = self.assets.by_coin
        if kind == "meta":
            return kind, wire.meta_json(self.assets, wire.need_str(req, "dex", default="")), 0
        if kind == "metaAndAssetCtxs":
            dex = wire.need_str(req, "dex", default="")
            meta = wire.meta_json(self.assets, dex)
            ctxs = []
            for inst in self.assets.universe(dex):
                coin = inst.coin if inst is not None else ""
                market = ex.params.markets.get(coin)
                nan = float("nan")
                ctxs.append(wire.asset_ctx_json(ex.marks.get(coin, ex.last_trade_px.get(coin)),
                                                ex.best_bid.get(coin, nan), ex.best_ask.get(coin, nan),
                                                ex.funding_rates.get(coin, 0.0),
                                                market.funding_premium_per_8h if market is not None else 0.0))
            return kind, [meta, ctxs], 0
        if kind == "spotMeta":
            return kind, {"universe": [], "tokens": []}, 0
        if kind == "perpDexs":
            return kind, wire.perp_dexs_json(self.assets), 0
        if kind == "allMids":
            dex = wire.need_str(req, "dex", default="")
            mids = {}
            for inst in self.assets.instruments:
                px = ex.marks.get(inst.coin, ex.last_trade_px.get(inst.coin))
                if inst.dex == dex and px is not None:
                    mids[inst.coin] = wire.px_num(px)
            return kind, mids, 0
        if kind == "l2Book":
            coin = wire.need_str(req, "coin")
            n_sig = req.get("nSigFigs")
            mantissa = req.get("mantissa")
            wire.check_book_view(n_sig, mantissa)
            if coin not in insts:
                return kind, None, 0
            return kind, wire.book_json(ex.l2_book(coin), insts[coin], n_sig, mantissa), 0
        if kind in ("openOrders", "frontendOpenOrders"):
            user = wire.need_address(req)
            dex = wire.need_str(req, "dex", default="")
            render = wire.order_json if kind == "openOrders" else wire.frontend_order_json
            rows = [render(o, insts.get(o.coin)) for o in ex.open_orders(user)
                    if (insts[o.coin].dex if o.coin in insts else "") == dex]
            return kind, rows, 0
        if kind == "clearinghouseState":
            user = wire.need_address(req)
            dex = wire.need_str(req, "dex", default="")
            return kind, wire.clearinghouse_json(ex.clearinghouse_state(user, dex), ex.marks, ex.now_ms(), insts), 0
        if kind == "userFills":
            user = wire.need_address(req)
            rows = [wire.fill_json(f, insts.get(f.coin)) for f in ex.user_fills(user)]
            return kind, rows, len(rows)
        if kind == "userFillsByTime":
            user = wire.need_address(req)
            start = wire.need_int(req, "startTime")
            end = wire.need_int(req, "endTime", optional=True)
            rows = [wire.fill_json(f, insts.get(f.coin)) for f in ex.user_fills_by_time(user, start, end)]
            return kind, rows, len(rows)
        if kind == "orderStatus":
            user = wire.need_address(req)
            ref = req.get("oid")
            if not (wire.is_int(ref) and 0 <= ref < U64) and not wire.is_cloid(ref):  # (an oid is the venue's u64)
                raise wire.malformed("oid", ref)
            found = ex.order_status_of(user, ref.lower() if isinstance(ref, str) else ref)
            inst = insts.get(found["order"].coin) if found.get("status") == "order" else None
            return kind, wire.order_status_json(found, inst), 0
        if kind == "userRateLimit":
            return kind, wire.rate_limit_json(ex.user_rate_limit(wire.need_address(req))), 0
        if kind == "userFunding":
            user = wire.need_address(req)
            start = wire.need_int(req, "startTime")
            end = wire.need_int(req, "endTime", optional=True)
            rows = wire.user_funding_rows_json(ex.funding_history(user, start, end), insts)
            return kind, rows, len(rows)
        if kind == "activeAssetData":
            user = wire.need_address(req)
            coin = wire.need_str(req, "coin")
            if coin not in insts:  # (as l2Book answers an unknown coin; the venue's answer is not on record)
                return kind, None, 0
            return kind, wire.active_asset_data_json(ex.active_asset_data(user, coin), insts[coin]), 0
        if kind == "userRole":  # (weight 60, charged by info_reply as every type's)
            return kind, self.user_role(wire.need_address(req)), 0
        if kind == "userFees":
            wire.need_address(req)  # every account pays its instrument's rates (no tiers): the first dex's first coin's
            first = next((i for i in self.assets.instruments if not i.dex), None)
            if first is None:
                raise wire.malformed("userFees", "no perp on the first dex")
            return kind, wire.user_fees_json(first.maker_fee, first.taker_fee), 0
        raise wire.malformed("type", kind)

    # ------------------------------------------------------------------ /exchange

    async def handle_exchange(self, request: web.Request) -> web.StreamResponse:
        body = await _read_body(request)
        if not isinstance(body, bytes):  # (it could not be read: answered)
            return body
        now = self.clock.catch_up()
        status, payload = await self.exchange_reply(body, link_down=self.link(request.remote or "").is_down(now))
        if status == 0:  # the twin lost the request in transport: the client sees a reset connection
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=502)
        return _http(status, payload)

    async def exchange_reply(self, body: bytes | Any, fifo: list[float] | None = None,
                             link_down: bool = False) -> tuple[int, Any]:
        """(HTTP status, JSON payload or text) for an /exchange body; status 0 means a transport failure.
        ``fifo``: a websocket's posts arrive in the order sent; ``link_down``: the client's network path is down,
        and REST fails more often (Exchange.submit)."""
        ex = self.exchange
        n = 0  # the posted batch's length: a refusal weighs what the request does (1 + n // 40), as in process
        try:
            env = wire.parse_envelope(wire.loads(body) if isinstance(body, (bytes, bytearray)) else body)
            n = wire.batch_length(env.action)
            kind = env.action["type"]
            if kind == "approveAgent":
                return self._approve_agent(env)
            if kind in wire.UNSUPPORTED_TYPES:
                return self._refuse(f"Action type {kind} is not supported by the twin.", n)
            action = wire.parse_l1_action(env.action, self.assets, ex.epoch_ms)
            signer = recover_l1_signer(env.action, env.nonce, env.signature, env.vault_address,
                                       env.expires_after_ms, is_known=self._is_known)
        except (MalformedAction, OverflowError):  # (the parsers bound their integers; an action of a type hashed as
            # posted may still hold one past what msgpack packs: the venue's 422, never a 500)
            return 422, DESERIALIZE_FAILED
        except wire.Refused as r:
            return self._refuse(r.text, n)
        except UnrecoverableSignature:
            return self._refuse(UNABLE_TO_RECOVER, n)
        user = self._account_of(signer)
        if user is None:
            return self._refuse(f"User or API Wallet {signer} does not exist.", n)
        if env.vault_address is not None:
            return self._refuse(f"Vault not registered: {env.vault_address}", n)
        error = self.nonces.use(signer, env.nonce, ex.now_ms())
        if error is not None:
            return self._refuse(error, n)
        expires_s = None if env.expires_after_ms is None else (env.expires_after_ms - ex.epoch_ms) / 1000.0
        reply = await self._replied(ex.submit, user, action, expires_after_s=expires_s, fifo=fifo, link_down=link_down)
        if reply is None or isinstance(reply, TransportFailure):  # (none within reply_timeout_s, or lost)
            return 0, None
        if isinstance(reply, HttpError):
            return reply.status, None if reply.body == "null" else reply.body
        if isinstance(reply, (ActionOk, ActionErr)):
            return 200, wire.action_reply_json(reply, kind)
        return 200, wire.err(f"Unexpected twin reply {type(reply).__name__}")

    def _refuse(self, text: str, batch_length: int = 0) -> tuple[int, Any]:
        """An action refused before it reaches the exchange still costs IP weight: the request's, 1 + n // 40 for a
        batch of n (hyperliquid.md §5), as the exchange charges one it refuses (a 201-cancel batch weighed 1 served
        and 6 in process)."""
        return (200, wire.err(text)) if self._spend(exchange_weight(batch_length)) else (429, None)

    def _is_known(self, address: str) -> bool:
        return address in self.exchange.accounts or address in self.agents

    def _account_of(self, signer: str) -> str | None:
        if signer in self.exchange.accounts:
            return signer
        agent = self.agents.get(signer)
        return agent[0] if agent is not None else None

    def user_role(self, address: str) -> dict:
        """/info userRole of a lower-case ``address``: whose account the venue books its signed actions on, which a
        client asks before it trades for an account with another key. The shapes: {"role": "missing" | "user" |
        "vault"}, {"role": "agent", "data": {"user": master}}, {"role": "subAccount", "data": {"master": master}}
        (the docs' info endpoint, "Query a user's role"; the schema as docs.chainstack.com's
        hyperliquid-info-user-role page and the @nktkas/hyperliquid SDK give it). The twin has no vaults or
        sub-accounts: an account is a "user" (as ``_account_of``, before an agent of the same address), an approved
        agent wallet an "agent" of the account that approved it, anything else "missing"."""
        if address in self.exchange.accounts:
            return {"role": "user"}
        agent = self.agents.get(address)
        if agent is not None:
            return {"role": "agent", "data": {"user": agent[0]}}
        return {"role": "missing"}

    def _approve_agent(self, env: wire.Envelope) -> tuple[int, Any]:
        """approveAgent (user-signed): the named (or unnamed) agent of the signing account is replaced; a fourth
        name is refused (the docs' limit: 1 unnamed and 3 named). The name is compared whole: a ``valid_until``
        suffix is part of it, and sets no expiry here."""
        action = env.action
        agent = wire.need_address(action, "agentAddress")
        name = wire.need_str(action, "agentName", default="")
        if wire.need_int(action, "nonce") != env.nonce:
            raise wire.malformed("action.nonce", action.get("nonce"))
        if action.get("hyperliquidChain") not in ("Mainnet", "Testnet"):
            raise wire.malformed("hyperliquidChain", action.get("hyperliquidChain"))
        signer = recover_user_signed_action_signer(action, env.signature)
        if signer not in self.exchange.accounts:
            return self._refuse(f"Must deposit before performing actions. User: {signer}")
        error = self.nonces.use(signer, env.nonce, self.exchange.now_ms())
        if error is not None:
            return self._refuse(error)
        if agent in self.exchange.accounts:
            return self._refuse("Agent address is already a user.")
        acct = self.exchange.accounts[signer]
        names = {old_name for owner, old_name in self.agents.values() if owner == signer and old_name}
        if name and name not in names and len(names) >= MAX_NAMED_AGENTS:  # (a same name replaces its agent)
            return self._refuse(TOO_MANY_AGENTS)
        for old, (owner, old_name) in list(self.agents.items()):
            if owner == signer and old_name == name:  # pruned: replaced by the new one of that name
                del self.agents[old]
                acct.agents.discard(old)
        self.agents[agent] = (signer, name)
        acct.agents.add(agent)
        return (200, wire.ok_default()) if self._spend(1) else (429, None)

    def _spend(self, weight: int) -> bool:
        if self.exchange.ip_limiter.try_spend(weight, self.exchange.env.now):
            return True
        self.exchange.counters["http_429"] += 1
        return False

    # ------------------------------------------------------------------ /ws

    async def handle_ws(self, request: web.Request) -> web.StreamResponse:
        host = request.remote or ""
        now = self.clock.catch_up()
        if self.link(host).is_down(now):
            # the handshake fails, as a connection attempt through a dead network path would (the venue never sees
            # it: no new connection counted)
            self.refused_ws += 1
            return web.Response(status=503, text=LINK_DOWN, content_type="text/plain")
        budget, limits = self.budget(host, now), self.limits
        refusal = None
        if not budget.handshakes.admit(now):
            refusal = (f"Too many new websocket connections from this IP (at most {limits.new_connections_per_minute} "
                       f"a minute; {LIMIT_TEXT})")
        elif budget.open >= limits.connections:
            refusal = f"Too many websocket connections from this IP (at most {limits.connections}; {LIMIT_TEXT})"
        if refusal is not None:
            self.refused_ws_limits += 1
            return web.Response(status=429, text=refusal, content_type="text/plain")
        budget.open += 1  # before the handshake's first await: two at once must not both take the last place
        try:
            # (a silently dropped socket answers no ping frame either: they come to the session, which pongs while
            # it lives)
            ws = web.WebSocketResponse(max_msg_size=1 << 20, autoping=not self.silent_drops)
            try:
                await ws.prepare(request)
            except ConnectionError:  # the client hung up before its handshake was answered (a traceback in the log)
                return web.Response(status=400)  # (to no one)
            session = WsSession(self, ws, host, request.transport)
            self.sessions.add(session)
            try:
                await session.run()
            finally:
                self.sessions.discard(session)
        finally:
            budget.open -= 1
        return ws

    def budget(self, host: str, now_s: float | None = None) -> HostBudget:
        """``host``'s use of the server limits: the venue keeps them per IP, and every loopback client shares one.
        A new address's record, past ``_sweep_budgets_at`` of them, first drops those idle at ``now_s`` (venue
        time): each is what a fresh one would be, so the limits are kept exactly, and the records are at most twice
        the addresses active in the last window (or ``BUDGETS_SWEPT_PAST``). The sweep is the threshold doubled
        past what it leaves, so each record is looked at a bounded number of times on average."""
        budget = self._budgets.get(host)
        if budget is None:
            if now_s is not None and len(self._budgets) >= self._sweep_budgets_at:
                self._budgets = {h: b for h, b in self._budgets.items() if not b.idle_at(now_s)}
                self._sweep_budgets_at = max(BUDGETS_SWEPT_PAST, 2 * len(self._budgets))
            budget = self._budgets[host] = HostBudget(self.limits)
        return budget

    def stall_book_stream(self, coin: str, past_resubscribe: bool = False) -> int:
        """Fault hook: every open socket's l2Book stream of ``coin`` goes quiet while the socket and its other
        channels stay up, as a venue book stream did with no disconnect (hyperliquid.md §7, nautilus_trader
        #4298). It comes back on a resubscribe (unsubscribe, subscribe) or, ``past_resubscribe``, only on a new
        socket. Call on the server's loop (``BackgroundServer.call``); returns how many sockets it stalled."""
        for session in self.sessions:
            session.stalled_books[coin] = past_resubscribe
        return len(self.sessions)

    def link(self, host: str) -> ConnectionModel:
        """The connection model of the path from ``host``: the schedule's disconnects, plus outages noted."""
        model = self._links.get(host)
        if model is None:
            model = ConnectionModel(ConnectionParams(hazard_per_hour=0.0), np.random.default_rng(0))
            for ev in self.exchange.schedule.events:
                if ev.kind == "disconnect":
                    model.add_outage(ev.at_s, ev.duration_s)
            self._links[host] = model
        return model

    def note_outage(self, host: str, until_s: float) -> None:
        """A socket from ``host`` was dropped by the twin: its path stays down until ``until_s`` (sim s)."""
        now = self.exchange.env.now
        if until_s > now:
            self.link(host).add_outage(now, until_s - now)


class WsSession:
    """One client websocket: a twin Connection, a writer task fed in order, and the venue's frames."""

    _CLOSE = object()

    def __init__(self, server: TwinServer, ws: web.WebSocketResponse, host: str = "",
                 transport: asyncio.BaseTransport | None = None) -> None:
        self.server = server
        self.ws = ws
        self.host = host
        self.transport = transport  # the socket's, dropped when its close handshake does not end in time (close)
        self.out: asyncio.Queue = asyncio.Queue()
        self.closed = False
        # dropped silently (ConnectionParams.silent_drops): nothing more is sent, what the client sends goes nowhere,
        # and the socket stays open until the client closes it (or WS_IDLE_TIMEOUT_S, then aborted: no close frame)
        self.dead = False
        self.book_opts: dict[str, tuple[int | None, int | None, int | None]] = {}  # nSigFigs, mantissa, depth
        # coin -> its l2Book subscription as the client asked for it (nSigFigs, mantissa, fast): one view a coin
        self.book_subs: dict[str, tuple] = {}
        # coin -> its l2Book frames are not sent (TwinServer.stall_book_stream); True: not even after a resubscribe
        self.stalled_books: dict[str, bool] = {}
        self._fill_pair: dict[str, bool] = {}  # user -> the next duplicate FillsPush is the userEvents one
        self._funding_pair: dict[str, bool] = {}  # user -> the next duplicate FundingPush is the userFundings one
        self._posts: set[asyncio.Task] = set()  # post requests in flight (their actions' round trips overlap)
        self.budget = server.budget(host)  # shared with the other sockets from this address
        self._post_fifo = [-math.inf]  # ... arriving at the venue in the order sent (Exchange.submit)
        server.clock.catch_up()
        self.conn = server.exchange.connect(self.on_push)

    async def run(self) -> None:
        writer = asyncio.get_running_loop().create_task(self._write())
        self.send_text(GREETING)
        try:
            while not self.closed:
                try:
                    msg = await self.ws.receive(timeout=WS_IDLE_TIMEOUT_S)
                except asyncio.TimeoutError:
                    break
                if self.dead:
                    if msg.type not in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                        continue
                    break
                if msg.type == WSMsgType.TEXT:
                    await self.on_text(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.on_binary(msg.data)
                elif msg.type == WSMsgType.PING:  # (autoping is off when drops are silent: a live socket pongs)
                    await self.ws.pong(msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        finally:
            self.closed = True
            for task in list(self._posts):  # their replies have no socket to go to
                task.cancel()
            self.conn.close()  # its subscriptions end, and the twin forgets it (kept, every socket stayed for good)
            self.out.put_nowait(self._CLOSE)
            try:
                await asyncio.wait_for(writer, 2.0)
            except (asyncio.TimeoutError, Exception):
                writer.cancel()
            if self.dead and self.transport is not None:
                self.transport.abort()  # a dead path sends no close frame
            elif not self.ws.closed:
                await self.close()

    async def close(self, code: int = WSCloseCode.OK, message: bytes = b"") -> None:
        """The close handshake, within ``WS_CLOSE_TIMEOUT_S``; past it the connection is dropped. ``ws.close`` waits
        for the send buffer to drain and then for the client's close frame: a client that has stopped reading held
        it (and a server's shutdown, or this socket's handler) for good. Aborted, not closed: a transport's close
        still waits for its unsent bytes to go. Cancelled before the bound (``run`` waits as long for its writer,
        and cancels it, inside this close when the handler ended first), dropped too: aiohttp's close, cancelled,
        let go of the transport with its close, and the connection of a client that had stopped reading stayed."""
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message), WS_CLOSE_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.info("websocket from %s: no close handshake within %g s, connection dropped", self.host,
                     WS_CLOSE_TIMEOUT_S)
            if self.transport is not None:
                self.transport.abort()
        except asyncio.CancelledError:
            if self.transport is not None:
                self.transport.abort()
            raise

    async def _write(self) -> None:
        while True:
            item = await self.out.get()
            if item is self._CLOSE:
                self.closed = True
                if not self.dead:
                    await self.close()
                return
            if self.dead:
                continue  # queued before the drop, lost with it
            try:
                await self.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                self.closed = True
                return

    def send_text(self, text: str) -> None:
        if self.closed or self.dead:
            return
        if self.out.qsize() >= self.server.max_unread_frames:
            # a client that stopped reading (its socket's buffers full, the writer waiting on them) while the twin's
            # pushes went on: the queue grew without bound, some 16 MB an hour of l2Book, bbo and trades at 1x, for
            # as long as the client kept its socket open (its pings still answered). Dropped: it reads nothing more,
            # so no close frame would reach it either
            log.info("websocket from %s: %d frames unread, connection dropped", self.host, self.out.qsize())
            self.server.dropped_unread += 1
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            return
        self.out.put_nowait(text)

    def send(self, channel: str, data: Any) -> None:
        self.send_text(wire.dumps({"channel": channel, "data": data}))

    def error(self, text: str) -> None:
        self.send("error", text)

    def _admitted(self, text: str) -> bool:
        """Whether a message from the client is within its address's messages a minute; if not, says so."""
        if self.budget.messages.admit(self.server.clock.catch_up()):
            return True
        # the venue counts every message an IP sends, across its sockets (hyperliquid.md §4): a ping included
        self.error(f"Too many messages sent to the server from this IP (at most "
                   f"{self.server.limits.messages_per_minute} a minute; {LIMIT_TEXT}): {text[:200]}")
        return False

    def on_binary(self, data: bytes) -> None:
        """A binary frame: the venue's requests are JSON in text frames. It was dropped without a word (a client that
        sent its ping or post so waited for an answer that never came) and not counted as a message."""
        shown = repr(bytes(data[:200]))
        if self._admitted(shown):
            self.error(f"Binary frame of {len(data)} bytes: a request is JSON in a text frame (the twin's text; the "
                       f"venue's answer is not on record): {shown}")

    async def on_text(self, text: str) -> None:
        if not self._admitted(text):
            return
        try:
            req = wire.loads(text.encode("utf-8"))
        except MalformedAction:
            self.error(f"Error parsing JSON into valid websocket request: {text[:200]}")
            return
        method = req.get("method") if isinstance(req, dict) else None
        if method == "ping":
            self.send_text(wire.dumps({"channel": "pong"}))
        elif method in ("subscribe", "unsubscribe"):
            self.on_subscription(method, req.get("subscription"), text)
        elif method == "post":
            # in flight side by side, as on the venue (up to 100 an IP, hyperliquid.md §4): awaited here, one
            # action's simulated round trip held every later post and even a ping's pong behind it. Each task
            # submits its action before it first waits, so the twin still sees them in the order they came
            limit = self.server.limits.posts_in_flight
            if self.budget.posts >= limit:
                self.error(f"Too many post requests in flight from this IP (at most {limit}; {LIMIT_TEXT}): "
                           f"{text[:200]}")
                return
            task = asyncio.get_running_loop().create_task(self.on_post(req, text))
            self._posts.add(task)
            self.budget.posts += 1
            task.add_done_callback(self._post_done)
        else:
            self.error(f"Error parsing JSON into valid websocket request: {text[:200]}")

    def _post_done(self, task: asyncio.Task) -> None:
        self._posts.discard(task)
        self.budget.posts -= 1

    def _over_limit(self, kind: str, key: str) -> str | None:
        """Why a new subscription (``kind``, ``key`` as the twin keys it) would pass a server limit of this socket's
        address, or None. One already held is no new one: the venue acks it again, and so does the twin."""
        if (kind, key) in self.conn.subs:
            return None
        limits = self.server.limits
        held = [s.conn.subs for s in self.server.sessions if s.host == self.host]
        if sum(map(len, held)) >= limits.subscriptions:
            return f"Too many subscriptions from this IP (at most {limits.subscriptions}; {LIMIT_TEXT})"
        if kind in USER_CHANNELS:
            users = {k.partition(" ")[0] for subs in held for ch, k in subs if ch in USER_CHANNELS}
            if key.partition(" ")[0] not in users and len(users) >= limits.users:
                return (f"Too many unique users across user-specific subscriptions from this IP (at most "
                        f"{limits.users}; {LIMIT_TEXT})")
        return None

    def on_subscription(self, method: str, sub: Any, text: str) -> None:
        kind = sub.get("type") if isinstance(sub, dict) else None
        if not isinstance(kind, str):  # (a list or object here is no type: looked up as a key, it raised and closed the socket)
            kind = None
        field = WS_CHANNELS.get(kind)
        if field is None and kind:
            self.error(f"Subscription type {kind} is not served by the twin (served: {', '.join(WS_CHANNELS)})")
            return
        try:
            if field is None:
                raise wire.malformed("type", sub.get("type")) if isinstance(sub, dict) else \
                    wire.malformed("subscription", sub)
            if field == "user and coin":  # (perps only, as on the venue: the twin lists none other)
                key = asset_data_key(wire.need_address(sub, "user"), wire.need_str(sub, "coin"))
            else:
                key = wire.need_str(sub, "coin") if field == "coin" else wire.need_address(sub, "user")
            if kind == "l2Book":  # (acked, a view the venue does not take streamed the whole book unaggregated)
                wire.check_book_view(sub.get("nSigFigs"), sub.get("mantissa"))
                fast = sub.get("fast")
                if fast is not None and not isinstance(fast, bool):  # ("yes", 1 were acked and streamed 20 levels)
                    raise wire.malformed("fast", fast)
        except MalformedAction as e:
            # the field at fault and its value (the venue's text for it is not on record)
            self.error(f"Invalid subscription {text[:200]} ({str(e).partition(': ')[2][:200]})")
            return
        refusal = self._over_limit(kind, key) if method == "subscribe" else None
        if refusal is not None:
            self.error(f"{refusal}: {text[:200]}")
            return
        if method == "unsubscribe" and kind != "l2Book" and (kind, key) not in self.conn.subs:
            # an unsubscribe "must match the original subscription" (hyperliquid.md §4): acked, one that matched
            # nothing (a coin or user never subscribed, or spelt otherwise) told the client a stream had stopped
            self._unmatched_unsubscribe(f"Invalid unsubscribe {text[:200]}: it matches no subscription of this "
                                        f"socket")
            return
        if kind == "l2Book":
            asked = (sub.get("nSigFigs"), sub.get("mantissa"), sub.get("fast") is True)
            held = self.book_subs.get(key)
            if method == "subscribe" and held is not None and held != asked:
                # the venue streams each view apart; the twin has one feed a coin: refused, not silently merged
                self.error(f"Subscription {text[:200]}: the twin serves one l2Book view a coin ({key} is subscribed "
                           f"with nSigFigs, mantissa, fast = {held}; the twin's text)")
                return
            if method == "unsubscribe" and held != asked:
                # the venue's unsubscribe must match the subscription: one that does not leaves the stream on
                self._unmatched_unsubscribe(f"Invalid unsubscribe {text[:200]}: it matches no l2Book subscription of "
                                            f"this socket")
                return
            if method == "subscribe":
                self.book_subs[key] = asked
            else:
                del self.book_subs[key]
        self.server.clock.catch_up()
        # the ack goes behind the frames already on their way to this socket (one ordered stream): written at once, it
        # overtook them, and an unsubscribed l2Book's frames in flight came after its unsubscribe's ack. Queued before
        # the subscription is made, so that a subscribe's snapshot still follows its ack
        ack = {"method": method, "subscription": sub}
        self.conn.in_order(lambda: self.send("subscriptionResponse", ack))
        if kind == "l2Book" and not self.stalled_books.get(key, True):
            del self.stalled_books[key]  # a stalled stream resumes on a resubscribe (and its snapshot goes out)
        if method == "subscribe":
            if kind == "l2Book":
                # (its nSigFigs and mantissa checked above); fast: the top FAST_BOOK_LEVELS a side (the venue's fast
                # feed is pushed more often; the twin's one feed is pushed at its own cadence either way)
                depth = FAST_BOOK_LEVELS if sub.get("fast") is True else None
                self.book_opts[key] = (sub.get("nSigFigs"), sub.get("mantissa"), depth)
            self._fill_pair.pop(key, None)
            self._funding_pair.pop(key, None)
            self.conn.subscribe(kind, key)
        else:
            self._fill_pair.pop(key, None)
            self._funding_pair.pop(key, None)
            self.conn.unsubscribe(kind, key)

    def _unmatched_unsubscribe(self, text: str) -> None:
        """The refusal of an unsubscribe that matches no subscription of this socket: an error frame where its ack
        would go, behind the frames already on their way (as an ack is), so that a client waiting for the answer to
        its unsubscribe gets it after what its earlier subscriptions drew."""
        self.conn.in_order(lambda: self.error(f"{text} (the twin's text; the venue's is not on record)"))

    async def on_post(self, req: dict, text: str) -> None:
        rid = req.get("id")
        request = req.get("request")
        if not wire.is_int(rid) or not isinstance(request, dict) or request.get("type") not in ("info", "action"):
            self.error(f"Error parsing JSON into valid websocket request: {text[:200]}")
            return
        self.server.clock.catch_up()
        payload = request.get("payload")
        if request["type"] == "info":
            reply = await self.server.info_reply_later(payload, self.host)
            if reply is None:
                return  # lost on the way, as a REST request would be: no reply comes
            status, body = reply
            response = {"type": "info", "payload": {"type": payload.get("type"), "data": body}} if status == 200 \
                else {"type": "error", "payload": f"{status} {body if body is not None else 'null'}"}
        else:
            try:
                status, body = await self.server.exchange_reply(payload, self._post_fifo)
            except Exception:  # a twin bug: every post still gets its answer, as a REST request gets a 500
                log.exception("ws post %s", rid)
                status, body = 500, "Internal Server Error"
            if status == 0:
                return  # lost on the way, or no answer in time: no reply comes (the venue has no status 0)
            response = {"type": "action", "payload": body} if status == 200 \
                else {"type": "error", "payload": f"{status} {body if body is not None else 'null'}"}
        self.send("post", {"id": rid, "response": response})

    # ------------------------------------------------------------------ pushes from the twin

    def on_push(self, push: Push) -> None:
        """Called inside the SimPy run; renders the venue's frame and queues it for the writer."""
        if self.closed or self.dead:
            return
        try:
            frame = self.render(push)
        except Exception:  # a push the renderer does not know must not stop the clock
            log.exception("cannot render %r", push)
            return
        if frame is not None:
            self.send_text(frame)

    def render(self, push: Push) -> str | None:
        insts = self.server.assets.by_coin
        if isinstance(push, ConnectionEvent):
            if not push.up:  # the twin dropped this socket: close it (or mute it); the client must reconnect
                self.server.note_outage(self.host, self.conn.model.next_change(self.server.exchange.env.now))
                if self.server.silent_drops:
                    self.dead = True
                    self.server.muted_ws += 1
                else:
                    self.closed = True
                    self.out.put_nowait(self._CLOSE)
            return None
        if isinstance(push, BookPush):
            if push.coin in self.stalled_books:
                return None
            n_sig, mantissa, depth = self.book_opts.get(push.coin, (None, None, None))
            return wire.dumps({"channel": "l2Book",
                               "data": wire.book_json(push, insts.get(push.coin), n_sig, mantissa, depth)})
        if isinstance(push, BboPush):
            return wire.dumps({"channel": "bbo", "data": wire.bbo_json(push, insts.get(push.coin))})
        if isinstance(push, TradePush):
            return wire.dumps({"channel": "trades", "data": [wire.trade_json(push, insts.get(push.coin))]})
        if isinstance(push, TradesSnapshot):
            inst = insts.get(push.coin)
            return wire.dumps({"channel": "trades", "data": [wire.trade_json(t, inst) for t in push.trades]})
        if isinstance(push, OrderUpdatePush):
            return wire.dumps({"channel": "orderUpdates",
                               "data": [wire.order_update_json(u, insts.get(u.order.coin)) for u in push.updates]})
        if isinstance(push, FillsPush):
            if self._fills_channel(push) == "user":
                return wire.dumps({"channel": "user", "data": wire.user_event_json(push, insts)})
            data: dict = {"isSnapshot": True} if push.is_snapshot else {}
            data.update({"user": push.user, "fills": [wire.fill_json(f, insts.get(f.coin)) for f in push.fills]})
            return wire.dumps({"channel": "userFills", "data": data})
        if isinstance(push, FundingPush):
            if self._funding_channel(push) == "user":
                return wire.dumps({"channel": "user", "data": wire.user_event_json(push, insts)})
            return wire.dumps({"channel": "userFundings", "data": wire.user_fundings_json(push, insts)})
        if isinstance(push, UserEventPush):
            return wire.dumps({"channel": "user", "data": wire.user_event_json(push, insts)})
        if isinstance(push, ActiveAssetData):
            return wire.dumps({"channel": "activeAssetData",
                               "data": wire.active_asset_data_json(push, insts.get(push.coin))})
        return None

    def _funding_channel(self, push: FundingPush) -> str:
        """The twin sends a funding payment to the userEvents and then the userFundings subscription, back to back
        on one socket; with both subscribed, the second copy is the ``userFundings`` frame."""
        if push.is_snapshot:
            return "userFundings"
        return self._paired(self._funding_pair, push.user, ("userEvents", "user"), ("userFundings", "userFundings"))

    def _fills_channel(self, push: FillsPush) -> str:
        """The twin sends a fill to the userFills and then the userEvents subscription, in that order and
        back to back on one socket; with both subscribed, the second copy is the ``user`` frame."""
        if push.is_snapshot:
            return "userFills"
        return self._paired(self._fill_pair, push.user, ("userFills", "userFills"), ("userEvents", "user"))

    def _paired(self, state: dict[str, bool], user: str, first: tuple[str, str], second: tuple[str, str]) -> str:
        """The channel of a push the twin sends to two subscriptions back to back, ``first`` then ``second`` (each
        (subscription type, channel name)), one of them at least subscribed: with both, copies alternate between
        them (``state`` holds, per user, whether the next is the second's)."""
        subs = self.conn.subs
        has_first, has_second = (first[0], user) in subs, (second[0], user) in subs
        if has_first and has_second:
            is_second = state.get(user, False)
            state[user] = not is_second
            return second[1] if is_second else first[1]
        return first[1] if has_first else second[1]


async def _read_body(request: web.Request) -> bytes | web.StreamResponse:
    """The request's body, or the answer already given when it cannot be read. A body its Content-Encoding does not
    decode (gzip that is not gzip) was an HTTP 500 and a traceback in the server's log, and a client gone before its
    body was all sent one more traceback. The first now gets HTTP 400 naming the encoding, and its connection is
    closed once that is sent: kept open, aiohttp went on reading the undecodable rest (to keep the connection) and
    logged the error again. The venue's answer is not on record: the text is the twin's."""
    try:
        return await request.read()
    except ConnectionResetError:  # the client is gone: nothing to answer
        return web.Response(status=400)
    except web.RequestPayloadError as e:
        cause = e.__cause__ or e
        reason = " ".join(str(getattr(cause, "message", cause)).split())  # (aiohttp's, on one line)
        response = web.Response(status=400, content_type="text/plain", text=(
            f"Cannot read the request body (Content-Encoding: {request.headers.get('Content-Encoding', 'none')}): "
            f"{reason} (the twin's text; the venue's is not on record)"))
        response.force_close()
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            pass
        request.protocol.force_close()  # (the transport's close still sends the answer written)
        return response


def _http(status: int, payload: Any) -> web.Response:
    if status == 422:
        return web.Response(status=422, text=str(payload), content_type="text/plain")
    return web.Response(status=status, text=wire.dumps(payload), content_type="application/json")


# ---------------------------------------------------------------------------------------------


class BackgroundServer:
    """A ``TwinServer`` on 127.0.0.1 in a thread of its own, for synchronous clients (the official SDK).

    ``with BackgroundServer(server) as bg: bg.base_url``; ``bg.call(fn)`` runs ``fn`` on the server's
    loop (the only thread that may touch the twin) and returns its result.
    """

    def __init__(self, server: TwinServer, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 10.0):
        self.server = server
        self.host = host
        self.port = port
        self.start_timeout_s = start_timeout_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def __enter__(self) -> "BackgroundServer":
        self._thread = threading.Thread(target=self._main, name="twin-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.start_timeout_s):
            raise RuntimeError(f"twin server did not start within {self.start_timeout_s} s")
        if self._error is not None:
            raise RuntimeError(f"twin server failed to start: {self._error}") from self._error
        return self

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as e:  # reported to __enter__
            self._error = e
            self._ready.set()
            self.loop.close()
            return
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self._runner.cleanup())
            self.loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.server.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def call(self, fn: Callable[..., Any], *args: Any, timeout_s: float = 5.0) -> Any:
        async def run() -> Any:
            self.server.clock.catch_up()
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout_s)

    def __exit__(self, *exc: Any) -> None:
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10.0)


class CannotListen(OSError):
    """``serve`` could not listen on its host and port (in use, not allowed, a host that does not resolve or is no
    host name at all): what the system said, apart from an error while serving."""


async def serve(server: TwinServer, host: str, port: int, on_ready: Callable[[str], None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or forever); ``on_ready`` gets the base URL once listening. CannotListen when it
    cannot listen there. The shutdown is bounded (``within``): requests in flight get ``HANDLER_GRACE_S`` to be
    answered, then are cancelled, and the whole of it ``SHUTDOWN_S``, past which it is cancelled and, still not
    over ``CANCEL_GRACE_S`` later, left: aiohttp's default waited 60 s on each handler, and a task that did not end
    on its cancel held the stop for good."""
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=HANDLER_GRACE_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except (OSError, UnicodeError) as e:  # (a host label over 63 characters: the idna codec's UnicodeError)
            raise CannotListen(str(e)) from e
        bound = runner.addresses[0]
        if on_ready is not None:
            on_ready(f"http://{bound[0]}:{bound[1]}")
        await (stop or asyncio.Event()).wait()
    finally:
        await within(runner.cleanup(), SHUTDOWN_S, "the server's shutdown", CANCEL_GRACE_S)
