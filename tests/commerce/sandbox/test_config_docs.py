"""Every payment and social-login setting is documented where operators look for it."""

from __future__ import annotations

from pathlib import Path

from shared.settings import CommerceSettings

ROOT = Path(__file__).resolve().parents[3]
PREFIXES = ("payments_", "ecpay_", "newebpay_", "linepay_", "omise_", "twoc2p_", "tappay_",
            "promptpay_", "line_", "google_", "apple_", "facebook_", "instagram_", "kapook_",
            "social_", "rate_limit_payment")
# Endpoints of the providers, documented together in README's table rather than one by one.
README_GROUPED = ("_base", "_url", "_jwks_min_ttl_s", "_jwks_max_ttl_s", "_algorithms")


def names() -> list[str]:
    """Their environment variables' names, lower-case (`ecpay_merchant_id`), concerns included."""
    return [
        env.lower() for env, _, _ in CommerceSettings.env_names()
        if env.lower().startswith(PREFIXES)
    ]


def test_env_example_lists_every_payment_and_social_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    missing = [n.upper() for n in names() if f"{n.upper()}=" not in text]
    assert not missing, missing


def test_readme_table_names_every_payment_and_social_credential() -> None:
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ")[0]
    missing = [
        n.upper() for n in names()
        if not n.endswith(README_GROUPED) and n.upper() not in table
        and not (n.endswith("_file") and n.upper().removesuffix("_FILE") + "(_FILE)" in table)
        and not n.endswith("_sandbox")  # documented as `<PROVIDER>_SANDBOX`
    ]
    assert not missing, missing
