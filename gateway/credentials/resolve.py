"""Putting secrets where they belong: env and header values, the child environment, hidden tool arguments."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from gateway.config.secrets import SecretOrLiteral, SecretRef
from gateway.credentials.backend import CredentialUnavailableError, set_command
from gateway.errors import CredentialError

__all__ = [
    "BASE_ENV_ALLOWLIST",
    "SecretSource",
    "build_child_env",
    "inject_hidden_arguments",
    "resolve_values",
    "strip_hidden_arguments",
]

BASE_ENV_ALLOWLIST: tuple[str, ...] = (
    # POSIX basics a program needs to find executables, a home and a locale.
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TERM",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SHELL",
    "TZ",
    # Windows: without these, Python, Node and most runtimes fail to start.
    "SYSTEMROOT",
    "SYSTEMDRIVE",
    "WINDIR",
    "COMSPEC",
    "PATHEXT",
    "TEMP",
    "TMP",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "PROGRAMFILES",
    "PROGRAMFILES(X86)",
    "HOMEDRIVE",
    "HOMEPATH",
)
"""Variables a stdio upstream gets from the gateway's environment without asking (values copied, if set)."""


class SecretSource(Protocol):
    """What resolution needs from a store (``CredentialStore`` satisfies it)."""

    async def get(self, name: str) -> str: ...


async def resolve_values(
    values: Mapping[str, SecretOrLiteral], store: SecretSource
) -> tuple[dict[str, str], dict[str, str]]:
    """Resolve ``{key: literal | {secret: NAME, template: ...}}``.

    Returns ``(resolved, used)``: the final values per key, and ``{credential name: secret value}`` of every
    credential used (feed it to ``Redactor.update``). When credentials are missing, raises one CredentialError
    naming all of them with the commands that fix them.
    """
    resolved: dict[str, str] = {}
    used: dict[str, str] = {}
    missing: list[CredentialError] = []
    for key, value in values.items():
        if not isinstance(value, SecretRef):
            resolved[key] = value
            continue
        try:
            secret = used[value.secret] if value.secret in used else await store.get(value.secret)
        except CredentialError as exc:
            missing.append(exc)
            continue
        used[value.secret] = secret
        resolved[key] = value.render(secret)
    if len(missing) == 1:
        raise missing[0]
    if missing:
        names = sorted({_name_of(e) for e in missing})
        raise CredentialError(
            "Credentials are not available: " + "; ".join(f"'{n}' (store it with: {set_command(n)})" for n in names),
            detail=" | ".join(e.detail or e.public_message for e in missing),
        )
    return resolved, used


def _name_of(exc: CredentialError) -> str:
    return exc.credential if isinstance(exc, CredentialUnavailableError) else exc.public_message


def build_child_env(
    cfg_env_resolved: Mapping[str, str],
    inherit: Iterable[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of a stdio upstream.

    Only ``BASE_ENV_ALLOWLIST`` and the names in ``inherit`` are copied from the gateway's environment (when
    set); the upstream's configured ``env`` (already resolved) is applied last and wins. Nothing else of the
    gateway's environment, which may hold its own tokens, reaches the child.
    """
    source = os.environ if environ is None else environ
    wanted = list(BASE_ENV_ALLOWLIST) + list(inherit)
    env: dict[str, str] = {}
    if sys.platform == "win32":
        # Windows variable names are case-insensitive.
        upper = {k.upper(): v for k, v in source.items()}
        for name in wanted:
            if name.upper() in upper:
                env[name] = upper[name.upper()]
    else:
        for name in wanted:
            if name in source:
                env[name] = source[name]
    env.update(cfg_env_resolved)
    return env


def strip_hidden_arguments(input_schema: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A copy of a tool's ``inputSchema`` without the hidden arguments (in ``properties`` and ``required``)."""
    schema = copy.deepcopy(dict(input_schema))
    hidden = set(names)
    props = schema.get("properties")
    if isinstance(props, dict):
        schema["properties"] = {k: v for k, v in props.items() if k not in hidden}
    required = schema.get("required")
    if isinstance(required, list):
        kept = [r for r in required if r not in hidden]
        if kept:
            schema["required"] = kept
        else:
            # JSON Schema draft 4 forbids an empty "required" array.
            del schema["required"]
    return schema


def inject_hidden_arguments(arguments: Mapping[str, Any] | None, resolved: Mapping[str, str]) -> dict[str, Any]:
    """The arguments forwarded upstream: the client's, with every hidden argument set by the gateway.

    A client-supplied value for a hidden argument is overwritten: the client must not choose it.
    """
    return {**(arguments or {}), **resolved}
