"""``AuditLog``: the gateway's tamper-evident audit sink (an ``EventSink``).

Records are built by a processor chain ending in structlog's ``JSONRenderer`` (fields -> redact -> ordered
record -> JSON), sealed with their hash (see ``gateway.audit.chain``) and appended to the current file.

Ordering: ``emit`` queues the record synchronously (no await in between), and records get their ``seq`` and
``prev`` when they are built, in queue order, so the chain follows the order ``emit`` was called. A durable
record builds everything queued before it; non-durable ones are built by the background flusher (when it runs)
after the caller has moved on, which keeps their cost off a tool call's response path.

Durability: ``emit(..., durable=True)`` returns only after the record (and everything before it) was
written and, with ``fsync: true``, fsynced. Without fsync and without a rotation due, that write is a single
append on the event loop (page cache, microseconds); file opening, rotation and fsync run in a worker thread.
Non-durable records reach the file within the flusher's interval, or with the next durable record,
rotation or ``aclose()``.

Failure: if a write fails, ``emit`` raises ``AuditError`` (client-safe message; the OS error goes to
the ``gateway.audit`` log), ``healthy`` turns False, and the unwritten records stay queued in order:
the next emit retries them, so the chain stays gap-free once the disk recovers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import orjson
import structlog
from anyio import to_thread

from gateway.audit.chain import RESERVED_KEYS, format_ts, sealed
from gateway.audit.events import AUDIT_CLOSED
from gateway.audit.files import AuditFiles, PendingLine, WriteFailed
from gateway.audit.privacy import dumps_bytes, orjson_default
from gateway.audit.settings import AuditSettings
from gateway.errors import AuditError
from gateway.intercept.call import resolve_fields

__all__ = ["AuditLog", "Redactor"]

Redactor = Callable[[Any], Any]
"""Applied to every record's fields (a dict) before writing; returns the redacted fields."""

_log = logging.getLogger("gateway.audit")


