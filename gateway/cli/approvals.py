"""`mcp-gateway approvals ...`: answer pending approvals and resume paused sessions from another terminal."""

from __future__ import annotations

import getpass
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import typer
from rich.table import Table

from gateway.approvals.store import (
    AnswerOption,
    ApprovalAlreadyAnsweredError,
    ApprovalStore,
    BreakerState,
    PendingApproval,
    UnknownApprovalError,
)
from gateway.cli.common import ConfigOption, JsonOption, fail, load_or_exit, out_console, print_json

app = typer.Typer(help="Answer pending approvals from another terminal.", no_args_is_help=True)

_T = TypeVar("_T")

StateDirOption = Annotated[
    Path | None,
    typer.Option("--state-dir", help="The gateway's state folder (overrides the config).", show_default=False),
]


def _store_at(config: Path | None, state_dir: Path | None) -> ApprovalStore:
    folder = state_dir.expanduser() if state_dir is not None else load_or_exit(config).state_dir
    return ApprovalStore.in_state_dir(folder)


def _existing_store(config: Path | None, state_dir: Path | None) -> ApprovalStore:
    store = _store_at(config, state_dir)
    if not store.path.exists():
        fail(
            f"no approvals database at {store.path}; check --state-dir or gateway.state_dir in the config "
            "(it is created when the gateway first queues an approval)"
        )
    return store


def _run(fn: Callable[[], Awaitable[_T]]) -> _T:
    return anyio.run(fn)


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli:unknown"


def _age(created: float) -> str:
    seconds = max(int(time.time() - created), 0)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _approval_json(a: PendingApproval) -> dict[str, Any]:
    return a.model_dump(exclude={"args_digest", "consumed"})


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Show answered and expired approvals too.")] = False,
    json_out: JsonOption = False,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """List approvals waiting for an answer, and sessions paused by the circuit breaker."""
    store = _store_at(config, state_dir)
    approvals: list[PendingApproval] = []
    paused: list[BreakerState] = []
    # A missing database just means nothing was ever queued; don't create folders for a read.
    if store.path.exists():
        approvals = _run(lambda: store.list_pending(include_all=all_))
        paused = _run(lambda: store.list_breakers(open_only=True))
    if json_out:
        print_json(
            {"approvals": [_approval_json(a) for a in approvals], "paused_sessions": [p.model_dump() for p in paused]}
        )
        return
    if not approvals:
        out_console.print("No approvals." if all_ else "No approvals waiting.")
    else:
        table = Table(title="Approvals" if all_ else "Waiting approvals")
        for col in ("ID", "Age", "Status", "Session", "Caller", "Tool", "Arguments", "Why"):
            table.add_column(col, overflow="fold")
        for a in approvals:
            args = "\n".join(f"{k}: {v}" for k, v in a.arguments_preview.items())
            status = a.status if a.option is None else f"{a.status} ({a.option})"
            table.add_row(
                a.id, _age(a.created), status, a.session_id, a.identity, a.exposed_name, args, a.justification
            )
        out_console.print(table)
        if not all_:
            out_console.print("Answer with: mcp-gateway approvals approve ID [--session | --always] / deny ID")
    for p in paused:
        out_console.print(
            f"Session {p.session_id} is paused after {p.consecutive} denials; "
            f"resume with: mcp-gateway approvals resume {p.session_id}"
        )


@app.command("approve")
def approve(
    approval_id: Annotated[str, typer.Argument(metavar="ID", help="The approval's ID from `approvals list`.")],
    session: Annotated[
        bool, typer.Option("--session", help="Also allow identical calls for the rest of the session.")
    ] = False,
    always: Annotated[bool, typer.Option("--always", help="Add an allow rule to your policy file.")] = False,
    whole_tool: Annotated[
        bool, typer.Option("--whole-tool", help="With --session: allow the tool with any arguments.")
    ] = False,
    json_out: JsonOption = False,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Approve a waiting call."""
    if session and always:
        fail("choose one of --session and --always")
    if whole_tool and not session:
        fail("--whole-tool only applies with --session")
    option: AnswerOption = "always" if always else "session" if session else "once"
    record = _answer(config, state_dir, approval_id, approved=True, option=option, whole_tool=whole_tool, reason=None)
    if json_out:
        print_json(_approval_json(record))
        return
    scope = {"once": "once", "session": "for this session", "always": "always (the gateway writes the rule)"}[option]
    out_console.print(f"Approved {record.id} ({record.exposed_name}) {scope}.", highlight=False)


@app.command("deny")
def deny(
    approval_id: Annotated[str, typer.Argument(metavar="ID", help="The approval's ID from `approvals list`.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Told to the model with the refusal.")] = None,
    json_out: JsonOption = False,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Deny a waiting call."""
    record = _answer(config, state_dir, approval_id, approved=False, option=None, whole_tool=False, reason=reason)
    if json_out:
        print_json(_approval_json(record))
        return
    out_console.print(f"Denied {record.id} ({record.exposed_name}).", highlight=False)


def _answer(
    config: Path | None,
    state_dir: Path | None,
    approval_id: str,
    *,
    approved: bool,
    option: AnswerOption | None,
    whole_tool: bool,
    reason: str | None,
) -> PendingApproval:
    store = _existing_store(config, state_dir)

    async def run() -> PendingApproval:
        return await store.answer(
            approval_id, approved=approved, answered_by=_who(), option=option, whole_tool=whole_tool, reason=reason
        )

    try:
        return _run(run)
    except UnknownApprovalError:
        fail(f"no approval with ID {approval_id.strip().upper()}; see `mcp-gateway approvals list --all`")
    except ApprovalAlreadyAnsweredError as exc:
        fail(f"{exc}; nothing to do (call the tool again to be asked afresh)")


@app.command("resume")
def resume(
    session_id: Annotated[str, typer.Argument(metavar="SESSION", help="The paused session's ID.")],
    json_out: JsonOption = False,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Resume a session the circuit breaker paused after repeated denials."""
    store = _existing_store(config, state_dir)
    was_open = _run(lambda: store.resume(session_id))
    if json_out:
        print_json({"session_id": session_id, "was_paused": was_open})
        return
    if was_open:
        out_console.print(f"Session {session_id} resumed.", highlight=False)
    else:
        out_console.print(f"Session {session_id} was not paused; nothing to do.", highlight=False)
