"""The ten OS routes over real HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
from pieces_os_client.models.detected_external_applications import DetectedExternalApplications
from pieces_os_client.models.os_device_information_returnable import (
    OSDeviceInformationReturnable,
)
from pieces_os_client.models.os_permissions import OSPermissions
from pieces_os_client.models.os_server_update_status import OSServerUpdateStatus
from pieces_os_client.models.returned_user_profile import ReturnedUserProfile
from pieces_os_client.models.user_profile import UserProfile
from pieces_os_client.models.users import Users

from gateway.simulator import Simulator

from .conftest import StartSimulator
from .sdkcheck import sdk_roundtrip
from .wirecheck import check_model

POWERED_BY = "Dart with package:shelf"


async def call(
    client: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, aiohttp.ClientResponse, Any]:
    """Send ``body`` as JSON; answer the status, the response and the decoded JSON or text."""
    async with client.request(method, path, json=body) as response:
        raw = await response.read()
        if response.content_type == "application/json":
            return response.status, response, await response.json()
        return response.status, response, raw.decode()


async def test_link_provider_links_when_signed_in(
    client: aiohttp.ClientSession, reference: dict[str, Any]
) -> None:
    status, response, body = await call(client, "POST", "/os/link_provider", {"type": "github"})
    assert status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["x-powered-by"] == POWERED_BY
    check_model(reference, "ReturnedUserProfile", body)
    sdk_roundtrip(ReturnedUserProfile, body)
    providers = body["user"]["providers"]["iterable"]
    assert [p["type"] for p in providers] == ["github"]
    assert providers[0]["user_id"].startswith("github|")


async def test_link_provider_answers_401_text_when_signed_out(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    pieces.state.signed_in = False
    status, response, body = await call(client, "POST", "/os/link_provider", {"type": "github"})
    assert (status, body) == (401, "user not authenticated")
    assert response.headers["Content-Type"] == "text/plain"


async def test_link_provider_rejects_an_unknown_provider_type(
    client: aiohttp.ClientSession,
) -> None:
    status, _, body = await call(client, "POST", "/os/link_provider", {"type": "GITHUB"})
    assert status == 400
    assert "'GITHUB' is not an ExternalProviderTypeEnum value" in body


async def test_device_information(client: aiohttp.ClientSession, reference: dict[str, Any]) -> None:
    status, _, body = await call(client, "GET", "/os/device/information")
    assert status == 200
    check_model(reference, "OSDeviceInformationReturnable", body)
    # The 5.0.1 SDK reshaped the hardware (cpus/gpus); the seed documents' shape is served.
    sdk_roundtrip(
        OSDeviceInformationReturnable,
        body,
        dropped=frozenset({"$.hardware.cpu", "$.hardware.gpu"}),
    )
    assert body["hardware"]["gpu"]["capabilities"] == {
        "schema": {"migration": 0, "semantic": "MAJOR_0_MINOR_0_PATCH_1"},
        "llm": True,
    }


async def test_permissions_are_granted_on_request(
    client: aiohttp.ClientSession, reference: dict[str, Any]
) -> None:
    status, _, before = await call(client, "GET", "/os/permissions")
    assert status == 200
    check_model(reference, "OSPermissions", before)
    sdk_roundtrip(OSPermissions, before)
    assert before["processing"]["vision"] is False
    request = {"processing": {"vision": True}}
    status, _, granted = await call(client, "POST", "/os/permissions/request", request)
    assert status == 200
    check_model(reference, "OSPermissions", granted)
    assert granted["processing"] == {
        "schema": {"migration": 0, "semantic": "MAJOR_0_MINOR_0_PATCH_1"},
        "vision": True,
        "accessibility": False,
    }
    _, _, after = await call(client, "GET", "/os/permissions")
    assert after == granted


async def test_permissions_answer_500_on_linux(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(platform="LINUX")
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        for method, path in (("GET", "/os/permissions"), ("POST", "/os/permissions/request")):
            status, response, body = await call(client, method, path, {})
            assert status == 500
            assert response.headers["Content-Type"] == "text/plain"
            assert "only available on macOS and Windows" in body


async def test_restart_answers_204_without_body(
    client: aiohttp.ClientSession, pieces: Simulator
) -> None:
    async with client.get("/os/restart") as response:
        assert response.status == 204
        assert await response.read() == b""
        assert "Content-Type" not in response.headers
        assert response.headers["x-powered-by"] == POWERED_BY
    assert pieces.state.restarts == 1


async def test_update_check(
    client: aiohttp.ClientSession, pieces: Simulator, reference: dict[str, Any]
) -> None:
    status, _, body = await call(client, "POST", "/os/update/check", {})
    assert status == 200
    check_model(reference, "CheckedOSUpdate", body)
    assert body["status"] == "UP_TO_DATE"
    sdk_roundtrip(OSServerUpdateStatus, body)
    pieces.state.update_status = "AVAILABLE"
    _, _, body = await call(client, "POST", "/os/update/check")
    assert body["status"] == "AVAILABLE"


async def test_pick_files_returns_absolute_paths_with_the_allowed_extensions(
    client: aiohttp.ClientSession,
) -> None:
    body = {"allowedExtensions": ["py", ".ts"]}
    status, _, paths = await call(client, "POST", "/os/files/pick", body)
    assert status == 200
    assert paths == ["/Users/ada/Documents/snippet-1.py", "/Users/ada/Documents/snippet-2.ts"]
    _, _, single = await call(client, "POST", "/os/files/pick", {**body, "allowMultiple": False})
    assert single == paths[:1]
    _, _, default = await call(client, "POST", "/os/files/pick")
    assert len(default) == 2
    assert all(p.startswith("/") for p in default)


async def test_pick_folders_follows_the_platform(start_simulator: StartSimulator) -> None:
    sim = await start_simulator(platform="WINDOWS")
    async with aiohttp.ClientSession(base_url=sim.url) as client:
        status, _, folders = await call(client, "POST", "/os/folders/pick")
        assert status == 200
        assert folders == ["C:\\Users\\ada\\Projects\\pieces-demo"]
        _, _, files = await call(client, "POST", "/os/files/pick", {"allowedExtensions": ["md"]})
        assert files == ["C:\\Users\\ada\\Documents\\snippet-1.md"]


async def test_sign_out_then_in_changes_what_link_provider_answers(
    client: aiohttp.ClientSession, reference: dict[str, Any]
) -> None:
    status, _, users = await call(client, "POST", "/os/sign_out")
    assert status == 200
    check_model(reference, "Users", users)
    sdk_roundtrip(Users, users)
    assert users["iterable"] == []
    status, _, _ = await call(client, "POST", "/os/link_provider", {"type": "google-oauth2"})
    assert status == 401
    status, _, user = await call(client, "POST", "/os/sign_in")
    assert status == 200
    check_model(reference, "UserProfile", user)
    sdk_roundtrip(UserProfile, user)
    status, _, _ = await call(client, "POST", "/os/link_provider", {"type": "google-oauth2"})
    assert status == 200


async def test_external_applications(
    client: aiohttp.ClientSession, reference: dict[str, Any]
) -> None:
    status, _, installed = await call(client, "GET", "/applications/external")
    assert status == 200
    check_model(reference, "DetectedExternalApplications", installed)
    sdk_roundtrip(DetectedExternalApplications, installed)
    status, _, related = await call(client, "GET", "/applications/external/related")
    assert status == 200
    check_model(reference, "DetectedExternalApplications", related)
    names = {a["name"] for a in installed["iterable"]}
    related_names = {a["name"] for a in related["iterable"]}
    assert related_names < names
