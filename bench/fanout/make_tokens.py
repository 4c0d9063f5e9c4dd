"""Set up our gateway for the fan-out benchmark: JWT keys, chatter tokens, the stream to join.

The gateway only lets signed-in users chat, rate-limits chat per user, and refuses `join` for a
stream commerce has not published. So the benchmark needs, without running commerce:

- an ES256 key pair in files (`--out-dir`), which the gateway is started with
  (`JWT_PRIVATE_KEY_FILE` / `JWT_PUBLIC_KEY_FILE`, printed by this script);
- one access token per chatter (distinct users, so each has its own rate-limit budget), signed
  with `shared.tokens` exactly as commerce signs them, written as a JSON list for loadgen.js;
- the stream's metadata in Redis via `shared.livedata.put_stream`, as commerce writes it.

    python bench/fanout/make_tokens.py --redis-url redis://127.0.0.1:6379/0 \\
        --stream-id 4242 --count 100 --out-dir var/bench-fanout
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

from shared.livedata import StreamMeta, put_stream
from shared.redis import make_redis
from shared.settings import ROOT, GatewaySettings, load
from shared.tokens import generate_key_pair, make_issuer, mark_revocations_restored

DEFAULT_OUT = ROOT / "var" / "bench-fanout"
# Chatter user ids start here: far from ids a development database hands out.
USER_ID_BASE = 900_000_000
HOST_USER_ID = USER_ID_BASE - 1


@dataclass(frozen=True)
class BenchAuth:
    private_key_file: Path
    public_key_file: Path
    token_file: Path

    def gateway_env(self) -> dict[str, str]:
        """What the gateway under test needs to verify the minted tokens."""
        return {
            "JWT_PRIVATE_KEY_FILE": str(self.private_key_file),
            "JWT_PUBLIC_KEY_FILE": str(self.public_key_file),
        }


def ensure_keys(out_dir: Path) -> tuple[Path, Path]:
    """An ES256 pair in `out_dir`, generated on first use and then reused across runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_file, public_file = out_dir / "jwt-private.pem", out_dir / "jwt-public.pem"
    if not (private_file.exists() and public_file.exists()):
        private, public = generate_key_pair()
        private_file.write_text(private)
        os.chmod(private_file, 0o600)
        public_file.write_text(public)
    return private_file, public_file


def mint_tokens(
    *, out_dir: Path, count: int, ttl_s: int, file_name: str = "tokens.json"
) -> BenchAuth:
    """`count` access tokens for users USER_ID_BASE.. in `out_dir`/`file_name`."""
    private_file, public_file = ensure_keys(out_dir)
    settings = load(
        GatewaySettings,
        jwt_private_key_file=private_file,
        jwt_public_key_file=public_file,
        access_token_ttl_s=ttl_s,
    )
    issuer = make_issuer(settings)
    tokens = [
        issuer.issue_access(user_id=USER_ID_BASE + i, role="buyer", name=f"chatter-{i}")[0]
        for i in range(count)
    ]
    token_file = out_dir / file_name
    token_file.write_text(json.dumps(tokens))
    return BenchAuth(private_file, public_file, token_file)


async def publish_stream(*, redis_url: str, stream_id: int) -> None:
    """Make `stream_id` a live stream for the gateway, as commerce would on going live."""
    redis = make_redis(redis_url, decode_responses=True)
    try:
        meta = StreamMeta(
            id=stream_id, host_id=HOST_USER_ID, status="live", title="fan-out benchmark"
        )
        await put_stream(redis, meta)
        # No commerce runs here to restore token revocations into this Redis (there are
        # none to restore): say so, or the gateway refuses signed-in connects.
        await mark_revocations_restored(redis)
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", required=True, help="the Redis the gateway uses")
    parser.add_argument("--stream-id", type=int, required=True)
    parser.add_argument("--count", type=int, default=100, help="tokens (one per chatter)")
    parser.add_argument("--ttl", type=int, default=3600, help="token lifetime, seconds")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    auth = mint_tokens(out_dir=args.out_dir, count=args.count, ttl_s=args.ttl)
    asyncio.run(publish_stream(redis_url=args.redis_url, stream_id=args.stream_id))
    print(f"# {args.count} tokens in {auth.token_file}; stream {args.stream_id} is live")
    for name, value in auth.gateway_env().items():
        print(f"export {name}={value}")


if __name__ == "__main__":
    main()
