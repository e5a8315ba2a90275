"""Bearer tokens for HTTP clients: created once, shown once, stored only as a hash.

``<state_dir>/tokens.json`` holds ``{name: {sha256, groups, created, revoked}}``; the CLI writes it (file lock,
atomic replace) and the running gateway re-reads it when it changes, so a revoked token stops working at once.
Tokens are 256-bit random strings, so a plain SHA-256 (not a slow password hash) is the right digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway._files import atomic_write_text
from gateway.errors import ConfigError

__all__ = ["TOKEN_PREFIX", "TokenRecord", "TokenStore", "hash_token"]

TOKEN_PREFIX = "mgw_"  # noqa: S105 - a recognisable prefix (secret scanners), not a secret
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
GROUP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    groups: list[str] = Field(default_factory=list)
    created: float
    revoked: float | None = None


@dataclass(frozen=True, slots=True)
class Verified:
    name: str
    groups: tuple[str, ...]


class TokenStore:
    """Create, list, revoke and verify tokens. All methods are blocking (file I/O): call them off the event loop."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "tokens.json"
        self._lock = FileLock(str(self.path) + ".lock", timeout=10)
        self._cache: tuple[tuple[int, int] | None, dict[str, TokenRecord]] = (None, {})
        self._by_hash: dict[str, str] = {}

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def load(self) -> dict[str, TokenRecord]:
        stamp = self._stamp()
        if stamp == self._cache[0] and stamp is not None:
            return self._cache[1]
        records: dict[str, TokenRecord] = {}
        if stamp is not None:
            try:
                raw: Any = json.loads(self.path.read_text(encoding="utf-8"))
                records = {str(k): TokenRecord.model_validate(v) for k, v in dict(raw).items()}
            except (ValueError, TypeError, ValidationError) as exc:
                raise ConfigError(f"unreadable token file: {exc}", path=str(self.path)) from None
        self._cache = (stamp, records)
        self._by_hash = {r.sha256: name for name, r in records.items() if r.revoked is None}
        return records

    def _save(self, records: dict[str, TokenRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v.model_dump(exclude_none=True) for k, v in sorted(records.items())}
        atomic_write_text(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)

    def create(self, name: str, groups: list[str]) -> str:
        """Create a token for ``name``; returns the token (shown once, never stored)."""
        if not re.fullmatch(NAME_PATTERN, name):
            raise ConfigError(f"invalid token name {name!r}: use letters, digits, '.', '_', '@' and '-'")
        for group in groups:
            if not re.fullmatch(GROUP_PATTERN, group):
                raise ConfigError(f"invalid group {group!r}: use letters, digits, '.', '_', '@', ':' and '-'")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            records = dict(self.load())
            existing = records.get(name)
            if existing is not None and existing.revoked is None:
                raise ConfigError(f"a token named '{name}' exists; revoke it first: mcp-gateway tokens revoke {name}")
            records[name] = TokenRecord(sha256=hash_token(token), groups=sorted(set(groups)), created=time.time())
            self._save(records)
        return token

    def revoke(self, name: str) -> None:
        with self._lock:
            records = dict(self.load())
            record = records.get(name)
            if record is None or record.revoked is not None:
                active = sorted(n for n, r in records.items() if r.revoked is None) or ["none"]
                raise ConfigError(f"no active token named '{name}' (active: {', '.join(active)})")
            records[name] = record.model_copy(update={"revoked": time.time()})
            self._save(records)

    def active(self) -> bool:
        return any(r.revoked is None for r in self.load().values())

    def verify(self, token: str) -> Verified | None:
        records = self.load()
        digest = hash_token(token)
        name = self._by_hash.get(digest)
        if name is None:
            return None
        record = records[name]
        # The dict lookup already matched; compare again in constant time for good measure.
        if not hmac.compare_digest(record.sha256, digest) or record.revoked is not None:
            return None
        return Verified(name=name, groups=tuple(record.groups))
