"""Local payment sandboxes: each provider's documented API, in-process, for development.

A provider with no credentials configured in development (`CommerceSettings.uses_local_sandbox`)
gets its adapter pointed at `/sandbox/payments/<provider>` with an in-process transport
(`transport.py`): the real adapter code (signing, encryption, verification, refunds) runs
unchanged against the sandbox, which answers in the provider's documented wire format. The
shopper's `action` opens the sandbox's page (`pages.py`); choosing paid or failed there, or
`POST /api/v1/sandbox/payments/{id}` (`router.py`), makes the sandbox send the provider's own
signed notification to our `/api/v1/payments/webhooks/<provider>`, so verification,
idempotency and settlement run exactly as in production.

State (trades, charges, events) lives in Redis (`store.py`), so the API process serving the
pages and a Celery worker whose adapter confirms, queries or refunds see the same records.
"""
