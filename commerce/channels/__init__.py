"""Outbound channels (email, SMS) behind one interface; `registry.build_channels` picks each
channel's provider from the settings."""
