"""The payment providers' wire formats: signatures, encodings, key files and wire errors.

Below both the adapters (`commerce.payments.gateways`) and the development sandboxes
(`commerce.sandbox.payments`): an adapter signs and checks with these helpers and the sandbox
answers with the same ones, so it speaks exactly the provider's format without the sandbox
importing payments (docs/architecture.md).
"""
