"""Carts domain."""
