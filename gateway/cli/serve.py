"""``mcp-gateway serve``."""

from __future__ import annotations


def serve() -> None:
    """Serve the gateway (stdio by default)."""
    raise NotImplementedError
