"""An HTTP/1.1 keep-alive transport for httpx, parsed by httptools (llhttp).

PiecesOS listens on plain HTTP on the loopback, and the gateway pays for every microsecond its
HTTP client spends per request. httpx's default transport (httpcore) costs about a millisecond
of CPU per request there; :class:`HTTP1Transport` does only what the gateway needs, with the
parsing done in C:

- plain ``http://`` URLs, HTTP/1.1 with keep-alive and a bounded connection pool
  (``httpx.Limits``: ``max_connections``, ``max_keepalive_connections``, ``keepalive_expiry``);
- Content-Length, chunked and close-delimited response bodies, streamed with flow control
  (reading from the socket pauses while more than :data:`HIGH_WATER` bytes wait unread);
- request bodies of known length, or chunked when the request stream has no length;
- httpx's timeout extension (``connect``, ``read``, ``pool``; ``write`` is not enforced: request
  bodies are handed to the socket buffer whole).

No TLS, proxies, HTTP/2, redirects or decompression. It raises httpx's exceptions:
``ConnectError``/``ConnectTimeout`` (cannot connect), ``PoolTimeout`` (no free connection in
time), ``ReadTimeout``, ``ReadError`` (the connection failed), ``RemoteProtocolError`` (the
server closed early or sent something that is not HTTP/1.1) and ``UnsupportedProtocol``.

A request on a kept-alive connection that the server had already closed is sent once more on a
new connection when its method is idempotent and nothing of an answer arrived.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable
from typing import Any

import httptools
import httpx

HIGH_WATER = 256 * 1024
"""Unread body bytes at which the transport stops reading from the socket."""

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


class _Connection(asyncio.Protocol):
    """One TCP connection and the answer being read on it (httptools calls the ``on_*``)."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.error: Exception | None = None
        self.paused = False
        self.active = False
        self.idle_since = 0.0
        self._reset(head_only=False)

    def _reset(self, *, head_only: bool) -> None:
        self.head_only = head_only
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.until_close = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.received = False

    def begin(self, data: bytes, *, head_only: bool) -> None:
        """Start an exchange: forget the last answer and send ``data`` (head and body)."""
        self._reset(head_only=head_only)
        self.active = True
        assert self.transport is not None
        self.transport.write(data)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.active or self.complete:
            # Bytes nobody asked for: the connection can no longer be trusted.
            self.close()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP/1.1 answer: {exc}"))
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = httpx.ReadError(str(exc) or type(exc).__name__)
        self._wake()
        # Break the cycles through the parser (it holds our on_* methods) and the transport,
        # so a closed connection is freed at once rather than by the cyclic collector: after a
        # burst, objects waiting for it pin the allocator's memory.
        self.parser = None  # type: ignore[assignment]
        self.transport = None

    # httptools callbacks

    def on_status(self, reason: bytes) -> None:
        self.reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            # An informational answer (100 Continue): the real one follows.
            self.headers = []
            return
        self.status = status
        self.head_done = True
        self.until_close = self._delimited_by_close()
        if self.head_only:
            self.complete = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True
            # Asked here: once the parser moves past the message it answers False.
            self.keep_alive = self.parser.should_keep_alive()

    # used by the transport

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self.close()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def wait(self, read_timeout: float | None) -> Awaitable[None]:
        """Wait until more of the answer arrives, or the connection ends.

        Without a read timeout this is the bare future: a waiting stream holds no coroutine.
        """
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        if read_timeout is None:
            return waiter
        return self._wait_at_most(waiter, read_timeout)

    async def _wait_at_most(self, waiter: asyncio.Future[None], read_timeout: float) -> None:
        try:
            async with asyncio.timeout(read_timeout):
                await waiter
        except TimeoutError:
            raise httpx.ReadTimeout(
                f"no data from {self.key[0]}:{self.key[1]} for {read_timeout} s"
            ) from None

    def take_body(self) -> bytes:
        """The body bytes received so far, as one piece; resumes reading if it was paused."""
        body = self.body
        piece = body[0] if len(body) == 1 else b"".join(body)
        self.body = []
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return piece

    def take_headers(self) -> list[tuple[bytes, bytes]]:
        """The answer's header list, handed over: the connection keeps no reference to it."""
        headers = self.headers
        self.headers = []
        return headers

    def _delimited_by_close(self) -> bool:
        """True when the answer's body ends when the connection does (no length, not chunked)."""
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                return False
        return self.status not in (204, 304)

    def reusable(self) -> bool:
        return self.complete and not self.closed and self.error is None and self.keep_alive

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _ResponseStream(httpx.AsyncByteStream):
    """The body of one answer; closing it early closes the connection."""

    def __init__(self, pool: HTTP1Transport, connection: _Connection, read: float | None) -> None:
        self._pool = pool
        self._connection = connection
        self._read_timeout = read
        self._released = False

    def __aiter__(self) -> _ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        # A plain iterator rather than an async generator: every open stream would otherwise
        # keep a generator frame (and the event loop's weak reference to it).
        connection = self._connection
        if self._released:
            raise StopAsyncIteration
        try:
            while True:
                if connection.body:
                    return connection.take_body()
                if connection.complete:
                    break
                if connection.error is not None:
                    raise connection.error
                if connection.closed:
                    if connection.head_done and connection.until_close:
                        break
                    raise httpx.RemoteProtocolError(
                        "peer closed connection without sending complete message body"
                    )
                await connection.wait(self._read_timeout)
        except BaseException:
            self._release()
            raise
        self._release()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._connection)


