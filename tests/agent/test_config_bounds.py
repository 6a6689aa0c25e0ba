"""Every number an operator's file gives has bounds a typo breaks and no real setup does: ``cycle_s: 1e9`` and
``collateral_usd: 1e-300`` were taken, and refused now with the file, the field and the value named."""
from __future__ import annotations

import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from agent.config import AgentConfig
from scenarios.schema import Scenario, ScenarioError, load_scenario
from twin.faults.chaos import MarketParam
from twin.params import TwinParams
from twin.server.cli import load_chaos

ROOT = Path(__file__).resolve().parents[2]


class _Tag(str):
    """A member of a discriminated union in a path: pydantic's error names it by its tag (``chaos.0.slide.at_s``),
    and the input gives the tag under the union's key (``kind: slide``) with what the member needs beside it."""

    def __new__(cls, tag: str, key: str, given: dict):
        self = super().__new__(cls, tag)
        self.key, self.given = key, given
        return self


def _members(item) -> list[tuple[_Tag, type[BaseModel]]]:
    """The models of a discriminated union (``Annotated[Union[...], Field(discriminator=...)]``), each with its tag;
    none for anything else."""
    if typing.get_origin(item) is not typing.Annotated:
        return []
    inner, *meta = typing.get_args(item)
    key = next((m.discriminator for m in meta if isinstance(m, FieldInfo) and m.discriminator), None)
    if key is None:
        return []
    out = []
    for m in typing.get_args(inner):
        given = {"name": "informed_share"} if m is MarketParam else {}  # its value's range is the named parameter's
        out.append((_Tag(typing.get_args(m.model_fields[key].annotation)[0], key, given), m))
    return out


def _number(item) -> type | None:
    """int or float for a number (``Annotated[int, Field(...)]`` too), else None."""
    base = typing.get_args(item)[0] if typing.get_origin(item) is typing.Annotated else item
    return base if base in (int, float) else None


def _numeric_fields(model: type[BaseModel], prefix: tuple = (),
                   skip: tuple = ()) -> typing.Iterator[tuple[tuple, type]]:
    """(path, float or int) of every number field of ``model``'s tree (a field that may also be null included; a
    list of models as its first item, 0 in the path; of a discriminated union's models, each by its tag; of numbers,
    its first item; a mapping of models as its entry "BTC"). Models in ``skip`` are walked on their own."""
    for name, f in model.model_fields.items():
        kinds = set(typing.get_args(f.annotation)) if isinstance(f.annotation, types.UnionType) else {f.annotation}
        kinds.discard(type(None))
        origin, args = typing.get_origin(f.annotation), typing.get_args(f.annotation)
        if kinds & set(skip):
            continue
        if origin is list and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            yield from _numeric_fields(args[0], prefix + (name, 0), skip)
            continue
        if origin is list and _members(args[0]):
            for tag, member in _members(args[0]):
                yield from _numeric_fields(member, prefix + (name, 0, tag), skip)
            continue
        if origin is list and _number(args[0]):
            yield prefix + (name, 0), _number(args[0])
            continue
        if origin is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            yield from _numeric_fields(args[1], prefix + (name, "BTC"), skip)
            continue
        sub = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if sub:
            yield from _numeric_fields(sub[0], prefix + (name,), skip)
        elif kinds in ({float}, {int}):
            yield prefix + (name,), kinds.pop()


def _mentions_a_number(annotation) -> bool:
    return annotation in (int, float) or any(_mentions_a_number(a) for a in typing.get_args(annotation))


def _unwalked(model: type[BaseModel], prefix: tuple = ()) -> typing.Iterator[str]:
    """Fields of ``model``'s tree that hold numbers the walk above does not reach (a tuple or a mapping of numbers,
    a list of a union it cannot tag): each needs a bound of its own, and a test of it named in UNWALKED."""
    for name, f in model.model_fields.items():
        kinds = set(typing.get_args(f.annotation)) if isinstance(f.annotation, types.UnionType) else {f.annotation}
        kinds.discard(type(None))
        origin, args = typing.get_origin(f.annotation), typing.get_args(f.annotation)
        models = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if origin is list and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            models = [args[0]]
        elif origin is list and _members(args[0]):
            models = [m for _, m in _members(args[0])]
        elif origin is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            models = [args[1]]
        if models:
            for m in models:
                yield from _unwalked(m, prefix + (name,))
        elif kinds in ({float}, {int}) or (origin is list and _number(args[0])):
            continue
        elif _mentions_a_number(f.annotation):
            yield ".".join(prefix + (name,))


