"""verify: every kind of tampering is found and the first bad record is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.audit.chain import line_hash, list_files, seal, unsealed_body
from gateway.audit.settings import AuditSettings, RotationSettings
from gateway.audit.verify import verify
from tests.audit.helpers import all_lines, find_line, rewrite, write_session

pytestmark = pytest.mark.anyio

# fsync off: these tests are about the chain, not durability, and fsync is slow on some disks.
ROTATING = AuditSettings(fsync=False, rotation=RotationSettings(daily=False, max_bytes=1500))


@pytest.fixture
async def log_dir(tmp_path: Path) -> Path:
    count = await write_session(tmp_path, ROTATING)
    assert len(list_files(tmp_path)) >= 3, "the fixture should span several files"
    report = verify(tmp_path)
    assert report.ok and report.records == count and report.closed
    return tmp_path


def _replace_field(line: bytes, key: str, value: object, *, rehash: bool) -> bytes:
    record = json.loads(line)
    record[key] = value
    record.pop("hash")
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    if rehash:
        return seal(body) + b"\n"
    old_hash: str = json.loads(line)["hash"]
    return body[:-1] + b',"hash":"' + old_hash.encode() + b'"}\n'


async def test_clean_log_verifies(log_dir: Path) -> None:
    report = verify(log_dir)
    assert report.problem is None and report.torn == [] and report.first_seq == 1
    lines = all_lines(log_dir)
    assert report.head == line_hash(lines[-1][1].rstrip(b"\n"))


async def test_deleted_line_is_missing(log_dir: Path) -> None:
    lines = all_lines(log_dir)
    path, number = find_line(log_dir, 6)
    del lines[5]
    rewrite(log_dir, lines)
    problem = verify(log_dir).problem
    assert problem is not None and problem.kind == "missing"
    assert problem.seq == 7 and "seq 6" in problem.message
    assert (problem.path, problem.line_no) == (path, number)  # seq 7 now sits where seq 6 was


async def test_edited_line_is_named(log_dir: Path) -> None:
    lines = all_lines(log_dir)
    path, number = find_line(log_dir, 4)
    lines[3] = (lines[3][0], lines[3][1].replace(b'"decision":"allow"', b'"decision":"deny"'))
    assert b'"decision":"deny"' in lines[3][1]
    rewrite(log_dir, lines)
    problem = verify(log_dir).problem
    assert problem is not None
    assert (problem.kind, problem.seq, problem.path, problem.line_no) == ("edited", 4, path, number)


async def test_edited_and_rehashed_line_is_named(log_dir: Path) -> None:
    lines = all_lines(log_dir)
    lines[4] = (lines[4][0], _replace_field(lines[4][1], "arguments", "{}", rehash=True))
    rewrite(log_dir, lines)
    problem = verify(log_dir).problem
    assert problem is not None and (problem.kind, problem.seq) == ("edited", 5)
    assert (problem.path, problem.line_no) == find_line(log_dir, 5)


async def test_swapped_lines_are_reordered(log_dir: Path) -> None:
    lines = all_lines(log_dir)
    # Swap seq 10 and 11 (keep each in the file it was in).
    (p10, l10), (p11, l11) = lines[9], lines[10]
    lines[9], lines[10] = (p10, l11), (p11, l10)
    rewrite(log_dir, lines)
    problem = verify(log_dir).problem
    assert problem is not None and problem.kind == "reordered" and problem.seq == 11
    assert problem.path == p10


async def test_inserted_forged_record_is_named(log_dir: Path) -> None:
    lines = all_lines(log_dir)
    # A forged "allow" that claims seq 9 and links to seq 8: only the real chain continues past it.
    real9 = lines[8][1]
    forged = _replace_field(real9, "decision", "allow", rehash=True).replace(b"c2", b"c9")
    forged = seal(unsealed_body(forged.rstrip(b"\n"))[0]) + b"\n"  # type: ignore[index]
    lines.insert(8, (lines[8][0], forged))
    rewrite(log_dir, lines)
    problem = verify(log_dir).problem
    assert problem is not None and problem.kind == "inserted" and problem.seq == 9
    assert b"c9" in (problem.path.read_bytes().splitlines()[problem.line_no - 1])


async def test_duplicated_line_is_inserted(log_dir: Path) -> None:
    lines = all_lines(log_dir)
    lines.insert(4, lines[3])
    rewrite(log_dir, lines)
    problem = verify(log_dir).problem
    assert problem is not None and (problem.kind, problem.seq) == ("inserted", 4)
    assert "copy" in problem.message


async def test_inserted_line_with_unknown_seq(log_dir: Path) -> None:
    lines = all_lines(log_dir)
    fake = seal(b'{"seq":999,"ts":"2026-11-25T08:30:00.000000Z","event":"tool_decision","prev":"' + b"0" * 64 + b'"}')
    lines.insert(6, (lines[6][0], fake + b"\n"))
    rewrite(log_dir, lines)
    problem = verify(log_dir).problem
    assert problem is not None and (problem.kind, problem.seq) == ("inserted", 999)


async def test_torn_tail_passes_up_to_last_complete_record(log_dir: Path) -> None:
    last = list_files(log_dir)[-1]
    data = last.read_bytes()
    final = data.splitlines()[-1]
    last.write_bytes(data[: len(data) - len(final) // 2 - 1])  # half of the final line, no newline
    report = verify(log_dir)
    assert report.ok
    torn = report.torn_tail
    assert torn is not None and torn.path == last and not torn.complete
    assert report.last_seq == json.loads(final)["seq"] - 1


async def test_truncated_middle_file_is_reported(log_dir: Path) -> None:
    first = list_files(log_dir)[0]
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])
    problem = verify(log_dir).problem
    assert problem is not None and problem.kind == "truncated"
    assert problem.path == list_files(log_dir)[1] and problem.line_no == 1


async def test_deleted_file_is_missing(log_dir: Path) -> None:
    files = list_files(log_dir)
    files[1].unlink()
    problem = verify(log_dir).problem
    assert problem is not None and problem.kind == "missing" and problem.path == files[2]


async def test_deleted_first_file_unless_pruning_allowed(log_dir: Path) -> None:
    list_files(log_dir)[0].unlink()
    problem = verify(log_dir).problem
    assert problem is not None and problem.kind == "missing" and "starts at seq" in problem.message
    assert verify(log_dir, allow_pruned_start=True).ok


async def test_garbage_line_is_edited(log_dir: Path) -> None:
    lines = all_lines(log_dir)
    lines[2] = (lines[2][0], b"not json at all\n")
    rewrite(log_dir, lines)
    problem = verify(log_dir).problem
    assert problem is not None and problem.kind == "edited" and problem.line_no == find_line_no(lines, 2)


def find_line_no(lines: list[tuple[Path, bytes]], index: int) -> int:
    path = lines[index][0]
    return sum(1 for p, _ in lines[: index + 1] if p == path)
