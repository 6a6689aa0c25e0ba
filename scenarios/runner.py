"""Run one scenario on one seed: build the twin, put the starting state in place, run the real agent
core (or a variant of it), sample the venue, then check the scenario's invariants.

The order of a run: the market pre-rolls (``start.warmup_s`` when the models are warm, else 1 s,
so that the venue has a book); the starting state is set at the venue; the agent starts (its
first act is to ask for the account's state) and runs ``duration_s``; then it shuts down (pulls
everything) and the twin runs ``WIND_DOWN_S`` more so in-flight messages land. A crash of the
agent is a failure like any broken invariant.
"""
from __future__ import annotations

import contextlib
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from agent.audit.inspect import describe
from agent.audit.records import run_folder_sink, write_json, write_whole
from agent.config import with_venue_maker_fee
from agent.core import AgentCore, snapshot_backoff_cap
from agent.execution.budget import quoting_leaves_snapshot_room
from agent.drivers import SimDriver
from agent.gateway.base import order_name
from agent.gateway.events import Batch, BookUpdated, Side, TradeObserved
from agent.gateway.fills import fill_key
from agent.gateway.twin import TwinGateway
from agent.session import USER, RunFolderError, open_run_folder, summarise
from scenarios.invariants import Violation
from scenarios.runlog import QuotaCharge, RestingOrder, RunLog, SentCommand, VenueFill
from scenarios.schema import Scenario, ScenarioError
from twin.calls import Environment
from twin.exchange import Exchange
from twin.market.base import Shock
from twin.market.replay import ReplayMarket
from twin.market.synthetic import SyntheticMarket
from twin.messages import BookPush, TradePush
from twin.seeding import SeedingError, rest_order, set_position, set_quota_remaining, set_traded_volume
from common.files import describe_invalid, read_text
from common.stop_signals import SignalsBetweenEvents
from twin.session import advance

WIND_DOWN_S = 15.0
SEEDED_CLOID_PREFIX = 0xDEAD  # orders left by "the earlier run": a prefix the agent's cloids never use


@dataclass
class ScenarioResult:
    scenario: Scenario
    seed: int
    log: RunLog
    violations: list[Violation] = field(default_factory=list)
    error: str | None = None  # the agent or the twin raised: the traceback
    summary: dict = field(default_factory=dict)
    wall_s: float = 0.0
    agent: str = "AgentCore"

    @property
    def ok(self) -> bool:
        return not self.violations and self.error is None

    def broke(self, name: str) -> Violation | None:
        return next((v for v in self.violations if v.invariant == name), None)

    def report(self, records_before: int = 6, records_after: int = 3) -> str:
        """What broke, when, and the decision records around it."""
        head = f"scenario {self.scenario.name} (seed {self.seed}, agent {self.agent})"
        if self.ok:
            return f"{head}: all {len(self.scenario.invariants)} invariants hold"
        lines = [f"{head}: FAILED"]
        if self.error:
            lines.append("the run crashed:\n" + self.error)
        for v in self.violations:
            lines.append(f"- {v.invariant} broke at t={v.t:.2f} s: {v.message}")
            around = self.log.records_around(v.t, records_before, records_after)
            if around:
                lines.append("  decision records around it:")
                lines.extend("    " + describe_record(r) for r in around)
        return "\n".join(lines)


class ScenarioFolderError(RunFolderError):
    """The run folder failed while the scenario ran or as it was written (a full disk): the scenario ran to its end
    (it did not depend on the folder), and ``result`` is what it found; the folder is left without result.json."""

    def __init__(self, folder: Path, error: OSError, result: ScenarioResult) -> None:
        super().__init__(folder, error, result.summary)
        self.result = result


def describe_record(r: dict) -> str:
    """One line per decision record, for failure reports: the line ``python -m agent.audit`` prints, timed
    from the agent's start (``t``) as the invariants are."""
    return "t=" + describe({**r, "ts": r.get("t", math.nan)}, wall=False)


