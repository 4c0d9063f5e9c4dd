"""Notifications: domain events become inbox rows, emails and text messages in the user's locale.

Side effects follow events (DESIGN, convention 15): `consumer.py` reads the outbox's event stream
through a consumer group of commerce's own and `events.py` maps each event to a notification;
nothing in the order code calls this package.
"""
