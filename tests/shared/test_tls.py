"""The process's one client TLS context (shared/tls.py): shared, and still verifying."""

from __future__ import annotations

import ssl

from shared.tls import client_tls


def test_one_context_per_process_that_verifies_peers_and_host_names() -> None:
    ctx = client_tls()
    assert client_tls() is ctx
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.cert_store_stats()["x509_ca"] > 0  # a CA bundle is loaded

