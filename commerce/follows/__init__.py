"""Follows: buyers follow sellers and hear when they go live."""
