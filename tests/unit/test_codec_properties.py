"""Property tests of the codec over every message type of the contract.

The strategies build random messages straight from the descriptors: a random subset of fields,
valid enum values, timestamps over the whole RFC 3339 range, Struct subtrees, nesting bounded.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.codec import Codec
from gateway.errors import UpstreamBodyError
from pieces.v1 import applications_pb2, backup_pb2, models_pb2, os_pb2

CONTRACT: list[Descriptor] = [
    descriptor
    for module in (models_pb2, os_pb2, applications_pb2, backup_pb2)
    for descriptor in module.DESCRIPTOR.message_types_by_name.values()
]
MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
LEAF_TYPES = {
    "google.protobuf.Timestamp",
    "google.protobuf.Struct",
    "google.protobuf.ListValue",
    "google.protobuf.Value",
    "google.protobuf.Empty",
}
PROPERTY_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CODEC = Codec()

# Numbers inside a Struct are doubles; NaN and the infinities have no JSON form there.
json_leaves = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**53), 2**53).map(float)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=4)
timestamps = st.builds(
    Timestamp,
    seconds=st.integers(MIN_SECONDS, MAX_SECONDS),
    nanos=st.integers(0, 999_999_999),
)


def _struct(content: dict[str, Any]) -> Struct:
    struct = Struct()
    struct.update(content)
    return struct


def _element(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
    """Values of one item of ``field``; None when nesting is used up."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        name = field.message_type.full_name
        if name not in LEAF_TYPES and depth == 0:
            return None
        return messages(field.message_type, max(depth - 1, 0))
    if kind == FieldDescriptor.TYPE_ENUM:
        # The zero value means absent and is never written, so it cannot round-trip when set.
        return st.sampled_from([v.number for v in field.enum_type.values if v.number != 0])
    if kind == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=12)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=False) | st.integers(-(2**60), 2**60).map(float)
    if kind == FieldDescriptor.TYPE_FLOAT:
        return st.floats(allow_nan=False, width=32)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=12)
    low, high = INT_BOUNDS[kind]
    return st.integers(low, high)


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value = _element(message_type.fields_by_name["value"], depth)
        return None if value is None else st.dictionaries(st.text(max_size=8), value, max_size=3)
    element = _element(field, depth)
    if element is None or not field.is_repeated:
        return element
    return st.lists(element, max_size=3)


@functools.cache
def messages(descriptor: Descriptor, depth: int = 2) -> st.SearchStrategy[Message]:
    """Random messages of ``descriptor``; message fields nest at most ``depth`` levels."""
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        return timestamps
    if name == "google.protobuf.Struct":
        return json_objects.map(_struct)
    if name in LEAF_TYPES:
        raise NotImplementedError(name)
    cls = GetMessageClass(descriptor)
    optional = {}
    for field in descriptor.fields:
        strategy = _field(field, depth)
        if strategy is not None:
            optional[field.name] = strategy
    return st.fixed_dictionaries({}, optional=optional).map(lambda fields: cls(**fields))


def over_the_wire(value: Any) -> Any:
    """What the gateway sends or receives: the value serialised by orjson and parsed back."""
    return orjson.loads(orjson.dumps(value))


@pytest.mark.parametrize("descriptor", CONTRACT, ids=lambda d: d.name)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_message_to_json_and_back_is_the_identity(
    descriptor: Descriptor, data: st.DataObject
) -> None:
    message = data.draw(messages(descriptor), label="message")
    wire = over_the_wire(CODEC.encode(message))

    decoded = CODEC.decode(descriptor, wire)

    assert decoded == message
    # The canonical JSON the encoder writes survives the trip the other way as well.
    assert over_the_wire(CODEC.encode(decoded)) == wire


def test_the_contract_is_walked_completely() -> None:
    names = {descriptor.full_name for descriptor in CONTRACT}
    assert len(CONTRACT) > 100
    assert {
        "pieces.v1.Asset",
        "pieces.v1.Applications",
        "pieces.v1.PickFilesResponse",
        "pieces.v1.ApplicationsSessionCloseRequest",
        "pieces.v1.BackupRestoreSpecificBackupStreamedRequest",
    } <= names


@settings(max_examples=300, deadline=None)
@given(timestamp=timestamps)
def test_timestamps_round_trip_and_agree_with_json_format(timestamp: Timestamp) -> None:
    holder = models_pb2.GroupedTimestamp(value=timestamp)

    text = CODEC.encode(holder)["value"]

    reference = Timestamp()
    reference.FromJsonString(text)
    assert reference == timestamp
    assert text.endswith("Z")
    assert len(text.rpartition(".")[2]) in (4, 7, 10)  # 3, 6 or 9 digits, then Z
    assert CODEC.decode(models_pb2.GroupedTimestamp.DESCRIPTOR, {"value": text}) == holder


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    offset_minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
def test_offset_forms_decode_to_the_same_instant(moment: datetime, offset_minutes: int) -> None:
    instant = moment.replace(tzinfo=UTC)
    local = instant.astimezone(timezone(timedelta(minutes=offset_minutes)))
    expected = Timestamp()
    expected.FromDatetime(instant)

    for text in (local.isoformat(), instant.isoformat(), moment.isoformat()):
        decoded = CODEC.decode(models_pb2.GroupedTimestamp.DESCRIPTOR, {"value": text})
        assert decoded.value == expected, text


def _mutations(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one randomly chosen node replaced by random JSON."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutations(draw, value[key])}
    if isinstance(value, list) and value and draw(st.booleans()):
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], _mutations(draw, value[index]), *value[index + 1 :]]
    return draw(json_values | st.integers(-(2**70), 2**70) | st.just("2024-13-01T00:00:00Z"))


FUZZED = [
    models_pb2.Asset.DESCRIPTOR,
    models_pb2.Applications.DESCRIPTOR,
    models_pb2.BackupStatus.DESCRIPTOR,
    models_pb2.UserProfile.DESCRIPTOR,
    models_pb2.Person.DESCRIPTOR,
    models_pb2.SeededTrackedKeyboardEvent.DESCRIPTOR,
]


@pytest.mark.parametrize("descriptor", FUZZED, ids=lambda d: d.name)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_malformed_json_fails_only_with_upstream_body_error(
    descriptor: Descriptor, data: st.DataObject
) -> None:
    message = data.draw(messages(descriptor), label="message")
    wire = data.draw(st.composite(lambda draw: _mutations(draw, CODEC.encode(message)))())

    try:
        decoded = CODEC.decode(descriptor, wire)
    except UpstreamBodyError as exc:
        error: UpstreamBodyError | None = exc
    else:
        error = None
        assert isinstance(decoded, GetMessageClass(descriptor))
    assert (
        error is None
        or str(error).startswith(f"{descriptor.name}: ")
        or str(error).startswith(f"{descriptor.name}.")
    )
