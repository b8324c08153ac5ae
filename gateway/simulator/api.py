"""Handlers of the PiecesOS routes (all but the streamed restore, see ``streaming``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from gateway.simulator import fixtures
from gateway.simulator.state import SimulatorState
from gateway.simulator.validation import InvalidBody, validate
from gateway.simulator.wire import BARE_HEADERS, JSON_HEADERS, SCHEMA, dumps

if TYPE_CHECKING:
    from gateway.simulator.app import Simulator

_EXTERNAL: Final = dumps(fixtures.external_applications(related_only=False))
_EXTERNAL_RELATED: Final = dumps(fixtures.external_applications(related_only=True))
_SESSION_ID_LENGTH: Final = 36


def json_response(body: bytes, status: int = 200) -> web.Response:
    """An ``application/json`` answer of already serialized ``body``."""
    return web.Response(status=status, body=body, headers=JSON_HEADERS)


def empty_response(status: int = 204) -> web.Response:
    """An answer with no body and no content type."""
    return web.Response(status=status, headers=BARE_HEADERS)


async def read_json(request: web.Request) -> Any:
    """The request body decoded as JSON, or ``None`` when empty; ``InvalidBody`` if not JSON."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidBody("the request body is not valid JSON") from None


async def read_model(request: web.Request, model: str) -> dict[str, Any] | None:
    """The body as a valid ``model`` object, ``None`` when empty; ``InvalidBody`` if invalid."""
    value = await read_json(request)
    return None if value is None else validate(model, value)


async def require_model(request: web.Request, model: str) -> dict[str, Any]:
    """The body as a valid ``model`` object; ``InvalidBody`` if empty or invalid."""
    value = await read_model(request, model)
    if value is None:
        raise InvalidBody(f"a {model} body is required")
    return value


async def read_session_id(request: web.Request) -> str:
    """The uuid of ``POST /applications/session/close``: a JSON string literal or a bare uuid."""
    raw = (await request.read()).strip()
    if raw.startswith(b'"'):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidBody("the request body is not a valid JSON string") from None
    else:
        try:
            value = raw.decode()
        except UnicodeDecodeError:
            raise InvalidBody("the request body is not UTF-8 text") from None
    if not isinstance(value, str) or len(value) != _SESSION_ID_LENGTH:
        raise InvalidBody("expected the 36-character session id as a JSON string")
    return value


