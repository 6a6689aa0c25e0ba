"""The agent's configuration: one pydantic model, loaded from YAML, errors naming file and field."""
from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from agent.execution.budget import BudgetConfig, poll_weight_per_minute
from agent.execution.reconcile import ReconcileConfig
from agent.graduation import GraduationConfig
from agent.quoting.estimators import EstimatorConfig
from agent.quoting.glft import GlftConfig
from agent.quoting.ladder import LadderConfig
from agent.quoting.signals import SignalConfig
from agent.safety import SafetyConfig
from agent.shadow import ShadowConfig
from agent.validation import RegimeConfig, ScorecardConfig
from common.files import FileModel, describe_invalid, load_yaml, over_shipped, read_text


# the scorecards' settings as shipped where they differ from ScorecardConfig's own (see the field's description)
SHIPPED_SCORECARD = {"min_prediction_spacing_s": 5.0, "healthy_min_ir": 0.1, "retire_ir": 0.02}


class ValidationConfig(FileModel):
    scorecard: ScorecardConfig = Field(
        default_factory=lambda: ScorecardConfig(**SHIPPED_SCORECARD),
        description="Per-signal scorecards; predictions spaced one horizon apart so outcomes do not overlap. "
                    "The information ratio here is per prediction: a 5 s signal right 55% of the time scores "
                    "~0.08, so the design's 0.5/0.3 (a per-period figure) would retire every real signal; "
                    "0.1 healthy / 0.02 retire are the per-prediction equivalents used by default. Keys not "
                    "given here keep these defaults (5 s spacing, 0.1/0.02).")
    regime: RegimeConfig = Field(default_factory=RegimeConfig, description="Online two-state regime model.")
    stressed_spread_mult: float = Field(1.5, ge=1, le=100.0,
                                        description="Half spread × this when the regime model is sure "
                                                              "the market is stressed (scaled by P(stressed)).")

    @field_validator("scorecard", mode="before")
    @classmethod
    def _scorecard_over_shipped(cls, v: object) -> object:
        return over_shipped(SHIPPED_SCORECARD, v)


# the least equity the drawdown rules measure from, USDC (session.collateral_usd): 1e-300 was taken, and made every
# fraction of a cent lost a drawdown past Kill
MIN_COLLATERAL_USD = 1.0

# the decision log's smallest segment, MB: some 800 cycle lines (7 minutes at the shipped 500 ms cycle, 80 s at 100 ms)
LOG_SEGMENT_MIN_MB = 1.0


