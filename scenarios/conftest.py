"""``pytest scenarios/`` collects every scenario file here as tests: one item per seed.

A failing item reports which invariant broke, at what simulated time, and the decision records
around that moment (``ScenarioResult.report``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scenarios.runner import ScenarioResult, run_scenario
from scenarios.schema import ScenarioError, load_scenario

_REAL_RUNS: dict[tuple[Path, int], ScenarioResult] = {}


def real_agent_run(path: Path, seed: int) -> ScenarioResult:
    """The real agent's run of the scenario file ``path`` on ``seed``, as its item here runs it, made once a test
    session: tests/scenarios/test_incidents_fail_naive_agents.py runs the same on each incident's first seed (the
    real agent holding where the naive one breaks), some 13 s of twin time the item ran again. A run is a function of
    its file, seed and agent, and both only read it. Kept without its decision log when it passed (only a failure's
    report reads the log), so the runs held for the session are small."""
    key = (Path(path).resolve(), seed)
    got = _REAL_RUNS.get(key)
    if got is None:
        got = run_scenario(load_scenario(key[0]), seed, base_dir=key[0].parent)
        _REAL_RUNS[key] = got = dataclasses.replace(got, log=None) if got.ok else got
    return got


def pytest_collect_file(parent, file_path: Path):
    if file_path.suffix in (".yaml", ".yml") and file_path.parent == Path(__file__).parent:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as e:
            raise self.CollectError(str(e)) from None
        for seed in scenario.seeds:
            yield ScenarioItem.from_parent(self, name=f"seed{seed}", scenario=scenario, seed=seed)


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario, seed: int, **kw) -> None:
        super().__init__(**kw)
        self.scenario = scenario
        self.seed = seed

    def runtest(self) -> None:
        result = real_agent_run(self.path, self.seed)
        if not result.ok:
            raise ScenarioFailed(result.report())

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.scenario.name}[seed {self.seed}]"