class _RecordingGateway:
    """The twin gateway, with every command written down as it leaves (with the venue's state then)."""

    def __init__(self, inner: TwinGateway, ex: Exchange, coin: str, t0: float) -> None:
        self.inner = inner
        self.ex = ex
        self.coin = coin
        self.t0 = t0
        self.core = None
        self.sent: list[SentCommand] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def start(self, sink) -> None:
        self.inner.start(sink)

    def send(self, cmd) -> None:
        ex = self.ex
        user = self.inner.user
        t = ex.env.now - self.t0
        pos = ex.accounts[user].position(self.coin).szi
        q = ex.quotas[user]
        cap = q.cap
        core = self.core
        level = int(core.safety.level) if core is not None else 0
        agent_pos = core.tracker.position if core is not None else math.nan
        items = cmd.commands if isinstance(cmd, Batch) else (cmd,)
        headroom = cap - q.used
        for k, c in enumerate(items):
            # each item at the headroom the ones before it in the batch leave (the venue charges a batch one request
            # an item): all at the batch's, 600 places sent at 700 read as 700 each, and spent the cancels' reserve
            # unseen
            self.sent.append(SentCommand(t, c, len(items), pos, agent_pos, level, headroom - k, cap))
        self.inner.send(cmd)


def _markets(scenario: Scenario, ex_params, schedule, base: Path | None):
    """Markets the exchange should run instead of its own: a replay file, or a synthetic market with a
    seed of its own. None: the exchange builds its synthetic market from the run's seed."""
    m = scenario.market
    if m.recorded:
        return {m.coin: ReplayMarket(m.recorded_path(base), coin=m.coin)}
    if m.seed is None:
        return None
    shocks = []
    for ev in schedule.events:
        if ev.kind == "price_jump":
            shocks.append(Shock(ev.at_s, "price_jump", ev.fraction))
        elif ev.kind == "regime":
            shocks.append(Shock(ev.at_s, "regime", float(ev.regime), ev.duration_s))
        elif ev.kind == "market_param":
            shocks.append(Shock(ev.at_s, "param", ev.value, name=ev.name))
    inst = ex_params.instrument(m.coin)
    return {m.coin: SyntheticMarket(ex_params.markets[m.coin], np.random.default_rng(m.seed), coin=m.coin,
                                    tick=inst.tick, lot=inst.lot, shocks=shocks, chunk_seconds=60.0)}


def _warm(ex: Exchange, core, coin: str):
    """Let the core's estimators watch the market (book and trades only, through ``AgentCore.watch``: the session
    starts, and asks for the account's state, at the agent's start)."""
    def on_push(push) -> None:
        ts = ex.env.now
        if isinstance(push, BookPush) and push.bids and push.asks:
            ev = BookUpdated(ts, push.coin, tuple((b[0], b[1]) for b in push.bids),
                             tuple((a[0], a[1]) for a in push.asks), push.time_ms)
        elif isinstance(push, TradePush):
            ev = TradeObserved(ts, push.coin, push.px, push.sz, Side.BUY if push.side == "B" else Side.SELL,
                               fill_key(push.time_ms, push.tid))  # as TwinGateway keys a print
        else:
            return
        core.watch(ev)  # (handle would start the session: its snapshot request, dropped, was counted as sent)
        core.discard_records()
    conn = ex.connect(on_push)
    conn.subscribe("l2Book", coin)
    conn.subscribe("trades", coin)
    return conn


