"""`Idempotency-Key` for `POST /orders`: the first response to a key is replayed, success or
failure (the contract, and the IETF draft "The Idempotency-Key HTTP Header Field").

- Same key, same body (SHA-256 of the canonical JSON of the validated request) → the stored
  status and body are replayed (`Idempotent-Replayed: true`).
- Same key, different body → 409 `idempotency_conflict`.
- Two concurrent requests with one key: the second `INSERT` of the unique row waits on the
  first's transaction; if that commits, the second gets a duplicate-key error, rolls back
  (releasing anything it reserved) and replays the stored response. Only one order exists.

Successes are stored in the database, in the same transaction as the order they describe,
under a unique `(user_id, scope, key)` row. Keys live `RETENTION_S` (24 hours, as Stripe's do):
`purge_expired` (a beat task) deletes older records, and the Redis marker lives exactly as
long, so "no marker" still proves "no record". A retry a day later is a new request.

Rejections the checkout itself decides (409 `out_of_stock`, and the 422s of `OrderInputError`:
a deleted product, one's own product, mixed currencies, a stream that is not open) are stored
in Redis (`StoredRejection`, under the second of `answer_keys`), not in the database: a flash
sale's flood is mostly such answers, given by the stock gate in one Redis round trip whose
script also stores them. They live shorter than successes (`order_rejection_replay_ttl_s`, 10
minutes by default) because a flood holds hundreds of thousands of them; a retry after that is
a new request. Request-shape errors (validation, a malformed key, an empty cart) and errors of
the server are not stored: like Stripe's, they did not start the operation.

A Redis marker spares the flash sale's cheap path a DB read: it is set *before* the record's
transaction commits (by the stock gate's script when a request passes it, in the same round
trip; else in the checkout transaction), so "no marker" proves "no record" (while the marker
lives, `MARKER_TTL_S`) and the gate can reject a keyed request with Redis alone. A marker whose
order did not commit (out of stock in the database, a rule broken, an error) only costs one
needless lookup.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.db import table_of, utcnow
from commerce.orders.errors import IdempotencyConflict, OutOfStock
from commerce.orders.models import IdempotencyRecord
from shared.errors import AppError, InvalidInput

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
RETENTION_S = 24 * 3600
MARKER_TTL_S = RETENTION_S
_INSERT_RECORDS = insert(table_of(IdempotencyRecord))  # built once: it runs per checkout group


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    replayed: bool = False


def check_key(key: str | None) -> str | None:
    """None when absent; a key of 1-255 visible ASCII characters; anything else is a 422."""
    if key is None:
        return None
    if not _KEY.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 1-255 visible ASCII characters",
            code="invalid_idempotency_key",
        )
    return key


def request_hash(payload: dict[str, Any]) -> str:
    """Canonical JSON (sorted keys, no whitespace) so key order and spacing do not matter."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def find(
    session: AsyncSession, *, user_id: int, scope: str, key: str, digest: str
) -> StoredResponse | None:
    """The stored response for this key, or None; a different body is a conflict."""
    record = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
        )
    )
    if record is None:
        return None
    if record.request_hash != digest:
        raise IdempotencyConflict()
    return StoredResponse(record.status_code, record.response_body.encode(), replayed=True)


@dataclass(frozen=True)
class Record:
    """The first response to a key, to be stored."""

    user_id: int
    key: str
    digest: str
    response: StoredResponse


async def insert_records(session: AsyncSession, *, scope: str, records: list[Record]) -> None:
    """Write the records now (one statement), in the caller's transaction, to claim the keys
    early: a concurrent request with one of these keys waits on the unique index, and a taken
    key raises `IntegrityError` here."""
    connection = await session.connection()
    now = utcnow()
    await connection.execute(
        _INSERT_RECORDS,
        [
            {"user_id": r.user_id, "scope": scope, "key": r.key, "request_hash": r.digest,
             "status_code": r.response.status_code, "response_body": r.response.body.decode(),
             "created_at": now}
            for r in records
        ],
    )


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def marker_key(user_id: int, scope: str, key: str) -> str:
    """The Redis key of the marker (for callers that check it inside their own script)."""
    return f"idem:{scope}:{user_id}:{_key_digest(key)}"


