"""Reading streamed restores: raw HTTP chunks in, objects and their byte spans out."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDict

_DECODER = json.JSONDecoder()


@dataclass
class Received:
    """A streamed answer as the client saw it."""

    status: int
    headers: CIMultiDict[str]
    chunks: list[bytes]
    """The body cut at the HTTP chunk boundaries the server wrote."""
    arrivals: list[float] = field(default_factory=list)
    """``time.monotonic()`` when each chunk was complete."""

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def boundaries(self) -> list[int]:
        """Offsets in ``body`` where one chunk ends and the next begins."""
        offsets, total = [], 0
        for chunk in self.chunks[:-1]:
            total += len(chunk)
            offsets.append(total)
        return offsets


async def receive(
    client: aiohttp.ClientSession, path: str, body: Any = None, *, limit: int | None = None
) -> Received:
    """POST ``body`` and read the answer chunk by chunk (stop early after ``limit`` chunks)."""
    async with client.post(path, json=body) as response:
        received = Received(response.status, response.headers.copy(), [])
        pending = b""
        async for data, end_of_chunk in response.content.iter_chunks():
            pending += data
            if end_of_chunk:
                received.chunks.append(pending)
                received.arrivals.append(time.monotonic())
                pending = b""
                if limit is not None and len(received.chunks) >= limit:
                    break
        if pending:
            received.chunks.append(pending)
            received.arrivals.append(time.monotonic())
    return received


Span = tuple[int, int, dict[str, Any]]


def decode(framing: str, body: bytes) -> list[Span]:
    """Every JSON object of ``body`` with its byte span, checking the framing strictly."""
    text = body.decode()
    assert len(text) == len(body), "the simulator writes ASCII JSON"
    if framing == "single":
        return [(0, len(text), json.loads(text))]
    spans: list[Span] = []
    position = 0
    if framing == "array":
        assert text.startswith("["), text[:20]
        assert text.endswith("]"), text[-20:]
        position = 1
    while position < len(text):
        if framing == "array" and text[position] == "]":
            assert position == len(text) - 1
            break
        if framing == "array" and spans:
            assert text[position] == ",", f"expected a comma at {position}"
            position += 1
        if framing == "sse":
            assert text.startswith("data: ", position), f"expected an event at {position}"
            position += len("data: ")
        value, end = _DECODER.raw_decode(text, position)
        spans.append((position, end, value))
        position = end
        if framing == "ndjson":
            assert text[position] == "\n", f"expected a newline at {position}"
            position += 1
        elif framing == "sse":
            assert text.startswith("\n\n", position), f"expected a blank line at {position}"
            position += 2
    return spans


def objects(framing: str, body: bytes) -> list[dict[str, Any]]:
    return [value for _, _, value in decode(framing, body)]
