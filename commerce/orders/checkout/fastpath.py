"""The checkout's fast path: one Redis round trip (`fastpath.lua`) that checks the token's
revocation and the Idempotency-Key's stored rejection, then takes the order's units from the
stock gate, because in a flash sale's flood the rejection path is the whole request.

- `unrevoked`: a principal whose token must not be revoked (`shared.tokens`' rule, run first);
  if it is, nothing is taken and the answer is `Revoked`. If this Redis run has not had the
  marks restored from the database (it restarted or lost data since), Redis cannot tell, and
  the answer is `RevocationUnknown` (nothing taken): the caller asks the database, as the slow
  path does, and runs the fast path again without the revocation check.
- `answer`, the Idempotency-Key: a rejection stored for it comes back (`Answered`) before the
  stock is looked at; a short line reports whether the success marker exists (the caller must
  look for a stored success before answering 409) and, if not, stores itself as the key's
  first answer; a take sets the marker (the checkout that follows may store a success under it:
  the marker must exist first).
- The stock: the gate's own rule (`commerce.inventory.gate.STOCK_LUA`), with missing keys
  loaded from the database by the gate (`StockGate.with_loaded_keys`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from commerce.inventory.gate import STOCK_LUA, Missing, StockGate
from commerce.inventory.gate import key as gate_key
from commerce.orders.checkout.answers import AnswerKey, FirstAnswers
from shared.redis import REDIS_RUN_LUA
from shared.tokens import REVOKED_LUA, Principal, revocation_keys, revocations_run_key

_SCRIPT = (REVOKED_LUA + REDIS_RUN_LUA + STOCK_LUA
           + Path(__file__).with_name("fastpath.lua").read_text("utf-8"))


@dataclass(frozen=True, slots=True)
class Taken:
    """The units were taken from the gate (and the key's marker set): go to the database."""


@dataclass(frozen=True, slots=True)
class Revoked:
    """The caller's token was revoked: answer 401; nothing was taken."""


@dataclass(frozen=True, slots=True)
class RevocationUnknown:
    """Redis holds no verdict on the token (its marks are not restored into this Redis run):
    ask the database; nothing was taken."""


@dataclass(frozen=True, slots=True)
class Answered:
    """The key's first answer was a rejection (`FirstAnswers.replay` reads `stored`): replay
    it, or answer a conflict for another body; nothing was taken. `marked`: the success marker
    exists too (a concurrent retry may have committed since: look for its record)."""

    stored: str | bytes
    marked: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    """The gate knows this line cannot be served: answer 409 without touching the database.
    `marked`: the key's success marker exists (checked in the same round trip)."""

    product_id: int
    available: int
    marked: bool = False


Result = Taken | Revoked | RevocationUnknown | Answered | Rejected
TAKEN = Taken()
REVOKED = Revoked()
REVOCATION_UNKNOWN = RevocationUnknown()


class FastPath:
    def __init__(self, gate: StockGate, answers: FirstAnswers) -> None:
        self.gate = gate
        self.answers = answers
        self._script = gate.redis.register_script(_SCRIPT)

    async def take(
        self,
        lines: Mapping[int, int],
        *,
        answer: AnswerKey | None = None,
        unrevoked: Principal | None = None,
    ) -> Result:
        """Take `lines` (product id → quantity) from the stock gate, after the checks above."""
        ids = sorted(lines)
        revocation = revocation_keys(unrevoked) if unrevoked is not None else []
        keys = [
            answer.marker_key if answer else "", answer.rejection_key if answer else "",
            *[*revocation, "", "", ""][:3],
            revocations_run_key() if unrevoked is not None else "",
            *(gate_key(pid) for pid in ids),
        ]
        oos = self.answers.out_of_stock_form(answer) if answer else ("", "", "")
        head: list[str | int] = [
            int(answer is not None), int(unrevoked is not None),
            unrevoked.issued_at if unrevoked is not None else 0,
            self.answers.marker_ttl_s, self.answers.rejection_ttl_s, *oos,
        ]
        tail = [*(lines[pid] for pid in ids), *ids]

        async def attempt(lenient: bool) -> Result | Missing:
            result = await self._script(keys=keys, args=[*head, int(lenient), *tail])
            verdict = str(result[0])
            if verdict == "taken":
                return TAKEN
            if verdict == "short":
                return Rejected(product_id=ids[int(result[1]) - 1], available=int(result[2]),
                                marked=bool(int(result[3])))
            if verdict == "answered":
                return Answered(result[1], marked=bool(int(result[2])))
            if verdict == "revoked":
                return REVOKED
            if verdict == "unknown":
                return REVOCATION_UNKNOWN
            if verdict == "missing":
                return Missing(tuple(int(i) for i in result[1:]))
            raise ValueError(f"fastpath.lua answered {verdict!r}")

        return await self.gate.with_loaded_keys(attempt, ids)
