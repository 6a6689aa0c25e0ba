"""The project's JSON files are JSON: what was not measured (NaN) is null, never the bare word NaN."""
from __future__ import annotations

import json

import numpy as np

from common.json_text import dumps


def test_non_finite_numbers_are_null_wherever_they_sit():
    obj = {"a": float("nan"), "b": [np.float64("inf"), 1.5], "c": (np.float32("-inf"), {"d": float("nan")}),
           "e": np.float32(2.5), "f": "NaN"}
    text = dumps(obj, default=float)  # np.float64 is a float; np.float32 goes through default
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": [None, {"d": None}], "e": 2.5, "f": "NaN"}
    assert "NaN" not in text.replace('"NaN"', "") and "Infinity" not in text
    assert json.dumps(obj, default=float).count("NaN") == 3  # what json itself writes: not JSON
