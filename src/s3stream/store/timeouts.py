"""How long either transport waits for the store (the CLI's ``--cli-*-timeout`` defaults)."""

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a connection to the store."""
READ_TIMEOUT = 120.0
"""Seconds a request may wait for the store to send anything."""
