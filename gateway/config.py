"""The gateway's configuration: one typed object, from flags, environment and a TOML file.

Every option has a command-line flag (``--max-response-bytes``), an environment variable
(``PIECES_GATEWAY_MAX_RESPONSE_BYTES``) and a TOML key (``max_response_bytes``). Precedence:
flag, then environment, then the file given by ``--config``, then the default.
:func:`load_config` raises :class:`gateway.errors.ConfigError` naming the option at fault.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import ConfigError

ENV_PREFIX = "PIECES_GATEWAY_"


@dataclass(frozen=True, slots=True)
class Option:
    """One option: its name (the TOML key), parser, default and help."""

    name: str
    parse: Callable[[str], Any]
    help: str
    metavar: str | None = None
    flag_only_bool: bool = False

    @property
    def default(self) -> Any:
        return DEFAULTS[self.name]

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"must be a positive whole number, got {value}")
    return value


def parse_seconds(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {text}")
    return value


def parse_seconds_or_off(text: str) -> float:
    """Seconds, or 0 / ``off`` for never."""
    return 0.0 if text.strip().lower() in {"0", "0.0", "off"} else parse_seconds(text)


def parse_address(text: str) -> str:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6); port 0 picks a free port."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return text


def parse_optional_address(text: str) -> str:
    return "" if text.strip().lower() in {"", "off", "none"} else parse_address(text)


def parse_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the URL must not have a query or fragment: {text!r}")
    return text.rstrip("/")


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


def parse_path(text: str) -> str:
    return str(Path(text).expanduser()) if text else ""


OPTIONS: tuple[Option, ...] = (
    Option("listen", parse_address, "gRPC address to listen on", "HOST:PORT"),
    Option("upstream", parse_url, "PiecesOS base URL", "URL"),
    Option(
        "upstream_timeout",
        parse_seconds,
        "seconds a unary call may take upstream when the caller sets no deadline",
        "SECONDS",
    ),
    Option(
        "upstream_max_connections",
        parse_positive_int,
        "connections kept to PiecesOS at most (each open stream holds one)",
        "N",
    ),
    Option(
        "max_response_bytes",
        parse_positive_int,
        "largest PiecesOS answer accepted; larger is RESOURCE_EXHAUSTED",
        "BYTES",
    ),
    Option(
        "max_message_bytes",
        parse_positive_int,
        "largest gRPC message received or sent",
        "BYTES",
    ),
    Option(
        "max_concurrent_rpcs",
        parse_positive_int,
        "calls (streams included) served at once; more are RESOURCE_EXHAUSTED",
        "N",
    ),
    Option(
        "forward_headers",
        parse_list,
        "gRPC metadata keys forwarded to PiecesOS as HTTP headers (comma-separated)",
        "KEYS",
    ),
    Option("tls_cert", parse_path, "PEM certificate chain for TLS", "FILE"),
    Option("tls_key", parse_path, "PEM private key for TLS", "FILE"),
    Option(
        "tls_client_ca",
        parse_path,
        "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)",
        "FILE",
    ),
    Option(
        "tokens_file",
        parse_path,
        "file of accepted bearer tokens, one per line (# comments allowed)",
        "FILE",
    ),
    Option("tokens", parse_list, "accepted bearer tokens, comma-separated", "TOKENS"),
    Option(
        "insecure",
        parse_bool,
        "allow a non-loopback address without TLS and tokens (logs a loud warning)",
        flag_only_bool=True,
    ),
    Option(
        "allow_destructive",
        parse_bool,
        "allow every destructive RPC (restart, sign-out, restores, cancels, ...)",
        flag_only_bool=True,
    ),
    Option(
        "allow",
        parse_list,
        "destructive RPCs to allow by name, e.g. OsRestart,BackupRestoreSpecificBackup",
        "RPCS",
    ),
    Option(
        "metrics_listen",
        parse_optional_address,
        "HOST:PORT for Prometheus metrics over HTTP (off when empty)",
        "HOST:PORT",
    ),
    Option("log_format", parse_choice("human", "json"), "log format", "human|json"),
    Option(
        "log_level",
        parse_choice("debug", "info", "warning", "error"),
        "log level",
        "LEVEL",
    ),
    Option(
        "health_interval",
        parse_seconds,
        "seconds between upstream health probes",
        "SECONDS",
    ),
    Option(
        "health_path",
        str,
        "path probed on PiecesOS; any HTTP answer counts as up",
        "PATH",
    ),
    Option(
        "event_loop",
        parse_choice("uvloop", "asyncio"),
        "event loop to serve on; uvloop costs less CPU per call",
        "uvloop|asyncio",
    ),
    Option(
        "allocator",
        parse_choice("pymalloc", "jemalloc"),
        "memory allocator; jemalloc (libjemalloc2, preloaded by re-executing the command) "
        "hands back more memory after bursts of calls",
        "pymalloc|jemalloc",
    ),
    Option(
        "memory_release_interval",
        parse_seconds_or_off,
        "seconds between handing freed heap memory back to the system (glibc; jemalloc "
        "does it by itself), 0 for never",
        "SECONDS",
    ),
    Option(
        "shutdown_grace",
        parse_seconds,
        "seconds open calls get to finish after SIGTERM",
        "SECONDS",
    ),
)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Validated settings of one gateway; see :data:`OPTIONS` for what each means."""

    listen: str = "127.0.0.1:50051"
    upstream: str = "http://localhost:1000"
    upstream_timeout: float = 60.0
    upstream_max_connections: int = 1024
    max_response_bytes: int = 64 * 1024 * 1024
    max_message_bytes: int = 16 * 1024 * 1024
    max_concurrent_rpcs: int = 2048
    forward_headers: tuple[str, ...] = ("x-request-id", "traceparent", "tracestate")
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    tokens_file: str = ""
    tokens: tuple[str, ...] = ()
    insecure: bool = False
    allow_destructive: bool = False
    allow: tuple[str, ...] = ()
    metrics_listen: str = ""
    log_format: str = "human"
    log_level: str = "info"
    health_interval: float = 5.0
    health_path: str = "/.well-known/health"
    event_loop: str = "uvloop"
    allocator: str = "pymalloc"
    memory_release_interval: float = 2.0
    shutdown_grace: float = 10.0
    config_file: str = field(default="", compare=False)

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_is_loopback(self) -> bool:
        host = self.listen_host
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)


DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(GatewayConfig)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per option (defaults are resolved later, so flags default to None)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help=f"TOML file with any of these options as keys (env {ENV_PREFIX}CONFIG)",
    )
    for option in OPTIONS:
        help_text = f"{option.help} (env {option.env}; default: {_show(option.default)})"
        if option.flag_only_bool:
            parser.add_argument(
                option.flag, dest=option.name, action="store_const", const="true", help=help_text
            )
        else:
            parser.add_argument(
                option.flag, dest=option.name, metavar=option.metavar, help=help_text
            )


def load_config(
    args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Resolve every option and validate the combination; raises ConfigError."""
    env = os.environ if environ is None else environ
    flags = vars(args) if args is not None else {}
    config_file = flags.get("config") or env.get(ENV_PREFIX + "CONFIG", "")
    file_values = _read_toml(config_file) if config_file else {}
    known = {option.name for option in OPTIONS}
    unknown = sorted(set(file_values) - known)
    if unknown:
        raise ConfigError(f"{config_file}: unknown option(s) {', '.join(unknown)}")

    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw: Any = None
        source = ""
        if flags.get(option.name) is not None:
            raw, source = flags[option.name], option.flag
        elif option.env in env:
            raw, source = env[option.env], option.env
        elif option.name in file_values:
            raw, source = file_values[option.name], f"{option.name} in {config_file}"
        if raw is None:
            continue
        values[option.name] = _parse(option, raw, source)
    config = GatewayConfig(**values, config_file=config_file)
    validate(config)
    return config


def validate(config: GatewayConfig) -> None:
    """Checks that span options; raises ConfigError."""
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("--tls-cert and --tls-key must be given together")
    if config.tls_client_ca and not config.tls_cert:
        raise ConfigError("--tls-client-ca (mTLS) needs --tls-cert and --tls-key")
    for name in ("tls_cert", "tls_key", "tls_client_ca", "tokens_file"):
        path = getattr(config, name)
        if path and not Path(path).is_file():
            raise ConfigError(f"--{name.replace('_', '-')}: no such file: {path}")
    if not config.health_path.startswith("/"):
        raise ConfigError("--health-path must start with '/'")
    if not config.listen_is_loopback and not config.insecure:
        missing = []
        if not config.tls:
            missing.append("TLS (--tls-cert and --tls-key)")
        if not (config.tokens or config.tokens_file):
            missing.append("bearer tokens (--tokens-file or --tokens)")
        if missing:
            raise ConfigError(
                f"--listen {config.listen} is not a loopback address, so it needs "
                f"{' and '.join(missing)}; pass --insecure to serve it unprotected anyway"
            )


def _parse(option: Option, raw: Any, source: str) -> Any:
    try:
        if isinstance(raw, str):
            return option.parse(raw)
        if isinstance(raw, list) and isinstance(option.default, tuple):
            return tuple(str(item) for item in raw)
        if isinstance(raw, bool) and isinstance(option.default, bool):
            return raw
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return option.parse(str(raw))
        raise ValueError(f"unexpected {type(raw).__name__} value {raw!r}")
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"--config: no such file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None
    return {key.replace("-", "_"): value for key, value in data.items()}


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    if value == "":
        return "none"
    return str(value)
