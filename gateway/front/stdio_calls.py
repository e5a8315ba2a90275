"""``tools/call`` on the stdio front without the SDK's per-message machinery (the gateway's hot path).

Every other message still goes to the SDK server. A call is taken here only once the connection's era is settled:
a handshake-era client after ``notifications/initialized``, a 2026-07-28 client after the SDK has seen its opening
request; anything unusual (bad params, an era mismatch, a version the SDK would reject) is left to the SDK, which
answers it as before. What a taken call runs is exactly the SDK path's ``FrontServer.handle_call``; only parsing,
the back channel (progress, logs, questions to the client) and the response are done here, on raw JSON-RPC.

Questions to the client use string ids in the gateway's own namespace, so their answers are picked out of stdin
before the SDK sees them; the SDK numbers its own requests.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import mcp_types as types
import orjson
import structlog
from mcp import MCPError
from mcp.server.connection import allowed_log_levels
from mcp_types import methods as _methods
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from gateway._tasks import CallTasks, cancel_scope
from gateway.front.bridge import Answered, capable
from gateway.front.server import FrontServer
from gateway.plain import CallParams, PlainCall, wire_result
from gateway.rawrpc import ID_PREFIX, RawRequests, line
from gateway.upstreams.asker import UpstreamRequest

__all__ = ["StdioCalls"]

log = structlog.get_logger("gateway.front.stdio")

R = TypeVar("R", bound=BaseModel)
WriteLine = Callable[[bytes], Awaitable[None]]

# Lines that can concern this module; any other line of a settled connection goes to the SDK unparsed.
_MARKS = re.compile(
    b"|".join(re.escape(mark) for mark in (b'"tools/call"', b'"notifications/', b'"initialize"', ID_PREFIX.encode()))
)


class _Downstream:
    """The client end of one raw tools/call (a ``Downstream``)."""

    def __init__(
        self,
        owner: StdioCalls,
        request_id: types.RequestId,
        version: str,
        meta: Mapping[str, Any],
        scope: anyio.CancelScope,
    ) -> None:
        self._owner = owner
        self.request_id = request_id
        self.protocol_version = version
        self.meta = meta
        self.scope = scope

    async def answer_now(self, result: types.InputRequiredResult) -> None:
        """Answer this request with a question while its call goes on (``bridge.AnswersEarly``)."""
        owner = self._owner
        owner._answered(self.request_id, self.scope)
        response = {"jsonrpc": "2.0", "id": self.request_id, "result": owner._wire(result, self.protocol_version)}
        await owner._send(line(response))

    def can(self, method: str) -> bool:
        return capable(self._owner.capabilities(self.meta), method)

    async def request(self, request: UpstreamRequest, result_type: type[R]) -> R:
        data = request.model_dump(by_alias=True, mode="json", exclude_none=True)
        result = await self._owner.questions.request(data["method"], data.get("params") or {})
        return result_type.model_validate(result, by_name=False)

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        token = self.meta.get("progressToken")
        if token is None:
            return  # the caller did not ask for progress
        params: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self._owner.notify("notifications/progress", params)

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        if params.level in allowed_log_levels(self.protocol_version, self.meta):
            wire = params.model_dump(by_alias=True, mode="json", exclude_none=True)
            await self._owner.notify("notifications/message", wire)


class StdioCalls:
    """Watches the stdio client's messages; ``offer`` takes the tools/calls it can run itself."""

    def __init__(self, front: FrontServer) -> None:
        self.front = front
        self._write: WriteLine | None = None
        self._tasks = CallTasks()
        self.questions = RawRequests(self._send)
        self._era: str | None = None  # "legacy" | "modern", as the SDK decides it (the first request)
        self._ready = False
        self._init_id: types.RequestId | None = None
        self._init_params: Mapping[str, Any] = {}
        self._version = ""
        self._legacy_caps: types.ClientCapabilities | None = None
        self._inflight: dict[types.RequestId, anyio.CancelScope] = {}
        self._pusher = _Pusher(self)
        # The SDK hands out a deep copy of its serverInfo stamp on every access, so that a caller may mutate it.
        # Responses here are serialised right away and never changed, so one copy serves every response.
        self._server_info_stamp: dict[str, Any] | None = None
        self._checked_envelope: dict[str, Any] | None = None  # the last 2026-07-28 envelope the era's schema passed

    def bind(self, write: WriteLine) -> None:
        self._write = write

    async def aclose(self) -> None:
        """Cancel the calls still running and wait for them (the client is gone)."""
        await self._tasks.aclose()

    async def _send(self, line: bytes) -> None:
        assert self._write is not None
        await self._write(line)

    async def notify(self, method: str, params: Mapping[str, Any]) -> None:
        await self._send(line({"jsonrpc": "2.0", "method": method, "params": params}))

    def capabilities(self, meta: Mapping[str, Any]) -> types.ClientCapabilities | None:
        if self._era == "legacy":
            return self._legacy_caps
        raw = meta.get(types.CLIENT_CAPABILITIES_META_KEY)
        try:
            return types.ClientCapabilities.model_validate(raw) if isinstance(raw, dict) else None
        except ValidationError:
            return None

    # -- inbound ------------------------------------------------------------------------------------------------

    async def offer(self, line: bytes) -> bool:
        """Handle ``line`` here (True) or leave it to the SDK (False). Never raises for bad input."""
        if self._era is not None and _MARKS.search(line) is None:
            return False
        message = _json_object(line)
        if message is None:
            return False
        method = message.get("method")
        if method is None:
            return await self.questions.feed(message)
        params = message.get("params")
        if not isinstance(params, dict):
            params = {}
        if "id" not in message:
            return self._notification(method, params)
        if self._era is None:
            self._note_opening(message)
            return False
        if method != "tools/call" or not self._ready:
            return False
        return self._start_call(message["id"], params)

    def offer_now(self, line: bytes) -> bool:
        """Start a tools/call from ``line`` right away (True), or leave the line to ``offer`` (False).

        Called by the stdin transport as data arrives, while nothing is queued before ``line``; anything this does
        not take goes through ``offer`` in order (which, for a call refused here, gives the same answer).
        """
        if not self._ready or b'"tools/call"' not in line:
            return False
        message = _json_object(line)
        if message is None or message.get("method") != "tools/call" or "id" not in message:
            return False
        params = message.get("params")
        return isinstance(params, dict) and self._start_call(message["id"], params)

    def _note_opening(self, message: Mapping[str, Any]) -> None:
        """The client's first request decides the connection's era, as it does for the SDK."""
        method, params = message.get("method"), message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        modern = method != "initialize" and isinstance(meta, dict) and types.PROTOCOL_VERSION_META_KEY in meta
        self._era = "modern" if modern else "legacy"
        self._ready = modern
        if method == "initialize" and isinstance(params, dict):
            self._init_id = message.get("id")
            self._init_params = params

    def _notification(self, method: str, params: Mapping[str, Any]) -> bool:
        if method == "notifications/cancelled":
            target = params.get("requestId")
            scope = self._inflight.get(target) if isinstance(target, str | int) else None
            if scope is not None:
                scope.cancel()  # JSON-RPC: a cancelled request gets no response
                return True
        elif method == "notifications/initialized" and self._era == "legacy" and self._version:
            try:
                self._legacy_caps = types.ClientCapabilities.model_validate(self._init_params.get("capabilities") or {})
            except ValidationError:
                return False  # leave the connection to the SDK's own checks
            self._ready = True
        return False

    def sent(self, message: types.JSONRPCMessage) -> None:
        """Called for every message the SDK writes: the answer to ``initialize`` settles the version."""
        if self._init_id is not None and isinstance(message, types.JSONRPCResponse) and message.id == self._init_id:
            version = message.result.get("protocolVersion")
            self._version = version if isinstance(version, str) else ""

    # -- running a call -----------------------------------------------------------------------------------------

    def _start_call(self, request_id: Any, params: dict[str, Any]) -> bool:
        if not isinstance(request_id, str | int) or request_id in self._inflight:
            return False
        meta = params.get("_meta")
        if meta is not None and not isinstance(meta, dict):
            return False
        meta = meta or {}
        if self._era == "modern":
            version = meta.get(types.PROTOCOL_VERSION_META_KEY)
            if version not in MODERN_PROTOCOL_VERSIONS:
                return False
        else:
            if types.PROTOCOL_VERSION_META_KEY in meta:
                return False  # an enveloped request on a handshake connection: the SDK refuses it
            version = self._version
        # The era's schema pass is skipped only when its verdict is known: a plain call, and for 2026-07-28 an
        # envelope equal to one that already passed (clients send the same one with every request).
        envelope = {k: v for k, v in meta.items() if k != "progressToken"} if self._era == "modern" else None
        plain = _plain(params, envelope is not None)
        try:
            if not (plain and envelope == self._checked_envelope):
                _methods.validate_client_request("tools/call", str(version), params)
            typed: CallParams = (
                PlainCall(params["name"], params.get("arguments"), params.get("_meta"))
                if plain  # what validation would make of it is known (gateway.plain)
                else types.CallToolRequestParams.model_validate(params, by_name=False)
            )
        except (ValidationError, KeyError):
            return False  # the SDK answers with the exact validation error
        self._checked_envelope = envelope
        scope = cancel_scope()
        self._inflight[request_id] = scope
        ds = _Downstream(self, request_id, str(version), meta, scope)
        self._tasks.spawn(scope, self._run(scope, request_id, typed, ds))
        return True

    async def _run(
        self,
        scope: anyio.CancelScope,
        request_id: types.RequestId,
        params: CallParams,
        ds: _Downstream,
    ) -> None:
        response: bytes | None = None
        with scope:
            try:
                session = await self._session(ds)
                result = await self.front.handle_call(ds, session, params, params.meta)
                if not isinstance(result, Answered):
                    response = self._result_line(request_id, result, ds.protocol_version)
            except MCPError as exc:
                response = line({"jsonrpc": "2.0", "id": request_id, "error": _error(exc)})
            except ValidationError:
                log.exception("tools/call result could not be serialised")
                error = {"code": types.INTERNAL_ERROR, "message": "Internal gateway error."}
                response = line({"jsonrpc": "2.0", "id": request_id, "error": error})
        self._answered(request_id, scope)
        if response is not None:
            await self._send(response)

    def _result_line(
        self, request_id: types.RequestId, result: types.CallToolResult | types.InputRequiredResult, version: str
    ) -> bytes:
        try:
            return line({"jsonrpc": "2.0", "id": request_id, "result": self._wire(result, version)})
        except TypeError:  # a value only pydantic's JSON form can hold (the direct form assumes JSON values)
            return line({"jsonrpc": "2.0", "id": request_id, "result": self._wire(result, version, direct=False)})

    async def _session(self, ds: _Downstream) -> Any:
        if self._era == "legacy":
            info = self._init_params.get("clientInfo")
            pusher: _Pusher | None = self._pusher
        else:
            info = ds.meta.get(types.CLIENT_INFO_META_KEY)
            pusher = None
        name, version = (info.get("name"), info.get("version")) if isinstance(info, dict) else (None, None)
        return await self.front.sessions.get_stdio(ds.protocol_version, (name, version), pusher)

    def _answered(self, request_id: types.RequestId, scope: anyio.CancelScope) -> None:
        """``request_id`` needs no more cancelling; its id may be reused by the client once the answer is out."""
        if self._inflight.get(request_id) is scope:
            del self._inflight[request_id]

    def _wire(
        self, result: types.CallToolResult | types.InputRequiredResult, version: str, *, direct: bool = True
    ) -> dict[str, Any]:
        """The result as the SDK server would write it (per-version sieve; 2026-07-28 resultType and stamp).
        ``direct``: a plain text result is put in wire form without pydantic (``gateway.plain.wire_result``)."""
        dumped = (wire_result(result) if direct else None) or result.model_dump(
            by_alias=True, mode="json", exclude_none=True
        )
        modern = version in MODERN_PROTOCOL_VERSIONS
        if _plain_text(dumped):
            # Text-only results, the everyday case, are what each era's sieve would return, less the resultType
            # a handshake-era schema does not have.
            if not modern:
                dumped.pop("resultType", None)
        elif not modern or dumped.get("resultType") in (None, "complete", "input_required"):
            dumped = _methods.serialize_server_result("tools/call", version, dumped)
        if modern:
            dumped.setdefault("resultType", "complete")
            meta = dumped.get("_meta")
            stamp = self._server_info_stamp
            if stamp is None:
                stamp = self._server_info_stamp = self.front.server.server_info_stamp
            if meta is None:
                dumped["_meta"] = {types.SERVER_INFO_META_KEY: stamp}
            elif isinstance(meta, dict) and meta.get(types.SERVER_INFO_META_KEY) is None:
                dumped["_meta"] = {**meta, types.SERVER_INFO_META_KEY: stamp}
        return dumped


