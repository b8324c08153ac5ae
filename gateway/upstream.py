"""The HTTP client that talks to PiecesOS.

One :class:`UpstreamClient` per gateway sends httpx requests through one transport:
:class:`gateway.http1.HTTP1Transport` unless told otherwise (httpx's default transport costs
several times more CPU per request). It raises only :mod:`gateway.errors` exceptions:

- ``UpstreamStatusError`` for a non-2xx answer (its plain-text body attached, truncated);
- ``UpstreamUnavailable`` when PiecesOS cannot be reached or drops the connection;
- ``UpstreamTimeout`` when the caller's deadline passes first;
- ``UpstreamStreamBroken`` when a body ends before it is complete;
- ``UpstreamTooLarge`` when a body exceeds the configured cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar, cast

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.errors import (
    UpstreamStatusError,
    UpstreamStreamBroken,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
)
from gateway.http1 import HTTP1Transport

URL_CACHE_SIZE = 4096
"""Parsed upstream URLs kept (one per distinct path; the cache is emptied when full)."""

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods whose request carries a Content-Length even when empty (as httpx sends them)."""

_T = TypeVar("_T")

ERROR_TEXT_LIMIT = 1024
"""Bytes of an upstream error body kept for the gRPC status (PiecesOS errors are short)."""


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """How to reach PiecesOS and how much to accept from it."""

    base_url: str = "http://localhost:1000"
    max_connections: int = 1024
    max_idle_connections: int = 64
    keepalive_expiry: float = 30.0
    connect_timeout: float = 5.0
    max_response_bytes: int = 64 * 1024 * 1024
    user_agent: str = "pieces-grpc-gateway"
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    transport: str = "http1"
    """``http1`` (:mod:`gateway.http1`; an ``https://`` upstream uses ``aiohttp`` instead),
    ``aiohttp`` (httpx-aiohttp) or ``httpcore`` (httpx's default, kept for comparison)."""


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A complete 2xx answer."""

    status: int
    content_type: str
    body: bytes


class _Deadline:
    """One timer for a whole streamed exchange, turning its deadline into :func:`_timeout`.

    ``asyncio.timeout`` around each read would schedule (and cancel) a timer per chunk and keep
    a Timeout, a timer and a context copy alive for every open stream. This cancels the task
    only while it awaits PiecesOS (:meth:`reading`); a deadline that passes in between is
    reported by the next read.
    """

    __slots__ = ("_task", "_timer", "expired")

    def __init__(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None
        self.expired = False
        self._timer = loop.call_at(loop.time() + (deadline - time.monotonic()), self._expire)

    def _expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._task.cancel()

    def reading(self) -> None:
        """Mark the current task as waiting for PiecesOS (cancelled if the deadline passes)."""
        self._task = asyncio.current_task()

    def done_reading(self, cancelled: bool) -> bool:
        """Stop watching; True when a cancellation being handled came from this deadline."""
        task, self._task = self._task, None
        return cancelled and self.expired and task is not None and task.uncancel() == 0

    def close(self) -> None:
        self._timer.cancel()
        self._task = None


class UpstreamStream:
    """A streamed exchange: ``async with client.stream(...) as answer`` sends the request and
    waits for a 2xx head; ``answer.chunks()`` iterates the body; leaving the block closes it
    (aborting an unfinished body).

    While the stream is open it keeps only the body stream: the request and the answer's head
    (a few KB of httpx objects for each open stream) are dropped once the head is read.
    """

    __slots__ = ("_body", "_chunks", "_client", "_deadline", "_limit", "_received", "_request",
                 "_url", "content_type", "status")  # fmt: skip

    def __init__(
        self, client: UpstreamClient, request: httpx.Request, url: str, deadline: float | None
    ) -> None:
        self.status = 0
        self.content_type = ""
        self._client = client
        self._request: httpx.Request | None = request
        self._body: httpx.AsyncByteStream | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._url = url
        self._limit = client.settings.max_response_bytes
        self._deadline = _Deadline(deadline) if deadline is not None else None
        self._received = 0

    async def __aenter__(self) -> UpstreamStream:
        request, self._request = self._request, None
        assert request is not None, "an UpstreamStream is entered once"
        try:
            response = await self._under_deadline(self._client._send(request, self._url))
            if not 200 <= response.status_code < 300:
                await self._fail_with_status(response)
        except BaseException:
            self._close_deadline()
            raise
        self.status = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self._body = cast(httpx.AsyncByteStream, response.stream)
        self._chunks = self._body.__aiter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._close_deadline()
        body, self._body = self._body, None
        self._chunks = None
        if body is not None:
            with contextlib.suppress(Exception):
                await body.aclose()

    def chunks(self) -> UpstreamStream:
        """The body's chunks as they arrive (an async iterator), each within the deadline."""
        return self

    def __aiter__(self) -> UpstreamStream:
        return self

    async def __anext__(self) -> bytes:
        chunks = self._chunks
        if chunks is None:
            raise StopAsyncIteration
        try:
            chunk = await self._under_deadline(chunks.__anext__())
        except httpx.HTTPError as exc:
            raise UpstreamStreamBroken(
                f"PiecesOS closed the stream from {self._url} before it was complete "
                f"({_describe(exc)})",
                url=self._url,
            ) from exc
        self._received += len(chunk)
        if self._received > self._limit:
            raise UpstreamTooLarge(
                f"the streamed answer from {self._url} exceeded {self._limit} bytes",
                url=self._url,
            )
        return chunk

    async def _under_deadline(self, step: Awaitable[_T]) -> _T:
        """Await one step of the exchange (sending, a chunk) within the deadline."""
        deadline = self._deadline
        if deadline is None:
            return await step
        if deadline.expired:
            _discard(step)
            raise _timeout(self._url)
        deadline.reading()
        cancelled = False
        try:
            return await step
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if deadline.done_reading(cancelled):
                raise _timeout(self._url) from None

    async def _fail_with_status(self, response: httpx.Response) -> NoReturn:
        try:
            data = await self._under_deadline(self._client._read(response, self._url))
        except (UpstreamTimeout, httpx.HTTPError):
            data = b""
        finally:
            await _close_quietly(response)
        raise UpstreamStatusError(response.status_code, _error_text(data), url=self._url)

    def _close_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.close()
            self._deadline = None


