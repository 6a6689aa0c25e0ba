"""A file that sets one key of a section keeps the shipped default of every other key of it. A section whose
shipped default differs from its class's own (``validation.scorecard``: predictions spaced 5 s, IR thresholds
0.1/0.02 against the class's 0, 0.5, 0.3) was built from the class's defaults as soon as a file named one of its
keys: ``scorecard: {min_outcomes: 50}`` silently quoted with the design's per-period IR thresholds, which retire
every real signal."""
from __future__ import annotations

import yaml
from file_sections import one_key_file, section_keys

from agent.config import AgentConfig, config_yaml
from agent.quoting.signals import SignalBlend


def test_setting_one_key_of_a_section_to_its_shipped_value_changes_nothing(tmp_path):
    """Failing before the fix for validation.scorecard (its other keys fell to the class's defaults)."""
    shipped = AgentConfig()
    found = list(section_keys(shipped))
    assert ("validation", "scorecard") in [p for p, _, _ in found]
    f = tmp_path / "one-key.yaml"
    for path, key, value in found:
        f.write_text(yaml.safe_dump(one_key_file(path, key, value)))
        assert AgentConfig.load(f) == shipped, f"{'.'.join(path)}: setting {key} reset the section's other keys"


def test_a_scorecard_key_set_keeps_the_shipped_spacing_and_thresholds(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("validation:\n  scorecard:\n    min_outcomes: 50\n")
    card = AgentConfig.load(f).validation.scorecard
    assert card.min_outcomes == 50
    assert (card.min_prediction_spacing_s, card.healthy_min_ir, card.retire_ir) == (5.0, 0.1, 0.02)
    f.write_text("validation:\n  scorecard:\n    retire_ir: 0.05\n    healthy_min_ir: 0.2\n")
    card = AgentConfig.load(f).validation.scorecard
    assert (card.min_prediction_spacing_s, card.healthy_min_ir, card.retire_ir) == (5.0, 0.2, 0.05)


def test_signal_weights_given_in_part_keep_the_others_at_one_and_the_config_says_so(tmp_path):
    """The blend ran a signal a file's weights left out at 1 (the shipped weight) while the config, its saved copy
    and --show-config listed only the names given: failing before, the config held ``{'momentum': 0.0}`` alone."""
    f = tmp_path / "mine.yaml"
    f.write_text("quoting:\n  signals:\n    weights: {momentum: 0}\n")
    cfg = AgentConfig.load(f)
    weights = {"book_imbalance": 1.0, "trade_flow": 1.0, "momentum": 0.0}
    assert cfg.quoting.signals.weights == weights == SignalBlend.from_config(cfg.quoting.signals).weights
    assert "weights: {book_imbalance: 1.0, momentum: 0.0, trade_flow: 1.0}" in config_yaml(cfg)
