"""Run the twin for a stretch of simulated time with a progress bar; used by ``python -m twin run``."""
from __future__ import annotations

import time

from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule
from twin.params import TwinParams
from twin.probe import ProbeClient


def run_until(env, until: float, progress: bool, desc: str = "simulating") -> None:
    """Advance ``env`` to ``until`` in 1% steps, drawing a tqdm bar of simulated seconds."""
    if not progress:
        env.run(until=until)
        return
    from tqdm import tqdm

    steps = 100
    with tqdm(total=round(until), unit="sim s", desc=desc, leave=False) as bar:
        done = 0
        for k in range(1, steps + 1):
            env.run(until=until * k / steps)
            now = round(env.now)
            bar.update(now - done)
            done = now


def run_probe_session(duration_s: float, seed: int = 0, params: TwinParams | None = None,
                      schedule: ChaosSchedule | None = None, progress: bool = False,
                      probe_interval_s: float = 1.0) -> dict:
    """One twin session with a probe client; returns its statistics."""
    ex = Exchange.build(params, seed, schedule)
    probe = ProbeClient(ex, "0x" + "11" * 20, interval_s=probe_interval_s)
    wall0 = time.perf_counter()
    run_until(ex.env, duration_s, progress)
    wall = time.perf_counter() - wall0
    acct = ex.accounts[probe.user]
    return {
        "simulated_s": duration_s,
        "wall_s": wall,
        "sim_s_per_wall_s": duration_s / wall if wall > 0 else float("inf"),
        "market_events": ex.counters["trades"] + ex.counters["book_updates"],
        "counters": dict(ex.counters),
        "probe_replies": dict(probe.replies),
        "probe_errors": dict(probe.errors),
        "probe_fills": probe.fills,
        "probe_position": acct.position("BTC").szi,
        "probe_account_value": acct.account_value(ex.marks),
        "quota": ex.user_rate_limit(probe.user),
    }