class UpstreamClient:
    """Sends REST requests to PiecesOS; see the module docstring for what it raises."""

    def __init__(self, settings: UpstreamSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=min(settings.max_idle_connections, settings.max_connections),
            keepalive_expiry=settings.keepalive_expiry,
        )
        transport: httpx.AsyncBaseTransport
        tls = self.base_url.startswith("https://")
        if settings.transport == "http1" and not tls:
            transport = HTTP1Transport(limits)
        elif settings.transport in ("http1", "aiohttp"):
            # HTTP1Transport speaks plain HTTP only: a TLS upstream goes through aiohttp.
            transport = AiohttpTransport(limits=limits, trust_env=False)
        elif settings.transport == "httpcore":
            transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
        else:
            raise ValueError(f"unknown upstream transport {settings.transport!r}")
        # Requests go straight to the transport: AsyncClient.send adds auth, redirect and
        # cookie handling this client never uses, at about 100 µs of CPU per request.
        self._transport = transport
        # Headers every request carries, Host included: given ``stream=`` rather than
        # ``content=``, httpx's Request takes its headers as they are instead of building them
        # twice and looking each automatic one up by name, which cost more than the transport.
        self._headers = {
            "host": httpx.URL(self.base_url).netloc.decode("ascii"),
            "user-agent": settings.user_agent,
            "accept": "application/json, text/plain",
            **{name.lower(): value for name, value in settings.extra_headers.items()},
        }
        self._urls: dict[str, httpx.URL] = {}
        self._extensions = {
            "timeout": httpx.Timeout(None, connect=settings.connect_timeout).as_dict()
        }

    async def aclose(self) -> None:
        await self._transport.aclose()

    def _build(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> httpx.Request:
        request_headers = {**self._headers, **headers}
        if body is not None:
            request_headers["content-type"] = "application/json"
            request_headers["content-length"] = str(len(body))
        elif method in BODY_METHODS:
            request_headers["content-length"] = "0"
        url = self._urls.get(path)
        if url is None:
            # httpx parses and validates a URL string in Python: do it once per path.
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[path] = httpx.URL(self.base_url + path)
        request = httpx.Request(
            method,
            url,
            headers=request_headers,
            stream=httpx.ByteStream(body or b""),
            extensions=self._extensions,
        )
        request.read()  # the body as ``request.content``, which transports read first
        return request

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> UpstreamResponse:
        """Send one request and read the whole answer before ``deadline`` (time.monotonic())."""
        url = self.base_url + path
        request = self._build(method, path, body, headers or {})
        try:
            async with _deadline_scope(deadline):
                response = await self._send(request, url)
                try:
                    data = await self._read(response, url)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise _timeout(url) from None
        content_type = response.headers.get("content-type", "")
        if not 200 <= response.status_code < 300:
            raise UpstreamStatusError(response.status_code, _error_text(data), url=url)
        return UpstreamResponse(response.status_code, content_type, data)

    def stream(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> UpstreamStream:
        """A streamed request, sent on ``async with``; see :class:`UpstreamStream`.

        ``deadline`` (time.monotonic()) bounds the whole exchange, every chunk included.
        """
        request = self._build(method, path, body, headers or {})
        return UpstreamStream(self, request, self.base_url + path, deadline)

    async def _send(self, request: httpx.Request, url: str) -> httpx.Response:
        """Send ``request`` and wait for the answer's head; maps transport errors."""
        try:
            return await self._transport.handle_async_request(request)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, url) from exc

    async def probe(self, path: str, *, within: float) -> bool:
        """True when PiecesOS answers ``GET path`` with any HTTP status within ``within`` s."""
        try:
            await self.request("GET", path, deadline=time.monotonic() + within)
        except UpstreamStatusError:
            return True
        except (UpstreamUnavailable, UpstreamTimeout, UpstreamStreamBroken, UpstreamTooLarge):
            return False
        return True

    async def _read(self, response: httpx.Response, url: str) -> bytes:
        limit = self.settings.max_response_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise UpstreamTooLarge(
                f"the answer from {url} is {declared} bytes, over the {limit}-byte cap", url=url
            )
        parts: list[bytes] = []
        received = 0
        try:
            async for chunk in cast(httpx.AsyncByteStream, response.stream):
                received += len(chunk)
                if received > limit:
                    raise UpstreamTooLarge(
                        f"the answer from {url} exceeded the {limit}-byte cap", url=url
                    )
                parts.append(chunk)
        except httpx.HTTPError as exc:
            raise UpstreamStreamBroken(
                f"PiecesOS closed the connection before the answer from {url} was complete "
                f"({_describe(exc)})",
                url=url,
            ) from exc
        return b"".join(parts)


def _deadline_scope(deadline: float | None) -> asyncio.Timeout:
    if deadline is None:
        return asyncio.timeout(None)
    loop = asyncio.get_running_loop()
    return asyncio.timeout_at(loop.time() + (deadline - time.monotonic()))


def _discard(step: Awaitable[object]) -> None:
    """Close a coroutine that will not be awaited (so it is not reported as never awaited)."""
    close = getattr(step, "close", None)
    if close is not None:
        close()


async def _close_quietly(response: httpx.Response) -> None:
    with contextlib.suppress(Exception):
        await response.aclose()


def _timeout(url: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"PiecesOS at {url} did not answer before the deadline", url=url)


def _error_text(data: bytes) -> str:
    text = data[:ERROR_TEXT_LIMIT].decode("utf-8", errors="replace").strip()
    if len(data) > ERROR_TEXT_LIMIT:
        text += " …"
    return text or "(empty body)"


def _causes(exc: BaseException) -> list[BaseException]:
    chain = [exc]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    return chain


def _describe(exc: BaseException) -> str:
    root = _causes(exc)[-1]
    return str(root) or type(root).__name__


def _transport_error(exc: httpx.HTTPError, url: str) -> UpstreamUnavailable:
    """Name what went wrong, from the transport's error underneath httpx's when there is one."""
    causes = _causes(exc)
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) or any(
        isinstance(e, aiohttp.ClientConnectorError) for e in causes
    ):
        return UpstreamUnavailable(
            f"cannot connect to PiecesOS at {url} ({_describe(exc)}); is PiecesOS running?",
            url=url,
        )
    return UpstreamUnavailable(
        f"PiecesOS at {url} closed the connection without a complete answer ({_describe(exc)})",
        url=url,
    )
