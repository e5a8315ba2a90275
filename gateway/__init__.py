"""mcp-gateway: one governed MCP endpoint in front of many upstream MCP servers."""

__version__ = "0.1.0"

__all__ = ["__version__"]
