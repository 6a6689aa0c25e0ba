"""One agent session against the in-process twin: build, run with a progress bar, summarise.

Used by ``python -m agent`` (venue twin), the tests and the benchmarks. The run folder gets
``decisions.jsonl`` (one line per quote cycle, plus fill lines), ``summary.json`` and
``config.json``; the summary's keys are a public interface documented in the README.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from agent.audit.records import JsonlWriter, end_record, run_folder_sink, start_record, write_json, write_whole
from agent.config import AgentConfig, with_venue_maker_fee
from agent.core import AgentCore
from agent.drivers import SimDriver
from agent.gateway.twin import TwinGateway
from agent.report import coin_amounts, level_history, trading_summary
from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule
from twin.params import TwinParams
from common.stop_signals import SignalsBetweenEvents
from twin.session import run_until
from common.stop_signals import StopSignal

USER = "0x" + "a1" * 20


def build_session(config: AgentConfig, seed: int, params: TwinParams | None = None,
                  schedule: ChaosSchedule | None = None, record_sink=None, event_log: list | None = None,
                  command_log: list | None = None, funds_usd: float | None = None):
    """The object graph of a twin session: exchange, gateway, core, driver (not yet started). The account is funded
    with ``funds_usd`` (None: the config's session.collateral_usd; calibration's replay gives the live account's)."""
    twin_seed, _ = np.random.SeedSequence(seed).spawn(2)
    ex = Exchange.build(params or TwinParams(), int(twin_seed.generate_state(1)[0]), schedule)
    funds = config.session.collateral_usd if funds_usd is None else funds_usd
    ex.fund(USER, funds, ex.instruments[config.session.coin].dex)  # the coin's dex margins it
    gateway = TwinGateway(ex, USER, config.session.coin, quota_poll_s=config.session.quota_poll_s,
                          action_ttl_s=config.risk.ack_timeout_s, bbo=config.session.bbo_feed)
    inst = ex.instruments[config.session.coin]
    core = session_core(config, seed, inst.tick, inst.sz_decimals, inst.maker_fee * 1e4)
    driver = SimDriver(ex.env, gateway, core, config.session.cycle_s, record_sink, event_log, command_log)
    return ex, gateway, core, driver


_INTERRUPTED = "interrupted (Ctrl-C)"  # the end line's reason for a run Ctrl-C cut short (the summary's `interrupted`)


def session_core(config: AgentConfig, seed: int, tick: float, sz_decimals: int,
                 venue_maker_fee_bps: float | None = None) -> AgentCore:
    """A twin session's core as ``build_session`` builds it (its generator the second spawned from the seed,
    the twin's the first; the twin's maker fee, the venue's rate Shadow's paper fills pay where the config names
    none): a fresh one fed the session's events decides as the session's did (calibration replays them so, to
    recover every command's sending time)."""
    _, agent_seq = np.random.SeedSequence(seed).spawn(2)
    return AgentCore(with_venue_maker_fee(config, venue_maker_fee_bps), np.random.default_rng(agent_seq), tick=tick,
                     sz_decimals=sz_decimals)


class RunFolderError(Exception):
    """The run folder could not be written (a full disk, a quota, a folder removed under the run). ``error``: what
    the system said; ``summary``: the session's summary when it ran (a failure while it ran leaves the folder
    incomplete, not the session: the summary is computed in memory, not from the folder), None when the folder
    failed before it started."""

    def __init__(self, folder: Path, error: OSError, summary: dict | None = None) -> None:
        self.folder = folder
        self.error = error
        self.summary = summary
        name = f" ({Path(error.filename).name})" if error.filename else ""
        super().__init__(f"{error.strerror or error}{name}")


def open_run_folder(out: Path, name: str, text: str, segment_bytes: int) -> JsonlWriter:
    """A simulated run's folder made, ``name`` (what the run is: its config, its scenario) written in it, and the
    decision log's writer opened; RunFolderError (no summary: nothing ran) when any of it fails. ``name`` is written
    whole or not at all (``write_whole``): written in place, a full disk left the first bytes of a config.json under
    its name, no JSON, which the audit's note offers to ``python -m agent --config``."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_whole(out / name, lambda f: f.write(text.encode()))
        return JsonlWriter(out / "decisions.jsonl", segment_bytes=segment_bytes)
    except OSError as e:
        raise RunFolderError(out, e) from e


def run_session(config: AgentConfig, seed: int, duration_s: float, out: Path | None = None,
                params: TwinParams | None = None, schedule: ChaosSchedule | None = None,
                progress: bool = False) -> dict:
    """Run one session; returns the summary (and writes the run folder when ``out`` is given).

    Ctrl-C (KeyboardInterrupt) ends the run where it is, not the program: the log is closed whole and
    the summary covers the simulated time so far, with ``interrupted`` set (a day-long run stopped an
    hour in still says what that hour did). So does a StopSignal (common.stop_signals), its end line naming it.
    Either is raised between two events (run_until holds it to the end of the one it came in): the log holds a
    cycle line for each cycle the summary counts, and every command sent.

    A run folder that cannot be written raises RunFolderError: before the session (config.json, the log's
    creation) with no summary; during or after it with the summary, the session having run to its end. The first
    failed write stops the folder's writes (the log would go on with lines missing, a summary.json would speak for
    a log that is not whole), not the session: it did not depend on them, and its summary is what the operator
    asked for. A full disk was a bare OSError traceback, from the log's writer or its close, after the run."""
    # a signal while the folder's first files are written and the session is made is held to the run's first event:
    # the run ends there, its folder and summary as any cut run's (raised where it landed, it left the folder empty,
    # or a log and no summary, and python -m agent said it came once the run had ended)
    with SignalsBetweenEvents() as held:
        writer = None
        if out is not None:
            writer = open_run_folder(out, "config.json", config.model_dump_json(indent=2),
                                     config.session.log_segment_bytes)
        failed: list[OSError] = []  # the first write that failed (the folder is written no more)
        to_folder = run_folder_sink(writer, out) if writer is not None else None

        def guarded(write, *a) -> None:
            if failed:
                return
            try:
                write(*a)
            except OSError as e:
                failed.append(e)

        sink = (lambda rec: guarded(to_folder, rec)) if to_folder is not None else None
        ex, gateway, core, driver = build_session(config, seed, params, schedule, sink)
        if writer is not None:
            guarded(writer.write, start_record(ex.env.now, config, venue="twin", seed=seed, duration_s=duration_s,
                                               custom_twin_params=params is not None))
        driver.start()
        wall0 = time.perf_counter()
        ended = "error"
        try:
            held.deliver()
            run_until(ex.env, duration_s, progress, desc="agent vs twin")
            held.deliver()  # (one after the last event: run_until's block is this one, which delivers as it ends)
            ended = "duration reached"
        except KeyboardInterrupt as e:
            ended = e.name if isinstance(e, StopSignal) else _INTERRUPTED
            duration_s = float(ex.env.now)
        finally:
            if writer is not None:
                guarded(writer.write, end_record(float(ex.env.now), ended))
                try:  # (after a failed write too: the file is closed either way)
                    writer.close()
                except OSError as e:
                    failed.append(e)
    wall = time.perf_counter() - wall0
    summary = summarise(ex, gateway, core, driver, duration_s, wall, seed)
    summary["interrupted"] = ended != "duration reached"
    if out is not None:
        guarded(write_json, out / "summary.json", summary)
        guarded(write_json, out / "level_history.json", level_history(core))
        if failed:
            raise RunFolderError(out, failed[0], summary)
    return summary


