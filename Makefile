# Live-commerce platform. Two commands matter: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STORMGEN := var/bin/stormgen

.PHONY: run test test-cluster install web stormgen migrate lint typecheck format lock services clean cluster cluster-stop

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

WEB_BUILT := web/static/vendor/.built

install: $(STAMP) $(WEB_BUILT) $(STORMGEN)

## The H5 pages' npm packages (socket.io-client, hls.js, Swagger UI, ReDoc) copied into
## web/static/vendor/ (served at /assets/vendor/; not committed).
$(WEB_BUILT): web/package.json web/package-lock.json scripts/build_web.sh
	@bash scripts/build_web.sh

web: $(WEB_BUILT)

## The Go join-storm generator (bench/fanout/stormgen; bench/fanout/run.py --joinstorm-loadgen go),
## built into var/bin/ (not committed). Without Go it warns and is skipped (installed as root).
$(STORMGEN): $(wildcard bench/fanout/stormgen/*.go) bench/fanout/stormgen/go.mod scripts/build_stormgen.sh
	@bash scripts/build_stormgen.sh

stormgen: $(STORMGEN)

## Everything on the embedded default: SQLite, in-process bus, tasks in-process. Ctrl-C stops.
run: $(STAMP) $(WEB_BUILT)
	@$(PY) devserver.py

migrate: $(STAMP)
	@$(VENV)/bin/alembic upgrade head

## The whole suite on real MariaDB, Redis and RabbitMQ (started or installed if needed): the
## main pass and the cluster pass run side by side (scripts/test_passes.sh; the cluster pass's
## output is printed when the main pass ends, and `make test` fails if either fails).
test: $(STAMP) $(WEB_BUILT) services $(STORMGEN) lint
	@PY=$(PY) PYTEST_ARGS="$(PYTEST_ARGS)" CLUSTER_PASS=$(CLUSTER_PASS) bash scripts/test_passes.sh

## The Redis-heavy suites again, with all Redis data on the private six-process Redis Cluster
## (scripts/redis_cluster.sh; the session starts it and stops what it started, and refuses
## another checkout's). Skipped when PYTEST_ARGS narrows `test`. Its ports start at
## CLUSTER_PORT (7051-7056: not 7001, which the main pass's cluster-parametrized tests use, nor
## a base tests/helpers/cluster.py's free_cluster_base() picks, 7001 + k*100). Fixed ports: one
## run at a time, under their lock (taken here around the whole pass, outside pytest's
## timeouts; tests/helpers/locks.py). The journey's Celery worker consumes the shared broker's
## queues: that test takes the RabbitMQ lock itself (marker `shared_rabbitmq`).
CLUSTER_PASS ?= $(if $(PYTEST_ARGS),0,1)
CLUSTER_PORT ?= 7051
CLUSTER_LOCK = $(if $(filter 7001,$(CLUSTER_PORT)),/tmp/lc-cluster.lock,/tmp/lc-cluster-$(CLUSTER_PORT).lock)
CLUSTER_URL = redis+cluster://127.0.0.1:$(CLUSTER_PORT),127.0.0.1:$(shell expr $(CLUSTER_PORT) + 1),127.0.0.1:$(shell expr $(CLUSTER_PORT) + 2)
CLUSTER_TESTS = tests/realtime/test_chat.py tests/realtime/test_chat_coalescing.py \
  tests/realtime/test_pins.py tests/realtime/test_reactions.py tests/realtime/test_resume.py \
  tests/realtime/test_relay.py tests/realtime/test_moderation.py tests/realtime/test_connect.py \
  tests/realtime/test_key_slots.py tests/realtime/test_sharding.py \
  tests/realtime/test_subscriptions.py tests/realtime/test_audience.py \
  tests/realtime/test_cluster_failover.py \
  tests/shared/test_bus.py tests/shared/test_tokens.py \
  tests/shared/test_redis_pool.py tests/commerce/orders/test_orders_checkout.py \
  tests/commerce/orders/test_orders_idempotency.py tests/commerce/orders/test_orders_flash_sale.py \
  tests/commerce/carts tests/commerce/inventory tests/commerce/test_outbox_replay.py \
  tests/journey/test_journey_worker_e2e.py
test-cluster: $(STAMP) $(WEB_BUILT) services
	@flock $(CLUSTER_LOCK) env TEST_CLUSTER_LOCK_HELD=1 TEST_REDIS_CLUSTER_PORT=$(CLUSTER_PORT) \
	  TEST_REDIS_URL=$(CLUSTER_URL) $(PY) -m pytest -q $(CLUSTER_PYTEST_ARGS) $(CLUSTER_TESTS)

services:
	@bash scripts/ensure_services.sh

lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy

format: $(STAMP)
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

## Re-pin the whole dependency tree after changing pyproject.toml.
lock: $(STAMP)
	@$(PY) -m pip freeze --exclude-editable > constraints.txt

## The production shape on one machine: nginx :8080, 3 gateways, 2 APIs, worker, beat, flower.
cluster: $(STAMP) $(WEB_BUILT)
	@bash scripts/cluster.sh start

cluster-stop:
	@bash scripts/cluster.sh stop

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache web/node_modules web/static/vendor
