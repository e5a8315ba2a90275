"""A real freedesktop Secret Service for tests: a private dbus-daemon plus gnome-keyring-daemon.

Register with ``pytest_plugins = ["tests.support.secret_service"]`` (root conftest) or import the fixture.
The test process keeps its HOME; only the daemons get a throwaway HOME/XDG_DATA_HOME/XDG_RUNTIME_DIR (gnome-keyring
writes its keyrings under XDG_DATA_HOME and its control socket under XDG_RUNTIME_DIR, so HOME is not needed, but a
temporary one keeps anything else it might write out of the real home). The test process gets
DBUS_SESSION_BUS_ADDRESS and XDG_DATA_HOME (keyring's own files, if any, stay in the temporary directory).
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["running_secret_service", "secret_service"]

INSTALL_HINT = (
    "a real Secret Service is needed: install it with "
    "`apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y gnome-keyring dbus libsecret-tools`"
)
EXPORTED = ("DBUS_SESSION_BUS_ADDRESS", "XDG_DATA_HOME")


def _name_has_owner(address: str, name: str) -> bool:
    # jeepney (secretstorage's D-Bus library) ships no type information; import it by name.
    jeepney: Any = importlib.import_module("jeepney")
    blocking: Any = importlib.import_module("jeepney.io.blocking")
    with blocking.open_dbus_connection(bus=address) as conn:
        reply = conn.send_and_get_reply(jeepney.DBus().NameHasOwner(name), timeout=2)
    return bool(reply.body[0])


def _stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running_secret_service(password: str | None = None, timeout: float = 10.0) -> Iterator[dict[str, str]]:
    """Start the daemons; yield the variables a client (or a subprocess) needs to reach them."""
    missing = [tool for tool in ("dbus-daemon", "gnome-keyring-daemon") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found; {INSTALL_HINT}", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="mcpgw-keyring-"))
    run_dir = root / "run"
    run_dir.mkdir(mode=0o700)
    daemon_env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "USER", "LOGNAME")} | {
        "HOME": str(root / "home"),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_RUNTIME_DIR": str(run_dir),
    }
    bus: subprocess.Popen[str] | None = None
    gkd: subprocess.Popen[bytes] | None = None
    try:
        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=daemon_env,
        )
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()
        if not address:
            pytest.fail("dbus-daemon did not print a bus address", pytrace=False)
        daemon_env["DBUS_SESSION_BUS_ADDRESS"] = address
        # --unlock reads the login keyring's password from stdin and creates the keyring unlocked.
        gkd = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=daemon_env,
        )
        assert gkd.stdin is not None
        gkd.stdin.write((password or secrets.token_hex(8)).encode())
        gkd.stdin.close()
        deadline = time.monotonic() + timeout
        while not _name_has_owner(address, "org.freedesktop.secrets"):
            if gkd.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gnome-keyring-daemon did not register org.freedesktop.secrets", pytrace=False)
            time.sleep(0.02)  # polling an external daemon's bus name; there is no event to wait on
        yield {k: daemon_env[k] for k in EXPORTED} | {"XDG_RUNTIME_DIR": str(run_dir)}
    finally:
        _stop(gkd)
        _stop(bus)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def secret_service() -> Iterator[dict[str, str]]:
    """A running gnome-keyring on a private bus; ``keyring`` in this process uses it. Yields the env to pass
    to subprocesses (DBUS_SESSION_BUS_ADDRESS, XDG_DATA_HOME, XDG_RUNTIME_DIR)."""
    import keyring
    import keyring.backend
    import keyring.core
    from keyring.backends import SecretService

    with running_secret_service() as env:
        saved = {k: os.environ.get(k) for k in (*EXPORTED, "PYTHON_KEYRING_BACKEND")}
        previous = keyring.get_keyring()
        os.environ.update({k: env[k] for k in EXPORTED})
        os.environ.pop("PYTHON_KEYRING_BACKEND", None)
        try:
            # Re-detect now that the bus exists, as a freshly started gateway would.
            # get_all_keyring() caches its probe (jaraco.functools.once); without a reset it would keep
            # whatever it saw before the bus existed. Pick the Secret Service explicitly: other installed or
            # test-defined backends (keyrings.alt, in-memory fakes) must not win the priority contest.
            keyring.backend.get_all_keyring.reset()
            found = [b for b in keyring.backend.get_all_keyring() if isinstance(b, SecretService.Keyring)]
            if not found:
                pytest.fail("the Secret Service backend is not viable on the test bus", pytrace=False)
            keyring.set_keyring(found[0])
            yield env
        finally:
            keyring.set_keyring(previous)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
