"""Every number an operator's file gives has bounds a typo breaks and no real setup does: ``cycle_s: 1e9`` and
``collateral_usd: 1e-300`` were taken, and refused now with the file, the field and the value named."""
from __future__ import annotations

import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from agent.config import AgentConfig
from twin.params import TwinParams

ROOT = Path(__file__).resolve().parents[2]


def _numeric_fields(model: type[BaseModel], prefix: tuple = ()) -> typing.Iterator[tuple[tuple, type]]:
    """(path, float or int) of every number field of ``model``'s tree (a field that may also be null included; a
    list of models as its first item, 0 in the path; a mapping of them as its entry "BTC")."""
    for name, f in model.model_fields.items():
        kinds = set(typing.get_args(f.annotation)) if isinstance(f.annotation, types.UnionType) else {f.annotation}
        kinds.discard(type(None))
        origin, args = typing.get_origin(f.annotation), typing.get_args(f.annotation)
        if origin is list and isinstance(args[0], type) and issubclass(args[0], BaseModel):
            yield from _numeric_fields(args[0], prefix + (name, 0))
            continue
        if origin is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            yield from _numeric_fields(args[1], prefix + (name, "BTC"))
            continue
        sub = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if sub:
            yield from _numeric_fields(sub[0], prefix + (name,))
        elif kinds in ({float}, {int}):
            yield prefix + (name,), kinds.pop()


def _nested(path: tuple, value) -> dict:
    out = value
    for key in reversed(path):
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
        with pytest.raises(ValidationError, match="weight of 'momentum' must be from 0 to 1000"):
            AgentConfig.model_validate({"quoting": {"signals": {"weights": {"momentum": w}}}})


@pytest.mark.parametrize("section, field, value, says", [
    ("session", "cycle_s", "1e9", "Input should be less than or equal to 60 (got '1e9')"),
    ("session", "collateral_usd", "1e-300", "Input should be greater than or equal to 1 (got '1e-300')"),
    ("risk", "stale_book_s", "1e300", "Input should be less than or equal to 600 (got '1e300')"),
])
def test_a_typo_is_refused_naming_the_file_the_field_and_the_value(tmp_path, section, field, value, says):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text(f"{section}:\n  {field}: {value}\n")
    with pytest.raises(ValueError) as e:
        AgentConfig.load(cfg)
    assert str(e.value) == f"{cfg}: invalid agent config:\n  {section}.{field}: {says}"


def test_the_shipped_configs_load_within_the_bounds():
    """examples/ and every scenario's agent config (the scenario tests load and run them; here, quickly)."""
    from scenarios.schema import load_scenario

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
