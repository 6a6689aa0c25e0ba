"""How long ``python -m twin serve`` takes to end on a SIGTERM sent at seeded random moments, with clients that
behave as the live agent does (websocket subscriptions and posts, /info and /exchange requests), connected,
half-closed or gone. One server per kill; each line: the trial, its state, the seconds to exit and the status.

    python bench/serve_stop_search.py --trials 100 --seed 1

A server still running ``--hang-s`` after its SIGTERM is sent SIGABRT (run under ``-X faulthandler``: its stack is
printed) and counted as hung."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import numpy as np

from common.cli_errors import print_out
from common.files import ArgumentParser

ADDR = "0x" + "ab" * 20
STATES = ("idle", "clients", "half_closed", "after_clients")


async def _ws_client(url: str, rng: np.random.Generator, stop: asyncio.Event) -> None:
    """An agent-like socket: the book, trades and the account's channels subscribed, pings and info posts."""
    try:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url.replace("http", "ws") + "/ws") as ws:
                for kind in ("l2Book", "trades", "bbo"):
                    sub = {"type": kind, "coin": "BTC"}
                    await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
                for kind in ("orderUpdates", "userFills", "userEvents"):
                    sub = {"type": kind, "user": ADDR}
                    await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
                rid = 0
                while not stop.is_set():
                    rid += 1
                    await ws.send_str(json.dumps({"method": "post", "id": rid, "request": {
                        "type": "info", "payload": {"type": "clearinghouseState", "user": ADDR}}}))
                    if rid % 5 == 0:
                        await ws.send_str(json.dumps({"method": "ping"}))
                    try:
                        await ws.receive(timeout=float(rng.uniform(0.0, 0.05)))
                    except asyncio.TimeoutError:
                        pass
    except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError, RuntimeError):
        pass


async def _rest_client(url: str, rng: np.random.Generator, stop: asyncio.Event) -> None:
    """/info requests (the book, the account, open orders) and /exchange ones (unsigned: refused, still served)."""
    bodies = [("info", {"type": "l2Book", "coin": "BTC"}), ("info", {"type": "clearinghouseState", "user": ADDR}),
              ("info", {"type": "openOrders", "user": ADDR}), ("info", {"type": "metaAndAssetCtxs"}),
              ("exchange", {"action": {"type": "cancel", "cancels": []}, "nonce": 1, "signature": {}})]
    try:
        async with aiohttp.ClientSession() as s:
            while not stop.is_set():
                path, body = bodies[int(rng.integers(len(bodies)))]
                async with s.post(f"{url}/{path}", json=body) as r:
                    await r.read()
    except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError, RuntimeError):
        pass


def _half_closed(url: str) -> list[socket.socket]:
    """Sockets left half-done: a request's headers cut short, a request sent and the writing side shut, a websocket
    upgrade never read from."""
    host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
    socks = []
    for raw, shut in ((b"POST /info HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", False),
                      (b"POST /info HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{\"type\":\"meta\"}  ", True),
                      (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", False)):
        s = socket.create_connection((host, port))
        s.sendall(raw)
        if shut:
            s.shutdown(socket.SHUT_WR)
        socks.append(s)
    return socks


async def _drive(url: str, state: str, rng: np.random.Generator, proc: subprocess.Popen) -> float:
    """The clients of ``state`` run, the SIGTERM sent at a random moment; the wall time it was sent."""
    stop = asyncio.Event()
    tasks = []
    socks = _half_closed(url) if state == "half_closed" else []
    if state != "idle":
        for i in range(int(rng.integers(1, 4))):
            tasks.append(asyncio.create_task(_ws_client(url, np.random.default_rng(rng.integers(1 << 30)), stop)))
            tasks.append(asyncio.create_task(_rest_client(url, np.random.default_rng(rng.integers(1 << 30)), stop)))
    if state == "after_clients":
        await asyncio.sleep(float(rng.uniform(0.5, 2.0)))
        stop.set()
        await asyncio.wait(tasks, timeout=5.0)
    await asyncio.sleep(float(rng.uniform(0.2, 2.5)))
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.2)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for s in socks:
        s.close()
    return sent


def trial(i: int, rng: np.random.Generator, hang_s: float) -> tuple[str, float, float, int, str]:
    state = STATES[int(rng.integers(len(STATES)))]
    speed = float(rng.choice([1.0, 20.0, 200.0]))
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-u", "-m", "twin", "serve", "--port", "0",
                             "--speed", f"{speed:g}x", "--fund", f"{ADDR}=100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    url = line.split("listening on ", 1)[1].split(" ", 1)[0]
    sent = asyncio.run(_drive(url, state, rng, proc))
    try:
        proc.wait(hang_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(10)
    took = time.monotonic() - sent
    err = proc.stderr.read()
    return state, speed, took, proc.returncode, err


def main() -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=50, help="servers started, each stopped once (default 50)")
    p.add_argument("--seed", type=int, default=1, help="seed of the states, the moments and the clients (default 1)")
    p.add_argument("--hang-s", type=float, default=10.0,
                   help="seconds after its SIGTERM at which a server still running is taken as hung (default 10)")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    slow = 0
    for i in range(args.trials):
        state, speed, took, rc, err = trial(i, rng, args.hang_s)
        bad = took > 5.0 or rc != 143
        slow += bad
        print_out(f"{i} {state} {speed:g}x took {took:.2f}s rc {rc}" + (" SLOW/BAD" if bad else ""), flush=True)
        if bad:
            print_out("   " + err.strip().replace("\n", "\n   ")[-3000:], flush=True)
    print_out(f"{slow} of {args.trials} slow (> 5 s) or not 143", flush=True)


if __name__ == "__main__":
    main()