class SessionConfig(FileModel):
    coin: str = Field("BTC", description="Coin to quote (HIP-3 coins as 'dex:COIN').")
    cycle_s: float = Field(0.5, ge=0.01, le=60.0, description=(
        "Quote-cycle timer period, s (the budget may stretch requotes); 10 ms at least: the venue answers in some "
        "60 ms, and a run ticking faster only ticks (a twin hour at 1 ns took hours); 60 s at most: quotes a minute "
        "old are no market making (the book goes stale in risk.stale_book_s), and 1e9 is a run that never requotes."))
    collateral_usd: float = Field(100_000.0, ge=MIN_COLLATERAL_USD, le=1e12, description=(
        "The equity the drawdown rules measure from (safety.drawdown_*, graduation.demote_drawdown), USDC. Twin "
        "sessions: what the account starts with. Live: the account's value at the start unless set here (set it "
        "to risk a part of the account). From 1 to 1e12 USDC (a live account worth less is refused unless this is "
        "set)."))
    quota_poll_s: float = Field(10.0, ge=0, le=3600.0, description=(
        "How often the venue's rate-limit status is queried, s: 1 or more (each query, userRateLimit, weighs 20 of "
        "the IP's 1200 a minute; the request budget counts each as it is sent, at most 20 x 60 / this a minute: "
        "120 at 10 s), or 0 for never. Refused when the polls alone would leave requoting no weight (under 1.34 s "
        "as shipped: budget.ip_quote_frac)."))
    book_feed: Literal["fast", "standard"] = Field("fast", description=(
        "Live: the venue's l2Book feed. 'fast' (\"fast\": true in the subscription): 5 levels a side, pushed at "
        "most every 0.5 s; 'standard': 20 levels, which the venue reportedly pushes at most every 5 s since July "
        "2026, longer than risk.stale_book_s, so the agent would pull its quotes between pushes and quote on mids "
        "seconds old. Signals read the top quoting.signals.book_levels (5)."))
    bbo_feed: bool = Field(True, description=(
        "Also subscribe to the venue's bbo channel (the best bid and ask, pushed at each block where they changed) "
        "and quote on the touch it gives between l2Book pushes, not on the last book's, up to half a second and a "
        "block old: fewer quotes refused post-only (BadAloPx) for crossing a touch that has moved. The estimators "
        "and signals still read the l2Book. On the Quickstart's seed it cuts the places refused post-only from 647 to "
        "293 (4 December), for some 1.3x the session's wall time against the twin (8-9 pushes a second). false: the "
        "l2Book alone."))
    log_segment_mb: float = Field(256.0, le=100_000.0, description=(
        f"The decision log (decisions.jsonl) starts a fresh file when it reaches this size, MB, "
        f"{LOG_SEGMENT_MIN_MB:g} at least; the full one becomes decisions-000001.jsonl, -000002, ... (oldest first), "
        f"never written again: compress or move them while the agent runs. Nothing is deleted."))
    checkpoint_s: float = Field(60.0, ge=1.0, le=3600.0, description=(
        "Live runs with a run folder: state.json, level_history.json and summary.json are rewritten this often "
        "while the run goes on (stop_reason null until it ends), s: a process killed outright leaves them this "
        "old at most."))

    @field_validator("log_segment_mb")
    @classmethod
    def _segment_floor(cls, v: float) -> float:
        """A segment of a few hundred bytes holds one line: 0.0001 MB made 124 files in 60 simulated seconds, a
        folder of thousands an hour that every reader of the log opens one by one."""
        if not v >= LOG_SEGMENT_MIN_MB:
            raise ValueError(f"must be at least {LOG_SEGMENT_MIN_MB:g} MB (some 800 quote cycles' lines, about 1.2 "
                             f"KB each): smaller, the log becomes files by the thousand, one a line at the extreme")
        return v

    @field_validator("quota_poll_s")
    @classmethod
    def _poll_or_never(cls, v: float) -> float:
        if 0 < v < 1.0:
            raise ValueError("must be 0 (never) or at least 1 s: a poll weighs 20 of the IP's 1200 a minute, and a "
                             "twin run polling every few ns does nothing else")
        return v

    @property
    def log_segment_bytes(self) -> int:
        return int(self.log_segment_mb * 1e6)


class RiskConfig(FileModel):
    max_position: float = Field(0.05, ge=1e-8, le=1e12,
                                description="Limit on |worst-case position| (coin), in-flight included.")
    stale_book_s: float = Field(3.0, ge=0.1, le=600.0,
                                description="No book update for this long → market data stale: pull quotes.")
    ack_timeout_s: float = Field(5.0, ge=0.1, le=600.0,
                                 description="No acknowledgement within this → order stale → snapshot.")
    pull_retry_s: float = Field(2.0, ge=0.1, le=600.0,
                                description="Blind (socket down) or stopped with orders still counted "
                                            "live: the cancel-all is sent again this often until they are "
                                            "confirmed gone (a pull lost in transport gives no answer).")
    dead_man_s: float = Field(10.0, gt=5.0, le=86_400.0,
                              description="A Kill arms the venue's dead-man's switch (scheduleCancel) "
                              "this far ahead, re-armed with every pull: the venue wants it at least 5 s ahead when "
                              "the request arrives, so the request's own latency must fit in the rest.")
    dead_man_heartbeat_s: float | None = Field(30.0, gt=5.0, le=86_400.0, description=(
        "While orders may rest, keep the venue's dead-man's switch armed this far ahead, re-armed every third of "
        "it: if this process dies or its host loses the network, the venue cancels our orders within this long "
        "(two lost re-arms in a row are tolerated). Cleared when nothing can rest (Shadow with no live orders): "
        "a firing uses one of the venue's 10 a day even with nothing to cancel. A refusal (10 firings today) is "
        "asked again after an hour. null: only a Kill arms it."))
    dead_man_fire_reserve: int = Field(2, ge=0, le=9, description=(
        "Of the venue's 10 firings of the dead-man's switch a day (its counter reset at 00:00 UTC), how many a "
        "Kill's re-arms (with its pulls again, or a held arm sent as the slow lane opens) leave for a later Kill's "
        "own arm: once the core has counted 10 less this many firings (or arms that lapsed) in the UTC day, it "
        "re-arms no more that day, and says so once. Unbounded, a Kill whose pulls were never answered re-armed the "
        "switch as each firing passed, about every 20 s, and spent the day's ten. The count is this process's: "
        "firings before a restart are not in it."))
    dead_man_min_volume_usd: float = Field(1_000_000.0, ge=0, le=1e15, description=(
        "The venue's rule: an account that has traded less (userRateLimit's cumVlm) is refused the switch, so "
        "the heartbeat waits until the reported volume reaches this. (A Kill asks regardless.)"))
    audit_interval_s: float = Field(30.0, ge=1.0, le=3600.0,
                                    description="Ask for an account snapshot at least this often, "
                                    "quoting or stopped: it catches what no event reports (a liquidation, a fill "
                                    "lost in transport, an order placed by hand). A snapshot weighs 42 of the "
                                    "1200 IP weight a minute, and 1 more per 20 fills it reads (those of the "
                                    "interval and a minute more).")
    fill_settle_s: float = Field(1.0, ge=0, le=600.0,
                                 description="A cancelled order still counts as exposure this long after "
                                             "its cancel ack, and until the feed has shown a book made "
                                             "after the ack (the socket delivers in order: its fills "
                                             "pushed before it have come), or a snapshot covers it.")


