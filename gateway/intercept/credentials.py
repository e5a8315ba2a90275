"""``InjectCredentials``: fill hidden arguments from the keyring and scrub every secret from what comes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mcp import MCPError

from gateway.config.models import HttpUpstream, StdioUpstream
from gateway.credentials.redact import Redactor
from gateway.credentials.resolve import inject_hidden_arguments, resolve_values
from gateway.credentials.store import CredentialStore
from gateway.intercept.authorize import call_fields
from gateway.intercept.call import ToolCall
from gateway.intercept.chain import CallNext, CallResult

__all__ = ["InjectCredentials"]


class InjectCredentials:
    """Innermost step: secrets go in here and nowhere else, and are redacted on the way out."""

    def __init__(
        self,
        store: CredentialStore,
        redactor: Redactor,
        spec_of: Callable[[str], StdioUpstream | HttpUpstream | None],
        used_by: Callable[[str], list[str]],
    ) -> None:
        self.store = store
        self.redactor = redactor
        self._spec_of = spec_of
        self._used_by = used_by

    async def __call__(self, call: ToolCall, call_next: CallNext) -> CallResult:
        spec = self._spec_of(call.upstream)
        names = list(self._used_by(call.upstream))
        if spec is not None and spec.hidden_arguments:
            resolved, used = await resolve_values(spec.hidden_arguments, self.store)
            if used:
                self.redactor.update(used)
                names = sorted(set(names) | set(used))
            call = replace(call, arguments=inject_hidden_arguments(call.arguments, resolved))
        if names:
            await call.events.emit("credentials_used", call_fields(call) | {"credentials": names})
        await call.events.emit("call_forwarded", call_fields(call))
        try:
            result = await call_next(call)
        except MCPError as exc:
            # An upstream's error text may echo what it was given.
            raise MCPError(
                code=exc.code,
                message=self.redactor.redact_text(exc.message),
                data=self.redactor.redact_obj(exc.error.data),
            ) from None
        redacted: CallResult = self.redactor.redact_obj(result)
        return redacted