def answer_keys(user_id: int, scope: str, key: str) -> tuple[str, str]:
    """The Redis keys of the marker and of a stored rejection (`StoredRejection`), hashing the
    Idempotency-Key once (both are read on every keyed checkout)."""
    digest = _key_digest(key)
    return f"idem:{scope}:{user_id}:{digest}", f"idemrej:{scope}:{user_id}:{digest}"


class StoredRejection(AppError):
    """A rejection replayed for its key: the first answer's status, code, message and details."""

    def headers(self) -> dict[str, str]:
        return {"Idempotent-Replayed": "true"}


def encode_rejection(digest: str, exc: AppError) -> str:
    """A rejection as stored under the second of `answer_keys` (JSON; the gate's script writes
    the compact `out_of_stock` form `{"d", "k", "p", "a"}` itself)."""
    return orjson.dumps(
        {"d": digest, "s": exc.status, "c": str(exc.code), "m": exc.message, "x": exc.details}
    ).decode()


def replay_rejection(stored: str | bytes, digest: str) -> AppError:
    """The error to raise for a stored rejection: itself replayed for the same body, else a
    conflict."""
    data = orjson.loads(stored)
    if data["d"] != digest:
        return IdempotencyConflict()
    if data.get("k") == "out_of_stock":
        first: AppError = OutOfStock(product_id=int(data["p"]), available=int(data["a"]))
    else:
        first = AppError(data["m"], code=data["c"], status=int(data["s"]), details=data["x"])
    return StoredRejection(first.message, code=str(first.code), status=first.status,
                           details=first.details)


async def remember_rejection(
    redis: aioredis.Redis, *, user_id: int, scope: str, key: str, digest: str, exc: AppError,
    ttl_s: int,
) -> None:
    """Store a rejection as the key's first answer, unless one is stored already."""
    _, rejection_key = answer_keys(user_id, scope, key)
    await redis.set(rejection_key, encode_rejection(digest, exc),
                    nx=True, ex=ttl_s)


async def stored_answer(
    redis: aioredis.Redis, *, user_id: int, scope: str, key: str
) -> tuple[bool, str | bytes | None]:
    """(whether a success record may exist, the stored rejection if any): one round trip."""
    marker, rejection = await redis.mget(*answer_keys(user_id, scope, key))
    return marker is not None, rejection


async def mark_many(redis: aioredis.Redis, *, scope: str, records: list[Record]) -> None:
    """Call before committing the records: afterwards `may_exist` is true for their keys."""
    if len(records) == 1:  # the common case: no pipeline object
        r = records[0]
        await redis.set(marker_key(r.user_id, scope, r.key), "1", ex=MARKER_TTL_S)
        return
    async with redis.pipeline(transaction=False) as pipe:
        for r in records:
            pipe.set(marker_key(r.user_id, scope, r.key), "1", ex=MARKER_TTL_S)
        await pipe.execute()


async def purge_expired(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    batch_size: int = 1000,
    max_batches: int = 100,
) -> int:
    """Delete records older than `RETENTION_S`; returns how many.

    By primary key in small batches (the `created_at` index finds them), one short transaction
    each, so a large backlog never holds locks that a checkout's record INSERT would wait on.
    `max_batches` bounds one run; the next run carries on.
    """
    cutoff = (now or utcnow()) - timedelta(seconds=RETENTION_S)
    purged = 0
    for _ in range(max_batches):
        async with sessions() as session, session.begin():
            ids = (
                await session.scalars(
                    select(IdempotencyRecord.id)
                    .where(IdempotencyRecord.created_at < cutoff)
                    .order_by(IdempotencyRecord.created_at)
                    .limit(batch_size)
                )
            ).all()
            if ids:
                await session.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids))
                )
        purged += len(ids)
        if len(ids) < batch_size:
            break
    return purged
