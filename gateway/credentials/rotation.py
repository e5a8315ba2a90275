"""Cross-process rotation signal: a small JSON file of per-name change counters (never values).

``creds set`` / ``creds delete`` (another process) bump a name's counter; a running gateway polls the file's
stat (cheap) and, when it changed, reads it and reports the names whose counters moved. All functions here
block: call them through ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

__all__ = ["RotationSignal", "StatKey"]

StatKey = tuple[int, int, int]
"""(inode, size, mtime_ns): changes on every atomic replace of the file."""


@dataclass(frozen=True, slots=True)
class RotationSignal:
    """The ``<state_dir>/credentials.version`` file."""

    path: Path

    def stat_key(self) -> StatKey | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def read(self) -> dict[str, int]:
        """Current counters per credential name ({} when the file does not exist or is unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A corrupt file must not stop the gateway; the next bump rewrites it.
            return {}
        names = data.get("names") if isinstance(data, dict) else None
        if not isinstance(names, dict):
            return {}
        return {str(k): int(v) for k, v in names.items() if isinstance(v, int)}

    def bump(self, names: Iterable[str]) -> dict[str, int]:
        """Advance the counters of ``names``; returns the new counters of those names."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=10):
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                seq = int(data.get("seq", 0))
                counters = {str(k): int(v) for k, v in dict(data.get("names", {})).items()}
            except (OSError, ValueError, TypeError, AttributeError):
                seq, counters = 0, {}
            changed: dict[str, int] = {}
            for name in names:
                seq += 1
                counters[name] = changed[name] = seq
            self._write({"seq": seq, "names": counters})
        return changed

    def _write(self, data: dict[str, object]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".credentials.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
