"""Substring search in Chinese, Thai and Latin scripts over a character-bigram inverted index.

MariaDB's FULLTEXT has no n-gram parser (MySQL's does, MariaDB's doesn't) and neither Chinese nor
Thai separates words with spaces, so word-based indexes cannot find `耳機` inside `藍牙耳機`. The
index here works alike on every engine:

1. `normalise` folds text to one canonical form (NFKC, casefold) and drops punctuation, spaces
   and invisible format characters. Thai vowel and tone marks are combining marks (category Mn),
   which are kept, so `หูฟัง` keeps every code point. Query and index go through the same
   function, so code-point bigrams line up even where a "character" spans several code points.
2. Every product stores the set of bigrams of its normalised name and description in
   `product_search_grams` (`in_name` says whether the bigram occurs in the name).
3. A query's bigrams select the products that hold all of them (`GROUP BY product_id HAVING
   COUNT(DISTINCT gram) = n`). Having every bigram does not prove the substring (`abxbc` holds
   `ab` and `bc` but not `abc`), so each candidate is confirmed against its normalised text.
4. Confirmed hits are ranked: name matches before description-only matches, then earlier match
   position, then shorter name, then newer product. Pages continue after the rank key of the
   last row, so the order stays stable while paging.

Dropping spaces also lets `iphone 15` find `iPhone15`; a match may span a word boundary, which
for product search is a feature rather than a false positive.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog.models import Product, ProductSearchGram
from shared.errors import InvalidInput

MIN_QUERY_CHARS = 2
_IN_CHUNK = 500  # ids per `IN (...)` list: well inside every engine's bound-parameter limit


def _dropped_table() -> dict[int, None]:
    """`str.translate` table deleting punctuation (P*), separators (Z*), controls (Cc) and
    format characters (Cf, e.g. zero-width space). Letters, marks (Thai vowels and tones),
    numbers and symbols stay. Built once: translating in C is ~30x faster than testing each
    character's category in Python, which dominated broad searches. The scanned ranges hold
    every assigned P/Z/Cc/Cf code point (planes 0-2 and the plane-14 tag characters)."""
    table: dict[int, None] = {}
    for start, end in ((0, 0x30000), (0xE0000, 0xE1000)):
        for code in range(start, end):
            category = unicodedata.category(chr(code))
            if category[0] in "PZ" or category in ("Cc", "Cf"):
                table[code] = None
    return table


_DROPPED = _dropped_table()


def normalise(text: str) -> str:
    """Canonical searchable form: NFKC, casefolded, punctuation/space/format characters removed.

    NFKC runs again after casefolding because folding can produce non-normalised sequences.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return folded.translate(_DROPPED)


def bigrams(normalised: str) -> set[str]:
    """The distinct code-point bigrams of an already normalised string."""
    return {normalised[i : i + 2] for i in range(len(normalised) - 1)}


def gram_rows(product_id: int, *, name: str, description: str) -> list[dict[str, object]]:
    """Index rows for one product (one per distinct bigram of name or description)."""
    in_name = bigrams(normalise(name))
    in_description = bigrams(normalise(description))
    return [
        {"gram": gram, "product_id": product_id, "in_name": gram in in_name}
        for gram in sorted(in_name | in_description)
    ]


async def reindex(session: AsyncSession, product: Product, *, new: bool = False) -> None:
    """Write a product's postings inside the caller's transaction, replacing any old ones.

    A new product has none, so nothing is deleted: on InnoDB an empty `DELETE ... WHERE
    product_id = :new_id` takes a gap lock at the end of the index, and concurrent creates then
    deadlock on each other's inserts into that gap.
    """
    if not new:
        await unindex(session, product.id)
    rows = gram_rows(product.id, name=product.name, description=product.description)
    if rows:
        await session.execute(insert(ProductSearchGram), rows)


async def unindex(session: AsyncSession, product_id: int) -> None:
    await session.execute(
        delete(ProductSearchGram).where(ProductSearchGram.product_id == product_id)
    )


def prepare_query(q: str) -> str:
    """The normalised query, or 422 `query_too_short` when fewer than two base characters
    (letters, digits, symbols; combining marks ride on their base) remain."""
    normalised = normalise(q)
    # Count base characters, not code points: Thai "ฟั" is one letter plus a vowel mark.
    letters = sum(1 for ch in normalised if not unicodedata.category(ch).startswith("M"))
    if letters < MIN_QUERY_CHARS:
        raise InvalidInput(
            f"search query needs at least {MIN_QUERY_CHARS} letters or digits",
            code="query_too_short",
        )
    return normalised


RankKey = tuple[int, int, int, int]
"""(tier: 0 name / 1 description only, match position, name length, -id); smaller ranks first."""


@dataclass(frozen=True, slots=True)
class Hit:
    product_id: int
    key: RankKey


def _rank(hit: Hit) -> RankKey:
    return hit.key


async def search(
    session: AsyncSession,
    *,
    query: str,
    seller_id: int | None,
    after: RankKey | None,
    limit: int,
) -> list[Hit]:
    """Up to `limit` confirmed hits for a normalised `query`, ranked, strictly after `after`."""
    grams = sorted(bigrams(query))
    name_grams = func.sum(case((ProductSearchGram.in_name.is_(True), 1), else_=0))
    candidates = (
        select(ProductSearchGram.product_id, name_grams.label("name_grams"))
        .where(ProductSearchGram.gram.in_(grams))
        .group_by(ProductSearchGram.product_id)
        .having(func.count(func.distinct(ProductSearchGram.gram)) == len(grams))
        .subquery()
    )
    stmt = (
        select(Product.id, Product.name, candidates.c.name_grams)
        .join(candidates, candidates.c.product_id == Product.id)
        .where(Product.is_deleted.is_(False))
    )
    if seller_id is not None:
        stmt = stmt.where(Product.seller_id == seller_id)
    rows = (await session.execute(stmt)).all()

    name_hits: list[Hit] = []
    name_lengths: dict[int, int] = {}
    need_description: list[int] = []
    for product_id, name, in_name_count in rows:
        normalised_name = normalise(name)
        name_lengths[product_id] = len(normalised_name)
        # Only products holding every query bigram in the name can match by name.
        position = normalised_name.find(query) if in_name_count == len(grams) else -1
        if position >= 0:
            name_hits.append(Hit(product_id, (0, position, len(normalised_name), -product_id)))
        else:
            need_description.append(product_id)
    hits = sorted((h for h in name_hits if after is None or h.key > after), key=_rank)
    if len(hits) >= limit:
        # Every name hit outranks every description hit, so a page filled by name hits needs
        # no description at all: broad queries skip loading and normalising thousands of them.
        return hits[:limit]

    description_hits: list[Hit] = []
    for product_id, description in await _descriptions(session, need_description):
        position = normalise(description).find(query)
        if position >= 0:
            key = (1, position, name_lengths[product_id], -product_id)
            if after is None or key > after:
                description_hits.append(Hit(product_id, key))
    return (hits + sorted(description_hits, key=_rank))[:limit]


async def _descriptions(
    session: AsyncSession, product_ids: Sequence[int]
) -> Iterable[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for start in range(0, len(product_ids), _IN_CHUNK):
        chunk = product_ids[start : start + _IN_CHUNK]
        result = await session.execute(
            select(Product.id, Product.description).where(Product.id.in_(chunk))
        )
        out.extend((row[0], row[1]) for row in result)
    return out
