"""Test-wide settings: under CI, hypothesis draws the same examples every run (no flaky landings);
locally it explores new ones each run and remembers failures in .hypothesis/."""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
