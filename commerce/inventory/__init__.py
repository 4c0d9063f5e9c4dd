"""Inventory: the stock of products, below catalog and orders (as Saleor's `warehouse`).

`stock` changes it inside the caller's transaction (reserve, release, a seller's edit) and
owns the one rule for the events a change publishes; `gate` is the Redis stock gate in front
of checkout, a hint that never decides on its own.
"""
