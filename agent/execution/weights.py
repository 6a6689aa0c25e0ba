"""What a command costs at the venue before it is sent: IP weight (per minute, per IP) and request
items (the address budget), as the gateways will spend them. The core books both as it sends, so
the request budget and the IP-weight pause see a command the moment it leaves, not when answered.

One action per kind in a batch (a batch of places and cancels is two actions), each weighing
1 + n // 40; cancels by cloid and cancels by oid (``oid:N``, an order listed without a cloid) are two kinds, as the
gateways send them (cancelByCloid and cancel); every kind goes in actions of at most 200 (the venue refuses a
bigger one whole: ``CommandRouter``), each weighed so; a snapshot is clearinghouseState 2 + openOrders 20 +
userFillsByTime 20 as sent, and 1 more for every 20 fill rows its pages return, with 20 again for each page past the
first (``pages_weight``: what the gateway reads is known only from its replies, so the core adds it when the snapshot
comes); a cancel-all is openOrders 20 and the cancel actions of every order the venue lists (none when it lists none):
live, those of the orders the core names (``CancelAll.known``) go first and the listing finds only the rest, the same
weight in all.
The gateways' own requests are not the core's to count as it sends: each quota poll is told by ``IpWeightSpent`` as
it is sent, the fill and funding recovery after a reconnect once its pages are read, and the live shutdown's own
snapshots and cancel-alls as they are sent; a live run's set-up queries (before the core starts: meta, the
user's leverage setting, the mid, the account, its fee rate, a userRole at 60), each at the time it was sent, as
the gateway starts.

A request sent is counted at its full weight whatever its answer, an HTTP 429 (the IP limit's refusal), a transport
failure or a malformed reply included: the conservative choice where the venue's documents are silent. hyperliquid.md
§5 says only "On exceeding: HTTP 429 with body null", and lists the 429's semantics beyond that as UNCONFIRMED;
its "A refused (oversized) action costs 0" ([PROBE P8]) is the address budget's, measured for an action over 200
items, which the agent never sends (``CommandRouter``), and says nothing of IP weight. Counted, a refused request
charged nothing only makes the core wait a little longer; left out, one the venue did charge lets it send into a
429. (The twin charges a 429 nothing, ``twin.faults.quota.IpWeightLimiter``: its own assumption, so the core's count
of a minute with 429s in it is above the twin's, never under.)
"""
from __future__ import annotations

from agent.gateway.base import MAX_ITEMS_PER_ACTION, cancel_actions, in_actions, listed_oid, split_batch
from agent.gateway.events import (
    Batch, CancelAll, CancelOrder, Command, ModifyOrder, PlaceOrder, RequestAccountSnapshot, ScheduleCancel,
)


# /info weights (hyperliquid.md §5): clearinghouseState weighs 2, the other requests the agent sends 20; a
# userFillsByTime or userFunding reply adds 1 for every 20 rows it returns
CLEARINGHOUSE_STATE_WEIGHT = 2
INFO_WEIGHT = 20
ROWS_PER_EXTRA_WEIGHT = 20
# the /info types weighing other than 20 (hyperliquid.md §5): what a set-up query costs (``info_weight``)
_INFO_WEIGHT_2 = frozenset({"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState",
                            "exchangeStatus"})
USER_ROLE_WEIGHT = 60
# an action the venue refuses as stale on its expiresAfter costs this many times its items of the address budget
# (hyperliquid.md §2.1, the docs' exchange endpoint); the core counts them once as it sends: the gateways tell the rest
EXPIRED_COST = 5
# the IpWeightSpent request name of a cancel-all's listed cancels that the core did not count (the gateways'
# _cancel_listed): those after the cancels of its known orders
LISTED_CANCELS = "cancel (cancel-all's listing)"
# cancels of orders the venue listed without a cloid (``listed_oid``), as a kind of their own: the gateways cancel
# those by oid, in actions of their own (cancel, beside the cancelByCloid of the rest)
_BY_OID = "cancel by oid"


