"""The stateful model of one PiecesOS: user, applications, sessions, backups and operations.

Backup creations and restorations advance with time rather than with background tasks: an
operation started at ``t0`` with ``steps`` steps of ``interval`` seconds reports INITIALIZED
during its first interval, IN-PROGRESS with a rising percentage during the next ``steps``
intervals, then COMPLETED. Cancelling freezes it as CANCELED.

``POST /backup`` answers 204 with no body, so the id of the backup it creates is learned in one
of three ways: the alias ``latest`` (``GET /backup/latest/creation/status``), the
``x-pieces-backup-id`` response header, or ``GET /__simulator__/state``. New ids follow the
catalog's ``{version}_{epoch milliseconds}`` form.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

from gateway.simulator import fixtures
from gateway.simulator.config import FRAMINGS, Framing, SimulatorConfig
from gateway.simulator.wire import (
    CANCELED,
    COMPLETED,
    IN_PROGRESS,
    INITIALIZED,
    PLATFORMS,
    SCHEMA,
    UPDATING_STATUSES,
    dumps,
    now,
)

LATEST: Final = "latest"
"""Alias of the most recent creation (creation routes) or restoration (restoration routes)."""


class ApiError(Exception):
    """An answer of PiecesOS other than success: an HTTP status and a short plain-text message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


BACKUP_NOT_FOUND: Final = "Backup not found"


def step_percentage(step: int, steps: int) -> float:
    """Percentage reported at IN-PROGRESS step ``step`` (1-based) of ``steps``."""
    return round(100.0 * step / (steps + 1), 2)


@dataclass
class Operation:
    """A backup creation or restoration whose status is a function of elapsed time."""

    backup: dict[str, Any]
    started: float
    steps: int
    interval: float
    canceled_at: float | None = None
    finished: bool = False

    def progress(self, at: float | None = None) -> tuple[str, float]:
        """The status string and percentage at monotonic time ``at`` (default: now)."""
        if self.finished:
            return COMPLETED, 100.0
        moment = time.monotonic() if at is None else at
        if self.canceled_at is not None:
            moment = min(moment, self.canceled_at)
        status, percentage = self._at(moment)
        if self.canceled_at is not None and status != COMPLETED:
            return CANCELED, percentage
        return status, percentage

    def _at(self, moment: float) -> tuple[str, float]:
        if self.interval <= 0:
            return COMPLETED, 100.0
        step = int((moment - self.started) / self.interval)
        if step <= 0:
            return INITIALIZED, 0.0
        if step <= self.steps:
            return IN_PROGRESS, step_percentage(step, self.steps)
        return COMPLETED, 100.0

    def in_progress(self, at: float | None = None) -> bool:
        """True while the operation is neither complete nor cancelled."""
        return self.progress(at)[0] in (INITIALIZED, IN_PROGRESS)

    def cancel(self, at: float | None = None) -> None:
        """Freeze the operation as CANCELED."""
        self.canceled_at = time.monotonic() if at is None else at

    def to_dict(self) -> dict[str, Any]:
        status, percentage = self.progress()
        return {"backup": self.backup["id"], "status": status, "percentage": percentage}


_SETTING_CHOICES: Final[dict[str, frozenset[str]]] = {
    "restore_framing": frozenset(FRAMINGS),
    "platform": PLATFORMS,
    "update_status": UPDATING_STATUSES,
}