class _Pusher:
    """list_changed for a handshake-era stdio client whose calls never went through the SDK."""

    def __init__(self, owner: StdioCalls) -> None:
        self._owner = owner

    async def send_tool_list_changed(self) -> None:
        await self._owner.notify("notifications/tools/list_changed", {})

    async def send_prompt_list_changed(self) -> None:
        await self._owner.notify("notifications/prompts/list_changed", {})

    async def send_resource_list_changed(self) -> None:
        await self._owner.notify("notifications/resources/list_changed", {})


_PLAIN_KEYS = frozenset({"name", "arguments"})
_PLAIN_KEYS_WITH_META = _PLAIN_KEYS | {"_meta"}


def _plain(params: Mapping[str, Any], with_meta: bool) -> bool:
    """An everyday call: a name, an arguments object and (``with_meta``: the 2026-07-28 envelope, checked by the
    caller) ``_meta``, whose progress token, if any, is a string or an integer."""
    arguments = params.get("arguments", {})
    if type(params.get("name")) is not str or type(arguments) is not dict:
        return False
    if not with_meta:
        return _PLAIN_KEYS.issuperset(params)
    token = params["_meta"].get("progressToken", 0)
    return _PLAIN_KEYS_WITH_META.issuperset(params) and type(token) in (str, int)


_PLAIN_RESULT_KEYS = frozenset({"content", "structuredContent", "isError", "_meta", "resultType"})
_PLAIN_TEXT_KEYS = frozenset({"type", "text", "_meta"})


def _plain_text(dumped: Mapping[str, Any]) -> bool:
    """A complete result whose content is text blocks only (``_meta`` and ``structuredContent`` are free-form)."""
    if dumped.get("resultType", "complete") != "complete" or not _PLAIN_RESULT_KEYS.issuperset(dumped):
        return False
    content = dumped.get("content")
    if type(content) is not list:
        return False
    for block in content:  # a loop, not all(<generator>): this runs for every result
        if type(block) is not dict or block.get("type") != "text" or not _PLAIN_TEXT_KEYS.issuperset(block):
            return False
    return True


def _json_object(line: bytes) -> dict[str, Any] | None:
    """``line`` parsed, when it is a JSON object (anything else is the SDK's to answer)."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


def _error(exc: MCPError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        error["data"] = exc.data
    return error
