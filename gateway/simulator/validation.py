"""Checks of request bodies against the PiecesOS models they claim to be.

Only what a generated SDK would reject is checked: missing required keys, wrong JSON types and
enum strings that the model does not know. Unknown keys are accepted, as PiecesOS accepts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from gateway.simulator.wire import (
    APPLICATION_NAMES,
    CAPABILITIES,
    EXTERNAL_PROVIDER_TYPES,
    GRANULARITIES,
    MECHANISMS,
    PLATFORMS,
    PRIVACIES,
    SEMANTIC_VERSIONS,
)


class InvalidBody(ValueError):
    """A request body does not match its model; the message names the offending key."""


@dataclass(frozen=True)
class Model:
    """What a model requires: ``fields`` maps each checked key to its type name."""

    name: str
    required: tuple[str, ...]
    fields: Mapping[str, str] = field(default_factory=dict)


_ENUMS: Final[Mapping[str, frozenset[str]]] = {
    "ApplicationNameEnum": APPLICATION_NAMES,
    "PlatformEnum": PLATFORMS,
    "PrivacyEnum": PRIVACIES,
    "CapabilitiesEnum": CAPABILITIES,
    "MechanismEnum": MECHANISMS,
    "ExternalProviderTypeEnum": EXTERNAL_PROVIDER_TYPES,
    "EmbeddedModelSchemaSemanticVersionEnum": SEMANTIC_VERSIONS,
    "Granularity": GRANULARITIES,
}

_MODELS: Final[dict[str, Model]] = {
    m.name: m
    for m in (
        Model("EmbeddedModelSchema", ("migration", "semantic"),
              {"migration": "integer", "semantic": "EmbeddedModelSchemaSemanticVersionEnum"}),
        Model("GroupedTimestamp", ("value",),
              {"schema": "EmbeddedModelSchema", "value": "date-time", "readable": "string"}),
        Model("Application", ("id", "name", "version", "platform", "onboarded", "privacy"),
              {"schema": "EmbeddedModelSchema", "id": "string", "name": "ApplicationNameEnum",
               "version": "string", "platform": "PlatformEnum", "onboarded": "boolean",
               "privacy": "PrivacyEnum", "capabilities": "CapabilitiesEnum",
               "mechanism": "MechanismEnum", "automaticUnload": "boolean"}),
        Model("Asset",
              ("id", "creator", "created", "updated", "formats", "preview", "original",
               "mechanism"),
              {"schema": "EmbeddedModelSchema", "id": "string", "name": "string",
               "creator": "string", "created": "GroupedTimestamp",
               "updated": "GroupedTimestamp", "formats": "object", "preview": "object",
               "original": "object", "mechanism": "MechanismEnum"}),
        Model("Assets", ("iterable",),
              {"schema": "EmbeddedModelSchema", "iterable": "array<Asset>"}),
        Model("Backup",
              ("id", "version", "timestamp", "bytes", "created", "device_name", "platform"),
              {"schema": "EmbeddedModelSchema", "id": "string", "version": "string",
               "timestamp": "string", "bytes": "number", "created": "GroupedTimestamp",
               "device_name": "string", "platform": "PlatformEnum"}),
        Model("SeededExternalProvider", ("type",), {"type": "ExternalProviderTypeEnum"}),
        Model("OSProcessingPermissions", (),
              {"schema": "EmbeddedModelSchema", "vision": "boolean", "accessibility": "boolean"}),
        Model("OSPermissions", (),
              {"schema": "EmbeddedModelSchema", "processing": "OSProcessingPermissions"}),
        Model("UncheckedOSUpdate", (), {"schema": "EmbeddedModelSchema"}),
        Model("FilePickerInput", (),
              {"schema": "EmbeddedModelSchema", "allowedExtensions": "array<string>",
               "allowMultiple": "boolean"}),
        Model("SeededTrackedInteractionEvent", ("description",),
              {"schema": "EmbeddedModelSchema", "description": "string", "element": "string",
               "identifier_description_pair": "object"}),
        Model("SeededTrackedKeyboardEvent", ("description", "shortcut"),
              {"schema": "EmbeddedModelSchema", "description": "string",
               "shortcut": "array<integer>", "identifier_description_pair": "object"}),
        Model("TrackedUserProfile", ("id", "username", "granularity"),
              {"schema": "EmbeddedModelSchema", "id": "string", "username": "string",
               "email": "string", "granularity": "Granularity"}),
        Model("TrackedApplicationInstall", ("application",),
              {"schema": "EmbeddedModelSchema", "application": "Application",
               "user": "TrackedUserProfile"}),
        Model("TrackedApplicationUpdate", ("current",),
              {"schema": "EmbeddedModelSchema", "current": "Application",
               "previous": "Application", "user": "TrackedUserProfile"}),
    )
}  # fmt: skip


def validate(model: str, value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a valid ``model`` JSON object; raise ``InvalidBody`` if not."""
    _check(model, value, model)
    result: dict[str, Any] = value
    return result


def _check(kind: str, value: Any, where: str) -> None:
    if kind.startswith("array<"):
        if not isinstance(value, list):
            raise InvalidBody(f"{where}: expected an array")
        item = kind[len("array<") : -1]
        for index, element in enumerate(value):
            _check(item, element, f"{where}[{index}]")
        return
    model = _MODELS.get(kind)
    if model is not None:
        _check_model(model, value, where)
        return
    enum = _ENUMS.get(kind)
    if enum is not None:
        if not isinstance(value, str) or value not in enum:
            raise InvalidBody(f"{where}: {value!r} is not {_a(kind)} value")
        return
    _check_scalar(kind, value, where)


def _check_model(model: Model, value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise InvalidBody(f"{where}: expected {_a(model.name)} object")
    for key in model.required:
        if value.get(key) is None:
            raise InvalidBody(f"{where}: missing required key {key!r} of {model.name}")
    for key, kind in model.fields.items():
        item = value.get(key)
        if item is not None:
            _check(kind, item, f"{where}.{key}")


def _check_scalar(kind: str, value: Any, where: str) -> None:
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "object":
        ok = isinstance(value, dict)
    elif kind == "date-time":
        ok = isinstance(value, str) and _parses_as_datetime(value)
    else:  # pragma: no cover - the table above names only known kinds
        raise AssertionError(f"unknown kind {kind}")
    if not ok:
        raise InvalidBody(f"{where}: expected {_a(kind)}, got {value!r}")


def _a(noun: str) -> str:
    """``noun`` with its indefinite article."""
    return f"{'an' if noun[0].lower() in 'aeiou' else 'a'} {noun}"


def _parses_as_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