def _seed_state(scenario: Scenario, ex: Exchange, user: str) -> None:
    st = scenario.start
    coin = scenario.market.coin
    inst = ex.instruments[coin]
    if st.traded_volume_usd:
        set_traded_volume(ex, user, coin, st.traded_volume_usd)
    if st.position:
        try:
            set_position(ex, user, coin, st.position, st.entry_px)
        except SeedingError as e:
            raise ScenarioError(f"start.position {st.position!r}: {e}") from None
    mid = ex.marks[coin]
    for k, o in enumerate(st.resting_orders):
        is_buy = o.side == "buy"
        if o.px is not None:
            px = o.px
        else:
            raw = mid * (1.0 + o.offset_bps / 1e4)
            steps = raw / inst.tick
            px = (math.floor(steps + 1e-9) if is_buy else math.ceil(steps - 1e-9)) * inst.tick
            px = round(px, 10)
        try:
            rest_order(ex, user, coin, is_buy, px, o.sz, cloid=f"0x{SEEDED_CLOID_PREFIX:08x}{k + 1:024x}",
                       reduce_only=o.reduce_only)
        except SeedingError as e:  # (a price that crosses the book the market has at the start: known only now)
            raise ScenarioError(f"start.resting_orders.{k}: {e}") from None
    if st.quota_remaining is not None:
        set_quota_remaining(ex, user, st.quota_remaining)


def _unbegin(writer, out: Path) -> None:
    """The files ``open_run_folder`` wrote for a run that never started removed (the scenario, the log while it is
    still empty), so that the folder can be removed as one a stopped command made and a run into it is no earlier
    run's."""
    writer.close()
    log = out / "decisions.jsonl"
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0:
            log.unlink()
            (out / "scenario.json").unlink()