def _nested(path: tuple, value) -> dict:
    out = value
    for key in reversed(path):
        if isinstance(key, _Tag):
            out = {key.key: str(key), **key.given, **out}
        else:
            out = [out] if key == 0 else {key: out}
    return out


def _refused(model: type[BaseModel], path: tuple, value) -> bool:
    """Whether ``value`` at ``path`` is refused there (an error at that field: not a model rule elsewhere)."""
    try:
        model.model_validate(_nested(path, value))
    except ValidationError as e:
        return any(err["loc"] == path for err in e.errors())
    return False


AGENT = list(_numeric_fields(AgentConfig))


@pytest.mark.parametrize("path, kind", AGENT, ids=[".".join(p) for p, _ in AGENT])
def test_every_number_of_the_agent_config_refuses_an_absurd_magnitude(path, kind):
    """1e300 (and -1e300) at any number of the config is refused at that field; and a field that refuses 0 refuses
    1e-300 too (a quantity that must be positive, given a typo's near-zero: a cycle of 1e-300 s, a collateral of
    1e-300 USD). The shipped default still loads, so the bounds hold what the project itself uses."""
    big = 10 ** 300 if kind is int else 1e300
    assert _refused(AgentConfig, path, big) and _refused(AgentConfig, path, -big)
    if kind is float and _refused(AgentConfig, path, 0.0):
        assert _refused(AgentConfig, path, 1e-300)


TWIN = list(_numeric_fields(TwinParams))


@pytest.mark.parametrize("path, kind", TWIN, ids=[".".join(map(str, p)) for p, _ in TWIN])
def test_every_number_of_the_twin_parameters_refuses_an_absurd_magnitude(path, kind):
    """The same for the twin's parameters (``--params``, a calibration's fit edited by hand): a latency of 1e300 ms,
    a tick of 1e-300, a queue exponent of 1e300 (ahead^n over ahead^n + behind^n: inf over inf)."""
    big = 10 ** 300 if kind is int else 1e300
    assert _refused(TwinParams, path, big) and _refused(TwinParams, path, -big)
    if kind is float and _refused(TwinParams, path, 0.0):
        assert _refused(TwinParams, path, 1e-300)


SCENARIO = list(_numeric_fields(Scenario, skip=(AgentConfig, TwinParams)))


@pytest.mark.parametrize("path, kind", SCENARIO, ids=[".".join(map(str, p)) for p, _ in SCENARIO])
def test_every_number_of_a_scenario_file_refuses_an_absurd_magnitude(path, kind):
    """The same for a scenario's own numbers, its chaos (each kind) and its invariants (each name); its agent and
    twin sections are the config and the parameters above. A quota_pinned every 1e-300 s was taken (10^302 events
    to make before the run began), and a sample_interval_s of 1e-300 (the sampler's clock never moved on)."""
    big = 10 ** 300 if kind is int else 1e300
    assert _refused(Scenario, path, big) and _refused(Scenario, path, -big)
    if kind is float and _refused(Scenario, path, 0.0):
        assert _refused(Scenario, path, 1e-300)


def test_the_scenario_walk_reaches_every_chaos_kind_and_every_invariant_with_a_number():
    """A walk that lost a union (the chaos list, the invariants) would pass above on the few numbers left."""
    from scenarios.invariants import INVARIANTS
    from scenarios.schema import ScenarioChaos

    chaos_kinds = {typing.get_args(m.model_fields["kind"].annotation)[0]
                   for m in typing.get_args(typing.get_args(ScenarioChaos)[0])}
    with_numbers = {typing.get_args(m.model_fields["name"].annotation)[0] for m in INVARIANTS
                    if any(_mentions_a_number(f.annotation) for f in m.model_fields.values())}
    walked = {p[:3] for p, _ in SCENARIO if p[0] in ("chaos", "invariants")}
    assert walked == {("chaos", 0, k) for k in chaos_kinds} | {("invariants", 0, n) for n in with_numbers}
    assert len(chaos_kinds) == 10 and len(with_numbers) >= 12
    paths = {".".join(map(str, p)) for p, _ in SCENARIO}
    assert {"duration_s", "seeds.0", "sample_interval_s", "market.seed", "start.resting_orders.0.offset_bps",
            "chaos.0.quota_pinned.every_s", "invariants.0.max_drawdown_below.until_s"} <= paths


# Numbers the walk cannot reach (in a tuple, or a mapping by name): each has a bound of its own, tested below.
UNWALKED = {"safety.level_confidence", "quoting.signals.weights", "rejections.rates"}


