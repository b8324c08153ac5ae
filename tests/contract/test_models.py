"""Messages and enums in protos/ carry the exact wire names of the PiecesOS reference."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor

from pieces.v1 import models_pb2, options_pb2

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "pieces-models.json"
MODELS_FILE = models_pb2.DESCRIPTOR


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    if not REFERENCE.exists():
        pytest.fail(f"the wire reference is missing: {REFERENCE}")
    data: dict[str, Any] = json.loads(REFERENCE.read_text())
    return data


def test_every_reference_model_is_typed(reference: dict[str, Any]) -> None:
    assert set(reference["models"]) == set(MODELS_FILE.message_types_by_name)


def test_every_reference_enum_exists(reference: dict[str, Any]) -> None:
    assert set(reference["enums"]) == set(MODELS_FILE.enum_types_by_name)


def wire_values(enum_name: str) -> list[str]:
    enum = MODELS_FILE.enum_types_by_name[enum_name]
    return [v.GetOptions().Extensions[options_pb2.wire_value] for v in enum.values]


def test_enum_wire_strings_match_the_reference(reference: dict[str, Any]) -> None:
    for name, spec in reference["enums"].items():
        expected = list(spec["values"]) + [
            v for v in spec["added_in_5_0_1"] if v not in spec["values"]
        ]
        enum = MODELS_FILE.enum_types_by_name[name]
        assert enum.values[0].number == 0
        assert enum.values[0].name.endswith("_UNSPECIFIED")
        assert wire_values(name) == ["", *expected], name


@pytest.mark.parametrize(
    ("enum_name", "wire"),
    [
        ("ModelDownloadProgressStatusEnum", "IN-PROGRESS"),
        ("ExternalProviderTypeEnum", "google-oauth2"),
        ("ModelFoundationEnum", "GPT_3.5"),
        ("ModelFoundationEnum", "COMMAND_R+"),
        ("SubscriptionTermEnum", "month"),
    ],
)
def test_unusual_wire_strings_survive(enum_name: str, wire: str) -> None:
    assert wire in wire_values(enum_name)


TYPE_OF = {
    "string": FieldDescriptor.TYPE_STRING,
    "integer": FieldDescriptor.TYPE_INT64,
    "number": FieldDescriptor.TYPE_DOUBLE,
    "boolean": FieldDescriptor.TYPE_BOOL,
}


def test_fields_have_wire_names_types_and_presence(reference: dict[str, Any]) -> None:
    for model, fields in reference["models"].items():
        message = MODELS_FILE.message_types_by_name[model]
        assert [f.json_name for f in message.fields] == [f["json"] for f in fields], model
        for spec, field in zip(fields, message.fields, strict=True):
            where = f"{model}.{spec['json']}"
            kind = spec["type"]
            inner = re.sub(r"^(array<|map<string,)|>$", "", kind)
            assert field.is_repeated == (kind != inner), where
            wire_required = field.GetOptions().Extensions[options_pb2.wire_required]
            assert wire_required == (field.is_repeated and spec["required"]), where
            if inner in TYPE_OF and not kind.startswith("map<"):
                assert field.type == TYPE_OF[inner], where
                # Optional on the wire means `optional` (presence); required means always written.
                if not field.is_repeated:
                    assert field.has_presence == (not spec["required"]), where
            elif inner == "string(date-time)":
                assert field.message_type.full_name == "google.protobuf.Timestamp", where
            elif inner in reference["enums"]:
                if not kind.startswith("map<"):
                    assert field.enum_type.name == inner, where
            elif inner in reference["models"]:
                if not kind.startswith("map<"):
                    assert field.message_type.name == inner, where
            elif not kind.startswith("map<"):
                assert field.message_type.full_name == "google.protobuf.Struct", where


def test_grouped_timestamp_value_is_a_timestamp() -> None:
    field = models_pb2.GroupedTimestamp.DESCRIPTOR.fields_by_name["value"]
    assert field.message_type.full_name == "google.protobuf.Timestamp"


def test_backup_round_trips_through_the_generated_classes() -> None:
    created = timestamp_pb2.Timestamp()
    created.FromJsonString("2024-05-01T12:00:00.123Z")
    backup = models_pb2.Backup(
        id="1714564800000",
        version="10.1.0",
        timestamp="1714564800000",
        bytes=12345678.0,
        created=models_pb2.GroupedTimestamp(value=created, readable="May 1st"),
        device_name="workstation",
        platform=models_pb2.PLATFORM_ENUM_MACOS,
        schema=models_pb2.EmbeddedModelSchema(
            migration=0,
            semantic=models_pb2.EMBEDDED_MODEL_SCHEMA_SEMANTIC_VERSION_ENUM_MAJOR_0_MINOR_0_PATCH_1,
        ),
    )
    again = models_pb2.Backup.FromString(backup.SerializeToString())
    assert again == backup
    assert again.device_name == "workstation"
    assert again.created.value.ToJsonString() == "2024-05-01T12:00:00.123Z"
    assert again.platform == models_pb2.PLATFORM_ENUM_MACOS
    assert again.bytes == 12345678.0


def test_int64_and_struct_subtree_round_trip() -> None:
    # A Model carries a Struct subtree (max_tokens) and a typed Score with int64 counters.
    tokens = struct_pb2.Struct()
    tokens.update({"total": 4096, "nested": {"list": [1, "two", None, True]}})
    model = models_pb2.Model(id="m", name="n", cloud=False, max_tokens=tokens)
    score = models_pb2.Score(manual=2**62 + 1, automatic=-5, priority=0)
    assert score.HasField("priority")
    assert not score.HasField("reuse")
    asset = models_pb2.Asset(id="a", score=score)
    again_model = models_pb2.Model.FromString(model.SerializeToString())
    again_asset = models_pb2.Asset.FromString(asset.SerializeToString())
    assert again_model == model
    assert again_model.max_tokens["nested"]["list"][1] == "two"
    assert again_model.max_tokens["total"] == 4096
    assert again_asset.score.manual == 2**62 + 1
    assert again_asset.score.automatic == -5
    assert again_asset.score.HasField("priority")
    assert not again_asset.score.HasField("reuse")
