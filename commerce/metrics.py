"""Prometheus metrics of the commerce API and workers (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox events published", ["type"])
OUTBOX_REPLAYED = Counter(
    "outbox_replayed_total", "Published outbox rows requeued because the event stream lost them"
)
OUTBOX_RELAY_LAG = Histogram(
    "outbox_relay_lag_seconds",
    "Age of the oldest row in a relayed batch",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30),
)
ORDERS_PLACED = Counter("orders_placed_total", "Orders placed", ["currency"])
CHECKOUT_LOCK_RETRIES = Counter(
    "orders_checkout_lock_retries_total",
    "Checkout transactions run again after a deadlock or lock-wait timeout",
)
ORDERS_REJECTED = Counter("orders_rejected_total", "Orders rejected", ["reason"])
CHECKOUT_GROUP_SIZE = Histogram(
    "orders_checkout_group_size",
    "Checkouts per group-commit transaction (1 = a checkout alone)",
    buckets=(1, 2, 4, 8, 16, 32, 50),
)
CHECKOUT_GROUP_FALLBACKS = Counter(
    "orders_checkout_group_fallbacks_total",
    "Group-commit transactions rolled back, their orders then checked out one by one: "
    "rejected (stock, a used key, a rule), lock_conflict (deadlock victim), error",
    ["reason"],
)
PAYMENT_NOTIFICATIONS = Counter(
    "payment_notifications_total",
    "Payment webhooks by result: accepted, duplicate, ignored, rejected",
    ["provider", "result"],
)
CELERY_TASKS = Counter("celery_task_outcomes_total", "Celery task outcomes", ["task", "outcome"])
# Read replicas (commerce/replicas.py): where each lag-tolerant read went (`replica`,
# `primary_fresh_write`: its caller wrote lately, `primary_no_replica`: none healthy,
# `primary_after_miss`: a replica did not have the row asked for by id), and each
# replica's last verdict and lag.
DB_READS = Counter("db_reads_total", "Lag-tolerant reads by where they were served", ["target"])
DB_REPLICA_HEALTHY = Gauge(
    "db_replica_healthy", "1 while the replica serves reads (running, within the lag bound)",
    ["replica"],
)
DB_REPLICA_LAG = Gauge(
    "db_replica_lag_seconds", "Seconds_Behind_Master at the replica's last check", ["replica"]
)
