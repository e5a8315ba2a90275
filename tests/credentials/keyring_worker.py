"""A separate process using CredentialStore on the real keyring, for test_concurrent_keyring.

``python -m tests.credentials.keyring_worker write PREFIX COUNT``: waits for a line on stdin (so all workers start
together), then stores and reads back COUNT credentials; prints "ok" or the error.
``python -m tests.credentials.keyring_worker names``: prints the stored names as JSON.
``python -m tests.credentials.keyring_worker lock``: locks the default collection (as a screen lock would).
``python -m tests.credentials.keyring_worker read NAME TIMEOUT``: prints the value or the error.
"""

from __future__ import annotations

import json
import sys

import anyio

from gateway.credentials.settings import CredentialSettings
from gateway.credentials.store import CredentialStore
from gateway.errors import CredentialError


async def write(prefix: str, count: int) -> str:
    store = CredentialStore(CredentialSettings(cache_ttl=0, timeout=20))
    await anyio.to_thread.run_sync(sys.stdin.readline)
    try:
        for i in range(count):
            name = f"{prefix}-{i}"
            await store.set(name, f"value-of-{name}")
            got = await store.get(name)
            if got != f"value-of-{name}":
                return f"read back {got!r} for {name}"
    except CredentialError as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


async def names() -> str:
    return json.dumps(await CredentialStore(CredentialSettings(cache_ttl=0, timeout=20)).names())


async def read(name: str, seconds: float) -> str:
    try:
        return await CredentialStore(CredentialSettings(cache_ttl=0, timeout=seconds)).get(name)
    except CredentialError as exc:
        return f"{type(exc).__name__}: {exc.public_message}"


def lock() -> str:
    import secretstorage

    with secretstorage.dbus_init() as conn:
        collection = secretstorage.get_default_collection(conn)
        collection.lock()
        return f"locked={collection.is_locked()}"


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "write":
        print(anyio.run(write, sys.argv[2], int(sys.argv[3])), flush=True)
    elif command == "read":
        print(anyio.run(read, sys.argv[2], float(sys.argv[3])), flush=True)
    elif command == "lock":
        print(lock(), flush=True)
    else:
        print(anyio.run(names), flush=True)
