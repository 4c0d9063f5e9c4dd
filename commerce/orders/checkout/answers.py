"""The first answer to an `Idempotency-Key` of `POST /orders`, success or rejection: one class,
`FirstAnswers`, owns how it is keyed, stored, looked up and replayed (the contract, and the
IETF draft "The Idempotency-Key HTTP Header Field").

- Same key, same body (SHA-256 of the canonical JSON of the validated request) → the first
  answer's status and body are replayed (`Idempotent-Replayed: true`).
- Same key, different body → 409 `idempotency_conflict`.
- Two concurrent requests with one key: the second `INSERT` of the unique row waits on the
  first's transaction; if that commits, the second gets a duplicate-key error, rolls back
  (releasing anything it reserved) and replays the stored success. Only one order exists.

A success is stored in the database, in the same transaction as the order it describes, under
a unique `(user_id, scope, key)` row. Keys live `RETENTION_S` (24 hours, as Stripe's do):
`purge_expired` (a beat task) deletes older records, and the Redis marker lives exactly as
long, so "no marker" still proves "no record". A retry a day later is a new request.

A rejection the checkout itself decides (409 `out_of_stock`, 409 `purchase_limit`, and the 422s
of `OrderInputError`: a deleted product, one's own product, mixed currencies, a stream that is
not open) is stored in Redis (`AnswerKey.rejection_key`), not in the database: a flash sale's
flood is mostly such answers, given by the fast path in one Redis round trip whose script also
stores them (fastpath.lua builds the forms `replay` reads from the digest). They live shorter
than successes (`order_rejection_replay_ttl_s`, 10 minutes by default) because a flood holds
hundreds of thousands of them; a retry after that is a new request. Request-shape errors
(validation, a malformed key, an empty cart) and errors of the server are not stored: like
Stripe's, they did not start the operation.

The Redis marker (`AnswerKey.marker_key`) spares the flash sale's cheap path a DB read: it is
set *before* the success's transaction commits (by the fast path's script when a request passes
it, in the same round trip; else in the checkout transaction, `claim`), so "no marker" proves
"no record" (while the marker lives, `MARKER_TTL_S`) and a keyed request can be rejected with
Redis alone. A marker whose order did not commit (out of stock in the database, a rule broken,
an error) only costs one needless lookup.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.db import table_of, utcnow
from commerce.inventory.errors import OutOfStock
from commerce.orders.errors import IdempotencyConflict, PurchaseLimit
from commerce.orders.models import IdempotencyRecord
from shared.errors import AppError, InvalidInput

SCOPE = "orders.create"
RETENTION_S = 24 * 3600
MARKER_TTL_S = RETENTION_S
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_INSERT_RECORDS = insert(table_of(IdempotencyRecord))  # built once: it runs per checkout group


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class AnswerKey:
    """One request's `Idempotency-Key`, read once: the key, the digest of the request it came
    with, and the Redis keys of its success marker and its stored rejection (the key is hashed
    once for both: they are read on every keyed checkout)."""

    user_id: int
    key: str
    digest: str
    marker_key: str
    rejection_key: str

    @classmethod
    def of(cls, user_id: int, key: str | None, payload: dict[str, Any]) -> AnswerKey | None:
        """None when the header is absent; a key of 1-255 visible ASCII characters; anything
        else is a 422. `payload` is the validated request as JSON data."""
        if key is None:
            return None
        if not _KEY.match(key):
            raise InvalidInput(
                "Idempotency-Key must be 1-255 visible ASCII characters",
                code="invalid_idempotency_key",
            )
        hashed = _hashed(key)
        return cls(
            user_id, key, request_hash(payload),
            f"idem:{SCOPE}:{user_id}:{hashed}", f"idemrej:{SCOPE}:{user_id}:{hashed}",
        )


def _hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def marker_key(user_id: int, key: str) -> str:
    """The success marker's Redis key of a stored record (`AnswerKey.marker_key`)."""
    return f"idem:{SCOPE}:{user_id}:{_hashed(key)}"


def request_hash(payload: dict[str, Any]) -> str:
    """Canonical JSON (sorted keys, no whitespace) so key order and spacing do not matter."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


class StoredRejection(AppError):
    """A rejection replayed for its key: the first answer's status, code, message and details."""

    def headers(self) -> dict[str, str]:
        return {"Idempotent-Replayed": "true"}


@dataclass(frozen=True, slots=True)
class Claim:
    """A success to store as its key's first answer. `marked`: the fast path set the marker."""

    answer: AnswerKey
    response: StoredResponse
    marked: bool


