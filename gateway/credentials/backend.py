"""Choosing the keyring backend and mapping its failures to ``CredentialError`` (blocking; run in a thread)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import keyring
import keyring.errors

from gateway.credentials.settings import CredentialSettings
from gateway.errors import CredentialError

__all__ = [
    "CredentialUnavailableError",
    "backend_name",
    "check_usable",
    "make_file_backend",
    "set_command",
    "unavailable",
]


class CredentialUnavailableError(CredentialError):
    """A CredentialError about one named credential (``credential``), so callers can list what is missing."""

    def __init__(self, public_message: str, *, credential: str, detail: str | None = None) -> None:
        self.credential = credential
        super().__init__(public_message, detail=detail)


def set_command(name: str) -> str:
    """The command that stores (or replaces) a credential."""
    return f"mcp-gateway creds set {name}"


def backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def make_file_backend(path: Path) -> Any:
    """The explicit, unencrypted file backend (keyrings.alt ``PlaintextKeyring``) writing to ``path``."""
    try:
        # Imported by name: keyrings.alt is optional and ships no type information.
        plaintext_keyring: Any = importlib.import_module("keyrings.alt.file").PlaintextKeyring
    except ImportError:
        raise CredentialError(
            "The credentials file backend needs the 'keyrings.alt' package: pip install keyrings.alt",
            detail="backend 'file' configured in gateway.credentials",
        ) from None
    backend = plaintext_keyring()
    # NonDataProperty: an instance attribute overrides the default under $XDG_DATA_HOME.
    backend.file_path = str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return backend


def recommended(backend: Any) -> Any:
    """For ``backend: auto``: the backend to use, never a non-recommended one chosen silently.

    keyring may chain backends, including keyrings.alt's plaintext file (priority < 1) when no Secret Service
    is reachable; only the chain's recommended members (priority >= 1) are acceptable here.
    """
    from keyring.backends import chainer

    if isinstance(backend, chainer.ChainerBackend):
        members = [b for b in backend.backends if _priority(b) >= 1]
        return members[0] if members else backend
    return backend


def _priority(backend: Any) -> float:
    try:
        return float(backend.priority)
    except Exception:  # noqa: BLE001 - the priority probe (D-Bus...) raises when the backend is unusable
        return -1.0


def _is_unacceptable(backend: Any) -> bool:
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring | null.Keyring | chainer.ChainerBackend):
        return True
    # keyrings.alt and other "not recommended" backends (plaintext files...) only when configured explicitly.
    return type(backend).__module__.startswith("keyrings.alt") or _priority(backend) < 1


def check_usable(backend: Any, name: str, settings: CredentialSettings) -> None:
    """Refuse the fail/null and non-recommended backends in ``auto`` mode: no silent plaintext fallback."""
    if settings.backend == "auto" and _is_unacceptable(backend):
        raise CredentialUnavailableError(
            f"Credential '{name}' cannot be read: no secure OS keyring is available "
            f"(keyring chose {backend_name(backend)}). Start and unlock a Secret Service (e.g. gnome-keyring), "
            "or set gateway.credentials.backend: file explicitly; then run: " + set_command(name),
            credential=name,
            detail=f"keyring backend {backend_name(backend)}; PYTHON_KEYRING_BACKEND="
            f"{os.environ.get('PYTHON_KEYRING_BACKEND', '')!r}",
        )


def unavailable(backend: Any, name: str, exc: BaseException) -> CredentialUnavailableError:
    """A keyring failure (locked, no D-Bus, I/O) as a CredentialError; library text goes to ``detail`` only."""
    locked = isinstance(exc, keyring.errors.KeyringLocked) or "lock" in type(exc).__name__.lower()
    state = "is locked" if locked else "is not available"
    return CredentialUnavailableError(
        f"Credential '{name}' cannot be read: the keyring ({backend_name(backend)}) {state}. "
        f"Unlock or start it, then check with: mcp-gateway creds check (store it with: {set_command(name)})",
        credential=name,
        detail=f"keyring backend {backend_name(backend)}: {type(exc).__name__}: {exc}",
    )
