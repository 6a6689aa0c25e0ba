"""Twin parameter files: a bad one is refused naming the file, each field and its value, as the agent's
config and scenario files are (one format: twin.files.describe_invalid)."""
from __future__ import annotations

import pytest

from twin.params import TwinParams


def test_a_params_file_round_trips(tmp_path):
    p = tmp_path / "twin.json"
    params = TwinParams()
    p.write_text(params.to_json())
    assert TwinParams.load(p) == params


def test_a_bad_params_file_names_the_file_each_field_and_its_value(tmp_path):
    p = tmp_path / "twin.json"
    p.write_text('{"latency": {"nonsense": 1}, "version": "two"}')
    with pytest.raises(ValueError) as e:
        TwinParams.load(p)
    lines = str(e.value).splitlines()
    assert lines[0] == f"{p}: invalid twin parameters:"
    assert "  latency.nonsense: Extra inputs are not permitted (got 1)" in lines
    assert any(line.startswith("  version: ") and line.endswith("(got 'two')") for line in lines)
    assert "errors.pydantic.dev" not in str(e.value)


def test_a_params_file_that_is_not_json_says_so_on_one_line(tmp_path):
    p = tmp_path / "twin.json"
    p.write_text("latency:\n  nonsense: 1\n" * 40)  # YAML, and long
    with pytest.raises(ValueError) as e:
        TwinParams.load(p)
    lines = str(e.value).splitlines()
    assert len(lines) == 2 and lines[1].startswith("  (top level): Invalid JSON") and len(lines[1]) < 200
