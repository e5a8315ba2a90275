"""``mcp-gateway audit ...``: tail, query, timeline, verify and export the audit trail."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.table import Table

from gateway.audit.export import export_csv, export_jsonl
from gateway.audit.query import Match, RecordFilter, parse_time, query
from gateway.audit.reader import RawLine, follow, parse, tail
from gateway.audit.timeline import build_timeline, describe, render_timeline
from gateway.audit.verify import verify as verify_log
from gateway.cli.common import (
    AuditDirOption,
    ConfigOption,
    JsonOption,
    default_config_path,
    fail,
    load_or_exit,
    out_console,
    print_json,
)

app = typer.Typer(help="Read, verify and export the audit trail.", no_args_is_help=True)

SinceOption = Annotated[
    str | None, typer.Option("--since", help="Records at or after this time (ISO 8601, or 15m / 2h / 7d ago).")
]
UntilOption = Annotated[str | None, typer.Option("--until", help="Records at or before this time (same forms).")]
SessionOption = Annotated[str | None, typer.Option("--session", help="Only this session id.")]
IdentityOption = Annotated[str | None, typer.Option("--identity", help="Only this caller identity.")]
UpstreamOption = Annotated[str | None, typer.Option("--upstream", help="Only this upstream.")]
ToolOption = Annotated[str | None, typer.Option("--tool", help="Only this tool (the upstream's own name).")]
DecisionOption = Annotated[str | None, typer.Option("--decision", help="Only decisions of this kind (allow, deny...).")]
EventOption = Annotated[str | None, typer.Option("--event", help="Only this event (tool_decision, tool_result...).")]
TextOption = Annotated[str | None, typer.Option("--text", help="Free text anywhere in the record (case-insensitive).")]


def resolve_audit_dir(audit_dir: Path | None, config: Path | None) -> Path:
    """``--audit-dir``, else the config's audit directory; exits with a hint when neither is available."""
    if audit_dir is None:
        path = config or default_config_path()
        if config is None and not path.exists():
            fail(f"no audit directory: pass --audit-dir DIR (or --config PATH; {path} does not exist)")
        audit_dir = load_or_exit(path).audit_dir
    if not audit_dir.is_dir():
        fail(f"audit directory {audit_dir} does not exist; pass --audit-dir DIR pointing at the gateway's audit log")
    return audit_dir


def _filter(
    since: str | None,
    until: str | None,
    session: str | None,
    identity: str | None,
    upstream: str | None,
    tool: str | None,
    decision: str | None,
    event: str | None,
    text: str | None,
) -> RecordFilter:
    try:
        since_t = parse_time(since) if since else None
        until_t = parse_time(until) if until else None
    except ValueError as exc:
        fail(f"--since/--until: {exc}")
    return RecordFilter(
        since=since_t,
        until=until_t,
        session=session,
        identity=identity,
        upstream=upstream,
        tool=tool,
        decision=decision,
        event=event,
        text=text,
    )


def _one_line(record: dict[str, Any]) -> str:
    label, text = describe(record)
    who = "/".join(str(record[k]) for k in ("session_id", "upstream", "tool") if record.get(k) is not None)
    return (
        f"{record.get('ts', '?')} #{record.get('seq', '?')} {record.get('event', '?')} {who} {label}: {text}".rstrip()
    )


