"""Test doubles for the approvals tests: a fake client channel, a recording event sink, call builders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types

from gateway.intercept import Identity, ToolCall


class RecordingSink:
    """Keeps every event; ``wait_for`` blocks (with a timeout) until one with that name arrives."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._changed = anyio.Event()

    async def emit(self, event: str, fields: Mapping[str, Any], *, durable: bool = False) -> None:
        self.events.append((event, dict(fields)))
        self._changed.set()
        self._changed = anyio.Event()

    def named(self, name: str) -> list[dict[str, Any]]:
        return [f for e, f in self.events if e == name]

    async def wait_for(self, name: str, limit: float = 10.0) -> dict[str, Any]:
        with anyio.fail_after(limit):
            while not self.named(name):
                await self._changed.wait()
        return self.named(name)[-1]


HANG = "hang"


@dataclass
class FakeClient:
    """A ClientChannel that answers elicitations from a script and records the questions."""

    modern: bool = False
    can_elicit: bool = True
    answers: list[Any] = field(default_factory=list)
    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def protocol_version(self) -> str:
        return "2026-07-28" if self.modern else "2025-11-25"

    async def elicit_form(self, message: str, schema: dict[str, Any]) -> types.ElicitResult:
        self.asked.append((message, schema))
        answer = self.answers.pop(0)
        if answer == HANG:
            await anyio.sleep_forever()
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, types.ElicitResult)
        return answer


def accept(decision: str, **extra: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"decision": decision, **extra})


def make_call(
    client: FakeClient | None = None,
    *,
    sink: RecordingSink | None = None,
    session_id: str = "sess-1",
    tool: str = "write_file",
    arguments: Mapping[str, Any] | None = None,
    identity: str = "alice",
    **kw: Any,
) -> ToolCall:
    return ToolCall(
        call_id="c1",
        session_id=session_id,
        identity=Identity(name=identity),
        upstream="fs",
        tool=tool,
        exposed_name=f"fs__{tool}",
        arguments=arguments if arguments is not None else {"path": "/tmp/x", "content": "hi"},
        client=client,
        events=sink or RecordingSink(),
        **kw,
    )
