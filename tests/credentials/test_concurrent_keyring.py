"""Several processes writing and reading one real gnome-keyring at once.

Unserialised, gnome-keyring 42 sometimes locked its collection for good (every later call hung on an unlock
prompt), and two writers could drop each other's names from the index. Its own daemon: a keyring locked here
must not spoil the session's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.support.secret_service import running_secret_service

pytestmark = [pytest.mark.keyring, pytest.mark.slow]

WORKERS, COUNT = 3, 12


def _worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.credentials.keyring_worker", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"} | env,
    )


def _output(proc: subprocess.Popen[str], stdin: str = "") -> str:
    assert proc.stdin is not None and proc.stdout is not None
    if not proc.stdin.closed:
        proc.stdin.write(stdin)
        proc.stdin.close()
    out = proc.stdout.read()  # EOF when the worker exits (it has at most 20 s per keyring call)
    proc.wait(10)
    return out.strip()


def test_concurrent_writers_keep_the_keyring_usable_and_lose_no_name() -> None:
    with running_secret_service() as env:
        workers = [_worker(env, "write", f"w{n}", str(COUNT)) for n in range(WORKERS)]
        for proc in workers:  # all at once
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.close()
        results = [_output(proc) for proc in workers]
        assert results == ["ok"] * WORKERS
        out = _worker(env, "names").communicate(input="", timeout=60)[0]
    expected = sorted(f"w{n}-{i}" for n in range(WORKERS) for i in range(COUNT))
    assert json.loads(out) == expected


def test_a_locked_keyring_fails_the_read_in_bounded_time() -> None:
    """Locked (a screen lock, or the bug above): keyring asks for an unlock prompt that nobody can answer here."""
    with running_secret_service() as env:
        workers = [_worker(env, "write", "before", "1")]
        assert _output(workers[0], stdin="go\n") == "ok"
        assert _output(_worker(env, "lock")) == "locked=True"
        started = time.monotonic()
        out = _output(_worker(env, "read", "before-0", "2"))
        elapsed = time.monotonic() - started
    assert out.startswith("CredentialUnavailableError: Credential 'before-0' cannot be read"), out
    assert "value-of" not in out
    assert elapsed < 20, elapsed  # not a speed target: a hung read would never end at all