def _print_line(line: RawLine, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(line.data.decode("utf-8", "replace") + "\n")
    else:
        record = parse(line)
        sys.stdout.write((_one_line(record) if record else f"(unreadable line in {line.path.name})") + "\n")
    sys.stdout.flush()


@app.command("tail")
def tail_cmd(
    lines: Annotated[int, typer.Option("-n", "--lines", min=0, help="How many records to show.")] = 20,
    follow_: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new records (also after rotation).")
    ] = False,
    as_json: JsonOption = False,
    audit_dir: AuditDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Show the newest records (``--json``: the stored JSON lines)."""
    directory = resolve_audit_dir(audit_dir, config)
    last = tail(directory, lines)
    for line in last:
        _print_line(line, as_json)
    if follow_:
        try:
            start = last[-1] if last else None
            for line in follow(directory, start_after=start):
                _print_line(line, as_json)
        except KeyboardInterrupt:
            return


@app.command("query")
def query_cmd(
    since: SinceOption = None,
    until: UntilOption = None,
    session: SessionOption = None,
    identity: IdentityOption = None,
    upstream: UpstreamOption = None,
    tool: ToolOption = None,
    decision: DecisionOption = None,
    event: EventOption = None,
    text: TextOption = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop after this many matches.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print matching records as JSON Lines.")] = False,
    audit_dir: AuditDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Find records by time, session, identity, upstream, tool, decision or text (streamed)."""
    directory = resolve_audit_dir(audit_dir, config)
    flt = _filter(since, until, session, identity, upstream, tool, decision, event, text)
    matches = _limited(query(directory, flt), limit)
    if as_json:
        for m in matches:
            sys.stdout.write(m.line.data.decode("utf-8", "replace") + "\n")
        return
    shown_limit = limit or 500
    table = Table("ts", "seq", "event", "session", "identity", "upstream/tool", "decision", "detail")
    count = 0
    for m in matches:
        if count >= shown_limit:
            out_console.print(table)
            out_console.print(f"(more than {shown_limit} matches; narrow the filters, use --limit or --json)")
            return
        r = m.record
        _, detail = describe(r)
        tool_name = f"{r.get('upstream', '')}/{r.get('tool', '')}" if r.get("tool") else str(r.get("upstream", ""))
        table.add_row(
            str(r.get("ts", "")),
            str(r.get("seq", "")),
            str(r.get("event", "")),
            str(r.get("session_id", "")),
            str(r.get("identity", "")),
            tool_name,
            str(r.get("decision", "")),
            detail[:120],
        )
        count += 1
    if count == 0:
        out_console.print("no matching records")
        return
    out_console.print(table)


def _limited(matches: Iterator[Match], limit: int | None) -> Iterator[Match]:
    for index, m in enumerate(matches):
        if limit is not None and index >= limit:
            return
        yield m


@app.command("timeline")
def timeline_cmd(
    session: Annotated[str, typer.Argument(help="The session id (see `audit query --event session_start`).")],
    as_json: JsonOption = False,
    audit_dir: AuditDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Reconstruct a session: per call, request -> rules -> approval -> credentials -> result."""
    directory = resolve_audit_dir(audit_dir, config)
    tl = build_timeline(directory, session)
    if as_json:
        print_json(tl.to_json())
        return
    if tl.start is None and not tl.calls and not tl.session_records:
        fail(f"no records for session {session!r} in {directory}")
    for line in render_timeline(tl):
        out_console.print(line, highlight=False, markup=False)


@app.command("verify")
def verify_cmd(
    strict: Annotated[
        bool, typer.Option("--strict", help="Also fail on a torn tail (an incomplete last line).")
    ] = False,
    allow_pruned: Annotated[
        bool, typer.Option("--allow-pruned", help="Accept a log whose oldest files were removed by retention.")
    ] = False,
    as_json: JsonOption = False,
    audit_dir: AuditDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Check seq continuity and the hash chain; exit 1 naming the first bad record."""
    directory = resolve_audit_dir(audit_dir, config)
    report = verify_log(directory, allow_pruned_start=allow_pruned)
    torn = report.torn_tail
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "files": report.files,
                "records": report.records,
                "first_seq": report.first_seq,
                "last_seq": report.last_seq,
                "head": report.head,
                "closed": report.closed,
                "problem": None
                if report.problem is None
                else {
                    "kind": report.problem.kind,
                    "file": str(report.problem.path),
                    "line": report.problem.line_no,
                    "seq": report.problem.seq,
                    "message": report.problem.message,
                },
                "torn": [{"file": str(t.path), "line": t.line_no, "bytes": len(t.data)} for t in report.torn],
            }
        )
    else:
        if report.problem is not None:
            out_console.print(
                f"[bold red]FAILED[/] after {report.records} good records: {report.problem.describe()}", highlight=False
            )
            out_console.print(f"  file: {report.problem.path}", highlight=False, markup=False)
        else:
            span = f"seq {report.first_seq}-{report.last_seq}" if report.records else "no records"
            out_console.print(f"[bold green]OK[/]: {report.records} records in {report.files} files ({span})")
            out_console.print(f"  head: {report.head}", highlight=False)
        for t in report.torn:
            where = "torn tail" if t is torn else "torn line (crash; the chain continues after it)"
            out_console.print(
                f"  {where}: {t.path.name} line {t.line_no} ({len(t.data)} bytes, not a complete record); "
                f"verified up to seq {report.last_seq}",
                highlight=False,
                markup=False,
            )
        if report.ok and report.records and not report.closed:
            out_console.print("  note: the log does not end with audit_closed (gateway running, crashed, or cut short)")
    if report.problem is not None or (strict and torn is not None):
        raise typer.Exit(1)


@contextmanager
def _output(path: Path | None, binary: bool) -> Iterator[IO[Any]]:
    if path is None:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    try:
        handle: IO[Any] = path.open("wb") if binary else path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    with handle:
        yield handle


@app.command("export")
def export_cmd(
    format_: Annotated[str, typer.Option("--format", help="jsonl (stored lines, verifiable) or csv.")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    session: SessionOption = None,
    identity: IdentityOption = None,
    upstream: UpstreamOption = None,
    tool: ToolOption = None,
    decision: DecisionOption = None,
    event: EventOption = None,
    text: TextOption = None,
    audit_dir: AuditDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Export matching records as JSON Lines or CSV."""
    if format_ not in ("jsonl", "csv"):
        fail(f"--format must be jsonl or csv, not {format_!r}")
    directory = resolve_audit_dir(audit_dir, config)
    flt = _filter(since, until, session, identity, upstream, tool, decision, event, text)
    with _output(output, binary=format_ == "jsonl") as out:
        count = (
            export_jsonl(query(directory, flt), out) if format_ == "jsonl" else export_csv(query(directory, flt), out)
        )
    if output is not None:
        out_console.print(f"exported {count} records to {output}", highlight=False)


__all__ = ["app", "resolve_audit_dir"]
