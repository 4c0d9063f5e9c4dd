"""Development-only providers: the stream encoder, the payment providers and the mailbox.

A provider with no credentials configured in development is a local sandbox behind the same
adapter Protocol as the real one. Each speaks its provider's own signed wire format to the
platform's own webhooks, so verification and settlement run exactly as in production.
Production never mounts these routes (`commerce.app` includes `router` only outside production).
"""
