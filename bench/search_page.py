"""Catalog search: the time of one page of a broad query over many matching products.

    .venv/bin/python bench/search_page.py [--products 20000] [--rounds 7]
        [--mysql-url mysql+aiomysql://root@127.0.0.1:3306]

On a MariaDB database of its own (created, migrated with Alembic, dropped at the end) it seeds
`--products` products whose names all hold `耳機` and whose descriptions all hold `音質`,
indexed by `commerce.catalog.search` as the API indexes them, then prints the median time of
`search()` for the first page and for a page deep into the results (through the cursor), for a
query matching every name and one matching only descriptions. It measures the search module
and the database, without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import commerce.models  # noqa: F401  (every table, for the foreign keys)
from bench.owndb import own_database
from commerce.auth.models import User
from commerce.catalog import search
from commerce.catalog.models import Product, ProductSearchGram, ProductSearchText
from commerce.db import make_engine
from shared.settings import CommerceSettings

PAGE = 20
QUERIES = {"耳機": "in every name", "音質": "in every description, no name"}


async def seed(session: AsyncSession, products: int) -> None:
    session.add(User(id=1, email="seller@bench.test", display_name="Seller", role="seller",
                     locale="zh_TW", market="TW", email_verified=True, is_active=True))
    await session.flush()
    for start in range(0, products, 1000):
        texts = [(i + 1, f"藍牙耳機 型號{i} 第{i % 97}代", "高音質 無線 降噪 " * 5)
                 for i in range(start, min(products, start + 1000))]
        await session.execute(insert(Product), [
            {"id": pid, "seller_id": 1, "name": name, "description": description,
             "price_minor": 99000, "currency": "TWD", "stock": 5, "attributes": {},
             "images": [], "is_deleted": False}
            for pid, name, description in texts
        ])
        await session.execute(insert(ProductSearchGram), [
            gram for pid, name, description in texts
            for gram in search.gram_rows(pid, name=name, description=description)
        ])
        await session.execute(insert(ProductSearchText), [
            search.text_row(pid, name=name, description=description)
            for pid, name, description in texts
        ])


async def page_time(
    sessions: async_sessionmaker[AsyncSession], query: str, after: search.RankKey | None,
    rounds: int,
) -> tuple[float, list[search.Hit]]:
    times, hits = [], []
    for _ in range(rounds):
        async with sessions() as session:
            started = time.perf_counter()
            hits = await search.search(session, query=search.prepare_query(query),
                                       seller_id=None, after=after, limit=PAGE + 1)
            times.append(time.perf_counter() - started)
    return statistics.median(times), hits


async def run(url: str, products: int, rounds: int) -> None:
    engine = make_engine(CommerceSettings(database_url=url))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as session, session.begin():
            await seed(session, products)
        for query, what in QUERIES.items():
            first, hits = await page_time(sessions, query, None, rounds)
            after = None
            for _ in range(9):  # walk to page 10 through the cursor, as a client would
                _, hits = await page_time(sessions, query, after, 1)
                after = hits[PAGE - 1].key
            deep, _ = await page_time(sessions, query, after, rounds)
            print(f"q={query} ({what}, {products:,} matches): first page {first * 1000:.1f} ms,"
                  f" page 10 {deep * 1000:.1f} ms (median of {rounds})")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mysql-url", default="mysql+aiomysql://root@127.0.0.1:3306")
    parser.add_argument("--products", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with own_database(args.mysql_url, "lc_bench_search") as url:
        asyncio.run(run(url, args.products, args.rounds))


if __name__ == "__main__":
    main()
