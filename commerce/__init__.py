"""The commerce API: users and auth, catalog, carts, orders, payments, streams."""
