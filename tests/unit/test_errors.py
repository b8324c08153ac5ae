"""The one mapping from gateway exceptions to gRPC statuses with google.rpc details."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from gateway.errors import (
    PolicyDenied,
    RequestError,
    UpstreamBodyError,
    UpstreamStatusError,
    UpstreamStreamBroken,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
    grpc_code_for_http,
    to_status,
)


def details(status: grpc.Status) -> tuple[status_pb2.Status, dict[str, object]]:
    (key, value) = status.trailing_metadata[0]
    assert key == "grpc-status-details-bin"
    decoded = status_pb2.Status.FromString(value)
    found: dict[str, object] = {}
    for any_detail in decoded.details:
        for cls in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.RetryInfo,
            error_details_pb2.BadRequest,
        ):
            if any_detail.Is(cls.DESCRIPTOR):
                message = cls()
                any_detail.Unpack(message)
                found[cls.__name__] = message
    return decoded, found


@pytest.mark.parametrize(
    ("http", "code"),
    [
        (400, grpc.StatusCode.INVALID_ARGUMENT),
        (401, grpc.StatusCode.UNAUTHENTICATED),
        (403, grpc.StatusCode.PERMISSION_DENIED),
        (404, grpc.StatusCode.NOT_FOUND),
        (409, grpc.StatusCode.ABORTED),
        (429, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (500, grpc.StatusCode.INTERNAL),
        (501, grpc.StatusCode.UNIMPLEMENTED),
        (503, grpc.StatusCode.UNAVAILABLE),
        (504, grpc.StatusCode.DEADLINE_EXCEEDED),
        (505, grpc.StatusCode.FAILED_PRECONDITION),
        (511, grpc.StatusCode.UNAUTHENTICATED),
        (418, grpc.StatusCode.FAILED_PRECONDITION),
        (599, grpc.StatusCode.INTERNAL),
        (302, grpc.StatusCode.UNKNOWN),
    ],
)
def test_http_status_maps_by_meaning(http: int, code: grpc.StatusCode) -> None:
    assert grpc_code_for_http(http) is code
    status = to_status(UpstreamStatusError(http, "some text", url="http://x/y"))
    assert status.code is code


def test_upstream_status_carries_error_info_with_http_status_and_text() -> None:
    status = to_status(UpstreamStatusError(511, "user not signed in", url="http://h/backup"))
    assert "sign in to PiecesOS and connect the cloud" in status.details
    assert "user not signed in" in status.details
    decoded, found = details(status)
    assert decoded.code == code_pb2.UNAUTHENTICATED
    info = found["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "PIECES_SIGN_IN_REQUIRED"
    assert info.domain == "pieces.app"
    assert info.metadata["http_status"] == "511"
    assert info.metadata["upstream_body"] == "user not signed in"
    assert "RetryInfo" not in found


def test_retryable_statuses_carry_retry_info() -> None:
    for exc in (
        UpstreamStatusError(503, "busy"),
        UpstreamStatusError(429, "slow down"),
        UpstreamUnavailable("refused", url="http://h"),
        UpstreamStreamBroken("dropped"),
    ):
        _, found = details(to_status(exc))
        assert "RetryInfo" in found, exc


@pytest.mark.parametrize(
    ("exc", "code", "reason"),
    [
        (
            UpstreamUnavailable("cannot connect"),
            grpc.StatusCode.UNAVAILABLE,
            "PIECES_OS_UNREACHABLE",
        ),
        (UpstreamTimeout("late"), grpc.StatusCode.DEADLINE_EXCEEDED, "PIECES_OS_TIMEOUT"),
        (UpstreamBodyError("not JSON"), grpc.StatusCode.INTERNAL, "PIECES_OS_BAD_RESPONSE"),
        (UpstreamStreamBroken("cut"), grpc.StatusCode.UNAVAILABLE, "PIECES_OS_STREAM_BROKEN"),
        (
            UpstreamTooLarge("big"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "PIECES_OS_RESPONSE_TOO_LARGE",
        ),
        (PolicyDenied("no"), grpc.StatusCode.PERMISSION_DENIED, "RPC_DENIED"),
        (RuntimeError("boom"), grpc.StatusCode.INTERNAL, "GATEWAY_INTERNAL"),
    ],
)
def test_every_failure_has_a_code_and_reason(
    exc: BaseException, code: grpc.StatusCode, reason: str
) -> None:
    status = to_status(exc)
    assert status.code is code
    _, found = details(status)
    info = found["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == reason


def test_internal_errors_do_not_leak_exception_text() -> None:
    status = to_status(RuntimeError("secret path /etc/shadow"))
    assert "shadow" not in status.details


def test_request_error_names_the_field() -> None:
    status = to_status(RequestError("backup must not be empty", field="backup"))
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    _, found = details(status)
    bad = found["BadRequest"]
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == "backup"


def test_status_round_trips_through_grpc_status_helpers() -> None:
    status = to_status(UpstreamStatusError(404, "Backup not found"))
    decoded = status_pb2.Status.FromString(status.trailing_metadata[0][1])
    again = rpc_status.to_status(decoded)
    assert again.code is grpc.StatusCode.NOT_FOUND