class AuditLog:
    """Append-only, hash-chained JSON Lines audit log in ``directory``.

    Use as ``async with AuditLog(dir, settings) as audit: await audit.emit(...)``, or call
    ``open()`` / ``aclose()``. ``emit`` opens lazily if needed.
    """

    def __init__(
        self,
        directory: Path,
        settings: AuditSettings | None = None,
        *,
        redact: Redactor | None = None,
        clock: Callable[[], datetime] | None = None,
        close_record: bool = True,
    ) -> None:
        self.directory = directory
        self.settings = settings or AuditSettings()
        self._redact = redact
        self._clock = clock or functools.partial(datetime.now, UTC)  # no Python frame per record
        self._close_record = close_record
        self._files = AuditFiles(directory, self.settings.rotation, fsync_on_rotate=self.settings.fsync)
        # The record is rendered by structlog's JSONRenderer, called directly (a bound logger's per-call context
        # copying would cost more than building the record itself), with orjson as its serializer; values orjson
        # cannot take go through ``dumps_bytes`` instead (see ``_append``).
        self._renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps, default=orjson_default)
        self._open_lock = anyio.Lock()
        self._write_lock = anyio.Lock()
        self._unbuilt: list[tuple[str, Mapping[str, Any], datetime]] = []  # emitted, not yet given a seq
        self._pending: list[PendingLine] = []  # built, not yet written
        self._background = False
        # An asyncio event, set once per batch: anyio's costs several times more, and batches are per call.
        self._wake = asyncio.Event()  # a non-durable record is waiting to be written
        self._opened = False
        self._closed = False
        self._seq = 0
        self._prev = ""
        self._written_seq = 0
        self._synced_seq = 0
        self.healthy = True
        """False after a write failed, until a later write succeeds."""

    @property
    def seq(self) -> int:
        """The seq of the last record emitted (written, built or still queued)."""
        return self._seq + len(self._unbuilt)

    @property
    def current_file(self) -> Path | None:
        """The file being appended to (None before the first write)."""
        return self._files.path

    async def open(self) -> None:
        """Create the directory and resume the chain from the last complete record on disk."""
        async with self._open_lock:
            if self._opened:
                return
            try:
                head = await to_thread.run_sync(self._files.resume)
            except (OSError, ValueError) as exc:
                self.healthy = False
                _log.error("audit log cannot be opened in %s: %s", self.directory, exc)
                raise AuditError(detail=str(exc)) from None
            self._seq = self._written_seq = self._synced_seq = head.seq
            self._prev = head.prev
            self._opened = True

    async def __aenter__(self) -> AuditLog:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def emit(self, event: str, fields: Mapping[str, Any], *, durable: bool = False) -> None:
        """Record ``event`` with ``fields``. ``durable=True``: on disk (fsynced if configured) before returning.

        Raises ``AuditError`` when the record cannot be written, ``ValueError`` when ``fields``
        uses a reserved key (seq, ts, event, prev, hash).
        """
        if self._closed:
            raise AuditError(detail="emit after aclose()")
        if not self._opened:
            await self.open()
        if not RESERVED_KEYS.isdisjoint(fields):
            raise ValueError(f"audit fields may not use the reserved keys {sorted(RESERVED_KEYS.intersection(fields))}")
        self._unbuilt.append((event, fields, self._clock()))
        if not durable and self._background:
            # The background flusher builds and writes it shortly, in order (after the response to the client
            # has gone out); only durable records are built and written before emit returns.
            if len(self._unbuilt) == 1:  # the first of a batch wakes the flusher and schedules the build
                self._wake.set()
                self._build_soon()
            return
        seq = self._build_all()
        await self._drain(seq, durable=durable)

    async def run_flusher(self, interval: float = 0.02) -> None:
        """Write non-durable records in the background (run as a task for the log's lifetime).

        Without it every record is written before ``emit`` returns. With it, non-durable records
        (``call_received``, ``tool_result``, ...) reach the file within ``interval`` or with the next
        durable record, whichever comes first, and cost the caller no disk round trip.
        """
        self._background = True
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await anyio.sleep(interval)
                try:
                    await self.flush(durable=False)
                except AuditError:
                    _log.debug("background audit flush failed; records stay queued and are retried")
        finally:
            self._background = False
            with anyio.CancelScope(shield=True):
                try:
                    await self.flush(durable=False)
                except AuditError:
                    _log.debug("final background audit flush failed; aclose() reports it")

    def _build_soon(self) -> None:
        """Build the queued records once the emitting task has moved on (written its request or its response), so
        the next durable record, which must build everything before it, finds nothing left over.

        A plain callback on the next loop turn: the emitting task's step (emit, then write and wait) has ended by
        then, and no task is woken per batch (tool calls emit two batches each).
        """
        asyncio.get_running_loop().call_soon(self._build_queued)

    def _build_queued(self) -> None:
        if self._unbuilt and not self._closed:
            self._build_all()

    async def flush(self, *, durable: bool = True) -> None:
        """Write everything queued (and fsync it when ``durable`` and configured)."""
        if self._opened:
            await self._drain(self._build_all(), durable=durable)

    async def aclose(self) -> None:
        """Write an ``audit_closed`` record (marks a clean end), flush, fsync and close the file."""
        if self._closed or not self._opened:
            self._closed = True
            return
        try:
            if self._close_record:
                await self.emit(AUDIT_CLOSED, {}, durable=True)
            else:
                await self.flush()
        finally:
            self._closed = True
            with anyio.CancelScope(shield=True):
                async with self._write_lock:
                    try:
                        await to_thread.run_sync(self._files.close)
                    except OSError as exc:
                        _log.error("audit log close failed: %s", exc)

    # -- record building (event loop, synchronous) ---------------------------------------------

    def _build_all(self) -> int:
        """Build every queued record, in emit order; the seq of the last one."""
        unbuilt, self._unbuilt = self._unbuilt, []
        for event, fields, when in unbuilt:
            try:
                self._append(event, fields, when)
            except Exception as exc:  # noqa: BLE001 - one bad field must not lose this record or those after it
                _log.error("audit record %s could not be built: %s", event, type(exc).__name__)
                self._append(event, {"audit_error": f"fields not recordable ({type(exc).__name__})"}, when)
        return self._seq

    def _append(self, event: str, fields: Mapping[str, Any], when: datetime) -> int:
        seq = self._seq + 1
        data = resolve_fields(fields)
        if self._redact is not None and (redacted := self._redact(data)) is not data:
            # Checked only when the hook changed something (with no secret in it, it returns its argument).
            if not isinstance(redacted, Mapping):
                raise TypeError("the audit redact hook must return a mapping")
            data = redacted
            if not RESERVED_KEYS.isdisjoint(data):
                data = {k: v for k, v in data.items() if k not in RESERVED_KEYS}
        record = {"seq": seq, "ts": format_ts(when), "event": event, **data, "prev": self._prev}
        try:
            body = self._renderer(None, "msg", record)
        except TypeError:  # orjson.JSONEncodeError: unusual keys or values (dumps_bytes makes them JSON)
            body = dumps_bytes(record)
        assert isinstance(body, bytes)
        data_line, self._prev = sealed(body)
        self._seq = seq
        self._pending.append(PendingLine(seq=seq, when=when, data=data_line))
        return seq

    # -- writing (worker thread, one batch at a time) -------------------------------------------

    async def _drain(self, seq: int, *, durable: bool) -> None:
        sync = durable and self.settings.fsync
        if not sync and not self._write_lock.locked() and (not self._pending or self._files.fits(self._pending)):
            # No fsync and no new file: one append to the page cache, microseconds, done synchronously (nothing
            # can interleave). A thread hop would cost more than the write, on the path every tool call waits for.
            if self._pending:
                batch, self._pending = self._pending, []
                await self._write_batch(batch, False, inline=True)
            self.healthy = True
            return
        # Shielded: a cancelled caller must not leave the queue and the file out of step.
        with anyio.CancelScope(shield=True):
            async with self._write_lock:
                if self._pending:
                    batch, self._pending = self._pending, []
                    await self._write_batch(batch, sync)
                    if sync:
                        self._synced_seq = self._written_seq
                if sync and self._synced_seq < seq:
                    try:
                        await to_thread.run_sync(self._files.sync)
                    except OSError as exc:
                        self._failed(exc)
                    self._synced_seq = self._written_seq
                self.healthy = True

    async def _write_batch(self, batch: list[PendingLine], sync: bool, *, inline: bool = False) -> None:
        """Write ``batch`` in a worker thread, or ``inline`` on the loop (no fsync, no new file: see ``_drain``)."""
        try:
            if inline:
                self._files.append(batch)
            else:
                await to_thread.run_sync(self._files.write, batch, sync)
        except WriteFailed as exc:
            self._requeue(batch, exc)
        self._written_seq = batch[-1].seq

    def _requeue(self, batch: list[PendingLine], exc: WriteFailed) -> None:
        """Put back what was not written (in order, ahead of newer records) and report the failure."""
        self._pending[:0] = batch[exc.written :]
        self._written_seq = max(self._written_seq, batch[exc.written - 1].seq if exc.written else 0)
        self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.healthy = False
        _log.error("audit write failed in %s: %s", self.directory, exc)
        raise AuditError(detail=str(exc)) from None
