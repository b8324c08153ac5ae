"""The 31 PiecesOS routes of the seed documents and the reserved control prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CONTROL_PREFIX: Final = "/__simulator__/"
"""Paths under this prefix drive the simulator and are never counted as API traffic."""


@dataclass(frozen=True, slots=True)
class Route:
    """One API route: method, path template and the name of its handler."""

    method: str
    template: str
    handler: str

    @property
    def name(self) -> str:
        """The key of the route in the stats, e.g. ``"GET /backup/{backup}"``."""
        return f"{self.method} {self.template}"


# Static paths come before the templated ones that could shadow them.
ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", "/os/link_provider", "link_provider"),
    Route("GET", "/os/device/information", "device_information"),
    Route("GET", "/os/permissions", "permissions"),
    Route("POST", "/os/permissions/request", "permissions_request"),
    Route("GET", "/os/restart", "restart"),
    Route("POST", "/os/update/check", "update_check"),
    Route("POST", "/os/files/pick", "pick_files"),
    Route("POST", "/os/folders/pick", "pick_folders"),
    Route("POST", "/os/sign_in", "sign_in"),
    Route("POST", "/os/sign_out", "sign_out"),
    Route("GET", "/applications/external/related", "external_related"),
    Route("GET", "/applications/external", "external"),
    Route("POST", "/applications/register", "register"),
    Route("POST", "/applications/session/close", "session_close"),
    Route("POST", "/applications/session/open", "session_open"),
    Route("GET", "/applications/sessions/{session}", "session_snapshot"),
    Route("GET", "/applications", "applications"),
    Route("GET", "/applications/{application}", "application"),
    Route("POST", "/applications/usage/engagement/interaction", "engagement_interaction"),
    Route("POST", "/applications/usage/engagement/keyboard", "engagement_keyboard"),
    Route("POST", "/applications/usage/installation", "usage_installation"),
    Route("POST", "/applications/usage/updated", "usage_updated"),
    Route("POST", "/backup", "backup"),
    Route("POST", "/backup/asset", "backup_asset"),
    Route("POST", "/backup/{backup}/restore", "restore"),
    Route("POST", "/backup/{backup}/restore/streamed", "restore_streamed"),
    Route("GET", "/backup/{backup}", "backup_snapshot"),
    Route("POST", "/backup/{backup}/creation/cancel", "creation_cancel"),
    Route("GET", "/backup/{backup}/creation/status", "creation_status"),
    Route("POST", "/backup/{backup}/restoration/cancel", "restoration_cancel"),
    Route("GET", "/backup/{backup}/restoration/status", "restoration_status"),
)

ROUTE_NAMES: Final = tuple(route.name for route in ROUTES)
