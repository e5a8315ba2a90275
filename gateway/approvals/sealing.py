"""Sealed ``request_state`` for 2026-07-28 clients: HMAC-SHA256, bound to one exact call, single use.

A modern client carries the gateway's question state between rounds and echoes it back; that echo
is client-controlled input. The token is ``mgw1.<payload>.<mac>`` (base64url): the payload holds a
random nonce, the issue and expiry times, a digest of the binding (identity, session, upstream,
tool, argument digest, policy version) and the gateway's own data; the MAC covers all of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread

from gateway.approvals.store import ApprovalStore
from gateway.errors import ApprovalDeniedError, ConfigError
from gateway.intercept.call import ToolCall

__all__ = [
    "KEY_FILE_NAME",
    "STATE_PREFIX",
    "Binding",
    "SealedStateError",
    "StateBindingError",
    "StateExpiredError",
    "StateReplayedError",
    "StateSealer",
    "StateTamperedError",
    "args_digest",
    "canonical_json",
    "is_gateway_state",
    "load_or_create_key",
]

STATE_PREFIX = "mgw1."
KEY_FILE_NAME = "request-state.key"
_KEY_BYTES = 32


class SealedStateError(ApprovalDeniedError):
    """A ``request_state`` echoed by the client cannot be trusted; the call is refused."""

    default_message = "The approval state sent back by the client is not valid; call the tool again to be asked afresh."


class StateTamperedError(SealedStateError):
    default_message = "The approval state sent back by the client was altered; the call was refused."


class StateBindingError(SealedStateError):
    default_message = (
        "The approval state sent back by the client belongs to a different call (tool, arguments, session, caller or"
        " policy changed); call the tool again to be asked afresh."
    )


class StateExpiredError(SealedStateError):
    default_message = "The approval state expired before the client answered; call the tool again to be asked afresh."


class StateReplayedError(SealedStateError):
    default_message = "This approval was already used once; call the tool again to be asked afresh."


def canonical_json(value: Any) -> str:
    """Stable JSON: sorted keys, no spaces, non-JSON values as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def args_digest(arguments: Mapping[str, Any] | None) -> str:
    """SHA-256 (hex) of the canonical JSON of a call's arguments."""
    return hashlib.sha256(canonical_json(dict(arguments or {})).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """The exact call a sealed state belongs to."""

    identity: str
    session_id: str
    upstream: str
    tool: str
    args_digest: str
    policy_version: str

    @classmethod
    def for_call(cls, call: ToolCall, policy_version: str) -> Binding:
        return cls(
            identity=call.identity.name,
            session_id=call.session_id,
            upstream=call.upstream,
            tool=call.tool,
            args_digest=args_digest(call.arguments),
            policy_version=policy_version,
        )

    def digest(self) -> str:
        return hashlib.sha256(canonical_json(asdict(self)).encode("utf-8")).hexdigest()


def is_gateway_state(token: str | None) -> bool:
    """True when a ``request_state`` looks like one this gateway issued (not an upstream's)."""
    return token is not None and token.startswith(STATE_PREFIX)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_key(path: Path) -> bytes:
    """Read the 32-byte key, creating it (mode 0600) if missing. Blocking: call in a thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != _KEY_BYTES:
            raise ConfigError(
                f"the request-state key must be {_KEY_BYTES} bytes; delete the file and restart the gateway"
                " (pending 2026-07-28 approvals will be asked again)",
                path=str(path),
            ) from None
        return key
    key = secrets.token_bytes(_KEY_BYTES)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


class StateSealer:
    """Seals and unseals ``request_state`` tokens; replays are caught through the store's nonce table."""

    def __init__(self, key: bytes, store: ApprovalStore, *, ttl: float = 600.0) -> None:
        if len(key) < _KEY_BYTES:
            raise ValueError(f"the sealing key must be at least {_KEY_BYTES} bytes")
        self._key = key
        self._store = store
        self.ttl = ttl

    @classmethod
    async def from_state_dir(cls, state_dir: Path, store: ApprovalStore, *, ttl: float = 600.0) -> StateSealer:
        key = await anyio.to_thread.run_sync(load_or_create_key, state_dir / KEY_FILE_NAME)
        return cls(key, store, ttl=ttl)

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()

    def seal(self, payload: Mapping[str, Any], binding: Binding, *, now: float | None = None) -> str:
        """A token carrying ``payload`` that only ``unseal`` with the same binding accepts, once."""
        issued = time.time() if now is None else now
        envelope = {
            "n": secrets.token_urlsafe(16),
            "iat": issued,
            "exp": issued + self.ttl,
            "b": binding.digest(),
            "d": dict(payload),
        }
        body = STATE_PREFIX + _b64e(canonical_json(envelope).encode("utf-8"))
        return body + "." + _b64e(self._mac(body))

    def _open(self, token: str) -> dict[str, Any]:
        if not is_gateway_state(token) or not token.isascii():
            raise StateTamperedError(detail="not a gateway token")
        body, sep, mac_text = token.rpartition(".")
        if not sep or body == STATE_PREFIX.rstrip("."):
            raise StateTamperedError(detail="malformed token")
        try:
            mac = _b64d(mac_text)
        except (binascii.Error, ValueError):
            raise StateTamperedError(detail="undecodable MAC") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise StateTamperedError(detail="bad MAC")
        try:
            envelope = json.loads(_b64d(body[len(STATE_PREFIX) :]))
        except (binascii.Error, ValueError, UnicodeError):
            raise StateTamperedError(detail="undecodable payload") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("d"), dict):
            raise StateTamperedError(detail="bad envelope")
        return envelope

    async def unseal(
        self, token: str, binding: Binding, *, consume: bool = True, now: float | None = None
    ) -> dict[str, Any]:
        """The payload of a token; raises a ``SealedStateError`` subclass on tamper, mismatch, expiry or replay.

        With ``consume`` the token's nonce is recorded, so a second unseal of the same token fails.
        """
        envelope = self._open(token)
        if not hmac.compare_digest(str(envelope.get("b", "")), binding.digest()):
            raise StateBindingError(detail="binding mismatch")
        current = time.time() if now is None else now
        expires = float(envelope.get("exp", 0))
        if current > expires:
            raise StateExpiredError(detail="expired")
        if consume and not await self._store.use_nonce(str(envelope["n"]), expires=expires):
            raise StateReplayedError(detail="nonce reused")
        payload: dict[str, Any] = envelope["d"]
        return payload
