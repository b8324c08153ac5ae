"""HTTP1Transport against a real HTTP/1.1 server on 127.0.0.1 whose answers each test scripts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from gateway.http1 import HIGH_WATER, HTTP1Transport
from tests.conftest import unanswered_listener


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int


Answer = Callable[[Received, asyncio.StreamWriter], Awaitable[bool]]
"""Writes the answer to one request; returns False to stop serving the connection."""


@dataclass
class Upstream:
    """A scripted HTTP/1.1 server; counts connections and notices when the client closes."""

    answer: Answer
    port: int = 0
    connections: int = 0
    requests: list[Received] = field(default_factory=list)
    client_closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.client_closed.set()
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding") == "chunked":
                    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                        body += await reader.readexactly(size)
                        await reader.readexactly(2)
                    await reader.readexactly(2)
                received = Received(method, target, headers, body, number)
                self.requests.append(received)
                if not await self.answer(received, writer):
                    return
                await writer.drain()
        finally:
            writer.close()

    async def wait_client_closed(self) -> None:
        """The client closed a connection (the server read end-of-file) within a second."""
        await asyncio.wait_for(self.client_closed.wait(), 1.0)


@contextlib.asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[Upstream]:
    upstream = Upstream(answer)
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
    upstream.port = server.sockets[0].getsockname()[1]
    try:
        yield upstream
    finally:
        server.close()


def ok(body: bytes = b'{"ok":true}', *extra: bytes) -> Answer:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + b"".join(extra)
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        return True

    return answer


async def get(transport: HTTP1Transport, url: str, **extensions: object) -> httpx.Response:
    request = httpx.Request("GET", url, extensions=extensions)
    response = await transport.handle_async_request(request)
    await response.aread()
    return response


async def test_speaks_httpx_api_with_content_length_answers() -> None:
    async with serving(ok(b'{"device":1}')) as upstream:
        client = httpx.AsyncClient(transport=HTTP1Transport(), base_url=upstream.url)
        async with client:
            response = await client.post("/os/device", json={"name": "x"}, headers={"a": "b"})
    assert response.status_code == 200
    assert response.reason_phrase == "OK"
    assert response.http_version == "HTTP/1.1"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"device": 1}
    (request,) = upstream.requests
    assert (request.method, request.target) == ("POST", "/os/device")
    assert request.headers["a"] == "b"
    assert request.headers["host"] == f"127.0.0.1:{upstream.port}"
    assert request.body == b'{"name":"x"}'


async def test_keeps_one_connection_alive_across_requests() -> None:
    transport = HTTP1Transport()
    async with serving(ok()) as upstream:
        for _ in range(3):
            assert (await get(transport, upstream.url + "/a?b=1")).content == b'{"ok":true}'
        assert upstream.connections == 1
        assert transport.connections == (1, 1)
        assert upstream.requests[0].target == "/a?b=1"
        await transport.aclose()
        await upstream.wait_client_closed()


async def test_reads_a_chunked_answer_written_byte_by_byte() -> None:
    body = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in (b"hello ", b"chunked ", b"world")
    )

    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        for byte in b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n":
            writer.write(bytes([byte]))
            await writer.drain()
        return True

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        assert (await get(transport, upstream.url)).content == b"hello chunked world"
        assert (await get(transport, upstream.url)).content == b"hello chunked world"
        assert upstream.connections == 1
    await transport.aclose()


async def test_a_body_delimited_by_close_is_read_to_the_end_and_not_reused() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil ")
        await writer.drain()
        writer.write(b"the end")
        return False

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        assert (await get(transport, upstream.url)).content == b"until the end"
        assert (await get(transport, upstream.url)).content == b"until the end"
        assert upstream.connections == 2
        assert transport.connections == (0, 0)


async def test_connection_close_is_honoured() -> None:
    transport = HTTP1Transport()
    async with serving(ok(b"{}", b"Connection: close\r\n")) as upstream:
        await get(transport, upstream.url)
        await get(transport, upstream.url)
        assert upstream.connections == 2


async def test_an_answer_cut_short_raises_remote_protocol_error() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd")
        return False

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await get(transport, upstream.url)
        assert transport.connections == (0, 0)


async def test_garbage_raises_remote_protocol_error() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        return True

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        with pytest.raises(httpx.RemoteProtocolError, match=r"malformed HTTP/1\.1 answer"):
            await get(transport, upstream.url)
        assert transport.connections == (0, 0)


async def test_no_answer_at_all_raises_remote_protocol_error() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        return False

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await get(transport, upstream.url)
        assert upstream.connections == 1, "a fresh connection is not retried"


def closes_kept_alive_connections() -> Answer:
    """Answers each connection's first request and drops the connection on the next one, as a
    server does that closes an idle connection just as a request arrives on it."""
    answered: set[int] = set()

    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        if request.connection in answered:
            return False
        answered.add(request.connection)
        return await ok()(request, writer)

    return answer


async def test_idempotent_request_is_retried_once_on_a_dropped_kept_alive_connection() -> None:
    transport = HTTP1Transport()
    async with serving(closes_kept_alive_connections()) as upstream:
        await get(transport, upstream.url)
        response = await get(transport, upstream.url)
        assert response.content == b'{"ok":true}'
        assert [r.connection for r in upstream.requests] == [1, 1, 2]
    await transport.aclose()


async def test_a_post_is_not_retried() -> None:
    transport = HTTP1Transport()
    async with serving(closes_kept_alive_connections()) as upstream:
        await get(transport, upstream.url)
        request = httpx.Request("POST", upstream.url, content=b"{}")
        with pytest.raises(httpx.RemoteProtocolError):
            await transport.handle_async_request(request)
        assert [r.method for r in upstream.requests] == ["GET", "POST"]


async def test_nothing_listening_raises_connect_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    transport = HTTP1Transport()
    with pytest.raises(httpx.ConnectError):
        await get(transport, f"http://127.0.0.1:{port}/")
    assert transport.connections == (0, 0)


async def test_https_is_refused() -> None:
    with pytest.raises(httpx.UnsupportedProtocol, match="plain http://"):
        await get(HTTP1Transport(), "https://127.0.0.1:1/")


async def test_read_timeout() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        return True  # no answer; waits for the next request or the client to close

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        timeout = httpx.Timeout(None, read=0.1).as_dict()
        with pytest.raises(httpx.ReadTimeout):
            await get(transport, upstream.url, timeout=timeout)
        await upstream.wait_client_closed()


async def test_requests_wait_for_a_free_connection_and_pool_timeout_applies() -> None:
    release = asyncio.Event()

    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nh")
        await writer.drain()
        await release.wait()
        writer.write(b"i")
        return True

    transport = HTTP1Transport(httpx.Limits(max_connections=1))
    async with serving(answer) as upstream:
        first = await transport.handle_async_request(httpx.Request("GET", upstream.url))
        pool = httpx.Timeout(None, pool=0.1).as_dict()
        with pytest.raises(httpx.PoolTimeout, match="1 are in use"):
            await get(transport, upstream.url, timeout=pool)
        second = asyncio.create_task(get(transport, upstream.url))
        await asyncio.sleep(0.05)
        assert not second.done()
        release.set()
        assert await first.aread() == b"hi"
        await first.aclose()
        assert (await second).content == b"hi"
        assert upstream.connections == 1
    await transport.aclose()


async def test_closing_an_unread_body_closes_the_connection() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
        return True

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        response = await transport.handle_async_request(httpx.Request("GET", upstream.url))
        stream = response.aiter_raw()
        assert await stream.__anext__() == b"part"
        await response.aclose()
        await upstream.wait_client_closed()
        assert transport.connections == (0, 0)


async def test_cancelling_a_waiting_request_closes_its_connection() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        return True  # no answer; waits for the next request or the client to close

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        task = asyncio.create_task(get(transport, upstream.url))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await upstream.wait_client_closed()
        assert transport.connections == (0, 0)


async def test_a_large_body_is_read_with_flow_control() -> None:
    size = 8 * HIGH_WATER

    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // 65536):
            writer.write(b"x" * 65536)
            await writer.drain()
        return True

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        response = await transport.handle_async_request(httpx.Request("GET", upstream.url))
        received = 0
        paused_seen = False
        async for chunk in response.aiter_raw():
            await asyncio.sleep(0.01)  # a slow reader: the socket buffer fills meanwhile
            paused_seen = paused_seen or response.stream._connection.paused  # type: ignore[attr-defined]
            assert len(chunk) <= HIGH_WATER + 256 * 1024  # + at most one read from the socket
            received += len(chunk)
        assert received == size
        assert paused_seen, "reading from the socket never paused for the slow reader"
        assert (await get(transport, upstream.url)).num_bytes_downloaded == size
        assert upstream.connections == 1
    await transport.aclose()


async def test_a_body_of_unknown_length_is_sent_chunked() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b'{"a":'
        yield b""
        yield b"1}"

    transport = HTTP1Transport()
    async with serving(ok()) as upstream:
        request = httpx.Request("PUT", upstream.url, content=parts())
        response = await transport.handle_async_request(request)
        await response.aread()
        (received,) = upstream.requests
        assert received.headers["transfer-encoding"] == "chunked"
        assert received.body == b'{"a":1}'
    await transport.aclose()


async def test_head_answers_have_no_body() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        return True

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        request = httpx.Request("HEAD", upstream.url)
        response = await transport.handle_async_request(request)
        assert await response.aread() == b""
        assert response.headers["content-length"] == "5"


async def test_an_informational_answer_is_skipped() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await ok(b"{}")(request, writer)

    transport = HTTP1Transport()
    async with serving(answer) as upstream:
        response = await get(transport, upstream.url)
        assert (response.status_code, response.content) == (200, b"{}")
    await transport.aclose()


async def test_idle_connections_are_capped_and_expire() -> None:
    async def answer(request: Received, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        return await ok()(request, writer)

    limits = httpx.Limits(max_connections=10, max_keepalive_connections=1, keepalive_expiry=0.2)
    transport = HTTP1Transport(limits)
    async with serving(answer) as upstream:
        await asyncio.gather(*(get(transport, upstream.url) for _ in range(3)))
        assert upstream.connections == 3
        assert transport.connections == (1, 1)
        await asyncio.sleep(0.5)
        assert transport.connections == (0, 0)
        await upstream.wait_client_closed()


async def test_a_closed_connection_is_freed_without_the_cyclic_collector() -> None:
    transport = HTTP1Transport()
    async with serving(ok(b"{}", b"Connection: close\r\n")) as upstream:
        response = await transport.handle_async_request(httpx.Request("GET", upstream.url))
        connection = weakref.ref(response.stream._connection)  # type: ignore[attr-defined]
        await response.aread()
        await response.aclose()
        del response
        gc.disable()
        try:
            await upstream.wait_client_closed()
            for _ in range(10):  # connection_lost runs on a later turn of the loop
                await asyncio.sleep(0.01)
            assert connection() is None, "a reference cycle keeps the closed connection alive"
        finally:
            gc.enable()


async def test_a_kept_alive_connection_keeps_no_copy_of_the_last_head() -> None:
    transport = HTTP1Transport()
    async with serving(ok(b"{}", b"X-Trace: t1\r\n")) as upstream:
        response = await get(transport, upstream.url)
        assert response.headers["x-trace"] == "t1"
        assert transport.connections == (1, 1)
        (idle,) = transport._idle[("127.0.0.1", upstream.port)]
        assert idle.headers == [], "the pooled connection still holds the last answer's head"
    await transport.aclose()


async def test_connect_timeout() -> None:
    transport = HTTP1Transport()
    with unanswered_listener() as port:
        timeout = httpx.Timeout(None, connect=0.2).as_dict()
        with pytest.raises(httpx.ConnectTimeout, match=r"took longer than 0\.2 s"):
            await get(transport, f"http://127.0.0.1:{port}/", timeout=timeout)
    assert transport.connections == (0, 0)
