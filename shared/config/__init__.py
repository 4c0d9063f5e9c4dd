"""The settings models of each concern, composed by `shared/settings.py` into each process's
settings (`shared/config/composed.py` says how and why)."""
