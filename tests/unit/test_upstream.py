"""UpstreamClient against real sockets: what a person reads when PiecesOS cannot be reached."""

from __future__ import annotations

import pytest

from gateway.errors import UpstreamUnavailable
from gateway.upstream import UpstreamClient, UpstreamSettings
from tests.conftest import unanswered_listener


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
