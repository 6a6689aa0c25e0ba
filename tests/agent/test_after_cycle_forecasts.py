"""The forecasts the quote cycle's after-cycle work scores, each signal's and the blend's: each card's spacing is
asked before they are offered (most cycles every card refuses), and before the blend is made, so the cards must keep
exactly what they kept when every cycle offered each signal's forecast and made the blend and offered it through the
governor."""
from __future__ import annotations

import pytest

from agent.config import AgentConfig
from agent.gateway.events import AFTER_CYCLE, Timer
from agent.validation.scorecard import ModelScorecard, ScorecardSet

from recorded_session import fresh_core, recorded_session


def _blend_afresh(parts) -> float:
    """The blend's p_up from the cycle's signal parts, as a loop over them reads: Σ w·(p − 0.5) / Σ w, from 0.5."""
    w_sum = p_sum = 0.0
    for _, p_up, w, _ in parts:
        w_sum += w
    for _, p_up, w, _ in parts:
        p_sum += w * (p_up - 0.5)
    return 0.5 + p_sum / w_sum if w_sum > 0.0 else 0.5


@pytest.mark.parametrize("spacing_s", [0.0, 0.25, 0.3, 5.0])
def test_the_cards_keep_what_cards_offered_every_cycle_keep(spacing_s):
    """A replayed twin session at 8 Hz (a cycle of 0.125 s: times exact in binary, and a spacing of two cycles met
    exactly): after each cycle's after-cycle work, each signal's card and the blend's hold what cards offered theirs on
    every cycle hold (``ScorecardSet.predict``; the blend made afresh and offered through ``predict``): the same last
    time kept, and the same newest forecast, whatever the spacing (none: every cycle's; 0.25 s, met to the bit;
    0.3 s; 5 s, the default)."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL", "ceiling": "FULL"},
                                      "session": {"cycle_s": 0.125},
                                      "validation": {"scorecard": {"min_prediction_spacing_s": spacing_s}}})
    events, inst = recorded_session(cfg, 3, 60.0)
    core = fresh_core(cfg, inst)
    cards = dict(core.validation.cards, blend=core.graduation.blend)
    plain = ScorecardSet(core.validation.cards, cfg.validation.scorecard)
    afresh = dict(plain.cards, blend=ModelScorecard("blend", cfg.validation.scorecard))
    kept = 0
    for ev in events:
        if type(ev) is Timer and ev.name == AFTER_CYCLE and core._forecast is not None:
            f_ts, parts, mid = core._forecast
            plain.predict(f_ts, {name: p_up for name, p_up, _, _ in parts}, cfg.quoting.signals.horizon_s, mid)
            kept += afresh["blend"].predict(f_ts, _blend_afresh(parts), cfg.quoting.signals.horizon_s, mid)
        core.handle(ev)
        core.discard_records()
        for name, card in cards.items():
            assert card._last_pred_ts == afresh[name]._last_pred_ts, name
            if afresh[name]._pending:
                assert card._pending and card._pending[-1] == afresh[name]._pending[-1], name
    assert kept > (400 if spacing_s == 0.0 else 100 if spacing_s < 1.0 else 5)  # (forecasts were made and kept)
