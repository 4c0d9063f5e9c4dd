"""Streams domain."""
