"""Metrics, logs and request ids.

:class:`Metrics` owns a private Prometheus registry (so several gateways can live in one
process) and hands out per-RPC :class:`RpcMetrics` whose label children are resolved once at
start-up, keeping label look-ups off the hot path. :class:`MetricsServer` serves the registry
over HTTP on its own port. :func:`configure_logging` sets up human or JSON logs that carry the
request id of the call being served.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class RpcMetrics:
    """The metric children of one RPC."""

    def __init__(self, metrics: Metrics, rpc: str, route: str) -> None:
        self._metrics = metrics
        self.rpc = rpc
        self.route = route
        self._calls: dict[str, Any] = {}
        self._upstream: dict[int, Any] = {}
        self.duration = metrics.rpc_duration.labels(rpc=rpc)
        self.in_flight = metrics.streams_in_flight.labels(rpc=rpc)
        self.messages = metrics.stream_messages.labels(rpc=rpc)

    def finished(self, code: grpc.StatusCode, started: float) -> None:
        """Count one finished call by its gRPC code and observe its duration."""
        child = self._calls.get(code.name)
        if child is None:
            child = self._calls[code.name] = self._metrics.rpcs.labels(rpc=self.rpc, code=code.name)
        child.inc()
        self.duration.observe(time.perf_counter() - started)

    def upstream(self, status: int, started: float) -> None:
        """Observe one upstream exchange; ``status`` 0 means no HTTP answer."""
        child = self._upstream.get(status)
        if child is None:
            child = self._upstream[status] = self._metrics.upstream_duration.labels(
                route=self.route, status=str(status) if status else "none"
            )
        child.observe(time.perf_counter() - started)


class Metrics:
    """Every metric the gateway exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rpcs = Counter(
            "pieces_gateway_rpcs",
            "gRPC calls handled, by RPC and gRPC status code",
            ["rpc", "code"],
            registry=self.registry,
        )
        self.rpc_duration = Histogram(
            "pieces_gateway_rpc_duration_seconds",
            "time from a call's arrival to its last message, by RPC",
            ["rpc"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_duration = Histogram(
            "pieces_gateway_upstream_duration_seconds",
            "time to PiecesOS's answer headers and body, by route and HTTP status",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.streams_in_flight = Gauge(
            "pieces_gateway_streams_in_flight",
            "server-streaming calls open now",
            ["rpc"],
            registry=self.registry,
        )
        self.stream_messages = Counter(
            "pieces_gateway_stream_messages",
            "messages sent on server-streaming calls",
            ["rpc"],
            registry=self.registry,
        )
        self.unknown = Counter(
            "pieces_gateway_unknown_json",
            "JSON keys or enum strings from PiecesOS that the contract does not know",
            ["kind", "type"],
            registry=self.registry,
        )
        self.upstream_up = Gauge(
            "pieces_gateway_upstream_up",
            "1 while the last health probe of PiecesOS got an answer",
            registry=self.registry,
        )

    def for_rpc(self, rpc: str, route: str) -> RpcMetrics:
        return RpcMetrics(self, rpc, route)

    def count_unknown(self, kind: str, type_name: str, key: str) -> None:
        """Hook for the codec: count (and debug-log) an unknown key or enum string."""
        self.unknown.labels(kind=kind, type=type_name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """Serves ``GET /metrics`` for Prometheus on its own HTTP port."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self._metrics = metrics
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_port=False)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _serve(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics.render(), headers={"content-type": CONTENT_TYPE_LATEST}
        )


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
        "message",
        "request_id",
        "asctime",
    }

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in vars(record).items():
            if key not in self.RESERVED:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(fmt: str = "human", level: str = "info") -> None:
    """Route the gateway's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO; the gateway's own metrics and logs already cover them.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)
