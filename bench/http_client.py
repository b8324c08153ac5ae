"""One HTTP client configuration under load, in its own process (the ``httpx`` section).

    python -m bench.http_client --client httpx-default --url http://127.0.0.1:1000 --requests 2000

Sends GET /os/device/information with 32 requests in flight, reads every body, and prints
the client process's CPU per request (µs) and requests per second as JSON. Each client
configuration runs in a fresh process because some of them change what ``import sniffio``
finds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

PATH = "/os/device/information"
CONCURRENCY = 32

CLIENTS = {
    "httpx-default": "httpx.AsyncClient() on its default transport (httpcore)",
    "httpx-default+sniffio": "same, `sniffio` importable",
    "httpx-default+sniffio+pool8": "same, `sniffio` importable, pool of 8 (requests queue)",
    "httpx-default+sniffio+pool64": "same, `sniffio` importable, pool of 64",
    "httpx-aiohttp": "httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport())",
    "httpx-aiohttp-direct": "AiohttpTransport.handle_async_request(), URL parsed once",
    "http1": "httpx.AsyncClient(transport=gateway.http1.HTTP1Transport())",
    "http1-direct": "HTTP1Transport.handle_async_request(), URL parsed once",
    "gateway": "the gateway's UpstreamClient.request() as it is",
    "aiohttp": "aiohttp.ClientSession alone (not the httpx API; reference)",
}
"""Client name: what it is (the label of its row)."""


async def _client(name: str, url: str) -> tuple[Callable[[], Awaitable[None]], Any]:
    """A function sending one request, and an object with ``aclose``/``close``."""
    import httpx

    target = url + PATH
    if name.startswith("httpx-default"):
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        if name.endswith("+pool8"):
            limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        if name.endswith("+pool64"):
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        client = httpx.AsyncClient(limits=limits, trust_env=False)

        async def get() -> None:
            (await client.get(target)).read()

        return get, client
    if name == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(transport=AiohttpTransport(trust_env=False), trust_env=False)

        async def get_aiohttp() -> None:
            (await client.get(target)).read()

        return get_aiohttp, client
    if name == "httpx-aiohttp-direct":
        from httpx_aiohttp import AiohttpTransport

        limits = httpx.Limits(max_connections=1024, max_keepalive_connections=1024)
        transport = AiohttpTransport(limits=limits, trust_env=False)
        return _direct(transport, target), transport
    if name == "http1":
        from gateway.http1 import HTTP1Transport

        client = httpx.AsyncClient(transport=HTTP1Transport(), trust_env=False)

        async def get_http1() -> None:
            (await client.get(target)).read()

        return get_http1, client
    if name == "http1-direct":
        from gateway.http1 import HTTP1Transport

        limits = httpx.Limits(max_connections=1024, max_keepalive_connections=64)
        http1 = HTTP1Transport(limits)
        return _direct(http1, target), http1
    if name == "gateway":
        from gateway.upstream import UpstreamClient, UpstreamSettings

        upstream = UpstreamClient(UpstreamSettings(base_url=url))

        async def get_gateway() -> None:
            await upstream.request("GET", PATH, deadline=time.monotonic() + 60)

        return get_gateway, upstream
    if name == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024))

        async def get_raw() -> None:
            async with session.get(target) as response:
                await response.read()

        return get_raw, session
    raise SystemExit(f"unknown client {name!r}")


def _direct(transport: Any, target: str) -> Callable[[], Awaitable[None]]:
    """GET ``target`` straight through ``transport`` (no AsyncClient), its URL parsed once."""
    import httpx

    parsed = httpx.URL(target)

    async def get_direct() -> None:
        request = httpx.Request("GET", parsed, headers={"accept": "application/json"})
        response = await transport.handle_async_request(request)
        try:
            async for _chunk in response.stream:
                pass
        finally:
            await response.aclose()

    return get_direct


async def measure(name: str, url: str, requests: int) -> dict[str, float]:
    send, owner = await _client(name, url)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            await send()

    await asyncio.gather(*(one() for _ in range(max(100, requests // 10))))
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    closing = getattr(owner, "aclose", None) or owner.close
    await closing()
    return {"cpu_us": cpu / requests * 1e6, "rps": requests / wall}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_client", description=__doc__)
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    parser.add_argument("--url", required=True, help="simulator base URL")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    if "+sniffio" in args.client:
        from bench.run_gateway import install_sniffio

        install_sniffio()
    result = asyncio.run(measure(args.client, args.url, args.requests))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
