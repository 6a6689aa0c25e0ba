"""The dead man's switch (scheduleCancel): the venue's refusals, in the venue's order."""
from twin.exchange import Exchange
from twin.messages import ActionErr, ActionOk, ScheduleCancelAction
from twin.params import TwinParams, VenueParams

USER = "0x" + "3c" * 20
TOO_EARLY = "Scheduled cancel time too early, must be at least 5 seconds from now."


def _arm(ex, at_s):
    out = []
    ex.submit(USER, ScheduleCancelAction(at_s), out.append)
    ex.env.run(until=ex.env.now + 1.0)
    return out[0]


def test_a_time_too_early_is_refused_as_such_before_the_volume_check():
    """On the venue the time is checked first: an account without the volume, arming 2 s ahead, hears that the
    time is too early (in the venue's words), and only a time far enough ahead hears about volume."""
    ex = Exchange.build(seed=1)
    ex.fund(USER, 1_000.0)
    ex.env.run(until=2.0)
    reply = _arm(ex, ex.env.now + 2.0)
    assert reply == ActionErr(TOO_EARLY)
    reply = _arm(ex, ex.env.now + 30.0)
    assert isinstance(reply, ActionErr) and reply.message.startswith(
        "Cannot set scheduled cancel time until enough volume traded. Required: $1000000. Traded: $0.00.")


def test_an_account_with_the_volume_arms_five_seconds_ahead_and_not_less():
    ex = Exchange.build(TwinParams(venue=VenueParams(schedule_cancel_min_volume_usd=0.0)), 1)
    ex.fund(USER, 1_000.0)
    ex.env.run(until=2.0)
    assert _arm(ex, ex.env.now + 4.0) == ActionErr(TOO_EARLY)
    reply = _arm(ex, ex.env.now + 10.0)
    assert reply == ActionOk("default") and USER in ex.schedule_cancel


def test_with_clears_refused_the_policy_refuses_a_clear_as_an_arm_and_by_default_a_clear_is_always_taken():
    """Whether the venue's policy refuses a clear is not documented (its texts speak of setting a time): the twin takes
    every clear, and with venue.schedule_cancel_clears_refused its policy refuses one as it refuses an arm (past the
    day's triggers here; under the volume too). The switch set is then left as it was."""
    for refused in (False, True):
        ex = Exchange.build(TwinParams(venue=VenueParams(schedule_cancel_min_volume_usd=0.0,
                                                         schedule_cancel_clears_refused=refused)), 1)
        ex.fund(USER, 1_000.0)
        ex.env.run(until=2.0)
        assert _arm(ex, ex.env.now + 30.0) == ActionOk("default")
        day = int((ex.epoch_ms / 1000.0 + ex.env.now) // 86400.0)
        ex.schedule_cancel_fired[USER] = [day] * 10  # the day's ten triggers spent (by earlier runs)
        reply = _arm(ex, None)
        if refused:
            assert reply == ActionErr("Too many scheduled cancels triggered today.") and USER in ex.schedule_cancel
        else:
            assert reply == ActionOk("default") and USER not in ex.schedule_cancel
    ex = Exchange.build(TwinParams(venue=VenueParams(schedule_cancel_clears_refused=True)), 1)  # under the $1M
    ex.fund(USER, 1_000.0)
    ex.env.run(until=2.0)
    assert _arm(ex, None).message.startswith("Cannot set scheduled cancel time until enough volume traded.")