class QuotingConfig(FileModel):
    order_size: float = Field(0.002, ge=1e-8, le=1e12, description="Δ of GLFT: base quote size per level, coin.")
    sigma_prior: float = Field(8.5e-5, ge=1e-10, le=0.1, description="Volatility (log-return per √s) until estimated.")
    a_prior: float = Field(2.0, ge=1e-6, le=1e6, description="Arrival intensity A per side, 1/s, until estimated.")
    k_prior_per_bp: float = Field(20.0, ge=1e-3, le=1e6, description=(
        "Arrival decay k until estimated, per bp of the mid (so that one prior serves a $100,000 coin and a $1 "
        "one: 20 per bp is 2 per dollar on BTC at $100,000). GLFT's half spread is about 1/k: a prior in price "
        "units set for BTC quoted a $1 coin 40% away from its mid."))
    k_prior: float | None = Field(None, ge=1e-9, le=1e15, description=(
        "Arrival decay k until estimated, per price unit, used as it is when set (a market whose k you know in "
        "its own units); null (the default): k_prior_per_bp of the mid."))
    refit_interval_s: float = Field(5.0, ge=0, le=3600.0,
                                    description="How often A and k are refitted from the trade counts, s.")
    maker_fee_bps: float = Field(0.0, ge=-10.0, le=100.0, description=(
        "Your maker fee, bps of notional (the venue's base tier is 1.5; a rebate is negative). Each quote is moved "
        "this much further from its centre than the model's half spread (GLFT's has no fees in it), so that a "
        "fill earns the model's half spread net of the fee. 0 (the default) quotes the model's spread "
        "alone, which on a $1-tick coin at $100k is a fraction of a bp: every fill then pays the fee out of the "
        "spread (the summary's fees line shows it). Shadow's paper fills pay the venue's rate in the promotion "
        "evidence where the session knows it (graduation.paper_maker_fee_bps), this where it does not. Set it to "
        "your tier's rate before trading for real."))
    min_half_spread_ticks: float = Field(0.5, ge=0, le=1e6, description="Floor on the quoted half spread, ticks.")
    glft: GlftConfig = Field(default_factory=GlftConfig, description="GLFT risk aversion and factors.")
    estimators: EstimatorConfig = Field(default_factory=EstimatorConfig, description="Online estimators.")
    signals: SignalConfig = Field(default_factory=SignalConfig, description="Alpha signals.")
    ladder: LadderConfig = Field(default_factory=LadderConfig, description="Levels and sizes.")


