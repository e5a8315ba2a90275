"""Deep merge of configuration layers, remembering which file set each value.

Rules (also in ``docs/admin.md``):

* mappings merge key by key, recursively: a higher layer changes only the keys it names;
* lists and scalars replace the lower layer's value as a whole (``args: [...]`` is never concatenated);
* an upstream entry merges per key, except when the higher layer changes its transport (``command`` <-> ``url``
  or ``type``): then the whole entry is replaced, because stdio and HTTP fields cannot be mixed.

Every value is tracked by its dotted key (``upstreams.time.command``, ``gateway.audit.fsync``). Lists are leaves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Provenance", "dotted", "flatten", "merge_layer"]


def dotted(parts: tuple[str, ...]) -> str:
    """The dotted key for a path of mapping keys."""
    return ".".join(parts)


@dataclass(slots=True)
class Provenance:
    """Who set what: the last setter of each leaf, and every (label, value) a layer gave it, lowest first."""

    origins: dict[str, str] = field(default_factory=dict)
    history: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def record(self, key: str, label: str, value: Any) -> None:
        self.origins[key] = label
        self.history.setdefault(key, []).append((label, value))

    def forget_under(self, key: str) -> None:
        """Drop the current origins of ``key`` and everything below it (the subtree was replaced)."""
        prefix = key + "."
        for k in [k for k in self.origins if k == key or k.startswith(prefix)]:
            del self.origins[k]


def flatten(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf value) pairs; an empty mapping is a leaf of its own."""
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from flatten(v, (*prefix, str(k)))
    elif prefix:
        yield dotted(prefix), value


def _transport(entry: Mapping[str, Any]) -> str | None:
    kind = entry.get("type")
    if isinstance(kind, str):
        return "stdio" if kind == "stdio" else "http"
    if "url" in entry and "command" not in entry:
        return "http"
    if "command" in entry:
        return "stdio"
    return None


def _replaces_whole(path: tuple[str, ...], old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    if len(path) != 2 or path[0] != "upstreams":
        return False
    before, after = _transport(old), _transport(new)
    return before is not None and after is not None and before != after


def merge_layer(
    base: dict[str, Any], overlay: Mapping[str, Any], label: str, prov: Provenance, path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Merge ``overlay`` (set by ``label``) into a copy of ``base``; record every leaf it sets in ``prov``."""
    out = dict(base)
    for raw_key, value in overlay.items():
        key = str(raw_key)
        here = (*path, key)
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping) and not _replaces_whole(here, old, value):
            out[key] = merge_layer(old, value, label, prov, here)
            continue
        prov.forget_under(dotted(here))
        out[key] = _plain(value)
        for leaf, leaf_value in flatten(value, here):
            prov.record(leaf, label, leaf_value)
    return out


def _plain(value: Any) -> Any:
    # Copies, so later merges never alias a layer's own data.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
