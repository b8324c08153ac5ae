"""The wire writer against the codec: it writes exactly the message the codec decodes, or leaves
the value to the codec.

Every property compares the writer's bytes, parsed, with ``Codec.decode`` of the same JSON; the
codec is the reference, and its own tests say what the wire rules are.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.codec import Codec
from gateway.errors import UpstreamBodyError
from gateway.simulator import fixtures
from gateway.wirewriter import WireWriter
from pieces.v1 import models_pb2
from tests.unit.test_codec_properties import (
    CONTRACT,
    FUZZED,
    PROPERTY_SETTINGS,
    _mutations,
    messages,
    over_the_wire,
)

CODEC = Codec()
WRITER = WireWriter(CODEC)
SPECIAL_FLOATS = ("NaN", "Infinity", "-Infinity")


def written(descriptor: Descriptor, value: Any) -> bytes | None:
    return WRITER.writer(descriptor)(value)


def parsed(descriptor: Descriptor, data: bytes) -> Any:
    return GetMessageClass(descriptor).FromString(data)


def _mentions_special_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_mentions_special_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_mentions_special_float(item) for item in value)
    return value in SPECIAL_FLOATS


@pytest.mark.parametrize("descriptor", CONTRACT, ids=lambda d: d.name)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_the_json_the_encoder_writes_is_written_as_the_codec_decodes_it(
    descriptor: Descriptor, data: st.DataObject
) -> None:
    message = data.draw(messages(descriptor), label="message")
    wire = over_the_wire(CODEC.encode(message))

    result = written(descriptor, wire)

    if result is None:
        # NaN and the infinities come as strings: the codec converts them.
        assert _mentions_special_float(wire)
    else:
        assert parsed(descriptor, result) == CODEC.decode(descriptor, wire) == message


@pytest.mark.parametrize("descriptor", FUZZED, ids=lambda d: d.name)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_the_codec_refuses_or_reads_leniently_is_left_to_the_codec(
    descriptor: Descriptor, data: st.DataObject
) -> None:
    message = data.draw(messages(descriptor), label="message")
    wire = data.draw(st.composite(lambda draw: _mutations(draw, CODEC.encode(message)))())
    unknowns: list[tuple[str, str, str]] = []
    codec = Codec(on_unknown=lambda *found: unknowns.append(found))

    result = written(descriptor, wire)

    try:
        decoded = codec.decode(descriptor, wire)
    except UpstreamBodyError:
        assert result is None
        return
    if unknowns:
        assert result is None  # the codec reports them; the writer must not skip them silently
    if result is not None:
        assert parsed(descriptor, result) == decoded


def test_the_simulators_applications_are_written_byte_for_byte_as_protobuf_serializes() -> None:
    value = over_the_wire(
        {
            "iterable": [fixtures.application(i, p) for i, p in enumerate(["MACOS", "LINUX"] * 10)],
            "schema": {"migration": 0, "semantic": "MAJOR_0_MINOR_0_PATCH_1"},
        }
    )
    descriptor = models_pb2.Applications.DESCRIPTOR

    result = written(descriptor, value)

    assert result is not None
    assert result == CODEC.decode(descriptor, value).SerializeToString()


@pytest.mark.parametrize(
    ("descriptor", "value"),
    [
        pytest.param(
            models_pb2.Application.DESCRIPTOR, {"id": "a", "nickname": "x"}, id="unknown key"
        ),
        pytest.param(models_pb2.Application.DESCRIPTOR, {"platform": "BEOS"}, id="unknown enum"),
        pytest.param(models_pb2.Application.DESCRIPTOR, {"platform": 3}, id="enum as a number"),
        pytest.param(models_pb2.Application.DESCRIPTOR, {"id": 7}, id="number for a string"),
        pytest.param(models_pb2.Application.DESCRIPTOR, {"onboarded": 1}, id="number for a bool"),
        pytest.param(models_pb2.Application.DESCRIPTOR, {"id": "\ud800"}, id="lone surrogate"),
        pytest.param(
            models_pb2.EmbeddedModelSchema.DESCRIPTOR, {"migration": 1.0}, id="float for int64"
        ),
        pytest.param(
            models_pb2.EmbeddedModelSchema.DESCRIPTOR, {"migration": 2**63}, id="int64 overflow"
        ),
        pytest.param(
            models_pb2.GroupedTimestamp.DESCRIPTOR, {"value": "2024-13-01T00:00:00Z"}, id="date"
        ),
        pytest.param(models_pb2.Applications.DESCRIPTOR, {"iterable": [None]}, id="null item"),
        pytest.param(models_pb2.Applications.DESCRIPTOR, {"iterable": {}}, id="object for list"),
        pytest.param(models_pb2.Applications.DESCRIPTOR, [], id="array for object"),
    ],
)
def test_values_the_codec_must_judge_are_not_written(descriptor: Descriptor, value: Any) -> None:
    assert written(descriptor, value) is None


@pytest.mark.parametrize(
    ("descriptor", "value"),
    [
        pytest.param(
            models_pb2.Application.DESCRIPTOR,
            {"id": "", "onboarded": False, "automaticUnload": False, "name": None},
            id="defaults, presence and null",
        ),
        pytest.param(
            models_pb2.GroupedTimestamp.DESCRIPTOR,
            {"value": "2024-05-01T14:00:00.123456789+02:00"},
            id="timestamp with an offset",
        ),
        pytest.param(
            models_pb2.GroupedTimestamp.DESCRIPTOR,
            {"value": "1969-12-31T23:59:59.500Z"},
            id="timestamp before the epoch",
        ),
        pytest.param(
            models_pb2.EmbeddedModelSchema.DESCRIPTOR,
            {"migration": -(2**63)},
            id="negative int64",
        ),
        pytest.param(
            models_pb2.Tags.DESCRIPTOR,
            {"iterable": [], "indices": {"t1": 0, "": 2**40, "ü": -1}},
            id="map of int64",
        ),
        pytest.param(
            models_pb2.Tag.DESCRIPTOR,
            {"id": "t", "mechanisms": {"a": "MANUAL", "b": "AUTOMATIC"}},
            id="map of enums",
        ),
    ],
)
def test_plain_values_are_written_as_the_codec_decodes_them(
    descriptor: Descriptor, value: Any
) -> None:
    result = written(descriptor, value)

    assert result is not None
    assert parsed(descriptor, result) == CODEC.decode(descriptor, value)


def test_struct_subtrees_are_written_whole() -> None:
    tree = {"a": [1, 2.5, None, True, "x", {"b": {}}], "": -0.0, "c": []}
    value = {"string": {"raw": "x"}, "metadata": tree}
    descriptor = models_pb2.FragmentFormat.DESCRIPTOR

    result = written(descriptor, value)

    assert result is not None
    message = parsed(descriptor, result)
    assert message == CODEC.decode(descriptor, value)
    assert CODEC.encode(message)["metadata"] == tree
