"""The grpc.aio server: every RPC of the contract served from its route, plus health,
reflection and metrics.

:class:`Gateway` reads the services from the generated descriptors, builds one generic
handler per RPC (no per-endpoint code), and owns the upstream client, the health probe and the
metrics server. Handlers raise nothing to grpc: every failure goes through
:func:`gateway.errors.to_status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeAlias

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from gateway.allocator import release_memory_periodically
from gateway.codec import Codec
from gateway.config import GatewayConfig
from gateway.errors import ConfigError, GatewayError, UpstreamStatusError, classify, to_status
from gateway.observability import Metrics, MetricsServer, RpcMetrics, request_id_var
from gateway.rules import Route, load_routes
from gateway.security import (
    Policy,
    TokenChecker,
    TokenInterceptor,
    load_tokens,
    server_credentials,
)
from gateway.transcoder import RouteTranscoder
from gateway.upstream import UpstreamClient, UpstreamSettings
from gateway.wirewriter import WireWriter
from pieces.v1 import applications_pb2, backup_pb2, os_pb2

log = logging.getLogger("gateway")

DEADLINE_MARGIN = 0.01
"""Seconds kept back from the caller's deadline so the gateway's own, detailed
DEADLINE_EXCEEDED reaches the caller before grpc's bare one."""

