"""The served twin against requests a client gets wrong below the JSON: bodies that cannot be read, handshakes and
frames the protocol does not expect. Each gets an answer (or, from a client gone, nothing), no traceback in the
server's log, and the server goes on serving. Real sockets on 127.0.0.1."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import zlib

import pytest
import requests

from test_server import TIMEOUT, _frames_until, greeted, post, quiet_params, venue
from twin.server.app import BackgroundServer, TwinServer, build_exchange
from twin.server.limits import WsLimits


def _raw(bg, data: bytes, read: bool = True) -> bytes:
    """``data`` sent on a fresh connection; what came back until the server closed it (or nothing, ``read`` off:
    the client hangs up at once)."""
    with socket.create_connection((bg.host, bg.port), timeout=TIMEOUT) as s:
        s.sendall(data)
        got = b""
        while read and (chunk := s.recv(65536)):
            got += chunk
    return got


def _errors(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_body_its_content_encoding_does_not_decode_is_a_400_naming_it_and_the_connection_closes(caplog):
    """gzip that is not gzip was an HTTP 500 ("Server got itself in trouble") and two tracebacks in the server's log:
    the handler's, then aiohttp's as it read on through the rest of the body to keep the connection."""
    caplog.set_level(logging.ERROR)
    with venue() as bg:
        for path in ("/info", "/exchange"):
            r = requests.post(bg.base_url + path, data=b'{"type":"meta"}', timeout=TIMEOUT,
                              headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
            assert r.status_code == 400, (r.status_code, r.text)
            assert r.text.startswith("Cannot read the request body (Content-Encoding: gzip): ") and "twin" in r.text
            assert r.headers.get("Connection") == "close"
        deflated = zlib.compress(b'{"type":"meta"}')  # an encoding that does decode is read as the body it holds
        r = requests.post(bg.base_url + "/info", data=deflated, timeout=TIMEOUT,
                          headers={"Content-Type": "application/json", "Content-Encoding": "deflate"})
        assert r.status_code == 200 and "universe" in r.json()
        assert post(bg, "/info", {"type": "meta"}).status_code == 200
    assert _errors(caplog) == []


def test_a_client_gone_before_its_body_is_sent_leaves_no_traceback_and_the_server_serving(caplog):
    """A request whose Content-Length promised more than the client sent before it hung up: the handler's read
    raised ConnectionResetError, logged as "Error handling request" with its traceback."""
    caplog.set_level(logging.ERROR)
    with venue() as bg:
        for path in (b"/info", b"/exchange"):
            _raw(bg, b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"type\"", read=False)
        assert post(bg, "/info", {"type": "meta"}).status_code == 200
    assert _errors(caplog) == []


_UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def test_a_client_gone_before_its_websocket_handshake_is_answered_leaves_no_traceback_and_no_place_held(caplog):
    """An upgrade request sent and the connection closed at once: writing the handshake's answer raised
    ClientConnectionResetError out of the handler, logged with its traceback. The connection's place under the
    server limit is given back either way (the venue's 10 sockets an IP)."""
    caplog.set_level(logging.ERROR)
    with venue() as bg:
        for _ in range(12):  # more than the limit's 10
            _raw(bg, _UPGRADE, read=False)
        got = _raw(bg, _UPGRADE + b"\x88\x82abcd" + bytes(a ^ b for a, b in zip(b"\x03\xe8", b"ab")))  # then a close
        assert got.startswith(b"HTTP/1.1 101"), got[:80]
        assert bg.call(lambda: bg.server.budget("127.0.0.1").open) == 0
    assert _errors(caplog) == []


async def _answers(bg, frames: list) -> list:
    """Each of ``frames`` (text, or bytes sent as a binary frame) sent on one socket, then a ping: the error frames
    and acks that came back before its pong (the book's stream left out)."""
    async with greeted(bg) as ws:
        for frame in frames:
            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        await ws.send_str(json.dumps({"method": "ping"}))
        got = await _frames_until(ws, lambda f: isinstance(f, dict) and f["channel"] == "pong")
    return [f for f in got if isinstance(f, dict) and f["channel"] in ("error", "subscriptionResponse")]


def test_a_binary_frame_gets_an_error_frame_and_counts_as_a_message():
    """A binary frame (a ping's JSON in it) was dropped without a word and not counted: a client waited on a pong or
    a post's answer that never came, and sent past the venue's messages a minute unrefused."""
    limits = WsLimits(messages_per_minute=2)

    async def scenario(bg):
        async with greeted(bg) as ws:
            for frame in (b'{"method":"ping"}', b"\xff\x00", b"x"):  # the third is past the 2 a minute
                await ws.send_bytes(frame)
            return await _frames_until(ws, lambda f: isinstance(f, dict) and f["data"].startswith("Too many"))

    with BackgroundServer(TwinServer(build_exchange(quiet_params(), seed=7), limits=limits)) as bg:
        got = [f for f in asyncio.run(scenario(bg)) if f["channel"] == "error"]
    assert [f["data"].partition(":")[0] for f in got] == [
        "Binary frame of 17 bytes", "Binary frame of 2 bytes", "Too many messages sent to the server from this IP (at "
        "most 2 a minute; the twin's refusal; the venue's is UNCONFIRMED)"], got


@pytest.mark.parametrize("sub, named", [
    ({"type": "l2Book", "coin": "BTC", "fast": "yes"}, "fast = 'yes'"),
    ({"type": "l2Book", "coin": "BTC", "fast": 1}, "fast = 1"),
    ({"type": "l2Book"}, "coin = None"),
    ({"type": "trades", "coin": 5}, "coin = 5"),
    ({"type": "userFills", "user": "0x12"}, "user = '0x12'"),
    ({"coin": "BTC"}, "type = None"),
    ("l2Book", "subscription = 'l2Book'"),
])
def test_an_invalid_subscription_is_refused_naming_its_field_and_value(sub, named):
    """l2Book's fast is the venue's bool: "yes" or 1 was acked and streamed the plain 20 levels. Every invalid
    subscription's error frame said only "Invalid subscription" and the message: now which field, and its value."""
    with venue() as bg:
        got = asyncio.run(_answers(bg, [json.dumps({"method": "subscribe", "subscription": sub})]))
    assert [f["channel"] for f in got] == ["error"], got
    assert got[0]["data"].startswith("Invalid subscription {") and got[0]["data"].endswith(f"({named})"), got


def test_a_fast_l2book_subscription_of_true_false_or_null_is_acked():
    with venue() as bg:
        for fast in (True, False, None):
            sub = {"type": "l2Book", "coin": "BTC", "fast": fast}
            got = asyncio.run(_answers(bg, [json.dumps({"method": "subscribe", "subscription": sub})]))
            assert got == [{"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}}]


def _frame(text: str) -> bytes:
    """A client's text frame, masked as a client's must be."""
    payload, mask = text.encode(), b"\x01\x02\x03\x04"
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def test_a_client_that_stops_reading_is_dropped_once_its_unread_frames_pass_the_bound_and_others_go_on():
    """A client that subscribed (and posted) and then stopped reading (its socket's buffers full) while keeping the
    socket open:
    the twin queued its frames without bound, some 16 MB an hour at 1x for as long as it stayed. Past
    ``max_unread_frames`` the connection is dropped; a client reading on the same server is not touched."""
    server = TwinServer(build_exchange(quiet_params(), seed=7), speed=20.0, max_unread_frames=50,
                        limits=WsLimits(messages_per_minute=10**6, posts_in_flight=10**6))

    async def reader(bg):
        async with greeted(bg) as ws:
            await ws.send_str(json.dumps({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}))
            deadline = time.monotonic() + 30.0
            while not bg.call(lambda: server.dropped_unread) and time.monotonic() < deadline:
                await _frames_until(ws, lambda f: isinstance(f, dict) and f["channel"] == "l2Book")
            await ws.send_str(json.dumps({"method": "ping"}))
            await _frames_until(ws, lambda f: isinstance(f, dict) and f["channel"] == "pong")
            return bg.call(lambda: server.dropped_unread), bg.call(lambda: server.budget("127.0.0.1").open)

    with BackgroundServer(server) as bg, socket.socket() as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect((bg.host, bg.port))
        stuck.sendall(_UPGRADE + b"".join(_frame(json.dumps({"method": "subscribe", "subscription": {
            "type": kind, "coin": "BTC"}})) for kind in ("l2Book", "bbo", "trades")))
        post = _frame(json.dumps({"method": "post", "id": 1, "request": {"type": "info", "payload": {
            "type": "l2Book", "coin": "BTC"}}}))
        stuck.sendall(post * 3000)  # (their answers fill its buffers sooner than the streams do)
        dropped, still_open = asyncio.run(reader(bg))
        assert (dropped, still_open) == (1, 1)  # the stuck one dropped, the reader's socket open
        stuck.settimeout(TIMEOUT)  # what was buffered is read, then the connection ends (kept, a timeout)
        with contextlib.suppress(ConnectionResetError):
            while stuck.recv(1 << 16):
                pass
