"""query/select_files/follow/tail, privacy helpers and settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.audit.chain import list_files
from gateway.audit.generate import generate_log
from gateway.audit.privacy import OMITTED, apply_privacy, preview
from gateway.audit.query import RecordFilter, parse_time, query, select_files
from gateway.audit.reader import follow, tail
from gateway.audit.settings import AuditSettings, load_audit_settings
from gateway.audit.verify import verify
from gateway.errors import ConfigError

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    count, _ = generate_log(tmp_path, records=3000, file_bytes=100_000, step=timedelta(seconds=1))
    assert count == 3000
    return tmp_path


def test_generated_log_verifies(generated: Path) -> None:
    report = verify(generated)
    assert report.ok and report.records == 3000 and len(list_files(generated)) > 5


def test_query_filters_combine(generated: Path) -> None:
    flt = RecordFilter(upstream="files", tool="write_file", decision="deny")
    found = [m.record for m in query(generated, flt)]
    assert found
    assert all((r["upstream"], r["tool"], r["decision"]) == ("files", "write_file", "deny") for r in found)
    # The same answer as a brute-force scan.
    brute = [
        r
        for p in list_files(generated)
        for r in map(json.loads, p.read_bytes().splitlines())
        if r.get("upstream") == "files" and r.get("tool") == "write_file" and r.get("decision") == "deny"
    ]
    assert [r["seq"] for r in found] == [r["seq"] for r in brute]
    # Matches point at the exact stored line (file and 1-based line number).
    for m in query(generated, RecordFilter(text="APPROVAL_ANSWERED")):
        assert m.line.path.read_bytes().splitlines()[m.line.line_no - 1] == m.line.data
        assert m.record["event"] == "approval_answered"


def test_query_session_identity_event_and_text(generated: Path) -> None:
    some = next(m.record for m in query(generated, RecordFilter(event="approval_answered")))
    sid = some["session_id"]
    by_session = [m.record for m in query(generated, RecordFilter(session=sid))]
    assert by_session and all(r["session_id"] == sid for r in by_session)
    by_identity = [m.record for m in query(generated, RecordFilter(identity=some["identity"], event="session_start"))]
    assert by_identity and all(r["identity"] == some["identity"] for r in by_identity)
    call = some["call_id"]
    by_text = [m.record for m in query(generated, RecordFilter(text=call.upper()))]
    assert {r["call_id"] for r in by_text} == {call}
    # A value that only appears as a substring of another field does not match exactly.
    assert list(query(generated, RecordFilter(tool="write"))) == []


def test_time_range_skips_files_by_name(generated: Path) -> None:
    files = list_files(generated)
    since = START + timedelta(seconds=1500)
    until = START + timedelta(seconds=1600)
    chosen = select_files(generated, since, until)
    assert 0 < len(chosen) < len(files) / 2
    found = [m.record for m in query(generated, RecordFilter(since=since, until=until))]
    assert len(found) == 101
    assert found[0]["ts"] == "2026-01-01T00:25:00.000000Z" and found[-1]["ts"] == "2026-01-01T00:26:40.000000Z"


def test_parse_time() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_time("2h", now=now) == now - timedelta(hours=2)
    assert parse_time("2026-05-01T10:00") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert parse_time("2026-05-01T10:00Z") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("yesterday")


def test_tail_spans_files(generated: Path) -> None:
    last = tail(generated, 5)
    assert [json.loads(line.data)["seq"] for line in last] == [2996, 2997, 2998, 2999, 3000]
    big = tail(generated, 1000)
    assert [json.loads(line.data)["seq"] for line in big] == list(range(2001, 3001))


def test_follow_sees_appends_and_rotation(tmp_path: Path) -> None:
    generate_log(tmp_path, records=10)
    (first,) = list_files(tmp_path)
    seen: list[bytes] = []
    polls: list[float] = []
    stream = follow(tmp_path, start_after=tail(tmp_path, 1)[0], sleep=polls.append, stop=lambda: len(polls) > 3)
    with first.open("ab") as f:
        f.write(b'{"seq":11}\n{"seq":12,"torn')
    seen.append(next(stream).data)
    newer = tmp_path / "audit-2027-01-01T00-00-00-000000.jsonl"
    newer.write_bytes(b'{"seq":13}\n')
    seen.append(next(stream).data)
    assert seen == [b'{"seq":11}', b'{"seq":13}']
    assert list(stream) == [] and len(polls) == 4  # then it waits (polling) until stopped


def test_preview_and_privacy() -> None:
    assert preview("short", 10) == "short"
    cut = preview("x" * 100, 30)
    assert len(cut) == 30 and cut.endswith("…[+70 chars]")
    assert apply_privacy("none", {"a": 1}) == OMITTED
    assert apply_privacy("preview", {"a": 1}) == '{"a":1}'
    assert apply_privacy("full", {"a": (1, 2)}) == {"a": [1, 2]}
    capped = apply_privacy("full", {"a": "y" * 500}, max_chars=100)
    assert isinstance(capped, str) and len(capped) == 100


def test_settings_defaults_overrides_and_errors() -> None:
    s = load_audit_settings({"privacy": {"github": "none"}, "rotation": {"max_bytes": 1024}})
    assert s.fsync is False and s.rotation.daily is True and s.rotation.max_bytes == 1024
    assert s.privacy_for("github") == "none" and s.privacy_for("files") == "preview"
    assert AuditSettings().preview_chars == 2000 and AuditSettings().rotation.max_bytes == 50 * 1024 * 1024
    with pytest.raises(ConfigError, match=r"gateway\.audit\.fsnyc: unknown key"):
        load_audit_settings({"fsnyc": True}, path="upstreams.yaml")
    with pytest.raises(ConfigError, match=r"gateway\.audit\.privacy"):
        load_audit_settings({"privacy": {"Bad Name": "full"}})
    with pytest.raises(ConfigError, match=r"default_privacy"):
        load_audit_settings({"default_privacy": "everything"})
