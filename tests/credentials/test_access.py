"""The keyring lock: where its files live, reentrancy, another process holding it, and the call timeout."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gateway.credentials.access import hold_keyring, lock_dir, lock_path
from gateway.credentials.backend import CredentialUnavailableError
from gateway.credentials.settings import SERVICE_NAME, CredentialSettings
from gateway.credentials.store import CredentialStore
from gateway.errors import CredentialError
from tests.credentials.memory import MemoryKeyring


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    return path


def test_lock_files_live_in_a_private_per_user_directory(runtime_dir: Path) -> None:
    path = lock_dir()
    assert path == runtime_dir / "mcp-gateway"
    assert path.stat().st_mode & 0o777 == 0o700


def test_without_runtime_dir_the_temp_directory_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    path = lock_dir()
    assert path.parent == tmp_path and path.name.startswith("mcp-gateway-")


def test_a_planted_lock_directory_is_refused(runtime_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (runtime_dir / "mcp-gateway").symlink_to(elsewhere)
    with pytest.raises(CredentialError) as info:
        lock_dir()
    assert "not owned by this user" in info.value.public_message


def test_one_lock_per_keyring(runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/bus-a")
    a = lock_path(MemoryKeyring())
    assert a == lock_path(MemoryKeyring()) and a.parent == runtime_dir / "mcp-gateway"
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/bus-b")
    assert lock_path(MemoryKeyring()) != a
    file_backend = MemoryKeyring()
    file_backend.file_path = "/somewhere/credentials.cfg"  # type: ignore[attr-defined]
    assert lock_path(file_backend) not in (a, lock_path(MemoryKeyring()))


def test_hold_is_reentrant_within_a_thread(runtime_dir: Path) -> None:
    backend = MemoryKeyring()
    with hold_keyring(backend, "outer", 1.0), hold_keyring(backend, "inner", 1.0):
        held = []
        other = threading.Thread(target=lambda: held.append(_try_hold(backend)))
        other.start()
        other.join()
    assert held == ["did not answer within 0.2 s"]  # another thread waits while we hold it
    assert _try_hold(backend) == "held"


def _try_hold(backend: MemoryKeyring) -> str:
    try:
        with hold_keyring(backend, "probe", 0.2):
            return "held"
    except CredentialUnavailableError as exc:
        assert exc.credential == "probe"
        return "did not answer within 0.2 s" if "did not answer within 0.2 s" in exc.public_message else str(exc)


def test_another_process_holding_the_lock_makes_us_wait_then_fail(runtime_dir: Path) -> None:
    backend = MemoryKeyring()
    path = lock_path(backend)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
            "print('held', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert _try_hold(backend) == "did not answer within 0.2 s"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    assert _try_hold(backend) == "held"


class StuckKeyring(MemoryKeyring):
    """get_password blocks until released, as a keyring waiting on an unlock prompt does."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.entered.set()
        self.release.wait(30)
        return super().get_password(service, username)


@pytest.mark.anyio
async def test_a_keyring_that_does_not_answer_fails_the_read(runtime_dir: Path) -> None:
    backend = StuckKeyring()
    store = CredentialStore(CredentialSettings(timeout=0.3), backend=backend)
    backend.entries[(SERVICE_NAME, "tok")] = "value-1"
    try:
        with pytest.raises(CredentialUnavailableError) as info:
            await store.get("tok")
        assert backend.entered.is_set()
        assert info.value.credential == "tok"
        assert "did not answer within 0.3 s" in info.value.public_message
        assert "unlock prompt" in info.value.public_message
    finally:
        backend.release.set()
    assert await store.get("tok") == "value-1"  # the abandoned thread finished and let go of the lock


def test_a_stuck_keyring_call_does_not_keep_the_process_alive() -> None:
    """The abandoned call's thread must not be joined at exit (anyio's worker threads would be, for ever)."""
    script = (
        "import threading, anyio\n"
        "from gateway.credentials.access import call_keyring\n"
        "from gateway.errors import CredentialError\n"
        "async def main():\n"
        "    try:\n"
        "        await call_keyring('tok', 0.2, threading.Event().wait)\n"
        "    except CredentialError as exc:\n"
        "        print(exc.public_message, flush=True)\n"
        "anyio.run(main)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "did not answer within 0.2 s" in done.stdout
