"""``short_repr``, the value an error message shows: Python's own ``repr`` cut to its limit, built lazily so that
a value of billions of elements (a YAML alias bomb) is shown at once."""
from __future__ import annotations

from hypothesis import given, strategies as st

from common.files import hide_keys, short_repr

_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner)
                       | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=5) | st.integers(), inner,
                                                                   max_size=3), max_leaves=20)


@given(_values, st.integers(min_value=4, max_value=200))
def test_it_is_repr_cut_to_the_limit(value, limit):
    r = repr(value)
    r = hide_keys(r)  # (a private key's form is not shown: test_key_hiding)
    assert short_repr(value, limit) == (r if len(r) <= limit else r[: limit - 3] + "...")


def test_a_value_of_a_billion_elements_is_shown_at_once():
    def nest(copies):
        row = ["lol"] * 9
        for _ in range(8):
            row = [row] * copies  # shared lists, as a YAML file's aliases make them
        return row
    # 9**9 'lol's: its whole repr would take minutes and gigabytes; its first 77 characters are a small one's
    assert short_repr(nest(9)) == repr(nest(2))[:77] + "..."


def test_an_integer_too_long_to_write_is_shown_by_its_size_and_the_error_names_the_file_and_field(tmp_path):
    """YAML reads ``0x`` and 5,000 hex digits as one integer, of any length, which Python will not write in decimal
    past 4,300 digits: its ValueError replaced the error that showed it, a traceback out of ``scenarios check`` and
    ``error: Exceeds the limit (4300 digits) ...`` out of ``python -m agent``, no file or field named."""
    import pytest

    from agent.config import AgentConfig
    from scenarios.schema import load_scenario
    big = 1 << 20_000
    assert short_repr(big) == "<an integer of 20,001 bits: too long to show>"
    assert short_repr([1, -big]) == "[1, <an integer of 20,001 bits: too long to show>]"
    f = tmp_path / "big.yaml"
    f.write_text("session:\n  cycle_s: 0x" + "f" * 5000 + "\n")
    with pytest.raises(ValueError, match=r"big\.yaml: invalid agent config:\n  session\.cycle_s: .*\(got <an integer "
                                         r"of 20,000 bits: too long to show>\)"):
        AgentConfig.load(f)
    with pytest.raises(ValueError, match=r"big\.yaml: invalid scenario:"):
        load_scenario(f)
