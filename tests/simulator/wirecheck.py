"""Checks of JSON answers against the wire reference: keys, required keys, enums, schema."""

from __future__ import annotations

import re
from typing import Any

from gateway.simulator import fixtures

DART_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SCHEMA = {"migration": 0, "semantic": "MAJOR_0_MINOR_0_PATCH_1"}


def check_model(reference: dict[str, Any], model: str, value: Any, where: str = "$") -> None:
    """Assert ``value`` is a wire-exact ``model``: every key known to the model, required keys
    present, enum strings listed, ``schema`` stamped where the model has one, and every
    GroupedTimestamp in the Dart form. Recurses into nested models of the reference."""
    fields = {f["json"]: f for f in reference["models"][model]}
    assert isinstance(value, dict), f"{where}: expected a {model} object, got {value!r}"
    unknown = set(value) - set(fields)
    assert not unknown, f"{where}: keys {sorted(unknown)} are not in {model}"
    for key, spec in fields.items():
        if spec["required"]:
            assert value.get(key) is not None, f"{where}: required {model}.{key} is missing"
    if "schema" in fields:
        assert value.get("schema") == SCHEMA, f"{where}: {model} lacks the schema stamp"
    if model == "GroupedTimestamp":
        assert DART_TIMESTAMP.match(value["value"]), f"{where}: {value['value']!r}"
    for key, item in value.items():
        if item is not None:
            check_type(reference, fields[key]["type"], item, f"{where}.{key}")


def check_type(reference: dict[str, Any], kind: str, value: Any, where: str) -> None:
    """Assert ``value`` has the reference type ``kind``."""
    if kind.startswith("array<"):
        assert isinstance(value, list), f"{where}: expected an array"
        for index, item in enumerate(value):
            check_type(reference, kind[6:-1], item, f"{where}[{index}]")
    elif kind.startswith("map<string,"):
        assert isinstance(value, dict), f"{where}: expected a map"
    elif kind in reference["enums"]:
        enum = reference["enums"][kind]
        assert value in enum["values"] + enum["added_in_5_0_1"], f"{where}: {value!r} not {kind}"
    elif kind in reference["models"]:
        check_model(reference, kind, value, where)
    elif kind == "string" or kind == "string(date-time)":
        assert isinstance(value, str), f"{where}: expected a string"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{where}: expected a boolean"
    elif kind == "integer":
        assert type(value) is int, f"{where}: expected an integer"
    elif kind == "number":
        assert type(value) in (int, float), f"{where}: expected a number"
    elif kind.startswith("string (max_length="):
        assert isinstance(value, str), f"{where}: expected a string"
    else:
        assert kind in reference.get("deeper_models", []), f"{where}: unknown type {kind}"


def sample_application(**overrides: Any) -> dict[str, Any]:
    """A valid ``Application`` request body."""
    body = fixtures.application(7, "LINUX")
    body["id"] = "0f0e0d0c-0b0a-4909-8807-060504030201"
    body.update(overrides)
    return body


def sample_backup(backup_id: str) -> dict[str, Any]:
    """A valid ``Backup`` request body naming ``backup_id``."""
    version, timestamp = backup_id.split("_")
    return {
        "id": backup_id,
        "version": version,
        "timestamp": timestamp,
        "bytes": 1024,
        "created": {"value": "2024-05-01T12:00:00.000Z"},
        "device_name": "pieces-simulator",
        "platform": "MACOS",
    }


def sample_asset() -> dict[str, Any]:
    """A minimal valid ``Asset`` request body."""
    stamp = {"value": "2024-05-01T12:00:00.000Z"}
    return {
        "id": "a5a5a5a5-0000-4000-8000-000000000001",
        "creator": "ada",
        "created": stamp,
        "updated": stamp,
        "formats": {"iterable": []},
        "preview": {"base": {"id": "f0"}},
        "original": {"id": "f0"},
        "mechanism": "MANUAL",
    }
