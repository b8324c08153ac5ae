"""The twelve Applications routes over real HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from pieces_os_client.models.application import Application
from pieces_os_client.models.applications import Applications
from pieces_os_client.models.session import Session

from gateway.simulator import Simulator

from .conftest import StartSimulator
from .sdkcheck import sdk_roundtrip
from .test_os import call
from .wirecheck import check_model, sample_application


async def test_applications_lists_the_seeded_applications(
    start_simulator: StartSimulator, reference: dict[str, Any]
) -> None:
    sim = await start_simulator(applications=20)
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        status, response, body = await call(client, "GET", "/applications")
    assert status == 200
    assert response.headers["Content-Type"] == "application/json"
    check_model(reference, "Applications", body)
    sdk_roundtrip(Applications, body)
    assert len(body["iterable"]) == 20
    assert len({a["id"] for a in body["iterable"]}) == 20
    # Required booleans are sent even when false.
    assert {a["onboarded"] for a in body["iterable"]} == {True, False}


async def test_register_then_list_then_get(
    client: aiohttp.ClientSession, reference: dict[str, Any]
) -> None:
    app = sample_application()
    status, _, registered = await call(client, "POST", "/applications/register", app)
    assert status == 200
    check_model(reference, "Application", registered)
    sdk_roundtrip(Application, registered)
    assert registered == app
    _, _, listing = await call(client, "GET", "/applications")
    assert [a["id"] for a in listing["iterable"]][-1] == app["id"]
    assert len(listing["iterable"]) == 4
    status, _, fetched = await call(client, "GET", f"/applications/{app['id']}")
    assert status == 200
    assert fetched == app


async def test_unknown_application_answers_500_text(client: aiohttp.ClientSession) -> None:
    status, response, body = await call(client, "GET", f"/applications/{uuid.uuid4()}")
    assert (status, body) == (500, "Application not found")
    assert response.headers["Content-Type"] == "text/plain"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"platform": "macos"}, "'macos' is not a PlatformEnum value"),
        ({"onboarded": None}, "missing required key 'onboarded'"),
        ({"onboarded": "yes"}, "expected a boolean"),
        ({"automaticUnload": 1}, "expected a boolean"),
        ({"schema": {"migration": 0}}, "missing required key 'semantic'"),
    ],
)
async def test_register_rejects_an_invalid_application(
    client: aiohttp.ClientSession, change: dict[str, Any], message: str
) -> None:
    status, response, body = await call(
        client, "POST", "/applications/register", sample_application(**change)
    )
    assert status == 400
    assert response.headers["Content-Type"] == "text/plain"
    assert message in body


async def test_register_rejects_invalid_json(client: aiohttp.ClientSession) -> None:
    async with client.post("/applications/register", data=b"{nope") as response:
        assert response.status == 400
        assert await response.text() == "the request body is not valid JSON"


async def test_session_open_snapshot_close(
    client: aiohttp.ClientSession, reference: dict[str, Any]
) -> None:
    status, _, opened = await call(client, "POST", "/applications/session/open")
    assert status == 200
    check_model(reference, "Session", opened)
    sdk_roundtrip(Session, opened)
    assert "schema" not in opened
    assert "closed" not in opened
    status, _, snapshot = await call(client, "GET", f"/applications/sessions/{opened['id']}")
    assert (status, snapshot) == (200, opened)
    # The generated clients send the uuid as a JSON string literal, quotes included.
    body = f'"{opened["id"]}"'.encode()
    headers = {"Content-Type": "application/json"}
    async with client.post("/applications/session/close", data=body, headers=headers) as resp:
        assert resp.status == 200
        closed = await resp.json()
    check_model(reference, "Session", closed)
    sdk_roundtrip(Session, closed)
    assert closed["id"] == opened["id"]
    assert closed["opened"] == opened["opened"]
    assert closed["closed"]["value"] >= opened["opened"]["value"]
    _, _, after = await call(client, "GET", f"/applications/sessions/{opened['id']}")
    assert after == closed


async def test_session_close_accepts_a_bare_uuid(client: aiohttp.ClientSession) -> None:
    _, _, opened = await call(client, "POST", "/applications/session/open")
    async with client.post("/applications/session/close", data=opened["id"].encode()) as resp:
        assert resp.status == 200
        assert (await resp.json())["id"] == opened["id"]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (b'"11111111-1111-1111-1111-111111111111"', 500, "Session not found"),
        (b'"short"', 400, "36-character session id"),
        (b'{"id": "x"}', 400, "36-character session id"),
        (b"", 400, "36-character session id"),
    ],
)
async def test_session_close_errors(
    client: aiohttp.ClientSession, body: bytes, status: int, text: str
) -> None:
    async with client.post("/applications/session/close", data=body) as response:
        assert response.status == status
        assert response.headers["Content-Type"] == "text/plain"
        assert text in await response.text()


async def test_unknown_session_snapshot_answers_500(client: aiohttp.ClientSession) -> None:
    status, _, body = await call(client, "GET", f"/applications/sessions/{uuid.uuid4()}")
    assert (status, body) == (500, "Session not found")


async def test_engagement_events(
    client: aiohttp.ClientSession, pieces: Simulator, reference: dict[str, Any]
) -> None:
    interaction = {
        "description": "refreshed",
        "element": "refresh-button",
        "identifier_description_pair": {
            "assets_list_refreshed": "the_assets_list_was_refreshed_through_ui_element"
        },
    }
    status, _, tracked = await call(
        client, "POST", "/applications/usage/engagement/interaction", interaction
    )
    assert status == 200
    check_model(reference, "TrackedInteractionEvent", tracked)
    assert tracked["description"] == "refreshed"
    assert tracked["element"] == "refresh-button"
    keyboard = {"description": "refreshed", "shortcut": [17, 82]}
    status, _, tracked = await call(
        client, "POST", "/applications/usage/engagement/keyboard", keyboard
    )
    assert status == 200
    check_model(reference, "TrackedKeyboardEvent", tracked)
    assert tracked["shortcut"] == [17, 82]
    status, _, body = await call(
        client, "POST", "/applications/usage/engagement/keyboard", {"description": "x"}
    )
    assert status == 400
    assert "missing required key 'shortcut'" in body
    assert pieces.state.tracked_events == 2


async def test_usage_installation_and_updated_answer_200_without_body(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    app = sample_application()
    user = {"id": "u", "username": "ada", "granularity": "DEVICE"}
    bodies = {
        "/applications/usage/installation": {"application": app, "user": user},
        "/applications/usage/updated": {"current": app, "previous": app},
    }
    for path, body in bodies.items():
        async with client.post(path, json=body) as response:
            assert response.status == 200
            assert await response.read() == b""
            assert "Content-Type" not in response.headers
    assert pieces.state.tracked_events == 2
    status, _, text = await call(client, "POST", "/applications/usage/installation", {"user": user})
    assert status == 400
    assert "missing required key 'application'" in text
    bad_user = {"application": app, "user": {**user, "granularity": "device"}}
    status, _, text = await call(client, "POST", "/applications/usage/installation", bad_user)
    assert status == 400
    assert "'device' is not a Granularity value" in text
