"""The control endpoint under ``/__simulator__/``: stats, faults, state and reset.

- ``GET /__simulator__/stats``: what the simulator received (``SimulatorStats.to_dict``);
  ``DELETE`` forgets it.
- ``GET /__simulator__/faults``: the fault knobs; ``POST`` with a JSON object merges knobs
  into them (``{}`` clears them all); ``DELETE`` clears them. Both answer the knobs.
- ``GET /__simulator__/state``: settings and a summary of the state; ``POST`` with a JSON
  object changes settings (``{"signed_in": false, "restore_framing": "sse"}``) and answers the
  new summary.
- ``POST /__simulator__/reset``: state, faults and stats back to how the simulator started.

Invalid control requests answer 400 with a plain-text reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from gateway.simulator.api import empty_response, json_response
from gateway.simulator.faults import text_response
from gateway.simulator.routes import CONTROL_PREFIX
from gateway.simulator.wire import dumps

if TYPE_CHECKING:
    from gateway.simulator.app import Simulator


async def _read_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        value = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


class Control:
    """Handlers of the control endpoint."""

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the control routes (before any API route)."""
        prefix = CONTROL_PREFIX
        router.add_get(prefix + "stats", self.get_stats)
        router.add_delete(prefix + "stats", self.clear_stats)
        router.add_get(prefix + "faults", self.get_faults)
        router.add_post(prefix + "faults", self.set_faults)
        router.add_delete(prefix + "faults", self.clear_faults)
        router.add_get(prefix + "state", self.get_state)
        router.add_post(prefix + "state", self.set_state)
        router.add_post(prefix + "reset", self.reset)
        router.add_route("*", prefix + "{tail:.*}", self.not_found)

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self._simulator.stats.to_dict()))

    async def clear_stats(self, request: web.Request) -> web.StreamResponse:
        self._simulator.stats.clear()
        return empty_response()

    async def get_faults(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self._simulator.faults.to_dict()))

    async def set_faults(self, request: web.Request) -> web.StreamResponse:
        faults = self._simulator.faults
        try:
            changes = await _read_object(request)
            if changes:
                faults.update(changes)
            else:
                faults.clear()
        except ValueError as exc:
            return text_response(400, str(exc))
        return json_response(dumps(faults.to_dict()))

    async def clear_faults(self, request: web.Request) -> web.StreamResponse:
        self._simulator.faults.clear()
        return json_response(dumps(self._simulator.faults.to_dict()))

    async def get_state(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self._simulator.state.snapshot()))

    async def set_state(self, request: web.Request) -> web.StreamResponse:
        try:
            self._simulator.state.apply(await _read_object(request))
        except ValueError as exc:
            return text_response(400, str(exc))
        return json_response(dumps(self._simulator.state.snapshot()))

    async def reset(self, request: web.Request) -> web.StreamResponse:
        await self._simulator.reset()
        return empty_response()

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        return text_response(404, "Unknown simulator control route")
