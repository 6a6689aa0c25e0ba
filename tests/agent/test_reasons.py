"""agent.gateway.reasons.classify finds a text's reason by one regular expression: it must be the first of the
table's prefixes the text starts with, as a walk of the table in order gives it."""
from __future__ import annotations

from hypothesis import given, strategies as st

from agent.gateway.events import Reason
from agent.gateway.reasons import _PREFIXES, MODIFY_NEW_ORDER_FAILED, classify


def _walk(text: str) -> Reason:
    inner = text[len(MODIFY_NEW_ORDER_FAILED):] if text.startswith(MODIFY_NEW_ORDER_FAILED) else text
    for prefix, reason in _PREFIXES:
        if inner.startswith(prefix):
            return reason
    return Reason.OTHER


_prefix = st.sampled_from([p for p, _ in _PREFIXES])
# a table prefix whole, cut short, or with one character changed; or any text; with any tail
_head = st.one_of(_prefix, _prefix.flatmap(lambda p: st.integers(0, len(p) - 1).map(lambda k: p[:k])),
                  st.tuples(_prefix, st.integers(0, 60), st.characters()).map(
                      lambda t: t[0][:t[1]] + t[2] + t[0][t[1] + 1:]),
                  st.text(max_size=12))


@given(st.booleans(), _head, st.text(max_size=20))
def test_classify_is_the_first_prefix_in_the_table(modify, head, tail):
    text = (MODIFY_NEW_ORDER_FAILED if modify else "") + head + tail
    assert classify(text) is _walk(text)


def test_venue_texts_take_their_reasons():
    """Texts as the venue words them (a modify's new-order failure with its prefix), and one it never sends."""
    assert classify("User or API Wallet 0xabc does not exist.") is Reason.SIGNATURE
    assert classify("Order price cannot be more than 95% away") is Reason.ORACLE
    assert classify(MODIFY_NEW_ORDER_FAILED + "Post only order would have immediately matched, bbo was 1@2") \
        is Reason.BAD_ALO_PX
    assert classify("Order has invalid size.") is Reason.INVALID_SIZE and classify("nonsense") is Reason.OTHER
    # a modify of an order gone: bare as the venue sends it (twin/faults/rejections.py's UNSUFFIXED), and with a full
    # stop or the suffix the other order errors carry, as other captures have it
    for text in ("Cannot modify canceled or filled order", "Cannot modify canceled or filled order.",
                 "Cannot modify canceled or filled order asset=3", "Cannot modify canceled or filled order. asset=3"):
        assert classify(text) is Reason.MODIFY_CANCELED_OR_FILLED, text
