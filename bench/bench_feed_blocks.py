"""How the twin's prints reach a subscriber against its blocks: the venue makes a block about every 70 ms and sends
its trades and its bbo (when it changed) per block, each stamped with the block's time (hyperliquid.md §4,
"Subscriptions"; WsTrade's unique id is (block_time, coin, tid)).

A session of the agent (the default config, or a bench_agent profile) runs ``--minutes`` on ``--seed``; beside it a
second socket, opened after the agent's (its own latency draws: the agent's run is as without it), subscribes to the
coin's trades and bbo. The twin's blocks are the instants its bbo feed looks at the book (``("bbo", coin) in subs``,
read once a block; a dict that notes each such look stands in for the exchange's). Per session: the prints the socket
got; the share whose ``time`` is no block's; the share pushed before their block ended (a print's block: the first
block at or after its time); and, of the prints whose block changed the bbo, the share that arrived before that
block's bbo frame, which shows the book the block ended on. Usage:

    python bench/bench_feed_blocks.py [--seed 1] [--minutes 10] [--profile default|stress]
"""
from __future__ import annotations

import argparse
import bisect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agent.config import AgentConfig  # noqa: E402
from agent.session import build_session  # noqa: E402
from bench_agent import PROFILES, profile_session, session_minutes, session_seeds  # noqa: E402
from common.cli_errors import print_out  # noqa: E402
from common.files import ArgumentParser  # noqa: E402
from twin.messages import BboPush, TradePush  # noqa: E402


class _NotedSubs(dict):
    """The exchange's subscriptions, noting the sim time of every look at a bbo key (the bbo feed's, once a block)."""

    def __init__(self, subs: dict, env, looks: list) -> None:
        super().__init__(subs)
        self._env, self._looks = env, looks

    def __contains__(self, key) -> bool:
        if key[0] == "bbo" and (not self._looks or self._looks[-1] != self._env._now):
            self._looks.append(self._env._now)
        return dict.__contains__(self, key)


def measure(profile: str, seed: int, minutes: float) -> dict:
    cfg, params = profile_session(profile) if profile != "config" else (AgentConfig(), None)
    ex, _, _, driver = build_session(cfg, seed, params)
    looks: list[float] = []
    ex._subs = _NotedSubs(ex._subs, ex.env, looks)
    driver.start()
    coin = cfg.session.coin
    got: list[tuple[float, object]] = []
    conn = ex.connect(lambda push: got.append((ex.env._now, push)))
    conn.subscribe("bbo", coin)
    conn.subscribe("trades", coin)
    pushed: dict[int, float] = {}  # each print's push time, by its id (tid: unique)
    publish = ex._publish

    def noted(key, push):
        if isinstance(push, TradePush):
            pushed.setdefault(push.tid, ex.env._now)
        publish(key, push)
    ex._publish = noted
    ex.env.run(until=minutes * 60.0)
    # a block's ms as the feed stamps it: the twin's clock floored, or whole ms of a grid read back off a float (the
    # reading under which every bbo frame's time is a block's)
    stamped = {p.time_ms for _, p in got if isinstance(p, BboPush)}
    blocks = []
    for ms in (lambda t: int(t * 1000.0), lambda t: round(t * 1000.0)):
        blocks = sorted({ex.epoch_ms + ms(t) for t in looks})
        if stamped <= set(blocks):
            break
    bbo_at = {}  # a block bbo frame's place in the arrivals (two frames can land in one instant), by its time
    for i, (_, p) in enumerate(got):
        if isinstance(p, BboPush) and p.coin == coin:
            bbo_at.setdefault(p.time_ms, i)
    prints = [(i, p) for i, (_, p) in enumerate(got) if isinstance(p, TradePush)]
    off = early = with_bbo = ahead = 0
    for at, p in prints:  # (at: the place in the arrivals)
        i = bisect.bisect_left(blocks, p.time_ms)
        if i == len(blocks):
            continue
        block = blocks[i]
        off += block != p.time_ms
        early += ex.epoch_ms + pushed[p.tid] * 1000.0 < block - 0.5  # pushed before its block ended
        if block in bbo_at:
            with_bbo += 1
            ahead += at < bbo_at[block]
    n = max(len(prints), 1)
    return {"prints": len(prints), "off_block": off / n, "before_block_end": early / n,
            "with_bbo": with_bbo, "ahead_of_bbo": ahead / max(with_bbo, 1), "blocks": len(blocks)}


def main() -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=session_seeds, default=1,
                    help="the twin's and the agent's seed (default 1)")
    ap.add_argument("--minutes", type=session_minutes, default=10.0,
                    help="simulated minutes (default 10)")
    ap.add_argument("--profile", choices=["config", *PROFILES], default="config",
                    help="the agent: the default config (python -m agent's), or a bench_agent profile (default config)")
    a = ap.parse_args()
    m = measure(a.profile, a.seed, a.minutes)
    print_out(f"{a.profile} seed {a.seed}, {a.minutes:g} min: {m['prints']} prints over {m['blocks']} blocks; "
              f"time not a block's {m['off_block']:.1%}; pushed before their block ended {m['before_block_end']:.1%}; "
              f"of the {m['with_bbo']} in a block whose bbo changed, arrived before that bbo "
              f"{m['ahead_of_bbo']:.1%}", flush=True)


if __name__ == "__main__":
    main()