class FirstAnswers:
    """Everything about an Idempotency-Key's first answer, in Redis and in the database."""

    def __init__(
        self,
        redis: aioredis.Redis,
        sessions: async_sessionmaker[AsyncSession],
        *,
        rejection_ttl_s: int,
        marker_ttl_s: int = MARKER_TTL_S,
    ) -> None:
        self.redis = redis
        self.sessions = sessions
        self.rejection_ttl_s = rejection_ttl_s
        self.marker_ttl_s = marker_ttl_s

    async def lookup(self, answer: AnswerKey) -> StoredResponse | None:
        """The key's first answer: a stored success (returned; the database is asked only if
        the marker says maybe), a stored rejection (raised again), or None for a new key. One
        Redis round trip for both."""
        # Two slots on a Redis Cluster: one round trip either way (the keys' names predate
        # cluster support and outlive deploys, so they are not hash-tagged together).
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(answer.marker_key)
            pipe.get(answer.rejection_key)
            marker, rejection = await pipe.execute()
        if marker is not None and (stored := await self.find(answer)):
            return stored
        if rejection is not None:
            raise self.replay(rejection, answer)
        return None

    async def find(self, answer: AnswerKey) -> StoredResponse | None:
        """The stored success for this key, or None; a different body is a conflict."""
        async with self.sessions() as session:
            record = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.user_id == answer.user_id,
                    IdempotencyRecord.scope == SCOPE,
                    IdempotencyRecord.key == answer.key,
                )
            )
        if record is None:
            return None
        if record.request_hash != answer.digest:
            raise IdempotencyConflict()
        return StoredResponse(record.status_code, record.response_body.encode(), replayed=True)

    @staticmethod
    def replay(stored: str | bytes, answer: AnswerKey | str) -> AppError:
        """The error to raise for a stored rejection: itself replayed for the same body (the
        `answer`'s digest), else a conflict."""
        digest = answer if isinstance(answer, str) else answer.digest
        data = orjson.loads(stored)
        if data["d"] != digest:
            return IdempotencyConflict()
        if data.get("k") == "out_of_stock":  # the fast path's forms (fastpath.lua)
            first: AppError = OutOfStock(product_id=int(data["p"]), available=int(data["a"]))
        elif data.get("k") == "purchase_limit":
            first = PurchaseLimit(limit=int(data["l"]), kind=str(data["t"]),
                                  product_id=int(data["p"]) if "p" in data else None)
        else:
            first = AppError(data["m"], code=data["c"], status=int(data["s"]), details=data["x"])
        return StoredRejection(first.message, code=str(first.code), status=first.status,
                               details=first.details)

    async def remember_rejection(self, answer: AnswerKey, exc: AppError) -> None:
        """Store a rejection as the key's first answer, unless one is stored already."""
        stored = orjson.dumps({"d": answer.digest, "s": exc.status, "c": str(exc.code),
                               "m": exc.message, "x": exc.details})
        await self.redis.set(answer.rejection_key, stored, nx=True, ex=self.rejection_ttl_s)

    async def claim(self, session: AsyncSession, claims: Sequence[Claim]) -> None:
        """Store successes as their keys' first answers, in the caller's transaction (one
        statement), to claim the keys early: a concurrent request with one of these keys waits
        on the unique index, and a taken key raises `IntegrityError` here. Then set the markers
        the fast path has not (before the commit: afterwards "no marker" would lie)."""
        if not claims:
            return
        connection = await session.connection()
        now = utcnow()
        await connection.execute(
            _INSERT_RECORDS,
            [
                {"user_id": c.answer.user_id, "scope": SCOPE, "key": c.answer.key,
                 "request_hash": c.answer.digest, "status_code": c.response.status_code,
                 "response_body": c.response.body.decode(), "created_at": now}
                for c in claims
            ],
        )
        unmarked = [c.answer.marker_key for c in claims if not c.marked]
        if len(unmarked) == 1:  # the common case: no pipeline object
            await self.redis.set(unmarked[0], "1", ex=self.marker_ttl_s)
        elif unmarked:
            async with self.redis.pipeline(transaction=False) as pipe:
                for marker_key in unmarked:
                    pipe.set(marker_key, "1", ex=self.marker_ttl_s)
                await pipe.execute()


async def purge_expired(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    batch_size: int = 1000,
    max_batches: int = 100,
) -> int:
    """Delete success records older than `RETENTION_S`; returns how many.

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
