"""One TLS context for every outbound HTTP client of a process.

Why: httpx builds a new `ssl.SSLContext` for each client it makes and loads certifi's CA bundle
into it, 50-60 ms of CPU on the 2-core test machine, on the event loop. The API makes a client
per provider call (payments, social login, the video provider) and one per `AppContext`, so a
checkout that pays through a provider spent that on the loop for every payment, and each test's
`AppContext` did too (~1 min of the test run). An `SSLContext` can be shared by clients, threads
and loops once set up, so it is made once, the way httpx makes its default (certifi, or
`SSL_CERT_FILE` / `SSL_CERT_DIR` when set).
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def client_tls() -> ssl.SSLContext:
    """The process's client TLS context: pass it as `verify=` to httpx clients."""
    return httpx.create_ssl_context()
