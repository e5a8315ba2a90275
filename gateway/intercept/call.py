"""What a step sees: the tool call, who made it, and where to record what happened. No I/O here."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import mcp_types as types

if TYPE_CHECKING:
    from gateway.upstreams.asker import Asker

__all__ = [
    "ClientChannel",
    "EventSink",
    "Identity",
    "Lazy",
    "NullEventSink",
    "ToolCall",
    "new_call_id",
    "resolve_fields",
]


_CALL_ID_PREFIX = os.urandom(8).hex()
_call_numbers = itertools.count(1)


def new_call_id() -> str:
    """32 hex digits, unique per call: a random per-process half and a counter (no entropy read per call)."""
    return f"{_CALL_ID_PREFIX}{next(_call_numbers):016x}"


class Lazy:
    """An event field whose value is computed when a sink renders the record, not when the step emits it.

    For values that cost real work (serialising a result for its size and preview): the audit sink builds
    non-durable records after the response has gone to the client. Computed once, then cached.
    """

    __slots__ = ("_fn", "_value", "_done")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._done = False
        self._value: Any = None

    def __call__(self) -> Any:
        if not self._done:
            self._value, self._done = self._fn(), True
        return self._value


def resolve_fields(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """``fields`` with every ``Lazy`` value computed (the same mapping when there is none)."""
    if Lazy not in map(type, fields.values()):  # scanned in C: every audit record comes through here
        return fields
    return {k: v() if type(v) is Lazy else v for k, v in fields.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who is calling. stdio clients are the local OS user; HTTP clients are a token's name."""

    name: str
    kind: Literal["os-user", "token", "anonymous"] = "os-user"
    groups: tuple[str, ...] = ()


class EventSink(Protocol):
    """Where steps record what happened (audit log, telemetry).

    ``durable=True`` means the record must be on disk before ``emit`` returns; if it cannot be,
    ``emit`` raises ``AuditError`` and the call must not be forwarded.
    """

    async def emit(self, event: str, fields: Mapping[str, Any], *, durable: bool = False) -> None: ...


class NullEventSink:
    """An event sink that drops everything (tests, tools that don't audit)."""

    async def emit(self, event: str, fields: Mapping[str, Any], *, durable: bool = False) -> None:
        return None


class ClientChannel(Protocol):
    """The downstream client a call came from, as far as the approval step needs it."""

    @property
    def protocol_version(self) -> str: ...

    @property
    def modern(self) -> bool:
        """True for 2026-07-28 (input-required retries), False for the handshake era (push requests)."""
        ...

    @property
    def can_elicit(self) -> bool: ...

    async def elicit_form(self, message: str, schema: dict[str, Any]) -> types.ElicitResult:
        """Push a form elicitation (handshake era only)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """One ``tools/call`` as the interception chain sees it.

    ``tool`` is the upstream's own name; ``exposed_name`` is what the client called.
    ``input_responses`` / ``request_state`` carry a 2026-07-28 client's retry; steps that asked
    their own questions consume their keys and pass the rest on.
    """

    call_id: str
    session_id: str
    identity: Identity
    upstream: str
    tool: str
    exposed_name: str
    arguments: Mapping[str, Any]
    annotations: types.ToolAnnotations | None = None
    upstream_cwd: str | None = None
    request_id: str | int | None = None
    protocol_version: str = ""
    input_responses: Mapping[str, Any] | None = None
    request_state: str | None = None
    meta: Mapping[str, Any] | None = None
    client: ClientChannel | None = field(default=None, compare=False, repr=False)
    events: EventSink = field(default_factory=NullEventSink, compare=False, repr=False)
    asker: Asker | None = field(default=None, compare=False, repr=False)
    """Where the upstream's own questions, progress and logs for this call go (the front's forward uses it)."""
