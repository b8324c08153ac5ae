"""Who may call what: bearer tokens, the per-RPC policy and TLS credentials.

- :class:`TokenInterceptor` rejects calls without a valid ``authorization: Bearer <token>``
  with UNAUTHENTICATED (tokens compared in constant time); the health service stays open so
  probes work without credentials.
- :class:`Policy` decides at start-up which RPCs are allowed: read-only ones always,
  destructive ones (``option (pieces.v1.destructive) = true`` in the .proto) only when allowed
  by name or by ``--allow-destructive``. A denied call is PERMISSION_DENIED and never reaches
  PiecesOS.
- :func:`server_credentials` builds TLS or mTLS credentials from PEM files.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeAlias

import grpc
from google.protobuf.descriptor import MethodDescriptor

from gateway.config import GatewayConfig
from gateway.errors import ConfigError, PolicyDenied, Unauthenticated, to_status
from pieces.v1 import options_pb2

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

OPEN_SERVICES = frozenset({"grpc.health.v1.Health"})
"""Services callable without a token: orchestrators probe health without credentials."""


def is_destructive(method: MethodDescriptor) -> bool:
    """What the .proto says: ``option (pieces.v1.destructive) = true``."""
    return bool(method.GetOptions().Extensions[options_pb2.destructive])


class Policy:
    """The per-RPC allow decision, fixed when the gateway starts."""

    def __init__(self, methods: Iterable[MethodDescriptor], config: GatewayConfig) -> None:
        by_name = {method.name: method for method in methods}
        unknown = sorted(set(config.allow) - set(by_name))
        if unknown:
            raise ConfigError(f"--allow: no RPC named {', '.join(unknown)}")
        self._denied = {
            name
            for name, method in by_name.items()
            if is_destructive(method) and not config.allow_destructive and name not in config.allow
        }

    def allowed(self, method: MethodDescriptor) -> bool:
        return method.name not in self._denied

    def denial(self, method: MethodDescriptor) -> PolicyDenied:
        return PolicyDenied(
            f"{method.name} is destructive and this gateway does not allow it; start the "
            f"gateway with --allow {method.name} (or --allow-destructive) to permit it"
        )


def load_tokens(config: GatewayConfig) -> tuple[str, ...]:
    """Tokens from ``--tokens`` and ``--tokens-file`` (one per line, ``#`` comments)."""
    tokens = list(config.tokens)
    if config.tokens_file:
        for line in Path(config.tokens_file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                tokens.append(line)
    if any(len(token) < 16 for token in tokens):
        raise ConfigError("bearer tokens must be at least 16 characters long")
    return tuple(tokens)


class TokenChecker:
    """Constant-time check of a presented bearer token against the accepted ones."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = tuple(_digest(token.encode()) for token in tokens)

    def check(self, metadata: Iterable[tuple[str, Any]] | None) -> None:
        """Raises Unauthenticated unless ``metadata`` carries an accepted bearer token."""
        header = ""
        for key, value in metadata or ():
            if key == "authorization":
                header = value if isinstance(value, str) else value.decode("latin-1")
                break
        scheme, _, token = header.partition(" ")
        if not header:
            raise Unauthenticated("missing authorization metadata: send 'Bearer <token>'")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
        presented = _digest(token.strip().encode())
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(presented, digest)
        if not matched:
            raise Unauthenticated("the bearer token is not accepted by this gateway")


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls to every service except health without a valid bearer token."""

    def __init__(self, checker: TokenChecker) -> None:
        self._checker = checker

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        service = handler_call_details.method.lstrip("/").rpartition("/")[0]
        if service in OPEN_SERVICES:
            return await continuation(handler_call_details)
        try:
            self._checker.check(handler_call_details.invocation_metadata)
        except Unauthenticated as exc:
            return _rejecting_handler(exc)
        return await continuation(handler_call_details)


def _rejecting_handler(exc: Unauthenticated) -> Handler:
    status = to_status(exc)

    async def reject(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort_with_status(status)

    # The request is never looked at, so its bytes need no deserializer.
    return grpc.unary_unary_rpc_method_handler(reject)


def server_credentials(config: GatewayConfig) -> grpc.ServerCredentials:
    """TLS credentials; with ``--tls-client-ca`` clients must present a certificate (mTLS)."""
    try:
        key = Path(config.tls_key).read_bytes()
        chain = Path(config.tls_cert).read_bytes()
        client_ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
    except OSError as exc:
        raise ConfigError(f"cannot read TLS files: {exc}") from None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
