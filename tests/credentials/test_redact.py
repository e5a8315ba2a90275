from __future__ import annotations

import base64
import json
import threading
from typing import Any, NamedTuple
from urllib.parse import quote, quote_plus

import mcp_types as types
import pytest

from gateway.credentials import Redactor, structlog_processor
from gateway.credentials.redact import secret_forms

SECRET = 'ghp_Ab+/c=d?&e f"g\\h~é'  # chosen so every encoding differs from the raw value
MARK = "[secret:github-token]"


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.add("github-token", SECRET)
    return r


def b64_forms(data: bytes) -> list[str]:
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


@pytest.mark.parametrize(
    "encoded",
    [
        SECRET,
        quote(SECRET),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        *b64_forms(SECRET.encode()),
    ],
)
def test_every_form_is_replaced(redactor: Redactor, encoded: str) -> None:
    assert encoded != "" and redactor.redact_text(f"before {encoded} after") == f"before {MARK} after"


@pytest.mark.parametrize("prefix", [b"", b"u", b"us", b"usr", b"user:"])
@pytest.mark.parametrize("suffix", [b"", b"!", b"!?", b"\n--"])
def test_embedded_base64_at_every_alignment(redactor: Redactor, prefix: bytes, suffix: bytes) -> None:
    for encoded in b64_forms(prefix + SECRET.encode() + suffix):
        out = redactor.redact_text(encoded)
        assert MARK in out, (prefix, suffix, encoded)
        # No long run of the secret's encoding survives next to the marker.
        assert base64.b64encode(SECRET.encode()).decode()[4:-4] not in out


def test_basic_auth_header_is_redacted() -> None:
    r = Redactor()
    r.add("api-password", "hunter2-long-password")
    header = "Authorization: Basic " + base64.b64encode(b"alice:hunter2-long-password").decode()
    assert "[secret:api-password]" in r.redact_text(header)


def test_short_secrets_are_not_redacted() -> None:
    r = Redactor()
    r.add("pin", "123")
    assert secret_forms("123") == set()
    assert r.redact_text("order 123") == "order 123"
    r.add("pin4", "9876")
    assert r.redact_text("code 9876") == "code [secret:pin4]"


def test_longest_form_wins_and_remove_works() -> None:
    r = Redactor()
    r.add("short", "abcd-1234")
    r.add("long", "abcd-1234-extra-5678")
    assert r.redact_text("x abcd-1234-extra-5678 y abcd-1234") == "x [secret:long] y [secret:short]"
    r.remove("long")
    assert r.redact_text("abcd-1234-extra-5678") == "[secret:short]-extra-5678"
    r.remove("short")
    assert r.redact_text("abcd-1234") == "abcd-1234"


def test_add_replaces_a_rotated_value() -> None:
    r = Redactor()
    r.add("tok", "old-value-1")
    r.add("tok", "new-value-2")
    assert r.redact_text("old-value-1 new-value-2") == "old-value-1 [secret:tok]"


class Pair(NamedTuple):
    a: str
    b: int


def test_redact_obj_deep(redactor: Redactor) -> None:
    obj: dict[str, Any] = {
        "list": [SECRET, 1, None, {"nested": (f"x{SECRET}", True)}],
        SECRET: "key too",
        "bytes": SECRET.encode(),
        "pair": Pair(SECRET, 2),
        "set": {SECRET},
        "untouched": ["fine"],
    }
    out = redactor.redact_obj(obj)
    assert out == {
        "list": [MARK, 1, None, {"nested": (f"x{MARK}", True)}],
        MARK: "key too",
        "bytes": MARK.encode(),
        "pair": Pair(MARK, 2),
        "set": {MARK},
        "untouched": ["fine"],
    }
    assert out["untouched"] is obj["untouched"], "unchanged parts are not copied"
    assert obj["list"][0] == SECRET, "the input is not mutated"


def test_redact_pydantic_tool_result(redactor: Redactor) -> None:
    result = types.CallToolResult(
        content=[types.TextContent(type="text", text=f"token is {SECRET}")],
        structured_content={"token": SECRET, "n": 1},
        is_error=False,
    )
    out = redactor.redact_obj(result)
    assert isinstance(out, types.CallToolResult)
    assert SECRET not in out.model_dump_json()
    assert out.content[0].text == f"token is {MARK}"  # type: ignore[union-attr]
    assert out.structured_content == {"token": MARK, "n": 1}
    clean = types.CallToolResult(content=[types.TextContent(type="text", text="nothing")])
    assert redactor.redact_obj(clean) is clean


def test_no_secrets_is_identity() -> None:
    obj = {"a": ["b"]}
    assert Redactor().redact_obj(obj) is obj
    assert Redactor().redact_text("text") == "text"


def test_structlog_processor_redacts_event_dict(redactor: Redactor) -> None:
    processor = structlog_processor(redactor)
    event = {"event": f"upstream stderr: {SECRET}", "exc": RuntimeError(f"failed with {SECRET}"), "n": 3}
    out = processor(None, "info", event)
    assert out["event"] == f"upstream stderr: {MARK}"
    assert out["exc"] == f"failed with {MARK}"
    assert out["n"] == 3


def test_concurrent_add_and_redact() -> None:
    r = Redactor()
    errors: list[BaseException] = []

    def writer() -> None:
        for i in range(30):
            r.add(f"s{i}", f"secret-value-{i:04d}")

    def reader() -> None:
        try:
            for _ in range(300):
                out = r.redact_text("x secret-value-0000 y")
                assert out in ("x secret-value-0000 y", "x [secret:s0] y")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert r.redact_text("secret-value-0029") == "[secret:s29]"
