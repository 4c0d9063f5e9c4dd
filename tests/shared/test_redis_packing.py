"""Commands packed by hiredis (shared/redis_packing.py) are byte for byte what redis-py's own
packer sends, and what hiredis refuses gets redis-py's answer or its error."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import DataError

from shared import redis as shared_redis
from shared.redis_packing import packed_by_hiredis
from tests.conftest import REDIS_URL

HiredisConnection = packed_by_hiredis(aioredis.Connection)

ARGUMENTS = [
    "GET", "", "ü日本語", "a b", "\x00", b"", b"\x00\xff\r\n", memoryview(b"view"),
    bytearray(b"array"), 0, -5, 2**63, 10**30, 1.5, 0.1, -0.0, 1e300, float("inf"), 1 / 3,
    "x" * 10_000, b"y" * 10_000,
]


def _packed(connection: aioredis.Connection, *args: object) -> bytes:
    return b"".join(bytes(chunk) for chunk in connection.pack_command(*args))


@pytest.mark.parametrize("argument", ARGUMENTS, ids=repr)
def test_the_same_bytes_as_redis_py(argument: object) -> None:
    assert _packed(HiredisConnection(), "SET", "k", argument) == _packed(
        aioredis.Connection(), "SET", "k", argument
    )


@pytest.mark.parametrize("name", ["CONFIG GET", b"CONFIG GET", "GET", b"GET"], ids=repr)
def test_a_command_name_with_spaces_is_split_as_redis_py_splits_it(name: str | bytes) -> None:
    assert _packed(HiredisConnection(), name, "x") == _packed(aioredis.Connection(), name, "x")


def test_a_whole_script_call_packs_as_redis_py_packs_it() -> None:
    args = ("EVALSHA", "a" * 40, 3, "k:1", "", "k:{user:7}", b"1", 1733339999, "digest",
            b"3600 600", 1, 55, "0123abcd")
    assert _packed(HiredisConnection(), *args) == _packed(aioredis.Connection(), *args)


@pytest.mark.parametrize("argument", [True, None, object(), [1], "\ud800"], ids=repr)
def test_what_redis_py_refuses_is_refused_with_its_error(argument: object) -> None:
    with pytest.raises((DataError, UnicodeEncodeError)) as theirs:
        aioredis.Connection().pack_command("SET", "k", argument)
    with pytest.raises(theirs.type) as ours:
        HiredisConnection().pack_command("SET", "k", argument)
    assert str(ours.value) == str(theirs.value)


def test_another_encoding_keeps_redis_py_s_packer() -> None:
    latin = HiredisConnection(encoding="latin-1")
    assert _packed(latin, "SET", "k", "é") == _packed(
        aioredis.Connection(encoding="latin-1"), "SET", "k", "é"
    )
    assert _packed(latin, "SET", "k", "é") != _packed(HiredisConnection(), "SET", "k", "é")


def test_the_wrapped_class_is_made_once_and_not_twice() -> None:
    assert packed_by_hiredis(aioredis.Connection) is HiredisConnection
    assert packed_by_hiredis(HiredisConnection) is HiredisConnection


@pytest.mark.skipif(shared_redis.is_cluster(REDIS_URL), reason="one Redis's connection pool")
async def test_the_data_client_packs_with_hiredis_and_redis_reads_it(redis_url: str) -> None:
    client = shared_redis.make_redis(redis_url)
    try:
        connection_class = client.connection_pool.connection_class
        assert connection_class.pack_command is HiredisConnection.pack_command
        echo = client.register_script("return ARGV")
        sent = ["ü日本語", b"\x00\xff\r\n", 2**63, 1.5, "", bytearray(b"array"), "x" * 10_000]
        assert await echo(keys=[], args=sent) == [
            "ü日本語".encode(), b"\x00\xff\r\n", b"9223372036854775808", b"1.5", b"",
            b"array", b"x" * 10_000,
        ]
    finally:
        await client.aclose()
