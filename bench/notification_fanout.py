"""Notification fan-out: followers told per second by one worker (one process, one event loop,
batches one after another, as a `--pool solo` Celery worker runs them).

    .venv/bin/python bench/notification_fanout.py [--followers 10000] [--batch 500]
        [--mysql-url mysql+aiomysql://root@127.0.0.1:3306] [--redis-url redis://127.0.0.1:6379/15]

On a MariaDB database of its own (created, migrated, dropped at the end) it seeds a seller with
`--followers` followers (locales en, zh_TW, th; markets TW and TH), then runs the going-live
fan-out's task bodies (`fanout.follower_ranges`, then `fanout.notify_range` per batch) twice:
with email (the sandbox channel: one Redis LPUSH per message, so the number is our cost, not a
provider's latency) and in-app only (everyone's email preference off). It prints followers per
second and the time per batch. The Redis database given receives the sandbox mailbox's key.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, update

import commerce.models  # noqa: F401  (every table, for the foreign keys)
from bench.owndb import own_database
from commerce.auth.models import User
from commerce.context import AppContext
from commerce.db import utcnow
from commerce.follows.models import Follow
from commerce.notifications import fanout
from commerce.streams.models import Stream
from shared.settings import CommerceSettings


async def seed(ctx: AppContext, followers: int) -> tuple[int, int]:
    now = utcnow()
    async with ctx.sessions() as session, session.begin():
        seller = User(email="seller@bench.test", display_name="小美直播", role="seller",
                      locale="zh_TW", market="TW", email_verified=True, is_active=True)
        session.add(seller)
        await session.flush()
        for start in range(0, followers, 2000):
            await session.execute(insert(User), [
                {"email": f"fan{i}@bench.test", "display_name": f"Fan {i}", "role": "buyer",
                 "locale": ("en", "zh_TW", "th")[i % 3], "market": "TH" if i % 3 == 2 else "TW",
                 "email_verified": True, "is_active": True, "created_at": now,
                 "updated_at": now}
                for i in range(start, min(followers, start + 2000))])
        ids = (await session.scalars(select(User.id).where(User.role == "buyer"))).all()
        for start in range(0, len(ids), 5000):
            await session.execute(insert(Follow), [
                {"follower_id": uid, "seller_id": seller.id, "created_at": now}
                for uid in ids[start:start + 5000]])
        streams = []
        for title in ("with email", "in-app only"):
            stream = Stream(host_id=seller.id, title=title, status="live")
            session.add(stream)
            await session.flush()
            streams.append(stream.id)
    return streams[0], streams[1]


async def fan_out(ctx: AppContext, stream_id: int) -> tuple[float, int, int]:
    """One solo worker's run: plan, then each batch in turn. Returns (seconds, sent, batches)."""
    began = time.perf_counter()
    sent = batches = 0
    ranges = [r async for r in fanout.follower_ranges(ctx, kind="stream_live",
                                                        stream_id=stream_id)]
    for first, last in ranges:
        outcome = await fanout.notify_range(ctx, kind="stream_live", stream_id=stream_id,
                                            first_id=first, last_id=last)
        sent += len(outcome.sent)
        batches += 1
    return time.perf_counter() - began, sent, batches


async def run(url: str, redis_url: str, followers: int, batch: int) -> None:
    settings = CommerceSettings(
        app_env="test", database_url=url, redis_url=redis_url,
        notifications={"follower_fanout_batch": batch, "quiet_start_hour": 0, "quiet_end_hour": 0},
        _env_file=None,  # type: ignore[call-arg]
    )
    ctx = AppContext.build(settings)
    try:
        with_email, in_app_only = await seed(ctx, followers)
        for stream_id, label in ((with_email, "inbox + email"), (in_app_only, "inbox only")):
            if stream_id == in_app_only:
                async with ctx.sessions() as session, session.begin():
                    await session.execute(update(User).values(
                        notification_prefs={"email": False, "sms": False, "in_app": True}))
            seconds, sent, batches = await fan_out(ctx, stream_id)
            print(f"{label}: {followers:,} followers in {seconds:.2f} s = "
                  f"{followers / seconds:,.0f} followers/s per worker "
                  f"({batches} batches of {batch}, {seconds / batches * 1000:.0f} ms each; "
                  f"{sent:,} emails sent)")
        await ctx.redis.delete("sandbox:mailbox")
    finally:
        for key in [k async for k in ctx.redis.scan_iter(match="notifications:fanout:*")]:
            await ctx.redis.delete(key)
        await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mysql-url", default="mysql+aiomysql://root@127.0.0.1:3306")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--followers", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with own_database(args.mysql_url, "lc_bench_fanout") as url:
        asyncio.run(run(url, args.redis_url, args.followers, args.batch))


if __name__ == "__main__":
    main()
