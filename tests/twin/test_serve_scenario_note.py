"""``twin serve --scenario`` given a scenario file plays its chaos list only: its twin parameters (feb09's venue and
connection overrides), its starting state (a position, resting orders), its market and the agent's config are not
the server's to apply. They were dropped without a word, so an operator replaying an incident against a live agent
ran it under other conditions than the scenario's; now a note names the sections left out."""
from __future__ import annotations

from pathlib import Path

from twin.server.cli import load_chaos

FEB09 = Path(__file__).resolve().parents[2] / "scenarios" / "feb09_kill_switch.yaml"


def test_a_scenario_files_sections_serve_does_not_apply_are_named(capsys):
    schedule = load_chaos(str(FEB09))
    assert schedule.events  # the chaos is served as before
    err = capsys.readouterr().err
    assert err.startswith(f"note: --scenario {FEB09}: serving its chaos list only; not applied: "), err
    for section in ("market", "twin", "start", "agent"):
        assert section in err, err
    assert "--params" in err


def test_a_chaos_file_is_served_without_a_note(tmp_path, capsys):
    f = tmp_path / "drop.yaml"
    f.write_text("events:\n  - {kind: disconnect, at_s: 30, duration_s: 5}\n")
    assert [e.kind for e in load_chaos(str(f)).events] == ["disconnect"]
    assert capsys.readouterr().err == ""
