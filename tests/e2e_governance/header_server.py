"""The fixture upstream over Streamable HTTP behind a header check: ``python header_server.py PORT``.

Requests without ``X-Token: $EXPECT_TOKEN`` get 401, so a gateway can only use this upstream when it sends the
resolved credential. Every X-Token value seen is appended to ``$HEADER_RECORD`` (one per line) as proof.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio.to_thread
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.upstreams.fixture_server import build_server

Scope = dict[str, Any]


class RequireHeader:
    """ASGI middleware: HTTP requests must carry the expected X-Token (lifespan passes through)."""

    def __init__(self, app: Any, expected: str, record: str | None, accepted_file: str | None = None) -> None:
        self.app = app
        self.expected = expected.encode()
        self.record = record
        self.accepted_file = accepted_file

    def _accepted(self) -> set[bytes]:
        """EXPECT_TOKEN, plus the lines of $EXPECT_TOKEN_FILE (re-read per request, so tests can rotate)."""
        tokens = {self.expected}
        if self.accepted_file and os.path.exists(self.accepted_file):
            with open(self.accepted_file, "rb") as f:
                tokens |= {line.strip() for line in f if line.strip()}
        return tokens

    def _note(self, token: bytes | None) -> None:
        assert self.record is not None
        with open(self.record, "a", encoding="utf-8") as f:
            f.write((token or b"<none>").decode("utf-8", "replace") + "\n")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            token = dict(scope.get("headers", [])).get(b"x-token")
            if self.record:
                await anyio.to_thread.run_sync(self._note, token)
            accepted = await anyio.to_thread.run_sync(self._accepted)
            if token not in accepted:
                await send(
                    {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": b"missing or wrong X-Token"})
                return
        await self.app(scope, receive, send)


def main() -> None:
    port = int(sys.argv[1])
    inner = build_server().streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1")
    app = RequireHeader(
        inner, os.environ["EXPECT_TOKEN"], os.environ.get("HEADER_RECORD"), os.environ.get("EXPECT_TOKEN_FILE")
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
