"""Every error the gateway can raise, and the one function that turns them into gRPC statuses.

Modules raise these exceptions; only :func:`to_status` decides what a caller sees. The hierarchy
follows who is at fault:

- :class:`RequestError`: the gRPC caller sent something that cannot become a REST request.
- :class:`UpstreamError` and subclasses: PiecesOS answered badly, slowly, or not at all.
- :class:`ConfigError`: the gateway cannot start as configured (never sent to a caller).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of everything that becomes a gRPC status."""


class RequestError(GatewayError):
    """The request cannot be transcoded (bad path value, malformed field). INVALID_ARGUMENT."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PolicyDenied(GatewayError):
    """The gateway's policy forbids this call; nothing was sent upstream. PERMISSION_DENIED."""


class Unauthenticated(GatewayError):
    """The caller did not present a valid bearer token. UNAUTHENTICATED."""


class UpstreamError(GatewayError):
    """Base class of failures talking to PiecesOS."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class UpstreamStatusError(UpstreamError):
    """PiecesOS answered with a non-2xx HTTP status; ``text`` is its (plain-text) body."""

    def __init__(self, status_code: int, text: str, *, url: str = "") -> None:
        super().__init__(f"PiecesOS answered HTTP {status_code}: {text}", url=url)
        self.status_code = status_code
        self.text = text


class UpstreamUnavailable(UpstreamError):
    """The connection to PiecesOS failed (refused, reset, DNS). UNAVAILABLE."""


class UpstreamTimeout(UpstreamError):
    """PiecesOS did not answer within the caller's deadline. DEADLINE_EXCEEDED."""


class UpstreamBodyError(UpstreamError):
    """A 2xx answer whose body is not JSON or not the documented shape. INTERNAL."""


class UpstreamStreamBroken(UpstreamError):
    """The streamed answer ended early (connection dropped or body truncated). UNAVAILABLE."""


class UpstreamTooLarge(UpstreamError):
    """The answer exceeded the configured size cap. RESOURCE_EXHAUSTED."""


class ConfigError(Exception):
    """The gateway cannot start as configured; the message names the option or RPC at fault."""