def summarise(ex: Exchange, gateway: TwinGateway, core: AgentCore, driver: SimDriver, duration_s: float,
              wall_s: float, seed: int, start_s: float = 0.0) -> dict:
    """The run's summary.json. ``start_s``: the core's time when the run began (a scenario's pre-roll; 0 for a
    session): its times, the transitions' ``ts`` and the timeline's buckets, are seconds after that, as everything
    else in a scenario's folder is. On the core's clock, a scenario's were its pre-roll late (1 s cold, 60 s warm),
    and its timeline's buckets covered the pre-roll and left out as much of the run's end."""
    venue_used, venue_cap, _ = ex.quotas[gateway.user].status()
    led = core.ledger
    out = {
        "seed": seed,
        "simulated_s": duration_s,
        "wall_s": round(wall_s, 3),
        "sim_s_per_wall_s": round(duration_s / wall_s, 1) if wall_s > 0 else None,
        **trading_summary(core),
        "position": coin_amounts({"final": led.position, "max_abs": led.max_abs_position,
                                  "max_worst_case": core.max_worst_case, "limit": core.cfg.risk.max_position}),
        "rate_limited": {"ip_429": gateway.counters["rate_limited_ip"],
                         "address": gateway.counters["rate_limited_address"]},
        "disconnects": gateway.counters["disconnects"],
        "requests": {"sent": gateway.counters["requests"], "items": gateway.counters["request_items"],
                     "venue_used": venue_used, "venue_cap": venue_cap},
        "venue_position": ex.accounts[gateway.user].position(core.cfg.session.coin).szi,
        "signal_weights": dict(core.signals.weights),
        "timeline": timelines(core, duration_s, start_s=start_s),
    }
    if start_s:
        for ladder in ("safety", "exposure"):
            for tr in out[ladder]["transitions"]:
                tr["ts"] = round(tr["ts"] - start_s, 3)
    return out


TIMELINE_BUCKETS = 30


def timelines(core: AgentCore, duration_s: float, n: int = TIMELINE_BUCKETS, start_s: float = 0.0) -> dict:
    """Compact level timelines, one digit per 1/n of the run (from the core's ``start_s``): the lowest exposure
    level (0 Shadow … 5 Optimized) and the highest safety level (0 Green … 4 Kill) held in each bucket."""
    if not duration_s > 0:  # Ctrl-C before the first event: no bucket, but every documented key
        return {"buckets": 0, "bucket_s": 0.0, "exposure": "", "safety": ""}
    exposure = core.exposure.history.timeline_str(n, start_s + duration_s, start_s)
    width = duration_s / n
    hist = list(core.safety.history)
    level = int(hist[0].from_level) if hist else int(core.safety.level)
    safety = []
    j = 0
    for i in range(n):
        hi = start_s + (i + 1) * width
        worst = level
        while j < len(hist) and hist[j].ts < hi:
            level = int(hist[j].to_level)
            worst = max(worst, level)
            j += 1
        safety.append(str(worst))
    return {"buckets": n, "bucket_s": width, "exposure": exposure, "safety": "".join(safety)}
