"""Locust load test of the live-commerce platform: the socket tier and the REST shop together.

User classes (ratios from the command line or `LOCUST_*` environment variables):

- `Viewer` (Socket.IO): connects (as a guest or with a pre-registered user's token), joins the
  stream's room, reacts, and now and then chats (signed-in viewers only).
- `Host` (Socket.IO, exactly one per load generator): joins its own stream and pins products
  from the lineup in turn.
- `Shopper` (REST): browses products, adds to cart and checks out with an Idempotency-Key.

Socket traffic is reported to Locust as requests so its statistics, charts and failure counts
cover the socket tier: `WSC <event>` = ack round trip of a client event (a `{ok: false}` ack is
a failure), `WSR chat delivered` = latency from a viewer's send to another viewer receiving it
(the text carries the sender's clock: all load generators should share NTP time), `WSR <event>`
= a room event received (count only). The fixture (stream, products, users) comes from
`loadtests/setup.py`; see loadtests/README.md.

    python -m loadtests.setup --base-url http://127.0.0.1:8000 --users 50
    locust -f loadtests/locustfile.py --headless -u 200 -r 50 -t 30s \
        --host http://127.0.0.1:8000 --gateway http://127.0.0.1:8001
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import socketio
from locust import FastHttpUser, between, events, task
from locust.contrib.socketio import SocketIOUser
from locust.env import Environment

REACTION_KINDS = ("heart", "like", "laugh", "wow", "fire", "clap")
# A business answer under load, not a fault of the system: counted, not failed.
CHAT_EXPECTED = {"rate_limited"}
ADDRESS = {
    "name": "Load Tester",
    "phone": "+886912345678",
    "line1": "No. 1, Sec. 1, Test Rd.",
    "city": "Taipei",
    "postal_code": "100",
    "country": "TW",
}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    """Every knob also reads `LOCUST_<NAME>` from the environment (Locust's configargparse)."""
    add = parser.add_argument
    add("--fixture", env_var="LOCUST_FIXTURE", default="var/loadtest-fixture.json",
        help="JSON written by loadtests/setup.py")
    add("--gateway", env_var="LOCUST_GATEWAY", default="",
        help="Socket.IO base URL (default: --host, e.g. nginx in front of both tiers)")
    add("--stream-id", env_var="LOCUST_STREAM_ID", type=int, default=0,
        help="stream to load (default: the fixture's)")
    add("--viewer-weight", env_var="LOCUST_VIEWER_WEIGHT", type=int, default=8)
    add("--shopper-weight", env_var="LOCUST_SHOPPER_WEIGHT", type=int, default=2)
    add("--hosts", env_var="LOCUST_HOSTS", type=int, default=1,
        help="hosts per load generator (0: no pins)")
    add("--signed-in-ratio", env_var="LOCUST_SIGNED_IN_RATIO", type=float, default=0.5,
        help="share of viewers connecting with a user token (only they may chat)")
    add("--chat-probability", env_var="LOCUST_CHAT_PROBABILITY", type=float, default=0.1,
        help="chance that a signed-in viewer's action is a chat message instead of a reaction")
    add("--viewer-wait", env_var="LOCUST_VIEWER_WAIT", type=float, default=1.0,
        help="mean seconds between a viewer's actions")
    add("--pin-interval", env_var="LOCUST_PIN_INTERVAL", type=float, default=5.0)
    add("--checkout-ratio", env_var="LOCUST_CHECKOUT_RATIO", type=int, default=3,
        help="in tenths: how often a shopper's visit ends in a checkout (3 = 30%%)")
    add("--socket-transport", env_var="LOCUST_SOCKET_TRANSPORT", default="websocket",
        choices=["websocket", "polling"])


class Fixture:
    """The setup's output, read once per load-generator process."""

    data: dict[str, Any] = {}
    _users: itertools.cycle[dict[str, Any]] | None = None

    @classmethod
    def load(cls, path: str) -> None:
        cls.data = json.loads(Path(path).read_text())
        cls._users = itertools.cycle(cls.data["users"])

    @classmethod
    def next_user(cls) -> dict[str, Any]:
        assert cls._users is not None, "fixture not loaded"
        return next(cls._users)


@events.init.add_listener
def _configure(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None:  # library use without a command line
        return
    try:
        Fixture.load(opts.fixture)
    except FileNotFoundError:
        sys.exit(f"error: no fixture at {opts.fixture}: run `python -m loadtests.setup` first")
    Viewer.weight = opts.viewer_weight
    Shopper.weight = opts.shopper_weight
    Host.fixed_count = opts.hosts
    # A zero weight or count means "none of these" (Locust itself would treat fixed_count 0 as
    # "weighted" and refuses weight 0).
    off = {Viewer: opts.viewer_weight <= 0, Shopper: opts.shopper_weight <= 0,
           Host: opts.hosts <= 0}
    environment.user_classes = [c for c in environment.user_classes if not off.get(c, False)]
    Shopper.checkout_probability = min(1.0, max(0.0, opts.checkout_ratio / 10))


def _opts(user: Any) -> Any:
    return user.environment.parsed_options


class LiveSocketUser(SocketIOUser):
    """A Socket.IO client that reports connects, acks and deliveries to Locust."""

    abstract = True
    options = {"reconnection": False}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # `call` emits through `emit`; the contrib wrapper would report each ack twice.
        self.sio.emit = functools.partial(socketio.Client.emit, self.sio)  # type: ignore[method-assign]

    def on_start(self) -> None:
        opts = _opts(self)
        self.stream_id: int = opts.stream_id or Fixture.data["stream_id"]
        self.token: str | None = self.pick_token()
        self.connect_and_join()

    def pick_token(self) -> str | None:
        return None

    def connect_and_join(self) -> bool:
        opts = _opts(self)
        url = opts.gateway or self.host
        auth = {"token": self.token} if self.token else None
        self.sio.connect(url, auth=auth, transports=[opts.socket_transport], wait_timeout=10)
        if not self.sio.connected:
            return False
        return self.ack("join", {"stream_id": self.stream_id}) is not None

    def ensure_connected(self) -> bool:
        return self.sio.connected or self.connect_and_join()

    def ack(
        self, event: str, data: dict[str, Any], *, expected: set[str] | None = None
    ) -> dict[str, Any] | None:
        """Emit with an ack; report the round trip. Returns the ack when it was `ok`."""
        start = time.perf_counter()
        exception: Exception | None = None
        reply: Any = None
        name = event
        try:
            # socketio.Client.call, not the wrapper: it would report a failed ack as a success.
            reply = socketio.Client.call(self.sio, event, data, timeout=10)
            if not isinstance(reply, dict) or not reply.get("ok"):
                error = reply.get("error") if isinstance(reply, dict) else None
                code = error.get("code") if isinstance(error, dict) else None
                if code in (expected or set()):
                    name = f"{event} ({code})"
                else:
                    exception = RuntimeError(f"{event} ack: {reply!r}")
        except Exception as exc:  # timeouts, disconnects
            exception = exc
        self.environment.events.request.fire(
            request_type="WSC",
            name=name,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=len(json.dumps(reply)) if reply is not None else 0,
            exception=exception,
            context={},
        )
        return reply if exception is None and name == event else None

    def on_stop(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


class Viewer(LiveSocketUser):
    weight = 8

    def pick_token(self) -> str | None:
        if random.random() < _opts(self).signed_in_ratio:
            return str(Fixture.next_user()["access_token"])
        return None

    def wait_time(self) -> float:
        return random.expovariate(1 / _opts(self).viewer_wait)

    def on_start(self) -> None:
        self.sio.on("chat", self.on_chat)
        self.sio.on("chat_batch", self.on_chat_batch)
        super().on_start()

    def on_chat(self, message: dict[str, Any]) -> None:
        text = str(message.get("text", ""))
        # Our own messages carry the sender's send time: "lt <ms> ..."; others use the server's.
        parts = text.split(" ", 2)
        sent_ms = int(parts[1]) if parts[0] == "lt" and parts[1:2] and parts[1].isdigit() else None
        origin = sent_ms if sent_ms is not None else int(message.get("ts", 0))
        self.environment.events.request.fire(
            request_type="WSR",
            name="chat delivered",
            response_time=max(0, time.time() * 1000 - origin) if origin else 0,
            response_length=len(text),
            exception=None,
            context={},
        )

    def on_chat_batch(self, batch: dict[str, Any]) -> None:
        for message in batch.get("messages", []):
            self.on_chat(message)

    @task
    def act(self) -> None:
        if not self.ensure_connected():
            return
        if self.token and random.random() < _opts(self).chat_probability:
            text = f"lt {int(time.time() * 1000)} hello from locust"
            self.ack("chat", {"stream_id": self.stream_id, "text": text}, expected=CHAT_EXPECTED)
        else:
            self.ack("react", {"stream_id": self.stream_id, "kind": random.choice(REACTION_KINDS)})


class Host(LiveSocketUser):
    fixed_count = 1
    weight = 1

    def pick_token(self) -> str | None:
        return str(Fixture.data["host"]["access_token"])

    def wait_time(self) -> float:
        return float(_opts(self).pin_interval)

    def on_start(self) -> None:
        self.lineup = itertools.cycle(Fixture.data["product_ids"])
        super().on_start()

    @task
    def pin(self) -> None:
        if self.ensure_connected():
            self.ack("pin", {"stream_id": self.stream_id, "product_id": next(self.lineup)})


class Shopper(FastHttpUser):
    weight = 2
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        user = Fixture.next_user()
        self.auth = {"Authorization": f"Bearer {user['access_token']}"}
        self.stream_id = _opts(self).stream_id or Fixture.data["stream_id"]
        self.product_ids: list[int] = list(Fixture.data["product_ids"])

    checkout_probability = 0.3

    @task
    def visit(self) -> None:
        """One shopper journey: browse, add a product to the cart, and sometimes check the cart
        out. A journey, not independent weighted tasks, so every step shows up even in short
        runs and checkouts come from real carts."""
        self.client.get("/api/v1/products?limit=20", name="/products")
        product_id = random.choice(self.product_ids)
        self.client.get(f"/api/v1/products/{product_id}", name="/products/{id}")
        with self.client.put(
            f"/api/v1/cart/items/{product_id}",
            json={"quantity": random.randint(1, 2)},
            headers=self.auth,
            name="/cart/items/{id}",
            catch_response=True,
        ) as resp:
            added = resp.status_code in (200, 201)
            if added or _error_code(resp) == "out_of_stock":
                resp.success()
            else:
                resp.failure(f"{resp.status_code}: {(resp.text or '')[:200]}")
        if added and random.random() < self.checkout_probability:
            self.checkout()

    def checkout(self) -> None:
        body = {"from_cart": True, "stream_id": self.stream_id, "shipping_address": ADDRESS}
        headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        with self.client.post(
            "/api/v1/orders", json=body, headers=headers, name="/orders", catch_response=True
        ) as resp:
            if resp.status_code == 201:
                resp.success()
            elif resp.status_code == 409 and _error_code(resp) in ("out_of_stock",
                                                                   "purchase_limit"):
                # Selling out is the expected end of a flash sale; a shopper who keeps
                # ordering without paying meets MAX_UNPAID_ORDERS_PER_BUYER.
                resp.success()
            else:
                resp.failure(f"{resp.status_code}: {(resp.text or '')[:200]}")


def _error_code(resp: Any) -> str | None:
    try:
        return str(resp.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