def _check_setting(name: str, value: Any) -> Any:
    """``value`` if it suits setting ``name``; raise ``ValueError`` if not."""
    kind = SETTING_TYPES[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{name} must be a {kind.__name__}, not {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{name} must not be negative")
    choices = _SETTING_CHOICES.get(name)
    if choices is not None and value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(sorted(choices))}, not {value!r}")
    return value


SETTING_TYPES: Final[dict[str, type]] = {
    "signed_in": bool,
    "too_old": bool,
    "restore_framing": str,
    "restore_messages": int,
    "restore_interval": float,
    "restore_coalesce": bool,
    "restore_seed": int,
    "creation_steps": int,
    "creation_interval": float,
    "restoration_steps": int,
    "restoration_interval": float,
    "platform": str,
    "os_version": str,
    "update_status": str,
}


@dataclass
class SimulatorState:
    """Everything the simulated PiecesOS remembers; attributes may be changed in-process."""

    signed_in: bool
    too_old: bool
    restore_framing: Framing
    restore_messages: int
    restore_interval: float
    restore_coalesce: bool
    restore_seed: int
    creation_steps: int
    creation_interval: float
    restoration_steps: int
    restoration_interval: float
    platform: str
    os_version: str
    update_status: str
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)
    creations: dict[str, Operation] = field(default_factory=dict)
    restorations: dict[str, Operation] = field(default_factory=dict)
    latest_creation: str | None = None
    latest_restoration: str | None = None
    user: dict[str, Any] = field(default_factory=fixtures.user_profile)
    vision: bool = False
    accessibility: bool = False
    restarts: int = 0
    tracked_events: int = 0
    _applications_body: bytes | None = field(default=None, repr=False)

    SETTABLE: ClassVar[tuple[str, ...]] = tuple(SETTING_TYPES)
    """Attributes ``POST /__simulator__/state`` may change (a ``SimulatorConfig`` field each)."""

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> SimulatorState:
        """A fresh state seeded as ``config`` describes."""
        state = cls(**{name: getattr(config, name) for name in cls.SETTABLE})
        for index in range(config.applications):
            app = fixtures.application(index, config.platform)
            state.applications[app["id"]] = app
        for index in range(config.backups):
            seeded = fixtures.seeded_backup(index)
            state.backups[seeded["id"]] = seeded
            state.creations[seeded["id"]] = Operation(
                seeded, started=0.0, steps=0, interval=0.0, finished=True
            )
        return state

    def apply(self, changes: dict[str, Any]) -> None:
        """Change settings (names from ``SETTABLE``); raise ``ValueError``, changing nothing."""
        unknown = sorted(set(changes) - set(self.SETTABLE))
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(unknown)}")
        checked = {name: _check_setting(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)

    # Access checks of the backup group.

    def check_backup_access(self) -> None:
        """Raise ``ApiError`` 505 when too old, 511 when signed out."""
        if self.too_old:
            raise ApiError(505, "PiecesOS is too old to use backups, please update")
        if not self.signed_in:
            raise ApiError(511, "user not signed in")

    # User.

    def sign_in(self) -> dict[str, Any]:
        self.signed_in = True
        return self.user

    def sign_out(self) -> dict[str, Any]:
        self.signed_in = False
        return {"schema": SCHEMA, "iterable": []}

    def link_provider(self, kind: str) -> dict[str, Any]:
        """Link an external provider; raise ``ApiError`` 401 when signed out."""
        if not self.signed_in:
            raise ApiError(401, "user not authenticated")
        providers: list[dict[str, Any]] = self.user["providers"]["iterable"]
        providers[:] = [p for p in providers if p["type"] != kind]
        providers.append(fixtures.external_provider(kind, now()))
        return {"schema": SCHEMA, "user": self.user}

    # OS.

    def permissions(self) -> dict[str, Any]:
        """Current ``OSPermissions``; raise ``ApiError`` 500 on Linux."""
        if self.platform not in ("MACOS", "WINDOWS"):
            raise ApiError(500, "Permissions are only available on macOS and Windows")
        return fixtures.permissions(self.vision, self.accessibility)

    def request_permissions(self, requested: dict[str, Any]) -> dict[str, Any]:
        """Grant what ``requested`` (an ``OSPermissions``) asks for and return the result."""
        self.permissions()
        processing = requested.get("processing") or {}
        self.vision = self.vision or bool(processing.get("vision"))
        self.accessibility = self.accessibility or bool(processing.get("accessibility"))
        return self.permissions()

    # Applications and sessions.

    def applications_body(self) -> bytes:
        """``Applications`` as JSON bytes, cached until the next registration."""
        if self._applications_body is None:
            body = {"schema": SCHEMA, "iterable": list(self.applications.values())}
            self._applications_body = dumps(body)
        return self._applications_body

    def register(self, application: dict[str, Any]) -> dict[str, Any]:
        self.applications[application["id"]] = application
        self._applications_body = None
        return application

    def application(self, application_id: str) -> dict[str, Any]:
        """The registered application; raise ``ApiError`` 500 when unknown."""
        try:
            return self.applications[application_id]
        except KeyError:
            raise ApiError(500, "Application not found") from None

    def open_session(self) -> dict[str, Any]:
        session = fixtures.session(str(uuid.uuid4()), now(), None)
        self.sessions[session["id"]] = session
        return session

    def session(self, session_id: str) -> dict[str, Any]:
        """The session; raise ``ApiError`` 500 when unknown."""
        try:
            return self.sessions[session_id]
        except KeyError:
            raise ApiError(500, "Session not found") from None

    def close_session(self, session_id: str) -> dict[str, Any]:
        """Close the session (closing twice keeps the first time); 500 when unknown."""
        session = self.session(session_id)
        if "closed" not in session:
            opened = datetime.fromisoformat(session["opened"]["value"])
            closed = fixtures.session(session_id, opened, now())
            session["closed"] = closed["closed"]
        return session

    # Backups.

    def backup(self, backup_id: str) -> dict[str, Any]:
        """A backup of the catalog (or a completed creation); raise ``ApiError`` 500 if none."""
        found = self.backups.get(backup_id)
        if found is not None:
            return found
        creation = self.creations.get(backup_id)
        if creation is not None and creation.progress()[0] == COMPLETED:
            self.backups[backup_id] = creation.backup
            return creation.backup
        raise ApiError(500, BACKUP_NOT_FOUND)

    def start_creation(self, size: int) -> str:
        """Start creating a backup of ``size`` bytes; return its id."""
        moment = now()
        created = fixtures.backup(self.os_version, moment, size, "pieces-simulator", self.platform)
        while created["id"] in self.creations or created["id"] in self.backups:
            moment += timedelta(milliseconds=1)
            created = fixtures.backup(
                self.os_version, moment, size, "pieces-simulator", self.platform
            )
        self.creations[created["id"]] = Operation(
            created, time.monotonic(), self.creation_steps, self.creation_interval
        )
        self.latest_creation = created["id"]
        return str(created["id"])

    def _creation(self, backup_id: str) -> Operation | None:
        if backup_id == LATEST and self.latest_creation is not None:
            backup_id = self.latest_creation
        return self.creations.get(backup_id)

    def creation_status(self, backup_id: str) -> dict[str, Any]:
        """``BackupStatus`` of a creation; raise ``ApiError`` 404 when unknown."""
        creation = self._creation(backup_id)
        if creation is None:
            raise ApiError(404, BACKUP_NOT_FOUND)
        status, percentage = creation.progress()
        return fixtures.backup_status(status, percentage, creation.backup)

    def cancel_creation(self, backup_id: str) -> None:
        """Cancel a creation; raise ``ApiError`` 500 when none is in progress."""
        creation = self._creation(backup_id)
        if creation is None or not creation.in_progress():
            raise ApiError(500, "There is not a backup in progress")
        creation.cancel()

    def start_restoration(self, backup_id: str, steps: int, interval: float) -> Operation:
        """Start restoring a backup; raise ``ApiError`` 500 when it is not in the catalog."""
        restoration = Operation(self.backup(backup_id), time.monotonic(), steps, interval)
        self.restorations[backup_id] = restoration
        self.latest_restoration = backup_id
        return restoration

    def _restoration(self, backup_id: str) -> Operation | None:
        if backup_id == LATEST and self.latest_restoration is not None:
            backup_id = self.latest_restoration
        return self.restorations.get(backup_id)

    def restoration_status(self, backup_id: str) -> dict[str, Any]:
        """``BackupStatus`` of a restoration; raise ``ApiError`` 404 when there is none."""
        restoration = self._restoration(backup_id)
        if restoration is None:
            known = backup_id in self.backups or backup_id in self.creations
            raise ApiError(404, "No restoration of this backup" if known else BACKUP_NOT_FOUND)
        status, percentage = restoration.progress()
        return fixtures.backup_status(status, percentage, restoration.backup)

    def cancel_restoration(self, backup_id: str) -> None:
        """Cancel a restoration; raise ``ApiError`` 500 when none is in progress."""
        restoration = self._restoration(backup_id)
        if restoration is None or not restoration.in_progress():
            raise ApiError(500, "There is not a restore in progress")
        restoration.cancel()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary for ``GET /__simulator__/state``."""
        settings = {name: getattr(self, name) for name in self.SETTABLE}
        return {
            **settings,
            "applications": list(self.applications),
            "sessions": {
                key: ("closed" if "closed" in value else "open")
                for key, value in self.sessions.items()
            },
            "backups": list(self.backups),
            "creations": [op.to_dict() for op in self.creations.values()],
            "restorations": [op.to_dict() for op in self.restorations.values()],
            "latest_creation": self.latest_creation,
            "latest_restoration": self.latest_restoration,
            "permissions": {"vision": self.vision, "accessibility": self.accessibility},
            "linked_providers": [p["type"] for p in self.user["providers"]["iterable"]],
            "restarts": self.restarts,
            "tracked_events": self.tracked_events,
        }
