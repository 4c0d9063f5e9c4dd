"""Commands packed into Redis's protocol by hiredis (C) instead of redis-py's Python packer.

Why: redis-py's asyncio connections pack every command in Python, one `Encoder.encode` (a chain
of `isinstance` checks) and one bytes join per argument. A flash sale's sold-out answer is one
script call of 26 arguments (the fast path's keys and arguments, `commerce/orders/checkout/
fastpath.py`), and packing it was the largest single cost of the API's answer in `cProfile`
(`bench/checkout_cost.py --profile`, BENCHMARKS.md): 4-5x the CPU of `hiredis.pack_command`.
redis-py's own synchronous connections pack with hiredis whenever it is installed
(`redis.connection.HiredisRespSerializer`); its asyncio ones have no such switch.

The bytes are the same as redis-py's for every argument both accept (str as UTF-8, bytes,
memoryview, int, float as `repr`; `tests/shared/test_redis_packing.py` compares them). What
hiredis refuses (a bytearray, which redis-py accepts; a bool, None or another type, which
redis-py refuses with `DataError`) and a str that is not valid UTF-8 go to redis-py's packer,
so the answer or the error is redis-py's own. A client with another encoding than strict UTF-8
keeps redis-py's packer.
"""

from __future__ import annotations

from typing import Any

import hiredis


class _HiredisPacking:
    """Mixed into a redis-py asyncio connection class (before it)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        encoder = self.encoder  # type: ignore[attr-defined]
        if encoder.encoding != "utf-8" or encoder.encoding_errors != "strict":
            return super().pack_command(*args)  # type: ignore[misc]
        first = args[0]
        # As redis-py: a command name holding spaces ('CONFIG GET') is several arguments.
        if isinstance(first, str):
            if " " in first:
                args = (*first.encode().split(), *args[1:])
        elif isinstance(first, bytes) and b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except (TypeError, ValueError):  # see the module: redis-py's answer, or its error
            return super().pack_command(*args)  # type: ignore[misc]


_PACKED: dict[type[Any], type[Any]] = {}


def packed_by_hiredis(connection_class: type[Any]) -> type[Any]:
    """`connection_class` (a redis-py asyncio connection class) packing with hiredis; one
    class per connection class, made once."""
    if issubclass(connection_class, _HiredisPacking):
        return connection_class
    if (packed := _PACKED.get(connection_class)) is None:
        name = f"Hiredis{connection_class.__name__}"
        packed = _PACKED[connection_class] = type(name, (_HiredisPacking, connection_class), {})
    return packed
