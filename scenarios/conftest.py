"""``pytest scenarios/`` collects every scenario file here as tests: one item per seed.

A failing item reports which invariant broke, at what simulated time, and the decision records
around that moment (``ScenarioResult.report``).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.runner import run_scenario
from scenarios.schema import ScenarioError, load_scenario


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
        result = run_scenario(self.scenario, self.seed, base_dir=self.path.parent)
        if not result.ok:
            raise ScenarioFailed(result.report())

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.scenario.name}[seed {self.seed}]"
