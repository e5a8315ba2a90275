"""``CredentialStore``: secrets from the OS keyring, off the event loop, cached for a TTL, with rotation notices."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import keyring
import keyring.errors
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from gateway.config.loader import LoadedConfig
from gateway.config.secrets import SECRET_NAME_PATTERN
from gateway.credentials.access import call_keyring, hold_keyring
from gateway.credentials.backend import (
    CredentialUnavailableError,
    backend_name,
    check_usable,
    make_file_backend,
    recommended,
    set_command,
    unavailable,
)
from gateway.credentials.rotation import RotationSignal, StatKey
from gateway.credentials.settings import (
    INDEX_USERNAME,
    SERVICE_NAME,
    VERSION_FILE_NAME,
    CredentialSettings,
    load_credential_settings,
)
from gateway.errors import CredentialError

__all__ = ["CredentialStore"]

_KEYRING_INIT = threading.Lock()
_T = TypeVar("_T")
_Names = set[str]  # the class defines a method named `set`, which shadows the builtin in annotations


class CredentialStore:
    """Named secrets under the keyring service ``mcp-gateway``.

    Every keyring call runs in a worker thread. Values are cached in memory for ``settings.cache_ttl`` seconds.
    Changes made through this store are announced at once to ``subscribe()`` streams; changes made by another
    process (``mcp-gateway creds set``) are noticed by ``poll_changes()`` / ``watch()`` through the
    ``<state_dir>/credentials.version`` file, which then invalidate the cache and announce them too.
    """

    def __init__(
        self,
        settings: CredentialSettings | None = None,
        *,
        state_dir: Path | None = None,
        base_dir: Path | None = None,
        backend: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or CredentialSettings()
        self._state_dir = state_dir
        self._base_dir = base_dir or state_dir or Path.cwd()
        self._fixed_backend = backend
        self._file_backend: Any = None
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._subscribers: list[MemoryObjectSendStream[str]] = []
        self._signal = RotationSignal(state_dir / VERSION_FILE_NAME) if state_dir is not None else None
        self._seen: dict[str, int] | None = None
        self._seen_stat: StatKey | None = None

    @classmethod
    def from_config(cls, config: LoadedConfig, **kwargs: Any) -> CredentialStore:
        """A store for a loaded ``upstreams.yaml`` (its ``gateway.credentials`` and state directory)."""
        settings = load_credential_settings(config.file, path=config.path)
        return cls(settings, state_dir=config.state_dir, base_dir=config.base_dir, **kwargs)

    # -- backend (blocking helpers, always called in a worker thread) -------------------------------------------

    def _backend(self) -> Any:
        if self._fixed_backend is not None:
            return self._fixed_backend
        if self.settings.backend == "file":
            if self._file_backend is None:
                state_dir = self._state_dir or self._base_dir / ".mcp-gateway"
                self._file_backend = make_file_backend(self.settings.resolved_file_path(state_dir, self._base_dir))
            return self._file_backend
        # Not cached: keyring.set_keyring() (tests, embedding apps) must take effect. Locked: keyring's first call
        # loads its backends without a lock, and a second thread listing them meanwhile fails ("Set changed size
        # during iteration"), which made an upstream fail to start when several resolved credentials at once.
        with _KEYRING_INIT:
            return recommended(keyring.get_keyring())

    def _read_sync(self, name: str, username: str) -> str | None:
        backend = self._backend()
        check_usable(backend, name, self.settings)
        with hold_keyring(backend, name, self.settings.timeout):
            try:
                value: str | None = backend.get_password(SERVICE_NAME, username)
            except Exception as exc:  # any backend failure (D-Bus, locked, I/O) must fail closed
                raise unavailable(backend, name, exc) from exc
        return value

    def _get_sync(self, name: str) -> str:
        value = self._read_sync(name, name)
        if not value:
            raise CredentialUnavailableError(
                f"Credential '{name}' is not set. Store it with: {set_command(name)}",
                credential=name,
                detail=f"no entry for service {SERVICE_NAME!r} in keyring backend {backend_name(self._backend())}",
            )
        return value

    def _index_sync(self, name: str = INDEX_USERNAME) -> list[str]:
        raw = self._read_sync(name, INDEX_USERNAME)
        if not raw:
            return []
        try:
            names = json.loads(raw)
        except ValueError:
            return []
        return sorted({str(n) for n in names}) if isinstance(names, list) else []

    def _write_sync(self, name: str, value: str | None) -> bool:
        """Set (or, with None, delete) an entry and update the index; returns whether the entry existed."""
        backend = self._backend()
        check_usable(backend, name, self.settings)
        # One hold for the index's read-modify-write: two writers at once must not drop each other's name.
        with hold_keyring(backend, name, self.settings.timeout):
            index = set(self._index_sync(name))
            existed = name in index
            try:
                if value is None:
                    # Not stored is fine: the name is still dropped from the index below.
                    with contextlib.suppress(keyring.errors.PasswordDeleteError):
                        backend.delete_password(SERVICE_NAME, name)
                        existed = True
                    index.discard(name)
                else:
                    backend.set_password(SERVICE_NAME, name, value)
                    index.add(name)
                backend.set_password(SERVICE_NAME, INDEX_USERNAME, json.dumps(sorted(index)))
            except CredentialError:
                raise
            except Exception as exc:  # see _read_sync
                raise unavailable(backend, name, exc) from exc
        if self._signal is not None:
            changed = self._signal.bump([name])
            if self._seen is not None:
                # Our own change was announced directly; don't report it again from the file.
                self._seen.update(changed)
                self._seen_stat = self._signal.stat_key()
        return existed

    async def _in_thread(self, name: str, func: Callable[..., _T], *args: object) -> _T:
        """A blocking keyring operation in a thread, failing closed after ``settings.timeout`` (see call_keyring)."""
        return await call_keyring(name, self.settings.timeout, functools.partial(func, *args))

    # -- public API ----------------------------------------------------------------------------------------------

    async def backend_description(self) -> str:
        """The backend's class path, e.g. ``keyring.backends.SecretService.Keyring`` (for messages and logs)."""
        return backend_name(await anyio.to_thread.run_sync(self._backend))

    async def get(self, name: str) -> str:
        """The secret stored as ``name``. Raises CredentialError when it is missing or the keyring is unusable."""
        hit = self._cache.get(name)
        if hit is not None and self._clock() < hit[1]:
            return hit[0]
        value = await self._in_thread(name, self._get_sync, name)
        if self.settings.cache_ttl > 0:
            self._cache[name] = (value, self._clock() + self.settings.cache_ttl)
        return value

    async def set(self, name: str, value: str) -> bool:
        """Store (or replace) a secret; returns True when it replaced an existing one. Announces the change."""
        if not re.fullmatch(SECRET_NAME_PATTERN, name):
            raise ValueError(f"invalid credential name {name!r}: use letters, digits, '.', '_' and '-'")
        if not value:
            raise ValueError("a credential value must not be empty")
        existed = await self._in_thread(name, self._write_sync, name, value)
        self._cache.pop(name, None)
        self._announce({name})
        return existed

    async def delete(self, name: str) -> bool:
        """Remove a secret; returns whether it was stored. Announces the change."""
        existed = await self._in_thread(name, self._write_sync, name, None)
        self._cache.pop(name, None)
        self._announce({name})
        return existed

    async def names(self) -> list[str]:
        """Names of stored credentials (from the index entry kept in the keyring), sorted."""
        return await self._in_thread(INDEX_USERNAME, self._index_sync)

    def invalidate(self, name: str | None = None) -> None:
        """Forget the cached value of ``name`` (or of everything) so the next ``get`` reads the keyring."""
        if name is None:
            self._cache.clear()
        else:
            self._cache.pop(name, None)

    def subscribe(self) -> MemoryObjectReceiveStream[str]:
        """A stream of credential names that changed (set, deleted, or rotated by another process).

        Close the stream to unsubscribe. Other processes' changes arrive only while ``watch()`` runs (or
        ``poll_changes()`` is called).
        """
        send, receive = anyio.create_memory_object_stream[str](max_buffer_size=math.inf)
        self._subscribers.append(send)
        return receive

    async def poll_changes(self) -> _Names:
        """Check the rotation file once; invalidate and announce names changed by another process.

        The first call only records the current state and returns an empty set.
        """
        if self._signal is None:
            return set()
        signal = self._signal
        stat = await anyio.to_thread.run_sync(signal.stat_key)
        if self._seen is not None and stat == self._seen_stat:
            return set()
        counters = await anyio.to_thread.run_sync(signal.read)
        if self._seen is None:
            self._seen, self._seen_stat = counters, stat
            return set()
        changed = {n for n, c in counters.items() if self._seen.get(n) != c}
        self._seen, self._seen_stat = counters, stat
        for name in changed:
            self._cache.pop(name, None)
        self._announce(changed)
        return changed

    async def watch(self, interval: float | None = None) -> AsyncGenerator[_Names, None]:
        """Poll for rotation by other processes every ``interval`` seconds, yielding non-empty sets of names.

        Start it before resolving secrets: changes made before its first poll are not reported.
        """
        period = interval if interval is not None else self.settings.poll_interval
        # The first poll records the baseline, unless poll_changes() already did: then its changes count too.
        changed = await self.poll_changes()
        while True:
            if changed:
                yield changed
            await anyio.sleep(period)
            changed = await self.poll_changes()

    def _announce(self, names: _Names) -> None:
        for send in list(self._subscribers):
            try:
                for name in sorted(names):
                    send.send_nowait(name)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.remove(send)