def test_every_number_of_the_files_is_walked_or_listed():
    """A new field holding numbers in a shape the walk does not reach fails here, not silently out of the walk."""
    assert set(_unwalked(AgentConfig)) | set(_unwalked(TwinParams)) == UNWALKED
    assert set(_unwalked(Scenario)) == {"agent.safety.level_confidence", "agent.quoting.signals.weights",
                                        "twin.rejections.rates"}


@pytest.mark.parametrize("model, data, says", [
    (AgentConfig, {"safety": {"level_confidence": [1e300, 0.7, 0.5, 0.3, 0.0]}}, "each in [0, 1]"),
    (AgentConfig, {"safety": {"level_confidence": [1.0, 0.7, 0.5, 0.3, -1e300]}}, "each in [0, 1]"),
    (TwinParams, {"rejections": {"rates": {"PerpMargin": 1e300}}}, "must lie in [0, 1]"),
    (TwinParams, {"rejections": {"rates": {"PerpMargin": -1e300}}}, "must lie in [0, 1]"),
])
def test_the_numbers_in_a_tuple_or_a_mapping_are_bounded_too(model, data, says):
    with pytest.raises(ValidationError) as e:
        model.model_validate(data)
    assert says in str(e.value)


def _fields_of_models(*models: type[BaseModel]) -> list[tuple[type[BaseModel], tuple, type]]:
    return [(m, path, kind) for m in models for path, kind in _numeric_fields(m)]


def _chaos_models() -> list[type[BaseModel]]:
    from twin.faults import chaos
    from twin.server.limits import WsLimits
    return [WsLimits] + [m for m in vars(chaos).values() if isinstance(m, type) and issubclass(m, chaos._Event)
                         and m is not chaos._Event]


OTHER = _fields_of_models(*_chaos_models())


@pytest.mark.parametrize("model, path, kind", OTHER, ids=[f"{m.__name__}.{'.'.join(map(str, p))}" for m, p, _ in OTHER])
def test_every_number_of_a_chaos_schedule_and_the_servers_limits_refuses_an_absurd_magnitude(model, path, kind):
    """The fault schedule ``twin serve --scenario`` reads and the server's websocket limits: a fault at 1e300 s, a
    latency spike of 1e300 ms, a limit of 1e300 connections."""
    required = {n: f.default for n, f in model.model_fields.items() if f.is_required()}
    given = {**{n: 1.0 for n in required}, **({"name": "informed_share"} if "name" in required else {})}
    big = 10 ** 300 if kind is int else 1e300
    for value in (big, -big):
        with pytest.raises(ValidationError) as e:
            model.model_validate({**given, path[0]: value})
        assert any(err["loc"] == path for err in e.value.errors())


def test_the_signal_weights_are_bounded_too():
    for w in (1e300, -1.0):
        with pytest.raises(ValidationError, match="weight of signal 'momentum' must be from 0 to 1000"):
            AgentConfig.model_validate({"quoting": {"signals": {"weights": {"momentum": w}}}})


@pytest.mark.parametrize("section, field, value, says", [  # (an unquoted 1e9 is the number, shown as read)
    ("session", "cycle_s", "1e9", "Input should be less than or equal to 60 (got 1000000000.0)"),
    ("session", "collateral_usd", "1e-300", "Input should be greater than or equal to 1 (got 1e-300)"),
    ("risk", "stale_book_s", "1e300", "Input should be less than or equal to 600 (got 1e+300)"),
])
def test_a_typo_is_refused_naming_the_file_the_field_and_the_value(tmp_path, section, field, value, says):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text(f"{section}:\n  {field}: {value}\n")
    with pytest.raises(ValueError) as e:
        AgentConfig.load(cfg)
    assert str(e.value) == f"{cfg}: invalid agent config:\n  {section}.{field}: {says}"


def test_the_shipped_configs_load_within_the_bounds():
    """examples/ and every scenario's agent config (the scenario tests load and run them; here, quickly)."""
    assert AgentConfig.load(ROOT / "examples" / "live-first-run.yaml")
    shipped = sorted((ROOT / "scenarios").glob("*.yaml"))
    assert len(shipped) > 10
    for path in shipped:
        load_scenario(path)


def test_a_live_account_worth_less_than_the_least_collateral_is_refused_unless_the_config_sets_it():
    """A live run's basis is the account's value unless the config sets one, and the config it runs with is
    written to config.json and the start line, which the replay loads back: a value under the least it takes
    (1 USDC) would be a run whose config no longer loads. Refused, saying what to do."""
    from agent.preflight import Refused, equity_basis

    with pytest.raises(Refused, match="the account's value is 0.3 USDC, under the 1 USDC the drawdown rules can "
                                      "measure from"):
        equity_basis(AgentConfig(), 0.3, explicit=False)
    cfg, _, _ = equity_basis(AgentConfig(), 1.5, explicit=False)
    assert AgentConfig.model_validate(cfg.model_dump(mode="json")).session.collateral_usd == 1.5
    part = AgentConfig.model_validate({"session": {"collateral_usd": 5.0}})
    assert equity_basis(part, 0.3, explicit=True)[0].session.collateral_usd == 5.0


