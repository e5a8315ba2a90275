"""Structured logs on stderr (stdout is the protocol in stdio mode), with secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, Literal

import structlog

__all__ = ["configure_logging"]

Processor = Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]


def configure_logging(
    level: str = "info",
    fmt: Literal["console", "json"] = "console",
    redact: Processor | None = None,
) -> None:
    """Route structlog and stdlib logging (the MCP SDK, uvicorn) to stderr in one format."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if redact is not None:
        shared.append(redact)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # The SDK and uvicorn are chatty at INFO; their warnings and errors still show.
    root.setLevel(max(numeric, logging.WARNING))
