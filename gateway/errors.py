"""The gateway's exception tree.

Every error carries a JSON-RPC ``code`` and a ``public_message`` that is safe to show a client:
it never contains exception text from libraries, secrets or stack traces. Internal detail goes
to the log only (``str(exc)`` may hold it, ``public_message`` never does).

    GatewayError
    ├── ConfigError                 a config or policy file is invalid (names file, location, fix)
    ├── AuthenticationError         no or bad client credentials (HTTP 401)
    ├── RefusedError                the call was not forwarded; shown to the model as a tool error
    │   ├── PolicyDeniedError       a rule (or mode) denied the call
    │   ├── ApprovalDeniedError     the human declined, cancelled or did not answer in time
    │   ├── CircuitOpenError        too many denials in this session
    │   ├── CredentialError         a secret could not be resolved (keyring missing/locked)
    │   └── AuditError              the audit record could not be made durable (fail closed)
    └── UpstreamError
        ├── UnknownToolError        no such tool/resource/prompt (or hidden/disabled)
        ├── UpstreamUnavailableError the upstream is down, restarting or crashed mid-call
        └── UpstreamTimeoutError    the upstream did not answer in time
"""

from __future__ import annotations

from typing import ClassVar

import mcp_types as types

__all__ = [
    "ApprovalDeniedError",
    "AuditError",
    "AuthenticationError",
    "CircuitOpenError",
    "ConfigError",
    "CredentialError",
    "GatewayError",
    "PolicyDeniedError",
    "RefusedError",
    "UnknownToolError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
]


class GatewayError(Exception):
    """Base class. ``public_message`` is what a client may see."""

    code: ClassVar[int] = types.INTERNAL_ERROR
    default_message: ClassVar[str] = "The gateway could not handle this request."

    def __init__(self, public_message: str | None = None, *, detail: str | None = None) -> None:
        self.public_message = public_message or self.default_message
        self.detail = detail
        super().__init__(self.public_message if detail is None else f"{self.public_message} ({detail})")


class ConfigError(GatewayError):
    """A configuration file is invalid. The message names the file, the location and the fix."""

    code = types.INVALID_PARAMS
    default_message = "Invalid configuration."

    def __init__(self, message: str, *, path: str | None = None, location: str | None = None) -> None:
        self.path = path
        self.location = location
        prefix = ""
        if path:
            prefix = f"{path}: "
        if location:
            prefix += f"{location}: "
        super().__init__(prefix + message)


class AuthenticationError(GatewayError):
    code = types.INVALID_REQUEST
    default_message = "Authentication required."


class RefusedError(GatewayError):
    """The call was refused before reaching the upstream; the model sees this as a tool error."""

    code = types.INVALID_REQUEST
    default_message = "The gateway refused this call."


class PolicyDeniedError(RefusedError):
    default_message = "Denied by policy."

    def __init__(self, public_message: str | None = None, *, rule_id: str | None = None) -> None:
        self.rule_id = rule_id
        super().__init__(public_message)


class ApprovalDeniedError(RefusedError):
    default_message = "The call was not approved."


class CircuitOpenError(RefusedError):
    default_message = "Too many denied calls in this session; calls are paused until the user resumes."


class CredentialError(RefusedError):
    default_message = "A credential needed for this call is not available."


class AuditError(RefusedError):
    default_message = "The audit record could not be written; the call was not forwarded."


class UpstreamError(GatewayError):
    code = types.INTERNAL_ERROR
    default_message = "The upstream server failed."


class UnknownToolError(UpstreamError):
    code = types.INVALID_PARAMS
    default_message = "Unknown tool."


class UpstreamUnavailableError(UpstreamError):
    default_message = "The upstream server is not available."


class UpstreamTimeoutError(UpstreamError):
    code = types.REQUEST_TIMEOUT
    default_message = "The upstream server did not answer in time."