class AgentConfig(FileModel):
    session: SessionConfig = Field(default_factory=SessionConfig, description="What to trade and how often.")
    risk: RiskConfig = Field(default_factory=RiskConfig, description="Limits and staleness.")
    quoting: QuotingConfig = Field(default_factory=QuotingConfig, description="Quote model.")
    reconcile: ReconcileConfig = Field(default_factory=ReconcileConfig, description="Order reconciliation.")
    budget: BudgetConfig = Field(default_factory=BudgetConfig, description="Request budget and reserve.")
    validation: ValidationConfig = Field(default_factory=ValidationConfig, description="Continuous validation.")
    safety: SafetyConfig = Field(default_factory=SafetyConfig, description="The escalation ladder and risk budget.")
    graduation: GraduationConfig = Field(default_factory=GraduationConfig, description="TradingConfidence, exposure "
                                         "levels, promotion criteria and demotion triggers.")
    shadow: ShadowConfig = Field(default_factory=ShadowConfig, description="The paper fill model, and the sim-to-real "
                                 "gap it measures beside the real orders.")

    @model_validator(mode="after")
    def _polls_leave_weight_to_quote(self) -> "AgentConfig":
        """The quota polls' weight is counted in the minute's IP weight, which requoting may bring up to
        ``budget.ip_quote_frac`` of the limit: polls weighing that much alone leave the agent never quoting (and
        at the whole limit, polls every second, not even cancelling: the venue answers 429 to everything else).
        That is no session to run, so it is refused here, the shortest period that would do named."""
        b = self.budget
        share = b.ip_quote_frac * b.ip_weight_per_minute
        polls = poll_weight_per_minute(self.session.quota_poll_s)
        if polls + b.background_weight_per_minute < share:
            return self
        if b.background_weight_per_minute >= share:
            raise ValueError(f"budget.background_weight_per_minute ({b.background_weight_per_minute}) is at or past "
                             f"the {share:g} IP weight a minute requoting may use (budget.ip_quote_frac x "
                             f"ip_weight_per_minute): the agent would never quote")
        # the shortest period whose polls (a minute of 1 s polls / the period, rounded up) leave some, to 1/100 s
        room = math.ceil(share - b.background_weight_per_minute) - 1
        shortest = math.ceil(100 * poll_weight_per_minute(1.0) / room) / 100
        also = f" (and {b.background_weight_per_minute} more in background)" if b.background_weight_per_minute else ""
        raise ValueError(f"session.quota_poll_s {self.session.quota_poll_s:g}: quota polls every "
                         f"{self.session.quota_poll_s:g} s weigh {polls} of the IP's {b.ip_weight_per_minute} a "
                         f"minute{also}, at or past the {share:g} that requoting may bring the minute's weight up "
                         f"to (budget.ip_quote_frac x ip_weight_per_minute): the agent would never quote. Poll "
                         f"every {shortest:g} s or more, or 0 for never")
        return self

    @classmethod
    def load(cls, path: str | Path) -> "AgentConfig":
        """Read YAML; a bad file raises ValueError naming the file, the field path and the value."""
        p = Path(path)
        try:
            data = load_yaml(read_text(p), p)  # (its errors name the file at their line)
        except yaml.YAMLError as e:
            raise ValueError(f"{p}: not valid YAML: {e}") from None
        if data is None:  # refused, as an empty --params or scenario file is: the defaults are had by no --config
            raise ValueError(f"{p}: empty: no config in it")
        if not isinstance(data, dict):
            raise ValueError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ValueError(describe_invalid(p, "agent config", e)) from None


def config_yaml(cfg: BaseModel) -> str:
    """The whole config as YAML, every field with its value and its description as a comment: a file
    to start from (``python -m agent --show-config > my.yaml``); it loads back to the same config."""
    lines: list[str] = []
    _yaml_lines(cfg, 0, lines)
    return "\n".join(lines) + "\n"


def _yaml_lines(model: BaseModel, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        doc = " ".join((field.description or "").split())
        if isinstance(value, BaseModel):
            if doc:
                out.append(f"{pad}# {doc}")
            out.append(f"{pad}{name}:")
            _yaml_lines(value, indent + 1, out)
            continue
        if isinstance(value, Enum):  # levels by name ('MICRO_LIVE'), string enums by value ('Alo')
            data = value.name if isinstance(value, int) else value.value
        elif isinstance(value, tuple):
            data = list(value)
        elif isinstance(value, dict):
            data = {str(getattr(k, "value", k)): v for k, v in value.items()}
        else:
            data = value
        text = yaml.safe_dump({name: data}, default_flow_style=True, width=10_000).strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        out.append(f"{pad}{text}" + (f"  # {doc}" if doc else ""))


def with_venue_maker_fee(config: AgentConfig, maker_fee_bps: float | None) -> AgentConfig:
    """``config`` with ``graduation.paper_maker_fee_bps`` set to the venue's maker rate (bps) where it leaves it null:
    what the session knows the venue charges (userFees, the twin's instrument), which Shadow's paper fills pay in the
    promotion evidence. As it is when the rate is not known (None) or the config names one."""
    if maker_fee_bps is None or config.graduation.paper_maker_fee_bps is not None:
        return config
    g = config.graduation.model_copy(update={"paper_maker_fee_bps": round(maker_fee_bps, 9)})
    return config.model_copy(update={"graduation": g})
