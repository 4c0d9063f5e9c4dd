"""Schemathesis against the running API (`python -m commerce` on MariaDB and Redis), as a buyer
and as a seller: every operation of the OpenAPI document, its examples, coverage cases, fuzzed
input and stateful sequences (links schemathesis infers from the responses), failing on any 5xx
or any response that does not match the document.

Each phase gets its own time budget: `--max-time` is one budget for the whole run that the
phases spend in order, and on a busy machine examples and coverage used all of one 20 s budget,
so the buyer was never fuzzed and no stateful sequence ever ran (the log said "No tests were
run"; a longer run as a buyer found a 502: a Google Pay start calling TapPay's real sandbox).
Payment starts go to the local sandboxes (`<PROVIDER>_SANDBOX=local`): the run must not depend
on the internet, and the hosted paths are tested against fakes of each provider.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.setup import create_fixture
from shared.config.payments import PAYMENT_PROVIDERS
from tests.helpers.procs import free_port, spawn, wait_http

# Seconds per phase group and role: schemathesis repeats fuzzing and stateful runs until their
# budget is spent, and stops examples and coverage when it is.
BUDGETS_S = {"examples,coverage": 20, "fuzzing": 15, "stateful": 15}
# Left out: routes whose effect would end the run's own session, and social login, whose only
# answer without a provider configured is a deliberate 503 `provider_not_configured` (its
# verification paths are tested against fakes of each provider in tests/commerce/auth/social).
EXCLUDED = r"^/api/v1/auth/(logout|2fa/disable|social/.*)$"
HOSTED = [name for name in PAYMENT_PROVIDERS if name != "promptpay"]  # PromptPay has no host


def _schemathesis(base: str, token: str, tmp_path: Path, role: str) -> None:
    for phases, budget_s in BUDGETS_S.items():
        _phase(base, token, tmp_path, role, phases, budget_s)


def _phase(base: str, token: str, tmp_path: Path, role: str, phases: str, budget_s: int) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", phases,
        "--max-time", str(budget_s),
        "--workers", "1",  # hypothesis's lambda-description cache is not thread-safe
        "--header", f"Authorization: Bearer {token}",
        "--exclude-path-regex", EXCLUDED,
        "--request-timeout", "10",
        "--suppress-health-check", "all",
        "--no-color",
        "--seed", "17",
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=budget_s * 4 + 60, cwd=tmp_path
    )
    output = run.stdout + run.stderr
    (tmp_path / f"schemathesis-{role}-{phases.replace(',', '-')}.log").write_text(output)
    assert run.returncode == 0, f"schemathesis as {role} ({phases}) found problems:\n" \
        f"{output[-15000:]}"
    assert "No tests were run" not in output, f"{phases} ran nothing as {role}:\n{output[-5000:]}"


@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **service_env,
        # Fuzzing sends far more writes than a person: the limits themselves are tested elsewhere.
        "RATE_LIMIT_ORDERS_PER_USER": "100000/minute",
        "RATE_LIMIT_PAYMENTS_PER_USER": "100000/minute",
        "RATE_LIMIT_CART_PER_USER": "100000/minute",
        "RATE_LIMIT_TWO_FACTOR_PER_USER": "100000/minute",
        "RATE_LIMIT_SEARCH_PER_IP": "100000/minute",
        "RATE_LIMIT_PAYMENT_RETURN_PER_IP": "100000/minute",
        "RATE_LIMIT_PAYMENT_STATUS_PER_IP": "100000/minute",
        "RATE_LIMIT_REGISTER_PER_IP": "100000/minute",
        "RATE_LIMIT_LOGIN_PER_IP": "100000/minute",
        **{f"{provider.upper()}_SANDBOX": "local" for provider in HOSTED},
    }
    with spawn([sys.executable, "-m", "commerce", "--port", str(port)], name="api", env=env,
               log_dir=tmp_path) as api:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/readyz", proc=api, timeout=30)
        fixture = await create_fixture(base, users=1, products=2, stock=1000)
        _schemathesis(base, fixture["users"][0]["access_token"], tmp_path, "buyer")
        _schemathesis(base, fixture["host"]["access_token"], tmp_path, "seller")
        api.check_alive()
