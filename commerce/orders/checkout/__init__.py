"""Placing an order (`POST /orders`): `flow` reads top to bottom (admit, transact, record);
`answers` owns the Idempotency-Key's first answer; `fastpath` (+ `fastpath.lua`) is the one
Redis round trip in front of the database; `transaction` and `group_commit` are the database
side. A map for newcomers: docs/checkout.md.
"""
