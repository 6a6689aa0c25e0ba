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
