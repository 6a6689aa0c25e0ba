"""Actions in blocks (venue.action_block_s): what arrives within one block executes at its end, cancels and post-only
batches first ("Within a block, cancels and ALO orders go before GTC/IOC orders", hyperliquid.md §2.4).

hyna:LIT has no market here: its book holds the two users' orders alone, and every latency is exactly 60 ms, so
two actions sent together arrive together, in the order sent."""
import pytest

from twin.exchange import Exchange
from twin.faults.latency import LatencyParams, PathLatencyParams
from twin.messages import CancelAction, Filled, OrderAction, OrderSpec, Resting, StatusError
from twin.params import TwinParams, VenueParams

MAKER, TAKER = "0x" + "a1" * 20, "0x" + "b2" * 20
LIT = "hyna:LIT"


def _venue(block_s: float) -> Exchange:
    fixed = PathLatencyParams(median_ms=60.0, sigma=0.0, spike_prob=0.0, burst_rate_per_hour=0.0)
    params = TwinParams(latency=LatencyParams(order_entry=fixed, response=fixed, feed=fixed),
                        venue=VenueParams(action_block_s=block_s))
    ex = Exchange.build(params, 0)
    for user in (MAKER, TAKER):
        ex.fund(user, 1_000.0, "hyna")
    ex.env.run(until=1.0)
    return ex


def _together(ex: Exchange, *sends):
    """Send each (user, action) at this instant, in this order; the replies, in the same order."""
    out = [[] for _ in sends]
    for (user, action), got in zip(sends, out):
        ex.submit(user, action, got.append)
    ex.env.run(until=ex.env.now + 1.0)
    return [got[0].statuses[0] for got in out]


def _order(is_buy: bool, tif: str) -> OrderAction:
    return OrderAction((OrderSpec(LIT, is_buy, 1.0, 20.0, tif=tif),))


@pytest.mark.parametrize("block_s, ioc_fills", [(0.0, True), (0.07, False)])
def test_a_cancel_goes_before_an_ioc_that_arrived_first_in_its_block(block_s, ioc_fills):
    """The taker's IOC arrives a moment before the maker's cancel of the ask it would take. Each executed at its
    arrival, the IOC fills; in one block, the cancel goes first and the IOC finds nothing."""
    ex = _venue(block_s)
    (ask,) = _together(ex, (MAKER, _order(False, "Alo")))
    assert isinstance(ask, Resting)
    ioc, cancel = _together(ex, (TAKER, _order(True, "Ioc")), (MAKER, CancelAction(((LIT, ask.oid),))))
    if ioc_fills:
        assert isinstance(ioc, Filled) and ioc.total_sz == 20.0 and isinstance(cancel, StatusError)
    else:
        assert cancel == "success" and isinstance(ioc, StatusError)
        assert ioc.error.startswith("Order could not immediately match against any resting orders.")


@pytest.mark.parametrize("block_s, gtc_rests", [(0.0, True), (0.07, False)])
def test_a_post_only_order_goes_before_a_gtc_that_arrived_first_in_its_block(block_s, gtc_rests):
    """The taker's GTC bid at 1.0 arrives a moment before the maker's post-only ask at 1.0. Each at its arrival,
    the bid rests and the ask, which would take it, is refused post-only; in one block, the ask rests first and the
    bid takes it."""
    ex = _venue(block_s)
    gtc, alo = _together(ex, (TAKER, _order(True, "Gtc")), (MAKER, _order(False, "Alo")))
    if gtc_rests:
        assert isinstance(gtc, Resting) and isinstance(alo, StatusError) and "Post only" in alo.error
    else:
        assert isinstance(alo, Resting) and isinstance(gtc, Filled) and gtc.total_sz == 20.0


def test_a_block_executes_at_its_end_on_a_grid_and_a_mixed_batch_waits_with_the_gtc_orders():
    """Actions wait for the end of the block they arrive in (70 ms blocks from t=0), and a batch with any order not
    post-only in it is no post-only batch: sent after a GTC bid, it does not go before it."""
    ex = _venue(0.07)
    t0 = ex.env.now
    replies = []
    mixed = OrderAction((OrderSpec(LIT, False, 1.0, 20.0, tif="Alo"), OrderSpec(LIT, False, 3.0, 20.0, tif="Gtc")))
    ex.submit(TAKER, _order(True, "Gtc"), lambda r: replies.append((ex.env.now, r)))
    ex.submit(MAKER, mixed, lambda r: replies.append((ex.env.now, r)))
    ex.env.run(until=t0 + 1.0)
    arrival = t0 + 0.06
    block_end = (int(arrival / 0.07) + 1) * 0.07
    assert [t for t, _ in replies] == pytest.approx([block_end + 0.06] * 2)
    assert isinstance(replies[0][1].statuses[0], Resting)  # the bid rested first: the batch's ask is refused
    assert "Post only" in replies[1][1].statuses[0].error


def test_a_large_position_closed_in_several_fills_is_not_listed_by_the_venue():
    """The taker buys 1,129,726.2 hyna:LIT (lot 0.1) from the maker's ask and sells it back to the maker's bid in four
    fills each: flat, as the venue holds it (a decimal), not a residue of -5.8e-11 that clearinghouseState listed."""
    ex = _venue(0.0)
    sizes = (307_829.4, 511_136.5, 40_973.6, 269_786.7)
    for user in (MAKER, TAKER):
        ex.fund(user, 1e7, "hyna")
    for is_buy in (True, False):
        for sz in sizes:
            spec = OrderSpec(LIT, not is_buy, 1.0, sz, tif="Gtc")
            rest, take = _together(ex, (MAKER, OrderAction((spec,))),
                                   (TAKER, OrderAction((OrderSpec(LIT, is_buy, 1.0, sz, tif="Ioc"),))))
            assert isinstance(rest, Resting) and isinstance(take, Filled) and take.total_sz == sz
    assert [f.direction for f in ex.fills[TAKER]][-1] == "Close Long"
    for user in (MAKER, TAKER):
        assert ex.clearinghouse_state(user, "hyna")["assetPositions"] == []