def items_weight(n: int) -> int:
    """IP weight of ``n`` items of one kind (places, modifies, cancels by cloid, cancels by oid) as the gateways send
    them: actions of at most 200, each 1 + its length // 40. One action of them all was weighed before, short by
    1 + 200 // 40 - 200 // 40 = 1 for every action past the first (a cancel-all of 450 orders: 14, not 12)."""
    if n <= MAX_ITEMS_PER_ACTION:
        return 1 + n // 40 if n else 0
    full, rest = divmod(n, MAX_ITEMS_PER_ACTION)
    return full * (1 + MAX_ITEMS_PER_ACTION // 40) + (1 + rest // 40 if rest else 0)


def info_weight(kind: str) -> int:
    """IP weight of one /info request of type ``kind`` as sent (the rows a time-range query returns add to it:
    ``pages_weight``): 2 for the light types, 60 for userRole, 20 for every other."""
    if kind in _INFO_WEIGHT_2:
        return 2
    return USER_ROLE_WEIGHT if kind == "userRole" else INFO_WEIGHT


def pages_weight(rows: list[int]) -> int:
    """IP weight of a time-range query (userFillsByTime, userFunding) read in pages of ``rows`` rows each (every
    coin's: the venue weighs what it returns): 20 a page, and 1 per 20 rows of each."""
    return sum(INFO_WEIGHT + n // ROWS_PER_EXTRA_WEIGHT for n in rows)


def snapshot_weight(fill_rows: list[int]) -> int:
    """IP weight of an account snapshot whose fill query read pages of ``fill_rows`` rows: clearinghouseState,
    openOrders, and the fill pages."""
    return CLEARINGHOUSE_STATE_WEIGHT + INFO_WEIGHT + pages_weight(fill_rows)


def request_cost(c: Command, n_live: int = 0) -> tuple[int, int, bool]:
    """(IP weight, request items, cancels only: what may spend the cancel reserve) of one command, in one
    pass over a batch. A cancel-all's cancels are the orders the venue will list, which only the sender can
    guess: ``n_live``, the orders it counts as live (each is an item of the address budget, as the gateways
    count them)."""
    t = type(c)
    if t is Batch:
        n_place = n_cancel = n_by_oid = n_modify = n_other = 0
        for x in c.commands:
            tx = type(x)
            if tx is PlaceOrder:
                n_place += 1
            elif tx is CancelOrder:
                n_cancel += 1
                if listed_oid(x.cloid) is not None:
                    n_by_oid += 1
            elif tx is ModifyOrder:
                n_modify += 1
            else:
                n_other += 1
        if n_other:  # rare mixed kinds: the general path
            return ip_weight(c), request_items(c), False
        weight = ((0 if not n_place else 1 + n_place // 40 if n_place <= MAX_ITEMS_PER_ACTION
                   else items_weight(n_place))
                  + (0 if not n_modify else 1 + n_modify // 40 if n_modify <= MAX_ITEMS_PER_ACTION
                     else items_weight(n_modify))
                  + (0 if not n_cancel
                     else 1 + n_cancel // 40 if n_cancel <= MAX_ITEMS_PER_ACTION and not n_by_oid
                     else items_weight(n_cancel - n_by_oid) + items_weight(n_by_oid)))
        # (the calls only past 200 or with cancels by oid: this runs every cycle that sends)
        return weight, n_place + n_cancel + n_modify, n_place == 0 and n_modify == 0 and n_cancel > 0
    if t is PlaceOrder or t is ModifyOrder:
        return 1, 1, False
    if t is CancelOrder:
        return 1, 1, True
    if t is CancelAll:
        return _cancel_all_weight(n_live, c.known), n_live, True
    if t is ScheduleCancel:  # the dead-man's switch: it only ever cancels (a Kill arms it from the reserve)
        return ip_weight(c, n_live), 1, True
    return ip_weight(c, n_live), request_items(c, n_live), False


def request_items(c: Command, n_live: int = 0) -> int:
    """Orders, cancels and modifies in a command, and a scheduleCancel (an action too, one against the address
    budget, as the gateways count it): what the address budget counts. A cancel-all: ``n_live`` (as above)."""
    if isinstance(c, (PlaceOrder, CancelOrder, ModifyOrder, ScheduleCancel)):
        return 1
    if isinstance(c, Batch):
        return sum(request_items(x, n_live) for x in c.commands)
    if isinstance(c, CancelAll):
        return n_live
    return 0


def address_actions(c: Command) -> int:
    """The venue actions a command carrying address items goes out in, as ``CommandRouter`` sends it: a batch one a
    kind (cancels by cloid and by oid apart), at most MAX_ITEMS_PER_ACTION items each; a cancel-all those of the orders
    it names (``known``: the cancels of what its listing finds go later, the gateway's own, ``LISTED_CANCELS``); any
    other one. Only once every one is refused has the command taken nothing at the venue
    (``RequestBudget.note_refused``)."""
    t = type(c)
    if t is Batch:
        cancels, modifies, places, rest = split_batch(c)
        return (len(cancel_actions(cancels)) + len(in_actions(modifies)) + len(in_actions(places))
                + sum(address_actions(x) for x in rest))
    if t is CancelAll:
        return len(cancel_actions([CancelOrder(k) for k in c.known]))
    return 1


def ip_weight(c: Command, n_live: int = 0) -> int:
    """IP weight the gateway will spend on a command (a cancel-all's with ``n_live`` orders listed)."""
    if isinstance(c, Batch):
        kinds: dict[type | str, int] = {}
        for x in c.commands:
            k = _BY_OID if type(x) is CancelOrder and listed_oid(x.cloid) is not None else type(x)
            kinds[k] = kinds.get(k, 0) + 1
        return sum(items_weight(n) if k is PlaceOrder or k is ModifyOrder or k is CancelOrder or k == _BY_OID
                   else 1 + n // 40 for k, n in kinds.items())
    if isinstance(c, RequestAccountSnapshot):
        return SNAPSHOT_SENT_WEIGHT
    if isinstance(c, CancelAll):
        return _cancel_all_weight(n_live, c.known)
    return 1


def _cancel_all_weight(n_live: int, known: tuple[str, ...] = ()) -> int:
    """openOrders (20) and the cancel actions of the ``n_live`` orders it lists (none if it lists none). Of those it
    names (``known``, the core's live orders), an ``oid:N`` goes by oid in actions apart (``cancel_actions``): named
    orders of both kinds weigh an action more than one kind alone."""
    n_by_oid = sum(1 for k in known if listed_oid(k) is not None) if known else 0
    if not n_by_oid:
        return INFO_WEIGHT + items_weight(n_live)
    return INFO_WEIGHT + items_weight(max(n_live - n_by_oid, 0)) + items_weight(n_by_oid)


# a snapshot as sent: its state, its listing and one page of fills of fewer than 20 rows (the rest is booked from its
# reply: AccountSnapshot.ip_weight)
SNAPSHOT_SENT_WEIGHT = snapshot_weight([0])
