"""The approvals database: pending approvals, session grants, circuit breakers and used nonces.

One SQLite file (``<state_dir>/approvals.db``) shared by the running gateway and the CLI in another
terminal. Every call opens its own short-lived connection in a worker thread, so nothing blocks the
event loop and no connection is shared between threads; WAL mode plus a busy timeout lets the two
processes read and write at the same time. Writes that read first use ``BEGIN IMMEDIATE`` so two
answers to the same approval cannot both win.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio.to_thread
from pydantic import BaseModel, ConfigDict

__all__ = [
    "AnswerOption",
    "ApprovalAlreadyAnsweredError",
    "ApprovalStore",
    "BreakerState",
    "PendingApproval",
    "PendingStatus",
    "SessionGrant",
    "UnknownApprovalError",
    "new_approval_id",
    "normalize_approval_id",
]

PendingStatus = Literal["pending", "approved", "denied", "expired"]
AnswerOption = Literal["once", "session", "always"]

# No 0/O, 1/I/L: the ID is read off one screen and typed into another.
_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_ID_LENGTH = 8
_BUSY_TIMEOUT_S = 10.0
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    session_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    upstream TEXT NOT NULL,
    tool TEXT NOT NULL,
    exposed_name TEXT NOT NULL,
    args_digest TEXT NOT NULL,
    arguments_preview TEXT NOT NULL,
    justification TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending',
    option TEXT,
    whole_tool INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    answered_by TEXT,
    answered_at REAL,
    consumed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pending_status ON pending(status, created);
CREATE INDEX IF NOT EXISTS pending_call ON pending(session_id, upstream, tool, args_digest);
CREATE TABLE IF NOT EXISTS grants (
    session_id TEXT NOT NULL,
    upstream TEXT NOT NULL,
    tool TEXT NOT NULL,
    args_digest TEXT,
    created REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS grants_key ON grants(session_id, upstream, tool, COALESCE(args_digest, ''));
CREATE TABLE IF NOT EXISTS breakers (
    session_id TEXT PRIMARY KEY,
    consecutive INTEGER NOT NULL DEFAULT 0,
    open INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    nonce TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
"""


class UnknownApprovalError(LookupError):
    """No approval has this ID."""


class ApprovalAlreadyAnsweredError(ValueError):
    """The approval was already approved or denied."""


class PendingApproval(BaseModel):
    """One queued question for a human (arguments are a masked preview, never the raw values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    created: float
    session_id: str
    identity: str
    upstream: str
    tool: str
    exposed_name: str
    args_digest: str
    arguments_preview: dict[str, str]
    justification: str = ""
    status: PendingStatus = "pending"
    option: AnswerOption | None = None
    whole_tool: bool = False
    reason: str | None = None
    answered_by: str | None = None
    answered_at: float | None = None
    consumed: bool = False


class SessionGrant(BaseModel):
    """ "Allow for this session": ``args_digest`` None covers every call of the tool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str
    upstream: str
    tool: str
    args_digest: str | None
    created: float


class BreakerState(BaseModel):
    """Consecutive denials in one session and whether further calls are paused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str
    consecutive: int = 0
    open: bool = False


def new_approval_id() -> str:
    """A short, unambiguous, human-typable ID such as ``K7QX2M9P``."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def normalize_approval_id(value: str) -> str:
    """Accept IDs typed in lower case or with stray spaces."""
    return value.strip().upper()


def _row_to_pending(row: sqlite3.Row) -> PendingApproval:
    data = dict(row)
    data["arguments_preview"] = json.loads(data["arguments_preview"])
    data["whole_tool"] = bool(data["whole_tool"])
    data["consumed"] = bool(data["consumed"])
    return PendingApproval.model_validate(data)