def run_scenario(scenario: Scenario, seed: int, *, agent_cls: type = AgentCore, out: Path | None = None,
                 progress: bool = False, base_dir: Path | None = None) -> ScenarioResult:
    """Run ``scenario`` on ``seed`` with ``agent_cls`` (AgentCore or a subclass); check its invariants.
    ``out``: write the run folder there (decisions.jsonl, level_history.json, samples, result; the timeline is
    ``draw_timeline``'s, after). A folder that cannot be made raises RunFolderError; one that fails later (a full
    disk) stops being written, the scenario runs to its end, and ScenarioFolderError carries its result."""
    cfg = scenario.agent
    coin = scenario.market.coin
    st = scenario.start
    t0 = scenario.preroll_s()
    params = scenario.twin_params()
    schedule = scenario.schedule(offset_s=t0)
    # the same seeding as agent.session.build_session: one seed → the same twin and the same agent
    twin_seq, agent_seq = np.random.SeedSequence(seed).spawn(2)
    markets = _markets(scenario, params, schedule, base_dir)
    if markets is None:
        ex = Exchange.build(params, int(twin_seq.generate_state(1)[0]), schedule)
    else:
        ex = Exchange(Environment(), params, int(twin_seq.generate_state(1)[0]), schedule, markets=markets)
    env = ex.env
    inst = ex.instruments[coin]
    ex.fund(USER, cfg.session.collateral_usd, inst.dex)  # the coin's dex margins it
    # (and as build_session's core, Shadow's paper fills pay the twin's maker fee where the config names none)
    core = agent_cls(with_venue_maker_fee(cfg, inst.maker_fee * 1e4), np.random.default_rng(agent_seq), tick=inst.tick,
                     sz_decimals=inst.sz_decimals)
    inner = TwinGateway(ex, USER, coin, quota_poll_s=cfg.session.quota_poll_s, action_ttl_s=cfg.risk.ack_timeout_s,
                        bbo=cfg.session.bbo_feed)
    gateway = _RecordingGateway(inner, ex, coin, t0)
    gateway.core = core

    records: list[dict] = []
    writer = None
    if out is not None:
        out = Path(out)
        writer = open_run_folder(out, "scenario.json", scenario.model_dump_json(indent=2),
                                 cfg.session.log_segment_bytes)
    to_folder = run_folder_sink(writer, out) if writer is not None else None
    failed: list[OSError] = []  # the folder's first failed write (a full disk): it is written no more

    def sink(rec: dict) -> None:
        rec["t"] = rec.get("ts", env.now) - t0
        records.append(rec)
        if to_folder is not None and not failed:
            try:  # (raised into the agent's driver, it was taken for the agent crashing)
                to_folder(rec)
            except OSError as e:
                failed.append(e)

    events: list = []
    driver = SimDriver(env, gateway, core, cfg.session.cycle_s, sink, events)

    # ---- pre-roll, starting state, start
    tap = _warm(ex, core, coin) if st.models == "warm" else None
    try:  # (up to an hour of market, seconds of wall time) a signal ends it as it ends the run: between two events
        with SignalsBetweenEvents() as held:
            advance(env, t0, held)
    except KeyboardInterrupt:
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()
        raise
    if tap is not None:
        # closed, not only unsubscribed: what was on its way to it is lost (it reached the started session through
        # watch, which is for before the start; through handle, a first of them started the session and its
        # snapshot request was dropped), and its disconnect process, drawing outages counted as the venue's, stops.
        # The session's market comes through the gateway's own socket, which subscribes now and gets a fresh book
        tap.close()
        # the session starts now: its first mid is the next one (the pre-roll's first set what the starting
        # position had made, carried_usd, a minute early: a net gain reported where the account lost money)
        core.ledger.start_mid = float("nan")
    try:
        _seed_state(scenario, ex, USER)
    except ScenarioError:
        if writer is not None:  # nothing ran: the folder's files (the scenario, an empty log) go, as if never begun
            _unbegin(writer, out)
        raise
    acct = ex.accounts[USER]
    start_equity = acct.account_value(ex.marks)
    log = RunLog(seed, t0, scenario.duration_s, cfg.risk.max_position, inst.lot, acct.position(coin).szi,
                 start_equity, reserve_frac=cfg.budget.reserve_frac, faults=scenario.faults(),
                 ack_timeout_s=cfg.risk.ack_timeout_s, audit_interval_s=cfg.risk.audit_interval_s,
                 cycle_s=cfg.session.cycle_s,
                 # (the shipped core's backoff for this config, not the agent's under test: a naive agent's own
                 # would set the bound it is judged by)
                 snapshot_retry_s=max(2.0 * cfg.risk.ack_timeout_s, snapshot_backoff_cap(cfg)),
                 quoting_leaves_snapshot_room=quoting_leaves_snapshot_room(cfg.budget))
    cols = {k: [] for k in ("t", "mid", "pos", "bid_sz", "ask_sz", "n_orders", "n_quote_bids", "n_quote_asks",
                            "equity", "used", "cap", "safety", "exposure", "agent_pos", "connected")}
    orders_log = log.orders
    book = ex.books[coin]
    quota = ex.quotas[USER]
    quota.charges = []  # what each action left when it landed (items still on their way are not in the send's)

    def sample():
        dt = scenario.sample_interval_s
        while True:
            mine = [o for o in book.bids if o.user == USER] + [o for o in book.asks if o.user == USER]
            bid_sz = ask_sz = 0.0
            qb = qa = 0
            for o in mine:
                if o.is_buy:
                    bid_sz += o.sz
                    qb += not o.reduce_only
                else:
                    ask_sz += o.sz
                    qa += not o.reduce_only
            exp = getattr(core, "exposure", None)
            row = (env.now - t0, ex.marks.get(coin, math.nan), acct.position(coin).szi, bid_sz, ask_sz, len(mine),
                   qb, qa, acct.account_value(ex.marks), quota.used, quota.cap, int(core.safety.level),
                   int(exp.level) if exp is not None else -1, core.tracker.position,
                   1 if inner.conn is not None and inner.conn.up else 0)
            for k, v in zip(cols, row):
                cols[k].append(v)
            orders_log.append(tuple(RestingOrder(o.oid, o.is_buy, o.px, o.sz, o.reduce_only) for o in mine))
            yield env.timeout(dt)

    error = None
    wall0 = time.perf_counter()
    try:
        # a signal is handled between two events (so, after the agent's stop and its records too): where it landed,
        # a quote cycle was counted and never written, or a command sent and the record naming it lost
        with SignalsBetweenEvents() as held:
            driver.start()
            env.process(sample())
            _run(env, t0, scenario.duration_s, progress, f"{scenario.name} seed {seed}")
            end_cols = len(cols["t"])
            driver.stop()
            advance(env, env.now + WIND_DOWN_S, held)
    except Exception:  # the agent (or the twin) crashed: that is a failure of the run, reported as such
        error = traceback.format_exc()
        end_cols = len(cols["t"])
    finally:
        if writer is not None:
            try:  # (after a failed write too: the file is closed either way)
                writer.close()
            except OSError as e:
                failed.append(e)
    wall = time.perf_counter() - wall0

    log.samples = {k: np.asarray(v[:end_cols], dtype=float) for k, v in cols.items()}
    del orders_log[end_cols:]
    log.commands = [c for c in gateway.sent if c.t <= scenario.duration_s]
    log.quota_charges = [QuotaCharge(t - t0, n, action, used, cap, sent - t0) for t, n, action, used, cap, sent
                         in quota.charges if t - t0 <= scenario.duration_s]
    log.events = [(ev.ts - t0, ev) for ev in events if ev.ts - t0 <= scenario.duration_s]
    log.fills = [VenueFill(t, order_name(f.cloid, f.oid), f.oid, f.side == "B", f.sz, f.start_position)
                 for f in ex.fills.get(USER.lower(), ()) if f.coin == coin
                 and (t := (f.time_ms - ex.epoch_ms) / 1000.0 - t0) <= scenario.duration_s]
    log.records = [r for r in records if r["t"] <= scenario.duration_s + 1e-9]
    log.safety = [{"t": tr.ts - t0, "from": int(tr.from_level), "to": int(tr.to_level), "reason": tr.reason}
                  for tr in core.safety.history]
    exp = getattr(core, "exposure", None)
    if exp is not None:
        # on the scenario's clock alone, as the safety ladder's (the core's ts, t0 later, beside it read as the time)
        log.exposure = [{**{k: v for k, v in r.items() if k != "ts"}, "t": r["ts"] - t0}
                        for r in exp.history.to_records()]
    log.cycles = core.cycle  # the wind-down runs no cycle: the agent is stopped
    log.liquidations = [t - t0 for t, user in ex.liquidations if user == USER and t - t0 <= scenario.duration_s]
    log.final = {"t": env.now - t0, "venue_position": acct.position(coin).szi, "agent_position": core.tracker.position,
                 "open_orders": len(ex.open_orders(USER))}
    if out is not None:
        log.postmortem_file = (out / "postmortem.json").exists()

    violations = []
    for inv in scenario.invariants:
        v = inv.check(log)
        if v is not None:
            violations.append(v)
    violations.sort(key=lambda v: v.t)
    summary = summarise(ex, gateway, core, driver, scenario.duration_s, wall, seed, start_s=t0) \
        if error is None else {}
    result = ScenarioResult(scenario, seed, log, violations, error, summary, wall, agent_cls.__name__)
    if out is not None:
        if not failed:
            try:
                write_run_folder(result, out)
            except OSError as e:
                failed.append(e)
        if failed:
            raise ScenarioFolderError(out, failed[0], result)
    return result


