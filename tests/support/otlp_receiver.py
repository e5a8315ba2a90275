"""A real, in-process OTLP/HTTP receiver for tests: decodes traces, logs and metrics with opentelemetry-proto.

Use the ``otlp_receiver`` fixture (function scope) or ``with OtlpReceiver() as rx:``; point exporters at
``rx.url`` and wait with ``rx.wait_for("spans", n, predicate)`` (a Condition with a timeout, no sleeps).
"""

from __future__ import annotations

import gzip
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["Kind", "OtlpReceiver", "Record", "closed_port_url", "otlp_receiver"]

Kind = Literal["spans", "logs", "metrics"]
Record = dict[str, Any]
_SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _val(v: AnyValue) -> Any:
    k = v.WhichOneof("value")
    if k == "kvlist_value":
        return {kv.key: _val(kv.value) for kv in v.kvlist_value.values}
    if k == "array_value":
        return [_val(x) for x in v.array_value.values]
    return getattr(v, k) if k else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _val(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


def _span(s: Any, scope: str, res: dict[str, Any]) -> Record:
    return {
        "name": s.name,
        "kind": _SPAN_KINDS.get(s.kind, str(s.kind)),
        "trace_id": s.trace_id.hex(),
        "span_id": s.span_id.hex(),
        "parent_span_id": s.parent_span_id.hex(),
        "attributes": _attrs(s.attributes),
        "status_code": s.status.code,  # 0 unset, 1 ok, 2 error
        "status_message": s.status.message,
        "events": [e.name for e in s.events],
        "scope": scope,
        "resource": res,
    }


def _log(r: Any, scope: str, res: dict[str, Any]) -> Record:
    return {
        "event_name": r.event_name,
        "body": _val(r.body),
        "severity": r.severity_text,
        "severity_number": r.severity_number,
        "attributes": _attrs(r.attributes),
        "trace_id": r.trace_id.hex(),
        "span_id": r.span_id.hex(),
        "scope": scope,
        "resource": res,
    }


def _points(m: Any, base: Record) -> list[Record]:
    kind = base["type"]
    if kind in ("sum", "gauge"):
        return [
            {
                **base,
                "attributes": _attrs(dp.attributes),
                "value": dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double,
            }
            for dp in getattr(m, kind).data_points
        ]
    if kind == "histogram":
        return [
            {
                **base,
                "attributes": _attrs(hp.attributes),
                "count": hp.count,
                "sum": hp.sum,
                "bounds": list(hp.explicit_bounds),
            }
            for hp in m.histogram.data_points
        ]
    return []


def _decode_spans(body: bytes) -> tuple[list[Record], Any]:
    req = ExportTraceServiceRequest.FromString(body)
    out: list[Record] = []
    for rs in req.resource_spans:
        res = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            out.extend(_span(s, ss.scope.name, res) for s in ss.spans)
    return out, ExportTraceServiceResponse()


def _decode_logs(body: bytes) -> tuple[list[Record], Any]:
    req = ExportLogsServiceRequest.FromString(body)
    out: list[Record] = []
    for rl in req.resource_logs:
        res = _attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            out.extend(_log(r, sl.scope.name, res) for r in sl.log_records)
    return out, ExportLogsServiceResponse()


def _decode_metrics(body: bytes) -> tuple[list[Record], Any]:
    """One record per data point: name, unit, type, attributes and value (sum/gauge) or count/sum (histogram)."""
    req = ExportMetricsServiceRequest.FromString(body)
    out: list[Record] = []
    for rm in req.resource_metrics:
        res = _attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                base = {"name": m.name, "unit": m.unit, "type": m.WhichOneof("data"), "scope": sm.scope.name}
                out.extend(_points(m, {**base, "resource": res}))
    return out, ExportMetricsServiceResponse()


_DECODERS: dict[str, tuple[Kind, Callable[[bytes], tuple[list[Record], Any]]]] = {
    "/v1/traces": ("spans", _decode_spans),
    "/v1/logs": ("logs", _decode_logs),
    "/v1/metrics": ("metrics", _decode_metrics),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: OtlpReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        rx = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        route = _DECODERS.get(self.path)
        if route is None:
            self.send_response(404)
            self.end_headers()
            return
        kind, decode = route
        records, resp = decode(body)
        out = resp.SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        with rx.cond:
            rx.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
            rx.records[kind].extend(records)
            rx.cond.notify_all()

    def log_message(self, format: str, *args: Any) -> None:
        return None


class OtlpReceiver:
    """An OTLP/HTTP collector on a loopback port. ``url`` is the base endpoint (exporters append /v1/...)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cond = threading.Condition()
        self.records: dict[Kind, list[Record]] = {"spans": [], "logs": [], "metrics": []}
        self.requests: list[Record] = []
        self._server = _Server((host, port), _Handler)
        self._server.receiver = self
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_address[1]}"

    @property
    def spans(self) -> list[Record]:
        with self.cond:
            return list(self.records["spans"])

    @property
    def logs(self) -> list[Record]:
        with self.cond:
            return list(self.records["logs"])

    @property
    def metrics(self) -> list[Record]:
        with self.cond:
            return list(self.records["metrics"])

    def wait_for(
        self,
        kind: Kind,
        n: int = 1,
        predicate: Callable[[Record], bool] | None = None,
        *,
        timeout: float = 5.0,
    ) -> list[Record]:
        """Wait until at least ``n`` records of ``kind`` match ``predicate``; return the matches.

        Raises AssertionError on timeout, listing what did arrive.
        """

        def matches() -> list[Record]:
            return [r for r in self.records[kind] if predicate is None or predicate(r)]

        with self.cond:
            if not self.cond.wait_for(lambda: len(matches()) >= n, timeout=timeout):
                got = [r.get("name") or r.get("event_name") for r in self.records[kind]]
                raise AssertionError(f"expected {n} matching {kind} within {timeout}s; got {len(got)}: {got[:50]}")
            return matches()

    def start(self) -> OtlpReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="otlp-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A running ``OtlpReceiver`` for one test."""
    with OtlpReceiver() as rx:
        yield rx


def closed_port_url(host: str = "127.0.0.1") -> str:
    """The URL of a loopback port nobody listens on (connections are refused): an unreachable collector."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"http://{host}:{port}"
