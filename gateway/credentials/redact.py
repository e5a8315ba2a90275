"""Replace every injected secret, in the forms it commonly travels in, with ``[secret:NAME]``.

Forms covered per secret: the value itself; base64 (standard and URL-safe, with and without padding), including
the stable middle part of its base64 when it is embedded in longer data at any of the 3 byte alignments;
URL-encoding (``quote`` with and without ``/`` safe, ``quote_plus``); JSON string escaping (ASCII and not).

Secrets shorter than ``MIN_SECRET_LENGTH`` characters are not redacted: a 1-3 character value would match
inside ordinary words and numbers all over a result and make it unreadable, while giving no real protection.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, MutableMapping
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel

__all__ = ["MIN_SECRET_LENGTH", "Redactor", "secret_forms", "structlog_processor"]

MIN_SECRET_LENGTH = 4
_MIN_FRAGMENT = 6
"""Shortest embedded-base64 fragment matched: shorter fragments would hit unrelated text."""

# How many leading base64 characters depend on the bytes before the secret, per alignment (0, 1, 2 bytes before).
_SKIP = (0, 2, 3)


def _b64_variants(text: str) -> set[str]:
    return {
        text,
        text.rstrip("="),
        text.replace("+", "-").replace("/", "_"),
        text.replace("+", "-").replace("/", "_").rstrip("="),
    }


def secret_forms(value: str) -> set[str]:
    """Every string that reveals ``value`` and is redacted (empty for too-short values)."""
    if len(value) < MIN_SECRET_LENGTH:
        return set()
    data = value.encode("utf-8")
    forms = {value, quote(value), quote(value, safe=""), quote_plus(value)}
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms |= _b64_variants(base64.b64encode(data).decode("ascii"))
    for align, skip in enumerate(_SKIP):
        total = align + len(data)
        core = base64.b64encode(b"\0" * align + data).decode("ascii").rstrip("=")
        # The last character mixes in bits of whatever follows unless the data ends on a 3-byte boundary.
        core = core[skip : len(core) - (1 if total % 3 else 0)]
        if len(core) >= _MIN_FRAGMENT:
            forms |= _b64_variants(core)
    forms.discard("")
    return forms


class Redactor:
    """Holds the secrets in use and scrubs them from text and structured data.

    ``add``/``remove`` rebuild one compiled alternation (longest form first, so a secret's full base64 wins
    over its fragments); readers use an immutable snapshot, so redaction is safe from any thread.
    """

    def __init__(self, marker: str = "[secret:{name}]") -> None:
        self._marker = marker
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}
        self._compiled: tuple[re.Pattern[str], dict[str, str]] | None = None

    def add(self, name: str, value: str) -> None:
        """Redact ``value`` (and its encodings) as ``name`` from now on; replaces an earlier value of ``name``."""
        with self._lock:
            self._secrets[name] = value
            self._rebuild()

    def remove(self, name: str) -> None:
        with self._lock:
            if self._secrets.pop(name, None) is not None:
                self._rebuild()

    def update(self, secrets: dict[str, str]) -> None:
        """Add several ``{name: value}`` at once (one rebuild)."""
        with self._lock:
            self._secrets.update(secrets)
            self._rebuild()

    @property
    def names(self) -> list[str]:
        return sorted(self._secrets)

    def _rebuild(self) -> None:
        mapping: dict[str, str] = {}
        # Sorted by name so that, when two secrets share a form, the result does not depend on insertion order.
        for name, value in sorted(self._secrets.items()):
            marker = self._marker.format(name=name)
            for form in secret_forms(value):
                mapping.setdefault(form, marker)
        if not mapping:
            self._compiled = None
            return
        alternation = "|".join(re.escape(f) for f in sorted(mapping, key=lambda f: (-len(f), f)))
        self._compiled = (re.compile(alternation), mapping)

    def redact_text(self, text: str) -> str:
        compiled = self._compiled
        if compiled is None:
            return text
        pattern, mapping = compiled
        return pattern.sub(lambda m: mapping[m.group(0)], text)

    def redact_obj(self, obj: Any, *, stringify_unknown: bool = False) -> Any:
        """A copy of ``obj`` with secrets redacted in every string (dict keys too), deep through dicts, lists,
        tuples, sets and pydantic models. Unchanged parts keep their identity (no copy without a secret).

        Other objects are returned unchanged, or with ``stringify_unknown`` replaced by their redacted ``str()``
        when that contains a secret (for log values that a renderer would ``str()`` later).
        """
        if self._compiled is None:
            return obj
        return self._walk(obj, stringify=stringify_unknown)

    def _walk(self, obj: Any, *, stringify: bool) -> Any:
        if isinstance(obj, str):
            return self.redact_text(obj)
        if obj is None or isinstance(obj, bool | int | float):
            return obj
        if isinstance(obj, bytes):
            text = obj.decode("utf-8", "surrogateescape")
            red = self.redact_text(text)
            return obj if red == text else red.encode("utf-8", "surrogateescape")
        if isinstance(obj, dict):
            items = [(self._walk(k, stringify=stringify), self._walk(v, stringify=stringify)) for k, v in obj.items()]
            if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, obj.items(), strict=True)):
                return obj
            return type(obj)(items) if type(obj) is not dict else dict(items)
        if isinstance(obj, list | tuple | set | frozenset):
            new = [self._walk(v, stringify=stringify) for v in obj]
            if all(a is b for a, b in zip(new, obj, strict=True)):
                return obj
            if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple takes positional fields
                return type(obj)(*new)
            return type(obj)(new)
        if isinstance(obj, BaseModel):
            changed = {}
            for field, value in obj:
                red = self._walk(value, stringify=stringify)
                if red is not value:
                    changed[field] = red
            return obj.model_copy(update=changed) if changed else obj
        if stringify:
            # Log values such as exceptions or paths are rendered with str() later; redact that rendering.
            text = str(obj)
            red = self.redact_text(text)
            return obj if red == text else red
        return obj


def structlog_processor(redactor: Redactor) -> Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]:
    """A structlog processor redacting the whole event dict. Put it after ``format_exc_info`` (so tracebacks
    are strings by then) and before the renderer."""

    def redact_secrets(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        redacted: MutableMapping[str, Any] = redactor.redact_obj(event_dict, stringify_unknown=True)
        return redacted

    return redact_secrets
