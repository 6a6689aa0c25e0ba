"""Request costs the core books as it sends (IP weight, address items)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from agent.execution.weights import info_weight, ip_weight, request_cost, request_items
from agent.gateway.events import (
    Batch, CancelAll, CancelOrder, ModifyOrder, PlaceOrder, RequestAccountSnapshot, ScheduleCancel, Side, Tif,
)

_KINDS = {
    "place": lambda i: PlaceOrder(f"0xp{i}", Side.BUY, 99.0, 0.1, Tif.ALO),
    "cancel": lambda i: CancelOrder(f"0xc{i}"),
    "cancel by oid": lambda i: CancelOrder(f"oid:{i}"),  # an order listed without a cloid
    "modify": lambda i: ModifyOrder(f"0xc{i}", f"0xm{i}", 98.0, 0.1, Tif.ALO),
    "snapshot": lambda i: RequestAccountSnapshot(),
}


def test_costs_by_hand():
    places = Batch(tuple(_KINDS["place"](i) for i in range(41)))
    assert request_cost(places) == (2, 41, False)  # one action of 41 orders weighs 1 + 41 // 40
    mixed = Batch((_KINDS["cancel"](0), _KINDS["place"](1)))
    assert request_cost(mixed) == (2, 2, False)  # two actions: cancels, then places
    assert request_cost(Batch((_KINDS["cancel"](0), _KINDS["cancel"](1)))) == (1, 2, True)
    # a cancel-all: openOrders (20), then one cancel action of the orders it lists, if any
    assert request_cost(CancelAll()) == (20, 0, True)
    assert request_cost(CancelAll(), n_live=3) == (21, 3, True)
    assert request_cost(CancelAll(), n_live=41) == (22, 41, True)
    for n in (0, 3, 41):  # the general rules say the same
        assert request_cost(CancelAll(), n) == (ip_weight(CancelAll(), n), request_items(CancelAll(), n), True)
    assert request_cost(RequestAccountSnapshot()) == (42, 0, False)
    assert request_cost(ScheduleCancel(5.0)) == request_cost(ScheduleCancel(None)) == (1, 1, True)  # an action, one that only
    # ever cancels (a Kill may arm it from the cancel reserve)


def test_a_cancel_all_naming_orders_of_both_kinds_weighs_the_actions_they_go_out_in():
    """A cancel-all names the orders the core counts live (``known``); the gateways cancel those with a cloid in
    one action and those listed without one (``oid:N``) in another, as for any cancels: counted as one action, the
    core was 1 short of what the venue charged."""
    both = CancelAll(("0xa", "0xb", "oid:7"))
    assert request_cost(both, n_live=3) == (20 + 1 + 1, 3, True)
    assert ip_weight(both, 3) == 22
    assert request_cost(CancelAll(("0xa", "0xb")), n_live=2) == (21, 2, True)  # one kind: one action
    assert request_cost(CancelAll(("oid:1", "oid:2")), n_live=2) == (21, 2, True)
    assert request_cost(CancelAll(("0xa", "oid:x1")), n_live=2) == (21, 2, True)  # no oid: sent by cloid


def test_cancels_by_cloid_and_by_oid_in_one_batch_weigh_the_two_actions_they_go_out_in():
    """The live gateway sends a batch's cancels by cloid as a cancelByCloid action and those by oid (``oid:N``, an
    order listed without a cloid) as a cancel action: two actions, 1 + n // 40 each. The core weighed them as one, 1
    short of what the venue charged."""
    both = Batch((_KINDS["cancel"](0), _KINDS["cancel by oid"](1)))
    assert request_cost(both) == (2, 2, True)
    assert ip_weight(both) == 2
    assert request_cost(Batch(tuple(_KINDS["cancel by oid"](i) for i in range(41)))) == (2, 41, True)  # one action
    with_places = Batch((_KINDS["place"](0), *both.commands))
    assert request_cost(with_places) == (3, 3, False)


@given(st.lists(st.sampled_from(sorted(_KINDS)), min_size=1, max_size=90))
def test_the_one_pass_batch_cost_equals_the_general_rules(kinds):
    batch = Batch(tuple(_KINDS[k](i) for i, k in enumerate(kinds)))
    weight, items, cancels_only = request_cost(batch)
    assert weight == ip_weight(batch) and items == request_items(batch)
    assert cancels_only == (set(kinds) <= {"cancel", "cancel by oid"})


@given(st.lists(st.integers(0, 2000), min_size=1, max_size=6))
def test_a_fill_query_weighs_what_the_venue_charges_its_pages(rows):
    """userFillsByTime: 20 a request, and 1 more per 20 rows it returns (hyperliquid.md §5), as the twin charges."""
    from agent.execution.weights import pages_weight
    from twin.faults.quota import info_weight
    assert pages_weight(rows) == sum(info_weight("userFillsByTime", n) for n in rows)
    assert pages_weight([19]) == 20 and pages_weight([20]) == 21 and pages_weight([2000, 102]) == 145
    # as sent, a snapshot is its state (2), its listing (20) and a fill page of fewer than 20 rows
    assert ip_weight(RequestAccountSnapshot()) == info_weight("clearinghouseState") + info_weight("openOrders") + \
        info_weight("userFillsByTime", 0) == 42


def test_a_set_up_querys_weight_is_the_venues_as_the_twin_charges_it():
    """The live set-up's queries are told to the core at their weight (``info_weight``): 2 for the light types, 60
    for userRole, 20 for the rest (hyperliquid.md §5), as ``twin serve`` charges them (a query returning no rows)."""
    from twin.faults.quota import info_weight as charged
    kinds = ("meta", "perpDexs", "l2Book", "clearinghouseState", "userFees", "userRole", "allMids", "orderStatus",
             "openOrders", "userRateLimit", "exchangeStatus", "spotClearinghouseState", "activeAssetData")
    assert [info_weight(k) for k in kinds] == [charged(k) for k in kinds]
    assert (info_weight("meta"), info_weight("l2Book"), info_weight("userRole")) == (20, 2, 60)
