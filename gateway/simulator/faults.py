"""Fault injection: errors, malformed and truncated bodies, dropped streams."""

from __future__ import annotations

import random
from collections.abc import Mapping

from aiohttp import web

from gateway.simulator.config import FaultConfig
from gateway.simulator.wire import TEXT_HEADERS


def text_response(status: int, message: str) -> web.Response:
    """A ``text/plain`` answer, the form of every PiecesOS error."""
    return web.Response(status=status, body=message.encode(), headers=TEXT_HEADERS)


def corrupt(body: bytes) -> bytes:
    """``body`` made invalid JSON: its closing bracket replaced by a trailing comma and ``}``."""
    return body[:-1] + b",}" if body else b",}"


class FaultInjector:
    """Draws the random decisions of a live ``FaultConfig`` and applies them to answers."""

    def __init__(self, faults: FaultConfig) -> None:
        self.faults = faults
        self._seed = faults.seed
        self._rng = random.Random(faults.seed)

    def _draw(self) -> float:
        if self.faults.seed != self._seed:
            self._seed = self.faults.seed
            self._rng.seed(self._seed)
        return self._rng.random()

    def reseed(self) -> None:
        """Restart the random sequence from the configured seed."""
        self._seed = self.faults.seed
        self._rng.seed(self._seed)

    def error(self) -> web.Response | None:
        """The error answer to send instead of the real one, or ``None``."""
        rate = self.faults.error_rate
        if rate and (rate >= 1.0 or self._draw() < rate):
            return text_response(self.faults.error_status, self.faults.error_text)
        return None

    def malformed(self) -> bool:
        """Whether the next JSON document should be corrupted."""
        rate = self.faults.malformed_rate
        return bool(rate) and (rate >= 1.0 or self._draw() < rate)

    async def apply_to_body(
        self, request: web.Request, response: web.Response
    ) -> web.StreamResponse:
        """Corrupt or truncate a successful JSON answer as the knobs say."""
        body = response.body
        if not (
            200 <= response.status < 300
            and isinstance(body, bytes)
            and body
            and response.content_type == "application/json"
        ):
            return response
        if self.malformed():
            body = corrupt(body)
            response.body = body
        if self.faults.truncated_body:
            return await send_truncated(request, response.status, response.headers, body)
        return response


async def send_truncated(
    request: web.Request, status: int, headers: Mapping[str, str], body: bytes
) -> web.StreamResponse:
    """Announce ``len(body)`` bytes, send half of them, then close the connection."""
    truncated = web.StreamResponse(status=status)
    for name, value in headers.items():
        if name.lower() not in ("content-length", "transfer-encoding"):
            truncated.headers.add(name, value)
    truncated.content_length = len(body)
    await truncated.prepare(request)
    await truncated.write(body[: len(body) // 2])
    transport = request.transport
    if transport is not None:
        transport.close()
    return truncated
