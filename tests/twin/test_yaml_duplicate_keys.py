"""A key given twice in one YAML mapping is refused, naming it and both lines: PyYAML kept the last silently, so a
second ``risk:`` block pasted below the first replaced it whole, its limits back to the defaults, nothing said."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given, strategies as st

from agent.config import AgentConfig
from common.files import load_yaml

_names = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)


def _dump(pairs) -> str:
    return "".join(f"{k}: {v}\n" for k, v in pairs)


@given(st.lists(st.tuples(_names, st.integers(-5, 5)), min_size=1, max_size=8))
def test_a_mapping_loads_as_pyyaml_loads_it_unless_a_key_repeats(pairs):
    text = _dump(pairs)
    keys = [k for k, _ in pairs]
    if len(set(keys)) == len(keys):
        assert load_yaml(text) == yaml.safe_load(text)
    else:
        twice = next(k for i, k in enumerate(keys) if k in keys[:i])
        with pytest.raises(yaml.YAMLError, match=f"the key '{twice}' a second time \\(first at line "
                                                 f"{keys.index(twice) + 1}\\)"):
            load_yaml(text)


@given(st.lists(st.tuples(_names, st.integers(-5, 5)), min_size=1, max_size=5, unique_by=lambda p: p[0]))
def test_keys_a_merge_brings_in_may_be_given_again(pairs):
    text = "base: &b\n" + "".join(f"  {k}: {v}\n" for k, v in pairs) + "this:\n  <<: *b\n" + \
        "".join(f"  {k}: {v + 100}\n" for k, v in pairs[:1])
    assert load_yaml(text) == yaml.safe_load(text)


def test_a_config_with_a_section_given_twice_is_refused_naming_file_key_and_lines(tmp_path):
    f = tmp_path / "twice.yaml"
    f.write_text("risk:\n  max_position: 0.01\nquoting:\n  maker_fee_bps: 1.5\nrisk:\n  stale_book_s: 5\n")
    with pytest.raises(ValueError) as e:
        AgentConfig.load(f)
    text = str(e.value)
    assert str(f) in text and "the key 'risk' a second time (first at line 1)" in text and "line 5" in text


# JSON (twin parameters files): json and pydantic keep the last of a key given twice, as PyYAML did

@given(st.lists(st.tuples(_names, st.integers(-5, 5)), min_size=1, max_size=8), st.booleans())
def test_json_key_given_twice_finds_the_first_repeated_key_at_any_depth(pairs, nested):
    from common.files import json_key_given_twice
    body = "{" + ", ".join(f'"{k}": {v}' for k, v in pairs) + "}"
    text = '{"outer": [1, ' + body + "]}" if nested else body
    keys = [k for k, _ in pairs]
    twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    assert json_key_given_twice(text) == twice


def test_a_params_file_with_a_section_given_twice_is_refused_naming_file_and_key(tmp_path):
    from common.files import json_key_given_twice
    from twin.params import TwinParams
    f = tmp_path / "twice.json"
    f.write_text('{"feed": {"book_levels": 5}, "feed": {"block_s": 1}}')
    with pytest.raises(ValueError, match=f"{f}: the key 'feed' is given twice in one object"):
        TwinParams.load(f)
    f.write_text(TwinParams().to_json())  # a dump loads as before, and is checked as JSON with no repeat
    assert TwinParams.load(f) == TwinParams() and json_key_given_twice(f.read_text()) is None
    assert json_key_given_twice('{"a": 1') is None  # not JSON: pydantic's own error names the place
