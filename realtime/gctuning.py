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
`GC_THRESHOLDS` (default 100000, 10, 100) makes a young collection every 100,000 net new
objects, a middle one every million, and considers a full one every 100 million.

Why the young threshold is that high: a collection examines every object that is still alive in
the generations it collects, and in a storm nearly every new object is (it belongs to an open
connection), so each young collection looks at its whole threshold's worth and each middle one
at ten times that. With (10000, 10, 100) a 10,000-client storm ran ~100 young and 10 middle
collections, 1.1-1.5 s of GC CPU per storm on a loaded machine (the process used 15-18 s in
all); with (100000, 10, 100) 9 young and one middle, 0.56-0.72 s (`gc.callbacks` timing,
BENCHMARKS.md issue 20, session 9). The price is a longer pause when one does run: a young
collection over ~100,000 live objects took 55-70 ms on that loaded machine, once per ~100,000
objects a storm keeps; a quiet gateway's objects mostly die young (refcounting frees them), so
it rarely reaches the threshold. Cyclic garbage (rare here: ~2,700 objects in a 10,000-client
storm) waits longer to be freed.
"""

from __future__ import annotations

import gc


def tune_gc(thresholds: tuple[int, int, int]) -> None:
    """Apply the thresholds (before the server starts accepting connections)."""
    gc.set_threshold(*thresholds)
