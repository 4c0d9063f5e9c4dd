"""Local stand-ins for third-party services, speaking their documented wire formats."""
