"""Framings of the streamed restore and the cutting of its bytes into chunks.

The real framing PiecesOS writes is not known, so the simulator offers five:

- ``ndjson``: one JSON object per line (``application/x-ndjson``);
- ``concat``: JSON objects back to back with no separator (``application/json``);
- ``array``: one JSON array written element by element (``application/json``);
- ``sse``: server-sent events, one ``data:`` line per object (``text/event-stream``);
- ``single``: one JSON object, the final COMPLETED progress (``application/json``).
"""

from __future__ import annotations

import random
from itertools import pairwise
from typing import Final

from multidict import CIMultiDictProxy

from gateway.simulator.config import Framing
from gateway.simulator.wire import JSON_HEADERS, NDJSON_HEADERS, SSE_HEADERS


class Framer:
    """Wraps successive JSON objects into the bytes of one streaming framing."""

    def __init__(self, framing: Framing) -> None:
        if framing == "single":
            raise ValueError("the single framing is not streamed")
        self.framing = framing
        self._count = 0

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """Response headers, including the content type of the framing."""
        return _HEADERS[self.framing]

    def frame(self, document: bytes) -> bytes:
        """The bytes that carry ``document`` (a serialized JSON object) in the stream."""
        first = self._count == 0
        self._count += 1
        if self.framing == "ndjson":
            return document + b"\n"
        if self.framing == "sse":
            return b"data: " + document + b"\n\n"
        if self.framing == "array":
            return (b"[" if first else b",") + document
        return document

    def end(self) -> bytes:
        """The bytes that close the stream after the last object."""
        if self.framing == "array":
            return b"]" if self._count else b"[]"
        return b""


_HEADERS: Final[dict[str, CIMultiDictProxy[str]]] = {
    "ndjson": NDJSON_HEADERS,
    "concat": JSON_HEADERS,
    "array": JSON_HEADERS,
    "sse": SSE_HEADERS,
    "single": JSON_HEADERS,
}


def content_headers(framing: Framing) -> CIMultiDictProxy[str]:
    """Response headers of ``framing``."""
    return _HEADERS[framing]


class ChunkSplitter:
    """Cuts each framed object into 2 to ``max_pieces`` chunks at pseudo-random points.

    Every object of two bytes or more straddles at least one chunk boundary. With
    ``coalesce``, the last piece of each object is held back and sent at the start of the next
    write, so chunks also join the end of one object to the start of the next.
    """

    def __init__(self, seed: int, *, coalesce: bool = False, max_pieces: int = 3) -> None:
        if max_pieces < 2:
            raise ValueError("max_pieces must be at least 2")
        self._rng = random.Random(seed)
        self._coalesce = coalesce
        self._max_pieces = max_pieces
        self._held = b""

    def split(self, data: bytes) -> list[bytes]:
        """The chunks to write now for ``data`` (plus whatever was held back before)."""
        held, self._held = self._held, b""
        if len(data) < 2:
            return [held + data] if held or data else []
        count = self._rng.randint(2, min(self._max_pieces, len(data)))
        cuts = self._rng.sample(range(1, len(data)), count - 1)
        pieces = [data[a:b] for a, b in pairwise([0, *sorted(cuts), len(data)])]
        pieces[0] = held + pieces[0]
        if self._coalesce:
            self._held = pieces.pop()
        return pieces

    def flush(self, tail: bytes = b"") -> list[bytes]:
        """The chunks that end the stream: what was held back, then ``tail``."""
        held, self._held = self._held, b""
        data = held + tail
        return [data] if data else []