class HTTP1Transport(httpx.AsyncBaseTransport):
    """A keep-alive HTTP/1.1 transport for plain ``http://``; see the module docstring."""

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._max = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._connecting = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._reaper: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def connections(self) -> tuple[int, int]:
        """(open connections, of which idle in the pool)."""
        return len(self._open), sum(len(idle) for idle in self._idle.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(
                f"this transport speaks plain http:// only, not {url.scheme}://"
            )
        if self._closed:
            raise RuntimeError("the transport has been closed")
        key = (url.host, url.port or 80)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        data = await _serialize(request)
        head_only = request.method == "HEAD"
        retry = request.method in IDEMPOTENT
        while True:
            connection, reused = await self._acquire(key, timeouts)
            try:
                connection.begin(data, head_only=head_only)
                await self._read_head(connection, timeouts.get("read"))
            except (httpx.RemoteProtocolError, httpx.ReadError):
                self._release(connection)
                if retry and reused and not connection.received:
                    retry = False  # the server had closed a kept-alive connection: once more
                    continue
                raise
            except BaseException:
                self._release(connection)
                raise
            break
        return httpx.Response(
            connection.status,
            # Handed over, so that neither a kept-alive connection nor an open stream holds a
            # second copy of the head: httpx.Headers keeps its own.
            headers=connection.take_headers(),
            stream=_ResponseStream(self, connection, timeouts.get("read")),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
        )

    async def _read_head(self, connection: _Connection, read_timeout: float | None) -> None:
        while not connection.head_done:
            if connection.error is not None:
                raise connection.error
            if connection.closed:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            await connection.wait(read_timeout)

    async def _acquire(
        self, key: tuple[str, int], timeouts: dict[str, Any]
    ) -> tuple[_Connection, bool]:
        """A kept-alive connection to ``key`` if one is idle, else a new one within the limit."""
        deadline = None
        while True:
            idle = self._idle.get(key)
            now = time.monotonic()
            while idle:
                connection = idle.pop()
                if not connection.closed and (
                    self._expiry is None or now - connection.idle_since < self._expiry
                ):
                    return connection, True
                self._discard(connection)
            if self._max is None or len(self._open) + self._connecting < self._max:
                return await self._connect(key, timeouts.get("connect")), False
            pool_timeout = timeouts.get("pool")
            if deadline is None and pool_timeout is not None:
                deadline = now + pool_timeout
            await self._wait_for_room(key, deadline)

    async def _wait_for_room(self, key: tuple[str, int], deadline: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if deadline is None:
                await waiter
            else:
                async with asyncio.timeout(deadline - time.monotonic()):
                    await waiter
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"no connection to {key[0]}:{key[1]} became free in time ({self._max} are in use)"
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    async def _connect(self, key: tuple[str, int], connect_timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        self._connecting += 1  # holds a place in the pool while connecting
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(lambda: _Connection(key), *key)
        except BaseException as exc:
            self._wake_one()
            if isinstance(exc, TimeoutError):
                raise httpx.ConnectTimeout(
                    f"connecting to {key[0]}:{key[1]} took longer than {connect_timeout} s"
                ) from None
            if isinstance(exc, OSError):
                raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
            raise
        finally:
            self._connecting -= 1
        self._open.add(connection)
        return connection

    def _release(self, connection: _Connection) -> None:
        """Return a connection after an exchange: to the pool if reusable, else close it."""
        connection.active = False
        if self._closed or not connection.reusable() or connection.body:
            self._discard(connection)
            return
        idle = self._idle.setdefault(connection.key, [])
        if self._max_idle is not None and self.connections[1] >= self._max_idle:
            self._discard(connection)
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)
        if self._reaper is None and self._expiry is not None:
            self._reaper = asyncio.get_running_loop().call_later(self._expiry, self._reap)
        self._wake_one()

    def _reap(self) -> None:
        """Close connections idle for longer than the keep-alive expiry."""
        self._reaper = None
        assert self._expiry is not None
        oldest = time.monotonic() - self._expiry
        for idle in self._idle.values():
            expired = [c for c in idle if c.closed or c.idle_since <= oldest]
            for connection in expired:
                idle.remove(connection)
                self._discard(connection)
        if any(self._idle.values()):
            self._reaper = asyncio.get_running_loop().call_later(self._expiry / 2, self._reap)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        if connection in self._open:
            self._open.discard(connection)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(httpx.PoolTimeout("the transport was closed"))
        self._waiters.clear()


async def _serialize(request: httpx.Request) -> bytes:
    """The request's head and body, ready to write (chunked when its length is unknown)."""
    head = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    chunked = False
    for name, value in request.headers.raw:
        head += (name, b": ", value, b"\r\n")
        if name.lower() == b"transfer-encoding":
            chunked = True
    head.append(b"\r\n")
    if not chunked:
        return b"".join(head) + await request.aread()
    async for chunk in request.stream:  # type: ignore[union-attr]
        if chunk:
            head += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
    head.append(b"0\r\n\r\n")
    return b"".join(head)
