"""The cyclic garbage collector's thresholds for a gateway process.

CPython's collector runs a young collection every 700 net new container objects, and a full
one (every object the process holds) whenever ten middle collections have passed and the heap
has grown by a quarter since the last full one. A join storm grows the heap steadily (about 150
objects per connection: sockets, their Engine.IO and Socket.IO state, aiohttp's request and
WebSocket), so with the defaults a 10,000-client storm ran about 15 full collections over an
ever larger heap: 3.3 s of the gateway's 8.4 s of CPU for that storm (`gc.callbacks` timing,
BENCHMARKS.md issue 20, session 8), the largest single item of a connection's cost and one
py-spy cannot show (it lands on whatever line allocated). The objects a storm creates are
long-lived and free of cycles: after 3,000 clients connected, joined and left, a full
collection found nothing unreachable. So the gateway collects less often:
`GC_THRESHOLDS` (default 10000, 10, 100) makes a young collection every 10,000 net new objects
and considers a full one every 10 million, which a 10,000-client storm reaches about once.
Cyclic garbage (rare here: ~2,700 objects in a 10,000-client storm) waits longer to be freed.
"""

from __future__ import annotations

import gc


def tune_gc(thresholds: tuple[int, int, int]) -> None:
    """Apply the thresholds (before the server starts accepting connections)."""
    gc.set_threshold(*thresholds)