class ApprovalStore:
    """Async access to ``approvals.db``. Safe to use from many tasks and from several processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False
        # One connection per worker thread, reused: opening one costs far more than the queries themselves.
        self._local = threading.local()

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> ApprovalStore:
        return cls(state_dir / "approvals.db")

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            # WAL + NORMAL: committed transactions survive a crash of this process; only power loss can cost
            # the last commits (grants and breaker counts, not the audit trail).
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        if not self._ready:
            self._create(conn)
        yield conn

    def _create(self, conn: sqlite3.Connection) -> None:
        # WAL is a property of the file: set once, every later connection (any process) uses it.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)
        self._ready = True

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    async def _run(self, fn: Callable[[], _T]) -> _T:
        return await anyio.to_thread.run_sync(fn)

    async def initialize(self) -> None:
        """Create the folder, the file and the tables if missing."""

        def run() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect():
                pass

        await self._run(run)

    # -- pending approvals ----------------------------------------------------------------------

    async def add_pending(
        self,
        *,
        session_id: str,
        identity: str,
        upstream: str,
        tool: str,
        exposed_name: str,
        args_digest: str,
        arguments_preview: dict[str, str],
        justification: str = "",
    ) -> PendingApproval:
        """Queue a question; returns it with its new ID."""
        preview = json.dumps(arguments_preview, sort_keys=True, ensure_ascii=False)

        def run() -> PendingApproval:
            with self._write() as conn:
                while True:
                    approval_id = new_approval_id()
                    try:
                        conn.execute(
                            "INSERT INTO pending (id, created, session_id, identity, upstream, tool, exposed_name,"
                            " args_digest, arguments_preview, justification) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (approval_id, time.time(), session_id, identity, upstream, tool, exposed_name,
                             args_digest, preview, justification),
                        )  # fmt: skip
                    except sqlite3.IntegrityError:
                        continue  # ID collision: draw again
                    row = conn.execute("SELECT * FROM pending WHERE id = ?", (approval_id,)).fetchone()
                    return _row_to_pending(row)

        return await self._run(run)

    async def get_pending(self, approval_id: str) -> PendingApproval | None:
        key = normalize_approval_id(approval_id)

        def run() -> PendingApproval | None:
            with self._connect() as conn:
                row = conn.execute("SELECT * FROM pending WHERE id = ?", (key,)).fetchone()
                return _row_to_pending(row) if row is not None else None

        return await self._run(run)

    async def list_pending(self, *, include_all: bool = False, limit: int = 200) -> list[PendingApproval]:
        """Waiting approvals (oldest first), or every approval with ``include_all`` (newest first)."""

        def run() -> list[PendingApproval]:
            with self._connect() as conn:
                if include_all:
                    sql = "SELECT * FROM pending ORDER BY created DESC LIMIT ?"
                else:
                    sql = "SELECT * FROM pending WHERE status = 'pending' ORDER BY created ASC LIMIT ?"
                return [_row_to_pending(r) for r in conn.execute(sql, (limit,)).fetchall()]

        return await self._run(run)

    async def answer(
        self,
        approval_id: str,
        *,
        approved: bool,
        answered_by: str,
        option: AnswerOption | None = None,
        whole_tool: bool = False,
        reason: str | None = None,
    ) -> PendingApproval:
        """Approve or deny a pending (or expired) approval.

        An expired approval may still be approved: the next identical call in that session then
        goes through without asking (see ``take_late_approval``). Raises ``UnknownApprovalError``
        or ``ApprovalAlreadyAnsweredError``.
        """
        key = normalize_approval_id(approval_id)

        def run() -> PendingApproval:
            with self._write() as conn:
                row = conn.execute("SELECT * FROM pending WHERE id = ?", (key,)).fetchone()
                if row is None:
                    raise UnknownApprovalError(key)
                if row["status"] in ("approved", "denied"):
                    raise ApprovalAlreadyAnsweredError(f"{key} was already {row['status']}")
                conn.execute(
                    "UPDATE pending SET status = ?, option = ?, whole_tool = ?, reason = ?, answered_by = ?,"
                    " answered_at = ? WHERE id = ?",
                    ("approved" if approved else "denied", (option or "once") if approved else None,
                     int(whole_tool), reason, answered_by, time.time(), key),
                )  # fmt: skip
                return _row_to_pending(conn.execute("SELECT * FROM pending WHERE id = ?", (key,)).fetchone())

        return await self._run(run)

    async def expire(self, approval_id: str) -> PendingApproval:
        """Mark a still-pending approval expired; returns the record as it now stands.

        If the CLI answered in the meantime the answer wins and is returned unchanged.
        """

        def run() -> PendingApproval:
            with self._write() as conn:
                conn.execute(
                    "UPDATE pending SET status = 'expired' WHERE id = ? AND status = 'pending'", (approval_id,)
                )
                row = conn.execute("SELECT * FROM pending WHERE id = ?", (approval_id,)).fetchone()
                if row is None:
                    raise UnknownApprovalError(approval_id)
                return _row_to_pending(row)

        return await self._run(run)

    async def consume(self, approval_id: str) -> bool:
        """Mark an approved record as used; False if it was already used."""

        def run() -> bool:
            with self._write() as conn:
                cur = conn.execute(
                    "UPDATE pending SET consumed = 1 WHERE id = ? AND status = 'approved' AND consumed = 0",
                    (approval_id,),
                )
                return cur.rowcount == 1

        return await self._run(run)

    async def take_late_approval(
        self, *, session_id: str, upstream: str, tool: str, args_digest: str
    ) -> PendingApproval | None:
        """An approval given after its call had already been denied, for exactly this call; used once."""

        def run() -> PendingApproval | None:
            with self._write() as conn:
                row = conn.execute(
                    "SELECT * FROM pending WHERE session_id = ? AND upstream = ? AND tool = ? AND args_digest = ?"
                    " AND status = 'approved' AND consumed = 0 ORDER BY answered_at ASC LIMIT 1",
                    (session_id, upstream, tool, args_digest),
                ).fetchone()
                if row is None:
                    return None
                conn.execute("UPDATE pending SET consumed = 1 WHERE id = ?", (row["id"],))
                return _row_to_pending(row)

        return await self._run(run)

    # -- session grants ------------------------------------------------------------------------

    async def add_grant(self, *, session_id: str, upstream: str, tool: str, args_digest: str | None) -> None:
        """Allow this call (or, with ``args_digest=None``, the whole tool) for the rest of the session."""

        def run() -> None:
            with self._write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO grants (session_id, upstream, tool, args_digest, created)"
                    " VALUES (?,?,?,?,?)",
                    (session_id, upstream, tool, args_digest, time.time()),
                )

        await self._run(run)

    async def has_grant(self, *, session_id: str, upstream: str, tool: str, args_digest: str) -> bool:
        def run() -> bool:
            with self._connect() as conn:
                row = conn.execute(
                    "SELECT 1 FROM grants WHERE session_id = ? AND upstream = ? AND tool = ?"
                    " AND (args_digest IS NULL OR args_digest = ?) LIMIT 1",
                    (session_id, upstream, tool, args_digest),
                ).fetchone()
                return row is not None

        return await self._run(run)

    async def list_grants(self, session_id: str | None = None) -> list[SessionGrant]:
        def run() -> list[SessionGrant]:
            with self._connect() as conn:
                sql = "SELECT session_id, upstream, tool, args_digest, created FROM grants"
                params: tuple[Any, ...] = ()
                if session_id is not None:
                    sql += " WHERE session_id = ?"
                    params = (session_id,)
                rows = conn.execute(sql + " ORDER BY created", params).fetchall()
                return [SessionGrant.model_validate(dict(r)) for r in rows]

        return await self._run(run)

    async def revoke_grants(self, session_id: str) -> int:
        """Forget every grant of a session (e.g. when it ends); returns how many."""

        def run() -> int:
            with self._write() as conn:
                return conn.execute("DELETE FROM grants WHERE session_id = ?", (session_id,)).rowcount

        return await self._run(run)

    # -- circuit breaker -----------------------------------------------------------------------

    async def record_result(self, session_id: str, *, approved: bool, threshold: int) -> BreakerState:
        """Count a denial (or reset the count on an approval); opens at ``threshold`` (0 = never)."""

        def run() -> BreakerState:
            with self._write() as conn:
                row = conn.execute(
                    "SELECT consecutive, open FROM breakers WHERE session_id = ?", (session_id,)
                ).fetchone()
                consecutive = 0 if row is None else int(row["consecutive"])
                is_open = False if row is None else bool(row["open"])
                if approved:
                    consecutive = 0
                else:
                    consecutive += 1
                    if threshold > 0 and consecutive >= threshold:
                        is_open = True
                conn.execute(
                    "INSERT INTO breakers (session_id, consecutive, open, updated) VALUES (?,?,?,?)"
                    " ON CONFLICT(session_id) DO UPDATE SET consecutive = excluded.consecutive,"
                    " open = excluded.open, updated = excluded.updated",
                    (session_id, consecutive, int(is_open), time.time()),
                )
                return BreakerState(session_id=session_id, consecutive=consecutive, open=is_open)

        return await self._run(run)

    async def breaker(self, session_id: str) -> BreakerState:
        def run() -> BreakerState:
            with self._connect() as conn:
                row = conn.execute(
                    "SELECT consecutive, open FROM breakers WHERE session_id = ?", (session_id,)
                ).fetchone()
            if row is None:
                return BreakerState(session_id=session_id)
            return BreakerState(session_id=session_id, consecutive=int(row["consecutive"]), open=bool(row["open"]))

        return await self._run(run)

    async def list_breakers(self, *, open_only: bool = True) -> list[BreakerState]:
        def run() -> list[BreakerState]:
            with self._connect() as conn:
                sql = "SELECT session_id, consecutive, open FROM breakers"
                rows = conn.execute(sql + (" WHERE open = 1" if open_only else "") + " ORDER BY updated").fetchall()
            return [BreakerState(session_id=r[0], consecutive=int(r[1]), open=bool(r[2])) for r in rows]

        return await self._run(run)

    async def resume(self, session_id: str) -> bool:
        """Close the breaker of a session; True if it was open."""

        def run() -> bool:
            with self._write() as conn:
                row = conn.execute("SELECT open FROM breakers WHERE session_id = ?", (session_id,)).fetchone()
                conn.execute(
                    "UPDATE breakers SET consecutive = 0, open = 0, updated = ? WHERE session_id = ?",
                    (time.time(), session_id),
                )
                return row is not None and bool(row["open"])

        return await self._run(run)

    # -- single-use nonces (sealed request_state) ------------------------------------------------

    async def use_nonce(self, nonce: str, *, expires: float) -> bool:
        """Record a nonce as used; False if it had been used before (a replay)."""

        def run() -> bool:
            with self._write() as conn:
                conn.execute("DELETE FROM nonces WHERE expires < ?", (time.time(),))
                try:
                    conn.execute("INSERT INTO nonces (nonce, expires) VALUES (?, ?)", (nonce, expires))
                except sqlite3.IntegrityError:
                    return False
                return True

        return await self._run(run)
