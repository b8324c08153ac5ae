"""The streamed restore: ``POST /backup/{backup}/restore/streamed``.

It answers successive ``BackupStreamedProgress`` objects: INITIALIZED (0 %), then
``restore_messages`` IN-PROGRESS objects with a rising percentage, then COMPLETED (100 %) with
the restored backup, one every ``restore_interval`` seconds, in the configured framing (see
``framing``). Cancelling the restoration (``POST /backup/{backup}/restoration/cancel``) while it
streams ends the stream with a CANCELED object.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from gateway.simulator import fixtures
from gateway.simulator.api import read_model
from gateway.simulator.faults import corrupt, send_truncated, text_response
from gateway.simulator.framing import ChunkSplitter, Framer
from gateway.simulator.routes import Route
from gateway.simulator.state import Operation, step_percentage
from gateway.simulator.stats import RequestRecord, StreamRecord
from gateway.simulator.wire import (
    CANCELED,
    COMPLETED,
    IN_PROGRESS,
    INITIALIZED,
    JSON_HEADERS,
    dumps,
)

if TYPE_CHECKING:
    from gateway.simulator.app import Simulator

RECORD: Final = web.RequestKey("simulator.record", RequestRecord)
STREAM_ROUTE: Final = Route("POST", "/backup/{backup}/restore/streamed", "restore_streamed")


def progress_sequence(
    messages: int, backup: dict[str, Any]
) -> Iterator[tuple[str, float, dict[str, Any] | None]]:
    """Status, percentage and backup of each object of a restore with ``messages`` steps."""
    yield INITIALIZED, 0.0, None
    for step in range(1, messages + 1):
        yield IN_PROGRESS, step_percentage(step, messages), None
    yield COMPLETED, 100.0, backup


class StreamedRestore:
    """Writes one streamed restore, honouring the simulator's faults."""

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        """Handle the route; raise ``ApiError`` for the documented 505, 511 and 500 answers."""
        sim = self._simulator
        faults = sim.faults
        faulty = faults.active and faults.applies_to(
            STREAM_ROUTE.name, STREAM_ROUTE.template, request.path
        )
        if faulty and faults.refuse_stream is not None:
            return text_response(faults.refuse_stream, "Stream refused")
        state = sim.state
        state.check_backup_access()
        await read_model(request, "Backup")
        backup_id = request.match_info["backup"]
        restoration = state.start_restoration(
            backup_id, state.restore_messages, state.restore_interval
        )
        stream = sim.stats.new_stream(backup_id, state.restore_framing, time.monotonic())
        writer = _StreamWriter(request, sim, stream, restoration, faulty)
        task = asyncio.current_task()
        if task is not None:
            sim.streaming.add(task)
        try:
            if state.restore_framing == "single":
                return await writer.single()
            return await writer.streamed(Framer(state.restore_framing))
        except ConnectionResetError:
            stream.disconnected = True
            stream.disconnected_at = time.monotonic()
            return writer.response
        except asyncio.CancelledError:
            if not sim.stopping:
                stream.disconnected = True
                stream.disconnected_at = time.monotonic()
            raise
        finally:
            stream.ended_at = time.monotonic()
            if task is not None:
                sim.streaming.discard(task)


class _StreamWriter:
    """The state of one streamed answer."""

    def __init__(
        self,
        request: web.Request,
        simulator: Simulator,
        stream: StreamRecord,
        restoration: Operation,
        faulty: bool,
    ) -> None:
        state = simulator.state
        self.request = request
        self.stream = stream
        self.restoration = restoration
        self.messages = state.restore_messages
        self.interval = state.restore_interval
        self.splitter = ChunkSplitter(
            state.restore_seed + stream.id, coalesce=state.restore_coalesce
        )
        self.injector = simulator.injector
        faults = simulator.faults
        self.malformed = faulty and bool(faults.malformed_rate)
        self.truncated = faulty and faults.truncated_body
        self.drop_after = faults.drop_after if faulty else None
        self.response: web.StreamResponse = web.Response()
        """The answer as far as it got (what to return if the client goes away)."""

    def _document(self, status: str, percentage: float, backup: dict[str, Any] | None) -> bytes:
        document = dumps(fixtures.progress(status, percentage, backup))
        if self.malformed and self.injector.malformed():
            return corrupt(document)
        return document

    def _drop(self) -> None:
        self.stream.dropped = True
        transport = self.request.transport
        if transport is not None:
            transport.close()

    async def single(self) -> web.StreamResponse:
        """Wait for the whole restore, then answer the final object alone."""
        for _ in range(self.messages + 1):
            if self.restoration.canceled_at is not None:
                break
            await asyncio.sleep(self.interval)
        if self.drop_after is not None:
            self._drop()
            return web.Response()
        if self.restoration.canceled_at is not None:
            percentage = self.restoration.progress()[1]
            body = self._document(CANCELED, percentage, None)
            self.stream.canceled = True
        else:
            body = self._document(COMPLETED, 100.0, self.restoration.backup)
            self.restoration.finished = True
        self.request[RECORD].status = 200
        if self.truncated:
            return await send_truncated(self.request, 200, JSON_HEADERS, body)
        response = self.response = web.Response(body=body, headers=JSON_HEADERS)
        await response.prepare(self.request)
        await response.write_eof()
        self.stream.messages = 1
        self.stream.completed = True
        return response

    async def streamed(self, framer: Framer) -> web.StreamResponse:
        """Write every object as it is due, cut into chunks at arbitrary points."""
        response = self.response = web.StreamResponse(headers=framer.headers)
        response.enable_chunked_encoding()
        await response.prepare(self.request)
        self.request[RECORD].status = 200
        if self.drop_after == 0:
            self._drop()
            return response
        percentage = 0.0
        final = self.messages + 1
        for index, (status, value, backup) in enumerate(
            progress_sequence(self.messages, self.restoration.backup)
        ):
            if index:
                await asyncio.sleep(self.interval)
            if self.restoration.canceled_at is not None:
                canceled = self._document(CANCELED, percentage, None)
                await self._write(response, framer.frame(canceled))
                self.stream.canceled = True
                break
            percentage = value
            data = framer.frame(self._document(status, value, backup))
            if self.truncated and index == final:
                for piece in [*self.splitter.split(data[: len(data) // 2]), *self.splitter.flush()]:
                    await response.write(piece)
                await response.write_eof()
                return response
            await self._write(response, data)
            if self.drop_after is not None and self.stream.messages >= self.drop_after:
                for piece in self.splitter.flush():
                    await response.write(piece)
                self._drop()
                return response
        else:
            self.restoration.finished = True
        for piece in self.splitter.flush(framer.end()):
            await response.write(piece)
        await response.write_eof()
        self.stream.completed = True
        return response

    async def _write(self, response: web.StreamResponse, data: bytes) -> None:
        for piece in self.splitter.split(data):
            await response.write(piece)
        self.stream.messages += 1
