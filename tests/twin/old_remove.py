"""Exchange._remove as it was before it wrote _set_status out (236138b), verbatim: the old code
tests/twin/test_exchange_per_event.py holds the exchange's _remove to, and the plain removal
tests/twin/test_paths_written_out.py binds (both with the plain _set_status it calls: the exchange has none since
_remove took its calls)."""
from __future__ import annotations


def old_remove(self, o, status):
    if self.orders.pop(o.oid, None) is not None:
        self.books[o.coin].remove(o)
        bound = o.bound
        if bound is not None:
            self.accounts[o.user].orders_bound -= bound
            self._bound_n -= 1
            if not bound:  # (a reduce-only order's: any other's is 1 or more)
                self._reduce_only_n -= 1
    self._set_status(o, status)
    if status not in ("canceled", "filled"):
        self._log("venue_cancel", o.user, o.oid, status)
