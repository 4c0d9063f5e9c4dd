# Live-commerce platform. Two commands matter: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install web migrate lint typecheck format lock services clean cluster cluster-stop

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

WEB_BUILT := web/static/vendor/.built

install: $(STAMP) $(WEB_BUILT)

## The H5 pages' npm packages (socket.io-client, hls.js, Swagger UI, ReDoc) copied into
## web/static/vendor/ (served at /assets/vendor/; not committed).
$(WEB_BUILT): web/package.json web/package-lock.json scripts/build_web.sh
	@bash scripts/build_web.sh

web: $(WEB_BUILT)

## Everything on the embedded default: SQLite, in-process bus, tasks in-process. Ctrl-C stops.
run: $(STAMP) $(WEB_BUILT)
	@$(PY) devserver.py

migrate: $(STAMP)
	@$(VENV)/bin/alembic upgrade head

## The whole suite on real MariaDB, Redis and RabbitMQ (started or installed if needed).
test: $(STAMP) $(WEB_BUILT) services lint
	@$(PY) -m pytest $(PYTEST_ARGS)

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
