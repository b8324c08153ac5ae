"""Settings of the simulator: what it starts with and which faults it injects."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Framing = Literal["ndjson", "concat", "array", "sse", "single"]
FRAMINGS: tuple[Framing, ...] = get_args(Framing)


def _check_framing(value: object) -> Framing:
    """Return ``value`` as a framing name; raise ``ValueError`` for anything else."""
    for framing in FRAMINGS:
        if value == framing:
            return framing
    raise ValueError(f"restore framing must be one of {', '.join(FRAMINGS)}, not {value!r}")


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value!r}")


@dataclass
class FaultConfig:
    """Faults the simulator injects into API answers.

    All knobs are off by default. ``routes`` limits them to some routes: ``None`` means every
    API route; otherwise each entry is a route name (``"GET /applications"``), a route
    template (``"/backup/{backup}"``) or a path prefix (``"/os/"``).

    Raises ``ValueError`` (at construction or in ``update``) for values out of range.
    """

    latency: float = 0.0
    """Seconds added before each answer."""
    error_rate: float = 0.0
    """Share of requests (0..1) answered with ``error_status`` instead of their real answer."""
    error_status: int = 500
    error_text: str = "Internal Server Error"
    malformed_json: bool | float = False
    """``True`` or a rate (0..1): successful JSON bodies (and streamed objects) become invalid."""
    truncated_body: bool = False
    """Successful JSON bodies stop halfway while the framing still claims a complete answer."""
    drop_after: int | None = None
    """Drop the connection of a streamed restore after this many progress objects."""
    refuse_stream: int | None = None
    """The streamed restore answers this status instead of starting."""
    routes: Collection[str] | None = None
    """Stored as a frozenset."""
    seed: int | None = None
    """Seed of the random choices (``error_rate``, ``malformed_json``); ``None`` = unseeded."""

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        if self.latency < 0:
            raise ValueError(f"latency must not be negative, not {self.latency!r}")
        _check_rate("error_rate", self.error_rate)
        if not 100 <= self.error_status <= 599:
            raise ValueError(f"error_status must be an HTTP status, not {self.error_status!r}")
        if not isinstance(self.malformed_json, bool):
            _check_rate("malformed_json", self.malformed_json)
        if self.drop_after is not None and self.drop_after < 0:
            raise ValueError(f"drop_after must not be negative, not {self.drop_after!r}")
        if self.refuse_stream is not None and not 100 <= self.refuse_stream <= 599:
            raise ValueError(f"refuse_stream must be an HTTP status, not {self.refuse_stream!r}")
        if self.routes is not None:
            routes = frozenset(() if isinstance(self.routes, str) else self.routes)
            if isinstance(self.routes, str) or not all(isinstance(r, str) for r in routes):
                raise ValueError("routes must be a list of route names, templates or prefixes")
            self.routes = routes

    @property
    def active(self) -> bool:
        """True when at least one knob is on."""
        return bool(
            self.latency
            or self.error_rate
            or self.malformed_json
            or self.truncated_body
            or self.drop_after is not None
            or self.refuse_stream is not None
        )

    @property
    def malformed_rate(self) -> float:
        """``malformed_json`` as a rate between 0 and 1."""
        if isinstance(self.malformed_json, bool):
            return 1.0 if self.malformed_json else 0.0
        return float(self.malformed_json)

    def applies_to(self, route: str, template: str, path: str) -> bool:
        """Tell whether the faults cover a request to ``route`` (``"METHOD /template"``)."""
        if self.routes is None:
            return True
        for entry in self.routes:
            if entry in (route, template):
                return True
            if entry.startswith("/") and path.startswith(entry):
                return True
        return False

    def update(self, changes: Mapping[str, Any]) -> None:
        """Set the knobs named in ``changes``; raise ``ValueError`` (and change none) if invalid."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault knobs: {', '.join(unknown)}")
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values.update(changes)
        routes = values["routes"]
        if routes is not None and not isinstance(routes, list | tuple | set | frozenset):
            raise ValueError("routes must be a list of route names, templates or prefixes")
        try:
            candidate = FaultConfig(**values)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc
        self.copy_from(candidate)

    def copy_from(self, other: FaultConfig) -> None:
        """Take every knob from ``other`` (keeps this object, which the server reads live)."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(other, f.name))

    def clear(self) -> None:
        """Turn every knob off."""
        self.copy_from(FaultConfig())

    def to_dict(self) -> dict[str, Any]:
        """The knobs as JSON-ready values."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["routes"] = None if self.routes is None else sorted(self.routes)
        return data


@dataclass
class SimulatorConfig:
    """How a simulator starts; ``POST /__simulator__/reset`` returns to it.

    Raises ``ValueError`` for values out of range.
    """

    host: str = "127.0.0.1"
    port: int = 0
    """TCP port; 0 picks a free one (see ``Simulator.port``)."""
    restore_framing: Framing = "ndjson"
    restore_messages: int = 10
    """Number of IN-PROGRESS objects between INITIALIZED and COMPLETED in a streamed restore."""
    restore_interval: float = 0.05
    """Seconds between two objects of a streamed restore."""
    restore_coalesce: bool = False
    """Hold the tail of each streamed object back and send it with the head of the next one."""
    restore_seed: int = 0
    """Seed of the points where streamed objects are cut into chunks."""
    creation_steps: int = 10
    """IN-PROGRESS steps of a backup creation (``POST /backup``) before it completes."""
    creation_interval: float = 0.1
    """Seconds per step of a backup creation."""
    restoration_steps: int = 10
    restoration_interval: float = 0.1
    signed_in: bool = True
    too_old: bool = False
    """When true, the backup endpoints answer 505 (PiecesOS too old to back up)."""
    applications: int = 3
    """Registered applications seeded at start."""
    backups: int = 3
    """Backups seeded in the catalog at start."""
    platform: str = "MACOS"
    os_version: str = "9.0.2"
    update_status: str = "UP_TO_DATE"
    request_log_size: int = 10_000
    """How many requests ``stats.requests`` keeps (oldest dropped first)."""
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        self.restore_framing = _check_framing(self.restore_framing)
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {self.port!r}")
        for name in ("restore_messages", "creation_steps", "restoration_steps", "applications"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.backups < 1:
            raise ValueError("backups must be at least 1")
        for name in ("restore_interval", "creation_interval", "restoration_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.request_log_size < 0:
            raise ValueError("request_log_size must not be negative")