def _run(env, t0: float, duration_s: float, progress: bool, desc: str) -> None:
    """Advance the twin from ``t0`` by ``duration_s``, in 1% steps under a tqdm bar of simulated seconds; a signal is
    handled between two events (the run's SignalsBetweenEvents, shared)."""
    with SignalsBetweenEvents() as held:
        if not progress:
            advance(env, t0 + duration_s, held)
            return
        from tqdm import tqdm

        with tqdm(total=round(duration_s), unit="sim s", desc=desc, leave=False) as bar:
            done = 0
            for k in range(1, 101):
                advance(env, t0 + duration_s * k / 100, held)
                now = round(env.now - t0)
                bar.update(now - done)
                done = now


def write_run_folder(result: ScenarioResult, out: Path) -> None:
    """Everything but decisions.jsonl (written during the run) and the picture: summary, levels, samples, and
    result.json last, so that a folder holding one holds the whole run's checked result. Each file is written whole
    (``write_whole``): a kill mid-write left a truncated samples.npz under its name. The timeline is drawn after
    (``draw_timeline``): drawn first, a Ctrl-C in its seconds of matplotlib (the run itself can take less) threw
    the checked result away."""
    log = result.log
    write_json(out / "summary.json", result.summary)
    write_json(out / "level_history.json", {"safety": log.safety, "exposure": log.exposure})
    write_whole(out / "samples.npz", lambda f: np.savez_compressed(f, **log.samples, **orders_columns(log.orders)))
    write_json(out / "result.json", {
        "scenario": result.scenario.name, "seed": result.seed, "agent": result.agent, "ok": result.ok,
        "wall_s": round(result.wall_s, 3), "error": result.error,
        "violations": [v._asdict() for v in result.violations],
        "invariants": [inv.model_dump() for inv in result.scenario.invariants]})


