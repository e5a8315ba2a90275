"""Remembers which protocol era each upstream spoke, so ``protocol: auto`` pays a slow probe at most once."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import structlog

from gateway._files import atomic_write_text

__all__ = ["ProbeCache"]

log = structlog.get_logger("gateway.upstreams.probe")


class ProbeCache:
    """``{upstream: {identity, protocol}}`` in ``<state_dir>/protocols.json`` (in memory when no dir is given)."""

    def __init__(self, state_dir: Path | None) -> None:
        self._path = state_dir / "protocols.json" if state_dir else None
        self._data: dict[str, dict[str, str]] | None = None
        self._lock = anyio.Lock()

    async def _load(self) -> dict[str, dict[str, str]]:
        if self._data is None:
            self._data = {}
            if self._path is not None:
                path = self._path
                try:
                    loaded = json.loads(await anyio.to_thread.run_sync(path.read_text))
                    if isinstance(loaded, dict):
                        self._data = loaded
                except FileNotFoundError:
                    log.debug("no protocol cache yet", path=str(path))
                except (OSError, ValueError) as exc:
                    log.warning("ignoring unreadable protocol cache", path=str(path), error=str(exc))
        return self._data

    async def lookup(self, name: str, identity: str) -> str | None:
        async with self._lock:
            entry = (await self._load()).get(name)
        if entry and entry.get("identity") == identity:
            return entry.get("protocol")
        return None

    async def remember(self, name: str, identity: str, protocol: str | None) -> None:
        if protocol is None:
            return
        async with self._lock:
            data = await self._load()
            if data.get(name) == {"identity": identity, "protocol": protocol}:
                return
            data[name] = {"identity": identity, "protocol": protocol}
            if self._path is not None:
                await anyio.to_thread.run_sync(atomic_write_text, self._path, json.dumps(data, indent=1))
