"""The ``mcp-gateway`` command line."""