Context = grpc.aio.ServicerContext[Any, Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def contract_services() -> list[ServiceDescriptor]:
    """The services of the PiecesOS contract, from the generated descriptors."""
    return [
        file.services_by_name[name]
        for file in (os_pb2.DESCRIPTOR, applications_pb2.DESCRIPTOR, backup_pb2.DESCRIPTOR)
        for name in file.services_by_name
    ]


class Gateway:
    """One gateway: ``await start()`` (or ``async with``), then ``await stop()``."""

    def __init__(
        self, config: GatewayConfig, services: Iterable[ServiceDescriptor] | None = None
    ) -> None:
        self.config = config
        self.services = list(services) if services is not None else contract_services()
        self.metrics = Metrics()
        self.codec = Codec(on_unknown=self.metrics.count_unknown)
        self.wire_writer = WireWriter(self.codec)
        self.routes: list[Route] = load_routes(self.services)
        self.policy = Policy((route.method for route in self.routes), config)
        self._tokens = load_tokens(config)
        self.upstream: UpstreamClient | None = None
        self.health = HealthServicer()
        self.port = 0
        self.metrics_port = 0
        self._server: grpc.aio.Server | None = None
        self._metrics_server: MetricsServer | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._release_task: asyncio.Task[None] | None = None
        self._forward = tuple(key.lower() for key in config.forward_headers)
        self._stopping = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind, start serving, and start the health probe; raises ConfigError if unable."""
        config = self.config
        if not config.listen_is_loopback and config.insecure and not config.tls:
            log.warning(
                "SERVING %s WITHOUT TLS OR AUTHENTICATION (--insecure): anyone who can reach "
                "this address can drive PiecesOS",
                config.listen,
            )
        self.upstream = UpstreamClient(
            UpstreamSettings(
                base_url=config.upstream,
                max_connections=config.upstream_max_connections,
                max_response_bytes=config.max_response_bytes,
            )
        )
        interceptors = [TokenInterceptor(TokenChecker(self._tokens))] if self._tokens else []
        server = grpc.aio.server(
            interceptors=interceptors,
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ],
        )
        server.add_generic_rpc_handlers(self._generic_handlers())
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = [service.full_name for service in self.services]
        reflection.enable_server_reflection(
            [
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        try:
            if config.tls:
                self.port = server.add_secure_port(config.listen, server_credentials(config))
            else:
                self.port = server.add_insecure_port(config.listen)
        except RuntimeError as exc:
            raise ConfigError(f"--listen {config.listen}: cannot bind ({exc})") from None
        await server.start()
        self._server = server
        if config.metrics_listen:
            host, _, port = config.metrics_listen.rpartition(":")
            self._metrics_server = MetricsServer(self.metrics, host.strip("[]"), int(port))
            await self._metrics_server.start()
            self.metrics_port = self._metrics_server.port
        await self._probe_once()
        self._probe_task = asyncio.create_task(self._probe_forever(), name="health-probe")
        if config.memory_release_interval:
            self._release_task = asyncio.create_task(
                release_memory_periodically(config.memory_release_interval),
                name="release-memory",
            )
        log.info(
            "serving %d RPCs on %s (port %d) in front of %s",
            len(self.routes),
            config.listen,
            self.port,
            config.upstream,
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let open ones finish for ``grace`` seconds, then close."""
        if self._stopping:
            return
        self._stopping = True
        await self.health.enter_graceful_shutdown()
        for task in (self._probe_task, self._release_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            await self._server.stop(self.config.shutdown_grace if grace is None else grace)
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        if self.upstream is not None:
            await self.upstream.aclose()
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop(grace=0)

    # --- health ----------------------------------------------------------------------------

    async def _probe_once(self) -> bool:
        assert self.upstream is not None
        up = await self.upstream.probe(
            self.config.health_path, within=min(self.config.health_interval, 2.0)
        )
        if self._stopping:
            return up
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if up
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *(service.full_name for service in self.services)):
            await self.health.set(name, status)
        self.metrics.upstream_up.set(1 if up else 0)
        return up

    async def _probe_forever(self) -> None:
        last: bool | None = None
        while True:
            await asyncio.sleep(self.config.health_interval)
            try:
                up = await self._probe_once()
            except Exception:
                log.exception("health probe failed")
                continue
            if up != last:
                log.log(
                    logging.INFO if up else logging.WARNING,
                    "PiecesOS at %s is %s",
                    self.config.upstream,
                    "answering" if up else "NOT answering",
                )
                last = up

    # --- handlers --------------------------------------------------------------------------

    def _generic_handlers(self) -> list[grpc.GenericRpcHandler]:
        handlers: dict[str, dict[str, Handler]] = {}
        for route in self.routes:
            service = route.method.containing_service.full_name
            handlers.setdefault(service, {})[route.name] = self._handler(route)
        return [
            grpc.method_handlers_generic_handler(service, methods)
            for service, methods in handlers.items()
        ]

    def _handler(self, route: Route) -> Handler:
        transcoder = RouteTranscoder(route, self.codec, self.wire_writer)
        rpc_metrics = self.metrics.for_rpc(route.name, route.describe())
        deserialize = route.request_class.FromString
        if not self.policy.allowed(route.method):
            return self._denying_handler(route, rpc_metrics)
        # The behaviours answer serialized messages (see gateway.transcoder): no serializer.
        if route.streaming:
            return grpc.unary_stream_rpc_method_handler(
                self._stream_behaviour(transcoder, rpc_metrics),
                request_deserializer=deserialize,
            )
        return grpc.unary_unary_rpc_method_handler(
            self._unary_behaviour(transcoder, rpc_metrics),
            request_deserializer=deserialize,
        )

    def _denying_handler(self, route: Route, rpc_metrics: RpcMetrics) -> Handler:
        status = to_status(self.policy.denial(route.method))

        async def deny(request: Message, context: Context) -> Message:
            rpc_metrics.finished(grpc.StatusCode.PERMISSION_DENIED, time.perf_counter())
            await context.abort_with_status(status)
            raise AssertionError("unreachable")

        return grpc.unary_unary_rpc_method_handler(
            deny,
            request_deserializer=route.request_class.FromString,
            response_serializer=route.response_class.SerializeToString,
        )

    def _unary_behaviour(self, transcoder: RouteTranscoder, rpc_metrics: RpcMetrics) -> Any:
        upstream = self._require_upstream()
        default_timeout = self.config.upstream_timeout

        async def handle(request: Message, context: Context) -> bytes:
            started = time.perf_counter()
            headers = self._start_call(context)
            upstream_started = started
            try:
                outgoing = transcoder.request_for(request)
                deadline = _deadline(context, default_timeout)
                upstream_started = time.perf_counter()
                answer = await upstream.request(
                    outgoing.method,
                    outgoing.path,
                    body=outgoing.body,
                    headers=headers,
                    deadline=deadline,
                )
                rpc_metrics.upstream(answer.status, upstream_started)
                response = transcoder.decode_response(
                    answer.status, answer.content_type, answer.body
                )
            except Exception as exc:
                if isinstance(exc, UpstreamStatusError):
                    rpc_metrics.upstream(exc.status_code, upstream_started)
                await self._fail(context, exc, rpc_metrics, started)
                raise AssertionError("unreachable") from exc
            rpc_metrics.finished(grpc.StatusCode.OK, started)
            return response

        return handle

    def _stream_behaviour(self, transcoder: RouteTranscoder, rpc_metrics: RpcMetrics) -> Any:
        upstream = self._require_upstream()
        max_object = self.config.max_message_bytes

        async def handle(request: Message, context: Context) -> AsyncIterator[bytes]:
            started = time.perf_counter()
            headers = self._start_call(context)
            rpc_metrics.in_flight.inc()
            sent = 0
            try:
                outgoing = transcoder.request_for(request)
                deadline = _deadline(context, None)
                async with upstream.stream(
                    outgoing.method,
                    outgoing.path,
                    body=outgoing.body,
                    headers=headers,
                    deadline=deadline,
                ) as answer:
                    rpc_metrics.upstream(answer.status, started)
                    decoder = transcoder.stream(answer.content_type, max_object)
                    async for chunk in answer.chunks():
                        for message in decoder.feed(chunk):
                            yield message
                            sent += 1
                    for message in decoder.close():
                        yield message
                        sent += 1
            except asyncio.CancelledError:
                rpc_metrics.finished(grpc.StatusCode.CANCELLED, started)
                log.debug("%s cancelled by the caller after %d messages", rpc_metrics.rpc, sent)
                raise
            except Exception as exc:
                if isinstance(exc, UpstreamStatusError):
                    rpc_metrics.upstream(exc.status_code, started)
                await self._fail(context, exc, rpc_metrics, started, sent=sent)
            else:
                rpc_metrics.finished(grpc.StatusCode.OK, started)
            finally:
                rpc_metrics.in_flight.dec()
                rpc_metrics.messages.inc(sent)

        return handle

    def _start_call(self, context: Context) -> dict[str, str]:
        """Pick the request id and the metadata forwarded upstream as headers."""
        headers: dict[str, str] = {}
        forward = self._forward
        for key, value in context.invocation_metadata() or ():
            if key in forward and isinstance(value, str):
                headers[key] = value
        request_id = headers.get("x-request-id")
        if request_id is None:
            request_id = secrets.token_hex(16)
            if "x-request-id" in forward:
                headers["x-request-id"] = request_id
        request_id_var.set(request_id)
        return headers

    async def _fail(
        self,
        context: Context,
        exc: BaseException,
        rpc_metrics: RpcMetrics,
        started: float,
        *,
        sent: int | None = None,
    ) -> None:
        failure = classify(exc)
        if isinstance(exc, GatewayError):
            log.log(
                logging.INFO if failure.code != grpc.StatusCode.INTERNAL else logging.WARNING,
                "%s failed: %s %s%s",
                rpc_metrics.rpc,
                failure.code.name,
                failure.message,
                "" if sent is None else f" (after {sent} messages)",
            )
        else:
            log.exception("%s failed unexpectedly", rpc_metrics.rpc)
        rpc_metrics.finished(failure.code, started)
        await context.abort_with_status(to_status(exc))

    def _require_upstream(self) -> UpstreamClient:
        if self.upstream is None:
            raise RuntimeError("handlers are built by start()")
        return self.upstream


def _deadline(context: Context, default_timeout: float | None) -> float | None:
    """The upstream deadline (time.monotonic()) for the call's time remaining."""
    remaining = context.time_remaining()
    if remaining is None:
        return None if default_timeout is None else time.monotonic() + default_timeout
    return time.monotonic() + max(remaining - DEADLINE_MARGIN, 0.0)
