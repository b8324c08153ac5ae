"""The ``Simulator``: an aiohttp server of the PiecesOS routes on a loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Self, cast

from aiohttp import web

from gateway.simulator.api import PiecesApi
from gateway.simulator.config import FaultConfig, SimulatorConfig
from gateway.simulator.control import Control
from gateway.simulator.faults import FaultInjector, text_response
from gateway.simulator.routes import ROUTE_NAMES, ROUTES, Route
from gateway.simulator.state import ApiError, SimulatorState
from gateway.simulator.stats import SimulatorStats
from gateway.simulator.streaming import RECORD, StreamedRestore
from gateway.simulator.validation import InvalidBody

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NOT_FOUND: Final = "Route not found"


HEALTH_PATH = "/.well-known/health"


class Simulator:
    """A stateful simulator of the PiecesOS REST API.

    ``await start()`` binds ``config.host``/``config.port`` (port 0 picks a free one);
    ``url`` then tells where it listens. ``state``, ``faults`` and ``stats`` are live: change
    them in-process or through the control endpoint (see ``control``).
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self.faults = FaultConfig()
        self.faults.copy_from(self.config.faults)
        self.injector = FaultInjector(self.faults)
        self.state = SimulatorState.from_config(self.config)
        self.stats = SimulatorStats(
            ROUTE_NAMES, self.config.request_log_size, self._count_connections
        )
        self.stopping = False
        self.streaming: set[asyncio.Task[Any]] = set()
        """Handler tasks of the streamed restores in progress (cancelled by ``stop``)."""
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.app = self._build_app()

    # Life cycle.

    async def start(self) -> None:
        """Listen on the configured address; raise ``OSError`` if it cannot be bound."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.config.host, self.config.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        await runner.setup()
        try:
            await web.SockSite(runner, sock, backlog=1024).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.stopping = False
        self._runner = runner
        self._port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        runner, self._runner = self._runner, None
        if runner is not None:
            self.stopping = True
            for task in list(self.streaming):
                task.cancel()
            await runner.cleanup()

    async def serve_forever(self) -> None:
        """Start, then wait until cancelled; stop on the way out."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The port listened on; raise ``RuntimeError`` before ``start``."""
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:43123``."""
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def reset(self) -> None:
        """State, faults and stats back to how the simulator started."""
        self.state = SimulatorState.from_config(self.config)
        self.faults.copy_from(self.config.faults)
        self.injector.reseed()
        self.stats.clear()

    def _count_connections(self) -> int:
        runner = self._runner
        if runner is None or runner.server is None:
            return 0
        return len(runner.server.connections)

    # Routing.

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        Control(self).add_routes(app.router)
        api = PiecesApi(self)
        streamed = StreamedRestore(self)
        for route in ROUTES:
            handler: Handler = streamed
            if route.handler != "restore_streamed":
                handler = cast(Handler, getattr(api, route.handler))
            app.router.add_route(route.method, route.template, self._instrument(route, handler))
        app.router.add_get(HEALTH_PATH, self._health)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _health(self, request: web.Request) -> web.StreamResponse:
        """PiecesOS's liveness route; like the control routes, it is not counted as API."""
        return text_response(200, "ok")

    def _instrument(self, route: Route, handler: Handler) -> Handler:
        """Wrap ``handler`` with counting, fault injection and error answers."""
        name, template = route.name, route.template
        stats = self.stats
        faults = self.faults

        async def endpoint(request: web.Request) -> web.StreamResponse:
            record = stats.record(request.method, request.raw_path, name, request.transport)
            request[RECORD] = record
            if faults.active and faults.applies_to(name, template, request.path):
                response = await self._with_faults(request, handler)
            else:
                try:
                    response = await handler(request)
                except ApiError as exc:
                    response = text_response(exc.status, exc.message)
                except InvalidBody as exc:
                    response = text_response(400, str(exc))
            record.status = response.status
            return response

        return endpoint

    async def _with_faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        faults = self.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        error = self.injector.error()
        if error is not None:
            return error
        try:
            response = await handler(request)
        except ApiError as exc:
            return text_response(exc.status, exc.message)
        except InvalidBody as exc:
            return text_response(400, str(exc))
        if isinstance(response, web.Response) and not response.prepared:
            return await self.injector.apply_to_body(request, response)
        return response

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        record = self.stats.record(request.method, request.raw_path, None, request.transport)
        record.status = 404
        return text_response(404, NOT_FOUND)