def draw_timeline(result: ScenarioResult, out: Path, png: Path | None = None) -> None:
    """The run folder's timeline.png (or ``png``), whole or not at all (``write_whole``: a kill mid-savefig left a
    truncated PNG under its name). A second or a few of matplotlib: the run's result is written before it, by
    ``run_scenario``, and ``read_run_folder`` gives it back to draw again."""
    from scenarios.timeline import plot_timeline

    write_whole(out / "timeline.png" if png is None else png, lambda f: plot_timeline(result, f))


# our resting orders at each sample, kept in samples.npz beside the columns (one row an order: the sample it rests
# at, its oid, price, size and kind) so that the timeline can be drawn again from the folder (draw): 9.6 KB of the
# 33 KB file on ws_outage_during_move, compressed (its decision log: 297 KB)
_ORDER_KINDS = ("bid", "ask", "reduce-only")  # orders_kind's 0, 1, 2
_ORDER_COLUMNS = ("orders_sample", "orders_oid", "orders_px", "orders_sz", "orders_kind")
# the samples' columns the timeline reads
_DRAWN_COLUMNS = ("t", "mid", "pos", "bid_sz", "ask_sz", "agent_pos", "safety", "exposure", "used", "cap")


def orders_columns(orders: list[tuple[RestingOrder, ...]]) -> dict[str, np.ndarray]:
    rows = [(i, o.oid, o.px, o.sz, 2 if o.reduce_only else 0 if o.is_buy else 1)
            for i, resting in enumerate(orders) for o in resting]
    cols = list(zip(*rows)) if rows else [()] * len(_ORDER_COLUMNS)
    return {name: np.asarray(col, dtype=dt) for name, col, dt in
            zip(_ORDER_COLUMNS, cols, (np.int64, np.int64, float, float, np.int8))}


def _orders_from(columns: dict[str, np.ndarray], n: int) -> list[tuple[RestingOrder, ...]]:
    rows: list[list[RestingOrder]] = [[] for _ in range(n)]
    for i, oid, px, sz, kind in zip(*(columns[c].tolist() for c in _ORDER_COLUMNS)):
        rows[i].append(RestingOrder(oid, kind == 0, px, sz, kind == 2))
    return [tuple(r) for r in rows]


