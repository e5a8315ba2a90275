"""Keyring calls: one at a time across threads and processes, each bounded in time and run off the event loop.

gnome-keyring (42) can lock its collection for good when one client replaces an item while another reads or
writes: every later call then waits on an unlock prompt. The gateway and ``mcp-gateway creds`` are such
clients, so every keyring operation of ours holds a lock shared by all our processes that talk to the same
keyring. It also makes the index entry's read-modify-write atomic (two ``creds set`` at once lose no name).

The lock file lives in a per-user directory (``$XDG_RUNTIME_DIR/mcp-gateway``, else ``<tmp>/mcp-gateway-<uid>``)
and is named after the backend and the D-Bus session bus (or the file backend's path), so unrelated keyrings
never wait for each other.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import structlog
from filelock import FileLock, Timeout

from gateway.credentials.backend import CredentialUnavailableError
from gateway.errors import CredentialError

__all__ = ["call_keyring", "hold_keyring", "lock_dir", "lock_path", "no_answer"]

_T = TypeVar("_T")
log = structlog.get_logger("gateway.credentials")

# Reentrant: a write reads the index and writes two entries under one hold.
_THREAD_LOCK = threading.RLock()
# One FileLock per keyring and lock directory, so the directory is created and checked once, not per call.
_FILE_LOCKS: dict[tuple[str, ...], FileLock] = {}


def lock_dir() -> Path:
    """The per-user directory for the lock files (created 0700; refused if another user owns it)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    getuid = getattr(os, "getuid", None)
    if runtime and Path(runtime).is_dir():
        path = Path(runtime) / "mcp-gateway"
    else:
        path = Path(tempfile.gettempdir()) / f"mcp-gateway-{getuid() if getuid else 'user'}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise CredentialError(
            f"The keyring lock directory {path} cannot be created; set XDG_RUNTIME_DIR to a writable directory",
            detail=f"{type(exc).__name__}: {exc}",
        ) from None
    # A shared /tmp: a directory planted by someone else could block (or watch) our keyring use.
    if stat.S_ISLNK(info.st_mode) or (getuid is not None and info.st_uid != getuid()):
        raise CredentialError(
            f"The keyring lock directory {path} is not owned by this user; remove it or set XDG_RUNTIME_DIR",
            detail=f"uid {info.st_uid}, mode {oct(info.st_mode)}",
        )
    return path


def lock_path(backend: Any) -> Path:
    """The lock file for ``backend``: one per keyring (backend class, D-Bus session, file path)."""
    return Path(_file_lock(backend).lock_file)


def _file_lock(backend: Any) -> FileLock:
    cls = type(backend)
    keyring_id = (
        f"{cls.__module__}.{cls.__qualname__}",
        os.environ.get("DBUS_SESSION_BUS_ADDRESS", ""),
        str(getattr(backend, "file_path", "")),
    )
    where = (os.environ.get("XDG_RUNTIME_DIR", ""), tempfile.gettempdir())
    file_lock = _FILE_LOCKS.get(keyring_id + where)
    if file_lock is None:
        digest = hashlib.sha256("\0".join(keyring_id).encode()).hexdigest()[:16]
        # No per-thread state: _THREAD_LOCK already admits one thread at a time.
        file_lock = FileLock(str(lock_dir() / f"keyring-{digest}.lock"), thread_local=False)
        _FILE_LOCKS[keyring_id + where] = file_lock
    return file_lock


def no_answer(name: str, timeout: float, *, detail: str) -> CredentialUnavailableError:
    """The error for a keyring that did not answer (or stayed busy) within ``timeout`` seconds."""
    return CredentialUnavailableError(
        f"Credential '{name}' cannot be read: the keyring did not answer within {timeout:g} s (is it locked and "
        "waiting for an unlock prompt?). Unlock it, then check with: mcp-gateway creds check",
        credential=name,
        detail=detail,
    )


@contextmanager
def hold_keyring(backend: Any, name: str, timeout: float) -> Iterator[None]:
    """Hold the lock for ``backend`` (reentrant within a thread) to work on credential ``name``.

    Raises CredentialUnavailableError when another operation keeps it for ``timeout`` seconds.
    """
    if not _THREAD_LOCK.acquire(timeout=timeout):
        raise no_answer(name, timeout, detail="another thread held the keyring lock")
    try:
        file_lock = _file_lock(backend)
        try:
            file_lock.acquire(timeout=timeout)
        except Timeout:
            detail = f"another process held the keyring lock {file_lock.lock_file}"
            raise no_answer(name, timeout, detail=detail) from None
        try:
            yield
        finally:
            file_lock.release()
    finally:
        _THREAD_LOCK.release()


async def call_keyring(name: str, seconds: float, func: Callable[[], _T]) -> _T:
    """Run the blocking keyring operation ``func`` for credential ``name`` off the event loop, for ``seconds``.

    A keyring waiting on an unlock prompt can block for ever. The caller then gets CredentialUnavailableError
    (or its cancellation) at once, and the thread is left behind: a daemon thread, so that a stuck keyring
    can't keep the process from exiting either (anyio's worker threads are joined at exit).
    """
    token = anyio.lowlevel.current_token()
    done = anyio.Event()
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, func()))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting task, which re-raises it
            outcome.append((False, exc))
        try:
            anyio.from_thread.run_sync(done.set, token=token)
        except (anyio.RunFinishedError, RuntimeError):  # RuntimeError: asyncio's "Event loop is closed"
            log.debug("keyring answered after its event loop ended", credential=name)

    threading.Thread(target=run, name=f"keyring {name}", daemon=True).start()
    with anyio.move_on_after(seconds) as scope:
        await done.wait()
    if scope.cancelled_caught:
        raise no_answer(name, seconds, detail="keyring call still running in a daemon thread")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
