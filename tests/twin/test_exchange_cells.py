"""The twin's hot functions make no cell per call: a comprehension reading a local of its function (Python 3.11
compiles it to a nested function) made that local a cell, allocated on every call, which bench_bytecodes' count
misses (a cell is C allocation, not bytecodes). What they answer is held by the tests of their behaviour
(test_l2_side, test_modify, test_find_by_cloid, test_margin)."""
from __future__ import annotations

import pytest

from twin.exchange import Exchange, _l2_side


@pytest.mark.parametrize("fn", [Exchange._process, Exchange._enforce_reduce_only, _l2_side],
                         ids=lambda f: f.__name__)
def test_hot_functions_make_no_cell(fn):
    assert fn.__code__.co_cellvars == ()
