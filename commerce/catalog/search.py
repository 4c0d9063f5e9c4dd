"""Substring search in Chinese, Thai and Latin scripts over a character-bigram inverted index.

MariaDB's FULLTEXT has no n-gram parser (MySQL's does, MariaDB's doesn't) and neither Chinese nor
Thai separates words with spaces, so word-based indexes cannot find `耳機` inside `藍牙耳機`. The
index here works alike on every engine:

1. `normalise` folds text to one canonical form (NFKC, casefold) and drops punctuation, spaces
   and invisible format characters. Thai vowel and tone marks are combining marks (category Mn),
   which are kept, so `หูฟัง` keeps every code point. Query and index go through the same
   function, so code-point bigrams line up even where a "character" spans several code points.
2. Every product stores the set of bigrams of its normalised name and description in
   `product_search_grams`, and the normalised texts themselves in `product_search_text`.
3. A query's bigrams select the products that hold all of them (`GROUP BY product_id HAVING
   COUNT(DISTINCT gram) = n`). Having every bigram does not prove the substring (`abxbc` holds
   `ab` and `bc` but not `abc`), so each candidate is confirmed with `INSTR` on its normalised
   text (binary collation on MySQL and MariaDB: code points, not the default's case folding).
4. Confirmed hits are ranked: name matches before description-only matches, then earlier match
   position, then shorter name, then newer product. Pages continue after the rank key of the
   last row, so the order stays stable while paging. Confirming, ranking and the page's LIMIT
   all run in the database: a page of a broad query ships one page, not every match.

Dropping spaces also lets `iphone 15` find `iPhone15`; a match may span a word boundary, which
for product search is a feature rather than a false positive.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy import case, delete, func, insert, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog.models import Product, ProductSearchGram, ProductSearchText
from shared.errors import InvalidInput

MIN_QUERY_CHARS = 2


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
    grams = bigrams(normalise(name)) | bigrams(normalise(description))
    return [{"gram": gram, "product_id": product_id} for gram in sorted(grams)]


def text_row(product_id: int, *, name: str, description: str) -> dict[str, object]:
    """The `product_search_text` row of one product."""
    normalised_name = normalise(name)
    return {
        "product_id": product_id, "name": normalised_name,
        "description": normalise(description), "name_length": len(normalised_name),
    }


async def reindex(session: AsyncSession, product: Product, *, new: bool = False) -> None:
    """Write a product's postings and normalised text inside the caller's transaction,
    replacing any old ones.

    A new product has none, so nothing is deleted: on InnoDB an empty `DELETE ... WHERE
    product_id = :new_id` takes a gap lock at the end of the index, and concurrent creates then
    deadlock on each other's inserts into that gap.
    """
    if not new:
        await unindex(session, product.id)
    rows = gram_rows(product.id, name=product.name, description=product.description)
    if rows:
        await session.execute(insert(ProductSearchGram), rows)
    await session.execute(
        insert(ProductSearchText),
        [text_row(product.id, name=product.name, description=product.description)],
    )


async def unindex(session: AsyncSession, product_id: int) -> None:
    for model in (ProductSearchGram, ProductSearchText):
        await session.execute(delete(model).where(model.product_id == product_id))


def prepare_query(q: str) -> str:
    """The normalised query, or 422 `query_too_short` when fewer than two characters (code
    points: one bigram) remain. Thai words such as `หู` (ear) or `ดู` are one consonant and a
    vowel mark, two code points: they are whole words and must be searchable; a lone CJK
    character or letter is refused (it would match most of the catalog)."""
    normalised = normalise(q)
    if len(normalised) < MIN_QUERY_CHARS:
        raise InvalidInput(
            f"search query needs at least {MIN_QUERY_CHARS} characters besides spaces and"
            " punctuation",
            code="query_too_short",
        )
    return normalised


RankKey = tuple[int, int, int, int]
"""(tier: 0 name / 1 description only, match position, name length, -id); smaller ranks first."""


@dataclass(frozen=True, slots=True)
class Hit:
    product_id: int
    key: RankKey


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
    candidates = (
        select(ProductSearchGram.product_id)
        .where(ProductSearchGram.gram.in_(grams))
        .group_by(ProductSearchGram.product_id)
        .having(func.count(func.distinct(ProductSearchGram.gram)) == len(grams))
        .subquery()
    )
    text = ProductSearchText
    in_name = func.instr(text.name, query)
    in_description = func.instr(text.description, query)
    found = (
        select(
            Product.id.label("id"),
            case((in_name > 0, 0), else_=1).label("tier"),
            # INSTR counts from 1; keys count from 0, as Python's str.find (stable cursors).
            case((in_name > 0, in_name - 1), else_=in_description - 1).label("position"),
            text.name_length.label("name_length"),
        )
        .select_from(candidates)
        .join(text, text.product_id == candidates.c.product_id)
        .join(Product, Product.id == candidates.c.product_id)
        .where(Product.is_deleted.is_(False), or_(in_name > 0, in_description > 0))
    )
    if seller_id is not None:
        found = found.where(Product.seller_id == seller_id)
    ranked = found.subquery()
    stmt = select(ranked.c.id, ranked.c.tier, ranked.c.position, ranked.c.name_length)
    if after is not None:
        stmt = stmt.where(
            tuple_(ranked.c.tier, ranked.c.position, ranked.c.name_length, -ranked.c.id)
            > tuple_(*after)
        )
    stmt = stmt.order_by(
        ranked.c.tier, ranked.c.position, ranked.c.name_length, ranked.c.id.desc()
    ).limit(limit)
    rows = (await session.execute(stmt)).all()
    return [
        Hit(int(pid), (int(tier), int(position), int(length), -int(pid)))
        for pid, tier, position, length in rows
    ]
