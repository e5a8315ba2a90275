"""Small file helpers shared by the modules that rewrite files other processes read."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import anyio

__all__ = ["atomic_write_text", "fingerprint", "watch_files"]


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` atomically: temp file in the same folder, fsync, ``os.replace``.

    The new file keeps the old file's permissions (or ``mode``; new files default to 0o600).
    """
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o600
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable. Some filesystems refuse to fsync a directory; the data is already safe then.
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        return
    finally:
        os.close(dir_fd)


Stamp = tuple[str, int, int, int] | tuple[str, None]


def fingerprint(paths: Sequence[Path]) -> list[Stamp]:
    """What changes when any of ``paths`` is edited, created or removed. A directory stands for its YAML files."""
    out: list[Stamp] = []
    for path in paths:
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        for f in files:
            try:
                st = f.stat()
            except OSError:
                out.append((str(f), None))
                continue
            out.append((str(f), st.st_mtime_ns, st.st_size, st.st_ino))
    return out


async def watch_files(paths: Callable[[], Sequence[Path]], interval: float) -> AsyncIterator[None]:
    """Yield once each time the files behind ``paths()`` change (polled; stat calls off the event loop)."""
    last = await anyio.to_thread.run_sync(fingerprint, paths())
    while True:
        await anyio.sleep(interval)
        now = await anyio.to_thread.run_sync(fingerprint, paths())
        if now != last:
            last = now
            yield
