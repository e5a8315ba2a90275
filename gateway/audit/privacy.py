"""Making values safe and small for the audit log: JSON coercion, previews and privacy levels."""

from __future__ import annotations

import math
from typing import Any

import orjson

from gateway.audit.settings import PrivacyLevel

__all__ = ["OMITTED", "apply_privacy", "dumps", "dumps_bytes", "json_size", "jsonable", "orjson_default", "preview"]

OMITTED = "[omitted]"
"""What privacy level ``none`` records instead of a value."""


def jsonable(value: Any) -> Any:
    """A JSON-serialisable copy of ``value``: containers are copied, keys become strings, anything else ``str()``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # NaN and infinities are not JSON; keep them readable instead of failing the record.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        # pydantic models (MCP types): their JSON form is what a reader expects.
        try:
            return jsonable(model_dump(mode="json", by_alias=True, exclude_none=True))
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def orjson_default(value: Any) -> Any:
    """orjson's ``default`` for audit values: pydantic models (MCP types) in their JSON form, else ``str()``."""
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json", by_alias=True, exclude_none=True)
    return str(value)


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON (orjson: every audit record and result preview goes through here). Native values are
    serialised directly (the common case); anything unusual (non-string keys, huge ints, ...) goes through
    ``jsonable`` first. NaN and infinities become null (JSON has no spelling for them)."""
    try:
        return orjson.dumps(value, default=orjson_default)
    except TypeError:  # orjson.JSONEncodeError: unusual keys or values
        return orjson.dumps(jsonable(value), default=str)


def dumps(value: Any) -> str:
    """``dumps_bytes`` as text."""
    return dumps_bytes(value).decode()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return dumps(value)


def json_size(value: Any) -> int:
    """Length in characters of ``value`` as compact JSON (strings: their own length)."""
    return len(_text(value))


def preview(value: Any, limit: int) -> str:
    """``value`` as compact text, cut to at most ``limit`` characters with a marker saying how much was cut."""
    text = _text(value)
    if len(text) <= limit:
        return text
    marker = f"…[+{len(text) - limit} chars]"
    keep = max(limit - len(marker), 0)
    return text[:keep] + marker


def apply_privacy(
    level: PrivacyLevel,
    value: Any,
    *,
    preview_chars: int = 2000,
    max_chars: int = 64 * 1024,
    text: str | None = None,
) -> Any:
    """What to record for ``value`` (already redacted by the caller) at privacy ``level``.

    ``none`` -> ``"[omitted]"``; ``preview`` -> a string of at most ``preview_chars``;
    ``full`` -> the JSON value itself, or a ``max_chars`` preview when it is larger.
    ``text``: ``value`` already serialised as compact JSON, when the caller has it (saves serialising twice).
    """
    if level == "none":
        return OMITTED
    if text is None:
        text = value if isinstance(value, str) else dumps_bytes(value).decode()
    limit = preview_chars if level == "preview" else max_chars
    if len(text) > limit:
        return preview(text, limit)
    if level == "preview":
        return text
    return orjson.loads(text) if not isinstance(value, str) else value
