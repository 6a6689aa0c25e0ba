"""Incident scenarios: YAML files replayed in the twin against the real agent, with named invariants.

`pytest scenarios/` runs every file (one test per seed); `python -m scenarios run FILE` runs one and
writes its run folder. See schema.py (the format), invariants.py (the library), runner.py (a run)."""
