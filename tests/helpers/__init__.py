"""Helpers shared by the test suites (process management, nginx rendering)."""
