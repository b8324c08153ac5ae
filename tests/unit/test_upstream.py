"""UpstreamClient against real sockets: what a person reads when PiecesOS cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import weakref
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from gateway.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.upstream import UpstreamClient, UpstreamSettings
from tests.conftest import serve_upstream, unanswered_listener


@pytest.mark.parametrize("transport", ["http1", "aiohttp"])
async def test_a_connect_timeout_says_pieces_os_cannot_be_reached(transport: str) -> None:
    with unanswered_listener() as port:
        settings = UpstreamSettings(
            base_url=f"http://127.0.0.1:{port}", connect_timeout=0.3, transport=transport
        )
        client = UpstreamClient(settings)
        try:
            with pytest.raises(UpstreamUnavailable, match="cannot connect to PiecesOS") as caught:
                await client.request("GET", "/os/device/information", deadline=None)
        finally:
            await client.aclose()
    assert f"127.0.0.1:{port}/os/device/information" in str(caught.value)
    assert "is PiecesOS running?" in str(caught.value)


@pytest.mark.parametrize("transport", ["http1", "aiohttp"])
async def test_the_request_head_carries_host_length_type_and_forwarded_headers(
    transport: str,
) -> None:
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    async def record(request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        seen.append((request.method, request.path_qs, headers, await request.read()))
        return web.json_response({})

    async with serve_upstream(record) as url:
        settings = UpstreamSettings(
            base_url=url, transport=transport, extra_headers={"X-Tenant": "blue"}
        )
        client = UpstreamClient(settings)
        try:
            await client.request("GET", "/a?x=1", headers={"x-request-id": "r1"})
            await client.request("POST", "/b", body=b'{"k":1}')
            await client.request("POST", "/c")
            await client.request("GET", "/d", headers={"user-agent": "caller/1"})
        finally:
            await client.aclose()

    host = url.removeprefix("http://")
    (get_method, get_path, get_headers, get_body) = seen[0]
    assert (get_method, get_path, get_body) == ("GET", "/a?x=1", b"")
    assert get_headers["host"] == host
    assert get_headers["user-agent"] == "pieces-grpc-gateway"
    assert get_headers["accept"] == "application/json, text/plain"
    assert get_headers["x-tenant"] == "blue"
    assert get_headers["x-request-id"] == "r1"
    assert "content-length" not in get_headers
    assert "content-type" not in get_headers
    (_, _, post_headers, post_body) = seen[1]
    assert post_body == b'{"k":1}'
    assert post_headers["content-type"] == "application/json"
    assert post_headers["content-length"] == "7"
    (_, _, empty_headers, empty_body) = seen[2]
    assert (empty_body, empty_headers["content-length"]) == (b"", "0")
    if transport == "http1":  # aiohttp labels an empty body application/octet-stream itself
        assert "content-type" not in empty_headers
    # A per-call header replaces the configured one instead of being sent twice.
    assert seen[3][2]["user-agent"] == "caller/1"


@pytest.mark.parametrize("transport", ["http1", "aiohttp", "httpcore"])
async def test_an_open_stream_keeps_its_body_but_not_the_request_or_the_head(
    transport: str,
) -> None:
    """Held by every open restore stream, the request and head would cost KBs per stream."""
    more = asyncio.Event()

    async def progress(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(headers={"content-type": "application/x-ndjson"})
        await answer.prepare(request)
        await answer.write(b'{"n":1}\n')
        await more.wait()
        await answer.write(b'{"n":2}\n')
        await answer.write_eof()
        return answer

    async with serve_upstream(progress) as url:
        client = UpstreamClient(UpstreamSettings(base_url=url, transport=transport))
        sent: list[weakref.ref[object]] = []
        send = client._transport.handle_async_request

        async def recording(request: httpx.Request) -> httpx.Response:
            response = await send(request)
            sent.extend((weakref.ref(request), weakref.ref(response)))
            return response

        client._transport.handle_async_request = recording  # type: ignore[method-assign]
        try:
            async with client.stream("POST", "/backups/b1/restore/streamed") as answer:
                chunks = answer.chunks()
                first = await anext(chunks)
                gc.collect()
                held = [ref() is not None for ref in sent]
                more.set()
                rest = [chunk async for chunk in chunks]
        finally:
            more.set()
            await client.aclose()
    assert held == [False, False], "the open stream keeps the request or the answer's head"
    assert (answer.status, answer.content_type) == (200, "application/x-ndjson")
    assert first + b"".join(rest) == b'{"n":1}\n{"n":2}\n'


def _slow_progress(first_after: float, gap: float, count: int = 3) -> web.RequestHandler:
    async def progress(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(first_after)
        answer = web.StreamResponse(headers={"content-type": "application/x-ndjson"})
        await answer.prepare(request)
        for n in range(count):
            await answer.write(b'{"n":%d}\n' % n)
            await asyncio.sleep(gap)
        await answer.write_eof()
        return answer

    return progress


@contextlib.asynccontextmanager
async def _client_of(
    handler: web.RequestHandler, transport: str = "http1"
) -> AsyncIterator[UpstreamClient]:
    """An UpstreamClient for a real server answering every request with ``handler``."""
    async with serve_upstream(handler) as url:
        client = UpstreamClient(UpstreamSettings(base_url=url, transport=transport))
        try:
            yield client
        finally:
            await client.aclose()


async def _read_all(client: UpstreamClient, *, deadline: float) -> None:
    async with client.stream("GET", "/s", deadline=deadline) as answer:
        async for _ in answer.chunks():
            pass


@pytest.mark.parametrize("transport", ["http1", "aiohttp"])
async def test_stream_deadline_while_waiting_for_the_head_or_a_chunk(transport: str) -> None:
    for first_after, gap in [(0.6, 0.0), (0.0, 0.6)]:
        async with _client_of(_slow_progress(first_after, gap), transport) as client:
            started = time.monotonic()
            with pytest.raises(UpstreamTimeout, match="did not answer before the deadline"):
                await _read_all(client, deadline=started + 0.2)
            assert time.monotonic() - started < 0.5


async def test_a_deadline_that_passes_between_reads_ends_the_next_read() -> None:
    async with (
        _client_of(_slow_progress(0.0, 0.05)) as client,
        client.stream("GET", "/s", deadline=time.monotonic() + 0.1) as answer,
    ):
        chunks = answer.chunks()
        assert (await anext(chunks)).startswith(b'{"n":0}\n')
        await asyncio.sleep(0.2)  # the caller is busy when the deadline passes
        with pytest.raises(UpstreamTimeout):
            await anext(chunks)


async def test_cancelling_a_read_before_the_deadline_stays_a_cancellation() -> None:
    async with (
        _client_of(_slow_progress(0.0, 0.5)) as client,
        client.stream("GET", "/s", deadline=time.monotonic() + 10) as answer,
    ):
        chunks = answer.chunks()
        await anext(chunks)
        reading = asyncio.ensure_future(anext(chunks))
        await asyncio.sleep(0.05)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
