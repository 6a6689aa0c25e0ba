"""Test-wide settings: under CI, hypothesis draws the same examples every run (no flaky landings);
locally it explores new ones each run and remembers failures in .hypothesis/."""
import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def billion_laughs() -> str:
    """Nine lines of YAML whose last key, ``i``, is 9**9 'lol's through aliases (lists shared, not copied): a file
    any loader reads at once, and any code that walks its value whole hangs on."""
    return "".join(f"{a}: &{a} [{', '.join([f'*{p}' if p else repr('lol')] * 9)}]\n"
                   for p, a in zip(["", *"abcdefgh"], "abcdefghi"))