def read_run_folder(folder: Path) -> tuple[ScenarioResult, str | None]:
    """The result a run folder of ``python -m scenarios run`` keeps, as much of it as the timeline draws (its
    samples, our resting orders at each, the violations, the scenario as it ran), and a note when the folder keeps
    no orders (a run written before they were kept: drawn without our quotes). ValueError naming the folder or
    the file and what is wrong with it, for a folder that is not a finished scenario run's."""
    import json
    import zipfile

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'} (give the run folder "
                         f"'python -m scenarios run' wrote, its --out)")
    result_file, scenario_file, samples_file = (folder / n for n in ("result.json", "scenario.json", "samples.npz"))
    if not result_file.exists():
        if scenario_file.exists():
            raise ValueError(f"{folder}: no result.json: the run did not end (stopped before its end, or its folder "
                             f"failed as it ran), and a timeline is drawn from a run's result")
        raise ValueError(f"{folder}: not a scenario run folder: no result.json or scenario.json in it ('python -m "
                         f"scenarios run' writes them; the picture of a 'python -m agent' run folder is "
                         f"'python -m agent.audit RUN --plot PNG')")
    for f in (scenario_file, samples_file):
        if not f.exists():
            raise ValueError(f"{f}: missing beside result.json: the run folder is not whole")

    def read_json(path: Path) -> object:
        try:
            text = read_text(path)  # (its own ValueError names the file: not UTF-8, or past the size a file may be)
        except OSError as e:
            raise ValueError(f"{path}: cannot read it: {e.strerror or e}") from None
        try:
            return json.loads(text)
        except ValueError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from None

    res = read_json(result_file)
    keys = ("scenario", "seed", "agent", "error", "violations")
    if not isinstance(res, dict) or any(k not in res for k in keys):
        raise ValueError(f"{result_file}: not a scenario run's result (it holds {', '.join(keys)})")
    try:
        violations = [Violation(str(v["invariant"]), float(v["t"]), str(v["message"])) for v in res["violations"]]
    except (TypeError, KeyError, ValueError):
        raise ValueError(f"{result_file}: its violations are not a scenario run's (each an invariant, t and "
                         f"message)") from None
    try:
        scenario = Scenario.model_validate(read_json(scenario_file))
    except ValidationError as e:
        raise ValueError(describe_invalid(scenario_file, "scenario as a run writes it", e)) from None
    try:
        with np.load(samples_file) as npz:  # (allow_pickle stays False: arrays only)
            columns = {k: npz[k] for k in npz.files}
    except OSError as e:
        raise ValueError(f"{samples_file}: cannot read it: {e.strerror or e}") from None
    except (ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{samples_file}: not the run's samples (a NumPy .npz): {e}") from None
    lacking = [c for c in _DRAWN_COLUMNS if c not in columns]
    if lacking:
        raise ValueError(f"{samples_file}: no column {', '.join(lacking)}: not a scenario run's samples")
    n = len(columns["t"])
    if any(columns[c].shape != (n,) for c in _DRAWN_COLUMNS):
        raise ValueError(f"{samples_file}: its columns are not of one length: not a scenario run's samples")
    note = None
    if all(c in columns for c in _ORDER_COLUMNS):
        at = columns["orders_sample"]
        if any(columns[c].shape != at.shape for c in _ORDER_COLUMNS) or (len(at) and not 0 <= at.min() <= at.max() < n):
            raise ValueError(f"{samples_file}: its resting orders do not fit its samples: not a scenario run's")
        orders = _orders_from(columns, n)
    else:
        orders = [()] * n
        note = (f"note: {samples_file} keeps no resting orders (a run written before they were kept): the timeline "
                f"is drawn without our quotes")
    cfg = scenario.agent
    log = RunLog(int(res["seed"]), 0.0, scenario.duration_s, cfg.risk.max_position, math.nan, math.nan, math.nan,
                 reserve_frac=cfg.budget.reserve_frac, faults=scenario.faults(),
                 samples={k: v for k, v in columns.items() if k not in _ORDER_COLUMNS}, orders=orders)
    return ScenarioResult(scenario, int(res["seed"]), log, violations, error=res["error"],
                          agent=str(res["agent"])), note
