"""Every error the gateway can raise, and the one function that turns them into gRPC statuses.

Modules raise these exceptions; only :func:`to_status` decides what a caller sees. The hierarchy
follows who is at fault:

- :class:`RequestError`: the gRPC caller sent something that cannot become a REST request.
- :class:`UpstreamError` and subclasses: PiecesOS answered badly, slowly, or not at all.
- :class:`ConfigError`: the gateway cannot start as configured (never sent to a caller).
"""

from __future__ import annotations

from typing import NamedTuple

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


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


# --- Mapping to gRPC statuses ------------------------------------------------------------------

UPSTREAM_DOMAIN = "pieces.app"
"""ErrorInfo domain of errors PiecesOS reported or caused."""
GATEWAY_DOMAIN = "pieces-grpc-gateway"
"""ErrorInfo domain of errors the gateway decided on its own (bad request, policy, auth)."""

HTTP_TO_GRPC: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ABORTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
    505: grpc.StatusCode.FAILED_PRECONDITION,
    511: grpc.StatusCode.UNAUTHENTICATED,
}
"""PiecesOS is the real application server, so its statuses map back by meaning."""

HTTP_HINTS: dict[int, tuple[str, str]] = {
    401: ("PIECES_USER_NOT_AUTHENTICATED", "sign in to PiecesOS first"),
    505: ("PIECES_OS_UPDATE_REQUIRED", "PiecesOS is too old for this call: update PiecesOS"),
    511: ("PIECES_SIGN_IN_REQUIRED", "sign in to PiecesOS and connect the cloud"),
}

RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
RETRY_DELAY_SECONDS = 1


def grpc_code_for_http(status: int) -> grpc.StatusCode:
    """The gRPC code for an upstream HTTP status: the table above, else by class."""
    if status in HTTP_TO_GRPC:
        return HTTP_TO_GRPC[status]
    if 400 <= status < 500:
        return grpc.StatusCode.FAILED_PRECONDITION
    if 500 <= status < 600:
        return grpc.StatusCode.INTERNAL
    return grpc.StatusCode.UNKNOWN


class Failure(NamedTuple):
    """What a caller is told about an exception."""

    code: grpc.StatusCode
    message: str
    reason: str
    domain: str
    metadata: dict[str, str]
    retryable: bool


def to_status(exc: BaseException) -> grpc.Status:
    """Turn any exception into the gRPC status (with google.rpc details) a caller receives."""
    failure = classify(exc)
    details: list[Message] = [
        error_details_pb2.ErrorInfo(
            reason=failure.reason, domain=failure.domain, metadata=failure.metadata
        )
    ]
    if failure.retryable:
        delay = duration_pb2.Duration(seconds=RETRY_DELAY_SECONDS)
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    if isinstance(exc, RequestError) and exc.field:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=exc.field, description=failure.message
        )
        details.append(error_details_pb2.BadRequest(field_violations=[violation]))
    status = status_pb2.Status(code=failure.code.value[0], message=failure.message)
    for detail in details:
        status.details.add().Pack(detail)
    result: grpc.Status = rpc_status.to_status(status)
    return result


def classify(exc: BaseException) -> Failure:
    """The one table from exception to code, message, ErrorInfo and retry advice."""
    if isinstance(exc, UpstreamStatusError):
        reason, hint = HTTP_HINTS.get(exc.status_code, ("PIECES_OS_HTTP_ERROR", ""))
        message = f"PiecesOS answered HTTP {exc.status_code}: {exc.text}"
        if hint:
            message += f" ({hint})"
        metadata = {"http_status": str(exc.status_code), "upstream_body": exc.text}
        if exc.url:
            metadata["upstream_url"] = exc.url
        return Failure(
            grpc_code_for_http(exc.status_code),
            message,
            reason,
            UPSTREAM_DOMAIN,
            metadata,
            exc.status_code in RETRYABLE_HTTP,
        )
    if isinstance(exc, UpstreamError):
        code, reason, retryable = _UPSTREAM_KINDS.get(
            type(exc), (grpc.StatusCode.UNAVAILABLE, "PIECES_OS_UNREACHABLE", True)
        )
        metadata = {"upstream_url": exc.url} if exc.url else {}
        return Failure(code, str(exc), reason, UPSTREAM_DOMAIN, metadata, retryable)
    if isinstance(exc, RequestError):
        metadata = {"field": exc.field} if exc.field else {}
        code = grpc.StatusCode.INVALID_ARGUMENT
        return Failure(code, str(exc), "INVALID_REQUEST", GATEWAY_DOMAIN, metadata, False)
    if isinstance(exc, PolicyDenied):
        code = grpc.StatusCode.PERMISSION_DENIED
        return Failure(code, str(exc), "RPC_DENIED", GATEWAY_DOMAIN, {}, False)
    if isinstance(exc, Unauthenticated):
        code = grpc.StatusCode.UNAUTHENTICATED
        return Failure(code, str(exc), "INVALID_CREDENTIALS", GATEWAY_DOMAIN, {}, False)
    message = f"internal gateway error ({type(exc).__name__}); see the gateway log"
    return Failure(grpc.StatusCode.INTERNAL, message, "GATEWAY_INTERNAL", GATEWAY_DOMAIN, {}, False)


_UPSTREAM_KINDS: dict[type[UpstreamError], tuple[grpc.StatusCode, str, bool]] = {
    UpstreamUnavailable: (grpc.StatusCode.UNAVAILABLE, "PIECES_OS_UNREACHABLE", True),
    UpstreamTimeout: (grpc.StatusCode.DEADLINE_EXCEEDED, "PIECES_OS_TIMEOUT", False),
    UpstreamBodyError: (grpc.StatusCode.INTERNAL, "PIECES_OS_BAD_RESPONSE", False),
    UpstreamStreamBroken: (grpc.StatusCode.UNAVAILABLE, "PIECES_OS_STREAM_BROKEN", True),
    UpstreamTooLarge: (grpc.StatusCode.RESOURCE_EXHAUSTED, "PIECES_OS_RESPONSE_TOO_LARGE", False),
}
