"""The floor for any stdio gateway: a relay that copies bytes between the client and the fixture upstream.

Run the core benchmark against it to see what an extra process and two extra pipe hops cost on this host,
with no parsing, policy or audit at all:

    .venv/bin/python bench/bench_core.py --gateway-cmd ".venv/bin/python bench/byte_relay.py"

The arguments the benchmark passes to a gateway (``serve --config ...``) are ignored.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "upstreams" / "fixture_server.py"


async def relay() -> None:
    loop = asyncio.get_running_loop()
    upstream = await asyncio.create_subprocess_exec(
        sys.executable, str(FIXTURE), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert upstream.stdin is not None and upstream.stdout is not None
    to_upstream = upstream.stdin

    class FromClient(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            to_upstream.write(data)

        def eof_received(self) -> bool:
            to_upstream.close()
            return False

    await loop.connect_read_pipe(FromClient, os.fdopen(os.dup(0), "rb", buffering=0))
    out = os.dup(1)  # blocking writes: a relay has nothing else to do meanwhile
    while data := await upstream.stdout.read(65536):
        view = memoryview(data)
        while view:
            view = view[os.write(out, view) :]
    await upstream.wait()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(relay())
    else:
        uvloop.run(relay())