# ---------------------------------------------------------------------------------------- a number given as text

WALKED = [(AgentConfig, p, k) for p, k in AGENT] + [(TwinParams, p, k) for p, k in TWIN] + \
    [(Scenario, p, k) for p, k in SCENARIO]


@pytest.mark.parametrize("model, path, kind", WALKED + OTHER,
                         ids=[f"{m.__name__}.{'.'.join(map(str, p))}" for m, p, _ in WALKED + OTHER])
def test_every_number_of_the_files_refuses_a_number_given_as_text(model, path, kind):
    """``cycle_s: "1"``: in YAML (and JSON) a quoted value is text, and pydantic's lax mode took it for the number
    (``"1e-3"`` too), at every number of the config, the parameters, a scenario, a chaos schedule and the server's
    limits. Refused at that field now; the number itself, and an int where a float goes, are still taken there."""
    if model in (AgentConfig, TwinParams, Scenario):
        assert _refused(model, path, "1")
        return
    required = {n: f.default for n, f in model.model_fields.items() if f.is_required()}
    given = {**{n: 1.0 for n in required}, **({"name": "informed_share"} if "name" in required else {})}
    with pytest.raises(ValidationError) as e:
        model.model_validate({**given, path[0]: "1"})
    assert any(err["loc"] == path for err in e.value.errors())


def test_a_number_given_as_text_is_refused_naming_the_file_the_field_and_the_value(tmp_path):
    """The config's, the parameters' and a scenario's errors alike: the file, the field, the text as given and why."""
    why = "text, not a number: write a number, unquoted"
    cfg = tmp_path / "quoted.yaml"
    cfg.write_text('session:\n  cycle_s: "1"\nrisk:\n  max_position: \'0,5\'\nquoting:\n'
                   '  signals: {weights: {momentum: "0.5"}}\n')
    with pytest.raises(ValueError) as e:
        AgentConfig.load(cfg)
    assert str(e.value).splitlines() == [
        f"{cfg}: invalid agent config:", f"  session.cycle_s: Input should be a valid number (got '1': {why})",
        f"  risk.max_position: Input should be a valid number (got '0,5': {why})",
        f"  quoting.signals.weights.momentum: Input should be a valid number (got '0.5': {why})"]
    params = tmp_path / "twin.json"
    params.write_text('{"latency": {"feed": {"median_ms": "1e-3"}}}')
    with pytest.raises(ValueError) as e:
        TwinParams.load(params)
    assert f"  latency.feed.median_ms: Input should be a valid number (got '1e-3': {why})" in str(e.value).splitlines()
    scenario = tmp_path / "sc.yaml"
    text = (ROOT / "scenarios" / "ws_outage_during_move.yaml").read_text()
    scenario.write_text(text.replace("\nduration_s: 120\n", '\nduration_s: "120"\n'))
    with pytest.raises(ScenarioError) as e:
        load_scenario(scenario)
    assert str(e.value).splitlines() == [f"{scenario}: invalid scenario:",
                                         f"  duration_s: Input should be a valid number (got '120': {why})"]
    chaos = tmp_path / "drop.yaml"  # (twin serve --scenario's own errors)
    chaos.write_text('events:\n  - {kind: disconnect, at_s: "30", duration_s: 5}\n')
    with pytest.raises(ValueError) as e:
        load_chaos(str(chaos))
    assert str(e.value) == f"--scenario {chaos}: events.0.disconnect.at_s: Input should be a valid number " \
                           f"(got '30': {why})"


def test_a_number_unquoted_and_an_int_for_a_float_are_still_taken(tmp_path):
    """An unquoted 5e-1 is the number (PyYAML alone read it as text, which the lax mode then took), an int where a
    float goes is that float, and a text field still takes text."""
    cfg = tmp_path / "plain.yaml"
    cfg.write_text("session:\n  cycle_s: 5e-1\n  collateral_usd: 20000\n  coin: BTC\nrisk:\n  stale_book_s: 1.5E1\n")
    c = AgentConfig.load(cfg)
    assert (c.session.cycle_s, c.session.collateral_usd, c.risk.stale_book_s) == (0.5, 20_000.0, 15.0)
    assert type(c.session.collateral_usd) is float and c.session.coin == "BTC"