class PiecesApi:
    """The request handlers; each reads the simulator's current state."""

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator
        self._device: tuple[str, bytes] | None = None

    @property
    def state(self) -> SimulatorState:
        return self._simulator.state

    # OS

    async def link_provider(self, request: web.Request) -> web.StreamResponse:
        provider = await require_model(request, "SeededExternalProvider")
        return json_response(dumps(self.state.link_provider(provider["type"])))

    async def device_information(self, request: web.Request) -> web.StreamResponse:
        version = self.state.os_version
        if self._device is None or self._device[0] != version:
            self._device = (version, dumps(fixtures.device_information(version)))
        return json_response(self._device[1])

    async def permissions(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self.state.permissions()))

    async def permissions_request(self, request: web.Request) -> web.StreamResponse:
        requested = await read_model(request, "OSPermissions") or {}
        return json_response(dumps(self.state.request_permissions(requested)))

    async def restart(self, request: web.Request) -> web.StreamResponse:
        self.state.restarts += 1
        return empty_response()

    async def update_check(self, request: web.Request) -> web.StreamResponse:
        await read_model(request, "UncheckedOSUpdate")
        return json_response(dumps({"schema": SCHEMA, "status": self.state.update_status}))

    async def pick_files(self, request: web.Request) -> web.StreamResponse:
        picker = await read_model(request, "FilePickerInput") or {}
        paths = fixtures.picked_files(self.state.platform, picker.get("allowedExtensions") or [])
        if picker.get("allowMultiple") is False:
            paths = paths[:1]
        return json_response(dumps(paths))

    async def pick_folders(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(fixtures.picked_folders(self.state.platform)))

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self.state.sign_in()))

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self.state.sign_out()))

    # Applications

    async def external_related(self, request: web.Request) -> web.StreamResponse:
        return json_response(_EXTERNAL_RELATED)

    async def external(self, request: web.Request) -> web.StreamResponse:
        return json_response(_EXTERNAL)

    async def register(self, request: web.Request) -> web.StreamResponse:
        application = await require_model(request, "Application")
        return json_response(dumps(self.state.register(application)))

    async def session_close(self, request: web.Request) -> web.StreamResponse:
        session_id = await read_session_id(request)
        return json_response(dumps(self.state.close_session(session_id)))

    async def session_open(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self.state.open_session()))

    async def session_snapshot(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self.state.session(request.match_info["session"])))

    async def applications(self, request: web.Request) -> web.StreamResponse:
        return json_response(self.state.applications_body())

    async def application(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self.state.application(request.match_info["application"])))

    async def engagement_interaction(self, request: web.Request) -> web.StreamResponse:
        event = await require_model(request, "SeededTrackedInteractionEvent")
        self.state.tracked_events += 1
        tracked = {"schema": SCHEMA, "description": event["description"]}
        if event.get("element") is not None:
            tracked["element"] = event["element"]
        return json_response(dumps(tracked))

    async def engagement_keyboard(self, request: web.Request) -> web.StreamResponse:
        event = await require_model(request, "SeededTrackedKeyboardEvent")
        self.state.tracked_events += 1
        tracked = {
            "schema": SCHEMA,
            "description": event["description"],
            "shortcut": event["shortcut"],
        }
        return json_response(dumps(tracked))

    async def usage_installation(self, request: web.Request) -> web.StreamResponse:
        await require_model(request, "TrackedApplicationInstall")
        self.state.tracked_events += 1
        return empty_response(200)

    async def usage_updated(self, request: web.Request) -> web.StreamResponse:
        await require_model(request, "TrackedApplicationUpdate")
        self.state.tracked_events += 1
        return empty_response(200)

    # Backup

    async def backup(self, request: web.Request) -> web.StreamResponse:
        self.state.check_backup_access()
        assets = await read_model(request, "Assets")
        count = len(assets["iterable"]) if assets is not None else 0
        return self._created(self.state.start_creation(1_048_576 + 65_536 * count))

    async def backup_asset(self, request: web.Request) -> web.StreamResponse:
        self.state.check_backup_access()
        await require_model(request, "Asset")
        return self._created(self.state.start_creation(1_048_576 + 65_536))

    @staticmethod
    def _created(backup_id: str) -> web.StreamResponse:
        response = empty_response()
        response.headers["x-pieces-backup-id"] = backup_id
        return response

    async def restore(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        state.check_backup_access()
        await read_model(request, "Backup")
        restoration = state.start_restoration(
            request.match_info["backup"], state.restoration_steps, state.restoration_interval
        )
        return json_response(dumps(restoration.backup))

    async def backup_snapshot(self, request: web.Request) -> web.StreamResponse:
        self.state.check_backup_access()
        return json_response(dumps(self.state.backup(request.match_info["backup"])))

    async def creation_cancel(self, request: web.Request) -> web.StreamResponse:
        self.state.cancel_creation(request.match_info["backup"])
        return empty_response()

    async def creation_status(self, request: web.Request) -> web.StreamResponse:
        return json_response(dumps(self.state.creation_status(request.match_info["backup"])))

    async def restoration_cancel(self, request: web.Request) -> web.StreamResponse:
        await read_model(request, "Backup")
        self.state.cancel_restoration(request.match_info["backup"])
        return empty_response()

    async def restoration_status(self, request: web.Request) -> web.StreamResponse:
        status = self.state.restoration_status(request.match_info["backup"])
        return json_response(dumps(status))
