"""Remembers which protocol era each upstream spoke, so ``protocol: auto`` pays a slow probe at most once."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import anyio
import structlog

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
                    text = await anyio.to_thread.run_sync(path.read_text)
                    loaded = json.loads(text)
                    if isinstance(loaded, dict):
                        self._data = loaded
                except FileNotFoundError:
                    pass
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
                await anyio.to_thread.run_sync(_write_atomic, self._path, json.dumps(data, indent=1))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".protocols-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise
