"""Live rate limits over HTTP: lease ids any worker can end, and the usage view.

A lease id over HTTP names the reservation in full: `<store id>.<tokens reserved>.<model>`.
With Redis, the store ends a lease by that id and amount alone (the script settles a member
`<id>:<tokens>` once, and a release after a settle finds nothing), so any worker of this
server, and any replica sharing the Redis, rebuilds the lease from its id and ends it: no
lease table to share, nothing lost when a worker restarts. Ending an unknown or expired lease
changes nothing, as in the library; the answer is the same.

With `MemoryUsage` (one worker: the count lives in its process) the server keeps the leases
it admitted, bounded and for one window, so a second call answers the state the first one
left, and an unknown or expired id is a 404.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from mimo_select.usage import AsyncLease, AsyncRedisUsage, Lease, MemoryUsage, awaited

from ._problems import ProblemError

if TYPE_CHECKING:
    from mimo_select.catalog import Catalog

__all__ = ["LeaseBook", "handle_of"]

_HANDLE = re.compile(r"([0-9a-f]{1,32})\.(\d{1,18})\.([\w.\-]{1,200})")
MAX_HELD = 100_000  # memory leases kept for their window at most (RPM limits keep it far lower)


def handle_of(lease: Lease | AsyncLease) -> str:
    return f"{lease.id}.{lease.tokens}.{lease.model}"


class LeaseBook:
    """Finds the lease an id names, for the store the server counts in."""

    def __init__(self, store: MemoryUsage | AsyncRedisUsage, catalog: Catalog) -> None:
        self.store = store
        self._catalog = catalog
        self._held: OrderedDict[str, tuple[float, Lease]] = OrderedDict()
        self._keep = store.window + 1.0

    def hold(self, lease: Lease | AsyncLease) -> str:
        """The id to give out; a memory lease is kept until its window has passed."""
        handle = handle_of(lease)
        if isinstance(lease, Lease) and isinstance(self.store, MemoryUsage):
            now = time.monotonic()
            self._expire(now)
            self._held[handle] = (now + self._keep, lease)
            while len(self._held) > MAX_HELD:
                self._held.popitem(last=False)
        return handle

    def find(self, handle: str) -> Lease | AsyncLease:
        """The lease `handle` names; a `ProblemError` (404) when it names none."""
        m = _HANDLE.fullmatch(handle)
        if m is None or m[3] not in self._catalog:
            raise _unknown(handle, "not a lease id this server gives out")
        store = self.store
        if isinstance(store, MemoryUsage):
            self._expire(time.monotonic())
            held = self._held.get(handle)
            if held is None:
                raise _unknown(handle, "unknown, or its window has passed")
            return held[1]
        return store.lease(m[1], m[3], int(m[2]))

    def _expire(self, now: float) -> None:
        held = self._held
        while held:
            first = next(iter(held.values()))
            if first[0] > now:
                break
            held.popitem(last=False)


def _unknown(handle: str, why: str) -> ProblemError:
    shown = handle if len(handle) <= 80 else handle[:77] + "..."
    return ProblemError("unknown-lease", f"lease {shown!r}: {why}", where="lease_id")


async def end(lease: Lease | AsyncLease, op: str, value: Any) -> None:
    """settle(usage), release() or throttled(retry_after), awaited where the lease is async."""
    result: Any
    if op == "settle":
        result = lease.settle(value)
    elif op == "release":
        result = lease.release()
    else:
        result = lease.throttled(value)
    await awaited(result)
