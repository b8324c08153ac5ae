"""JSON ⇄ protobuf in the PiecesOS wire form, compiled once per message type.

The wire form differs from proto3 JSON (``google.protobuf.json_format``) in these ways:

- Keys are ``FieldDescriptor.json_name`` only; the proto field name is an unknown key.
- Enum values are the ``(pieces.v1.wire_value)`` string of each value. The zero value has none and
  is never written; an enum string this gateway does not know leaves a field unset (a list item
  or map value becomes the zero value, so positions and keys are kept).
- Plain (non-``optional``) scalars are required on the wire and always written, even when false,
  zero or ``""``. ``optional`` scalars and messages are written iff set, repeated fields and maps
  iff non-empty, except those marked ``(pieces.v1.wire_required)`` (``iterable`` lists, mostly),
  which are always written.
- Integers are JSON numbers, never strings. A double with an integral value below 2**53 is written
  as a JSON integer; NaN and the infinities as the strings ``"NaN"``, ``"Infinity"``,
  ``"-Infinity"``.
- ``google.protobuf.Timestamp`` is an RFC 3339 string, written in the Dart form
  ``2024-05-01T12:00:00.000Z`` (UTC; milli-, micro- or nanosecond digits) and read with ``Z``, an
  offset, or none (taken as UTC). ``Struct``/``ListValue``/``Value`` are plain JSON values.
- ``null`` for a field means absent. Unknown keys and enum strings are skipped, logged at debug
  level and reported to the ``on_unknown`` hook.

Decoding raises :class:`~gateway.errors.UpstreamBodyError` when the JSON does not have the shape
the message describes; its text names the path, e.g. ``Backup.created.value: expected an RFC 3339
timestamp, got '2024-13-01'``. Encoding raises :class:`~gateway.errors.RequestError` for a value
the wire cannot carry (an enum number without a wire string, a timestamp out of range).
"""

from __future__ import annotations

import base64
import binascii
import keyword
import logging
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Final, Literal, TypeAlias, cast

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from gateway.errors import ConfigError, RequestError, UpstreamBodyError
from pieces.v1 import options_pb2

__all__ = [
    "ABSENT",
    "INT_RANGES",
    "Codec",
    "OnUnknown",
    "ShapeError",
    "UnknownKind",
    "is_map",
    "parse_base64",
    "parse_timestamp",
]

logger = logging.getLogger("gateway.codec")

UnknownKind: TypeAlias = Literal["field", "enum"]
OnUnknown: TypeAlias = Callable[[UnknownKind, str, str], None]
_Conv: TypeAlias = Callable[[Any], Any]


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()
"""What :meth:`Codec.encode_field` answers for a field that is not written on the wire."""


class _Skip:
    __slots__ = ()


_SKIP: Final = _Skip()


class _Never:
    """A type no JSON value has: fields with this fast type always go through their converter."""


class _ShapeError(Exception):
    """A value that does not fit its field; ``path`` is collected innermost first."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []

    def where(self, root: str) -> str:
        return root + "".join(reversed(self.path))

    def text(self, root: str) -> str:
        return f"{self.where(root)}: {self.reason}"


_TYPE = FieldDescriptor
_STRUCT = "google.protobuf.Struct"
_LIST_VALUE = "google.protobuf.ListValue"
_VALUE = "google.protobuf.Value"
_TIMESTAMP = "google.protobuf.Timestamp"
_EMPTY = "google.protobuf.Empty"
_UNSUPPORTED = frozenset(
    {
        "google.protobuf.Any",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        "google.protobuf.DoubleValue",
        "google.protobuf.FloatValue",
        "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value",
        "google.protobuf.Int32Value",
        "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue",
        "google.protobuf.StringValue",
        "google.protobuf.BytesValue",
    }
)
_INT_RANGES: Final = {
    _TYPE.TYPE_INT32: (-(2**31), 2**31 - 1, "int32"),
    _TYPE.TYPE_SINT32: (-(2**31), 2**31 - 1, "int32"),
    _TYPE.TYPE_SFIXED32: (-(2**31), 2**31 - 1, "int32"),
    _TYPE.TYPE_UINT32: (0, 2**32 - 1, "uint32"),
    _TYPE.TYPE_FIXED32: (0, 2**32 - 1, "uint32"),
    _TYPE.TYPE_INT64: (-(2**63), 2**63 - 1, "int64"),
    _TYPE.TYPE_SINT64: (-(2**63), 2**63 - 1, "int64"),
    _TYPE.TYPE_SFIXED64: (-(2**63), 2**63 - 1, "int64"),
    _TYPE.TYPE_UINT64: (0, 2**64 - 1, "uint64"),
    _TYPE.TYPE_FIXED64: (0, 2**64 - 1, "uint64"),
}
_AS_IS: Final = 0
_CALL: Final = 1
_ENUM: Final = 2
_SAFE_INTEGER: Final = 2.0**53
_FLOAT32_MAX: Final = 3.4028234663852886e38
_SPECIAL_FLOATS: Final = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_MIN_SECONDS: Final = -62135596800  # 0001-01-01T00:00:00Z
_MAX_SECONDS: Final = 253402300799  # 9999-12-31T23:59:59Z
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:?[0-9]{2})?"
).fullmatch
_fromisoformat = datetime.fromisoformat
_copysign = math.copysign
_TWO_DIGITS: Final = tuple(f"{n:02d}" for n in range(60))
_HOURS_MINUTES: Final = tuple(f"{n // 60:02d}:{n % 60:02d}:" for n in range(1440))
_MILLIS: Final = {n * 1_000_000: f".{n:03d}Z" for n in range(1000)}  # nanos -> fraction
_DAY_PREFIXES: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DDT", days in range only
_MAP_KEY_INT = re.compile(r"-?[0-9]+").fullmatch
# Unbound: a method looked up on a message is first looked for among its fields.
_value_kind: Final = struct_pb2.Value.WhichOneof


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _locate(check: _Conv, value: Any, root: str, error: Exception) -> str:
    """The message for a value the constructor refused, with its path when ``check`` finds it."""
    try:
        check(value)
    except _ShapeError as found:
        return found.text(root)
    except RecursionError:
        return f"{root}: nested too deeply"
    return f"{root}: {error}"


def _log_unknown(kind: UnknownKind, where: str, what: str) -> None:
    logger.debug("skipped unknown %s %r in %s", kind, what, where)


# Decoding: each converter takes a parsed JSON value and answers what the message constructor
# accepts for the field (nested messages as keyword dicts), or _SKIP to leave the field unset.


def _dec_string(value: Any) -> str:
    if type(value) is str:
        return value
    raise _ShapeError(f"expected a string, got {_describe(value)}")


def _dec_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise _ShapeError(f"expected a boolean, got {_describe(value)}")


def _dec_int(low: int, high: int, label: str) -> _Conv:
    def dec_int(value: Any) -> int:
        if type(value) is int:
            if low <= value <= high:
                return value
        elif type(value) is float and value.is_integer() and low <= value <= high:
            return int(value)
        raise _ShapeError(f"expected an integer ({label}), got {_describe(value)}")

    return dec_int


def _dec_double(value: Any) -> float | int:
    kind = type(value)
    if kind is float or kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        special = _SPECIAL_FLOATS.get(value)
        if special is not None:
            return special
    raise _ShapeError(f"expected a number, got {_describe(value)}")


def _dec_float(value: Any) -> float | int:
    number = _dec_double(value)
    if -_FLOAT32_MAX <= number <= _FLOAT32_MAX or number != number or abs(number) == float("inf"):
        return number
    raise _ShapeError(f"expected a number within float32, got {_describe(value)}")


def _dec_bytes(value: Any) -> bytes:
    if type(value) is str:
        text = value.replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _ShapeError(f"expected a base64 string, got {_describe(value)}")


def _dec_timestamp(value: Any) -> dict[str, int]:
    """An RFC 3339 string as Timestamp fields; no offset means UTC."""
    if type(value) is not str:
        raise _ShapeError(f"expected an RFC 3339 timestamp, got {_describe(value)}")
    size = len(value)
    if (
        (size == 24 or size == 27)
        and value[-1] == "Z"
        and value[19] == "."
        and value[10] == "T"
        and value[4] == "-"
        and value[7] == "-"
        and value[13] == ":"
        and value[16] == ":"
    ):
        # The Dart form PiecesOS writes (milli- or microseconds); fromisoformat checks the digits.
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            pass
        else:
            return {
                "seconds": (parsed.toordinal() - _EPOCH_ORDINAL) * 86400
                + parsed.hour * 3600
                + parsed.minute * 60
                + parsed.second,
                "nanos": parsed.microsecond * 1000,
            }
    match = _RFC3339(value)
    if match is not None:
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        h, m, s = int(hour), int(minute), int(second)
        try:
            days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            days = None
        if days is not None and h < 24 and m < 60 and s < 60:
            seconds = days * 86400 + h * 3600 + m * 60 + s
            valid = True
            if offset is not None and offset != "Z" and offset != "z":
                off_h, off_m = int(offset[1:3]), int(offset[-2:])
                valid = off_h < 24 and off_m < 60
                shift = off_h * 3600 + off_m * 60
                seconds += -shift if offset[0] == "+" else shift
            if valid and _MIN_SECONDS <= seconds <= _MAX_SECONDS:
                nanos = int(fraction.ljust(9, "0")) if fraction else 0
                return {"seconds": seconds, "nanos": nanos}
    raise _ShapeError(f"expected an RFC 3339 timestamp, got {_describe(value)}")


def _dec_struct(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    raise _ShapeError(f"expected an object, got {_describe(value)}")


def _dec_list_value(value: Any) -> list[Any]:
    if type(value) is list:
        return value
    raise _ShapeError(f"expected an array, got {_describe(value)}")


def _dec_value(value: Any) -> dict[str, Any]:
    """A JSON value as ``google.protobuf.Value`` constructor arguments."""
    kind = type(value)
    if kind is str:
        return {"string_value": value}
    if kind is bool:
        return {"bool_value": value}
    if kind is int or kind is float:
        return {"number_value": value}
    if kind is dict:
        return {"struct_value": value}
    if kind is list:
        return {"list_value": value}
    if value is None:
        return {"null_value": 0}
    raise _ShapeError(f"expected a JSON value, got {_describe(value)}")


def _dec_empty(value: Any) -> dict[str, Any]:
    return {}


def _dec_list(element: _Conv, fast: type) -> _Conv:
    def dec_list(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _ShapeError(f"expected an array, got {_describe(value)}")
        for item in value:
            if type(item) is not fast:
                break
        else:
            return value
        out: list[Any] = []
        append = out.append
        try:
            for item in value:
                append(element(item))
        except _ShapeError as exc:
            exc.path.append(f"[{len(out)}]")
            raise
        return out

    return dec_list


def _dec_map(key_conv: _Conv | None, element: _Conv, fast: type) -> _Conv:
    def dec_map(value: Any) -> dict[Any, Any]:
        if type(value) is not dict:
            raise _ShapeError(f"expected an object, got {_describe(value)}")
        if key_conv is None:
            for item in value.values():
                if type(item) is not fast:
                    break
            else:
                return value
        out: dict[Any, Any] = {}
        key = ""
        try:
            for key, item in value.items():
                out[key if key_conv is None else key_conv(key)] = element(item)
        except _ShapeError as exc:
            exc.path.append(f"[{key!r}]")
            raise
        return out

    return dec_map


def _dec_map_key(field: FieldDescriptor) -> _Conv | None:
    if field.type == _TYPE.TYPE_STRING:
        return None
    if field.type == _TYPE.TYPE_BOOL:

        def dec_bool_key(key: str) -> bool:
            if key == "true" or key == "false":
                return key == "true"
            raise _ShapeError(f"expected a boolean map key, got {key!r}")

        return dec_bool_key
    low, high, label = _INT_RANGES[field.type]

    def dec_int_key(key: str) -> int:
        if _MAP_KEY_INT(key) is not None and low <= int(key) <= high:
            return int(key)
        raise _ShapeError(f"expected an integer ({label}) map key, got {key!r}")

    return dec_int_key


# The wire writer (gateway.wirewriter) reads timestamps and base64 strings with these very
# functions, so that it takes exactly the values the decoder takes.
ShapeError = _ShapeError
parse_timestamp = _dec_timestamp
parse_base64 = _dec_bytes
INT_RANGES = _INT_RANGES
"""Integer field type -> (lowest, highest, name) of the values it carries."""


def is_map(field: FieldDescriptor) -> bool:
    """Whether ``field`` is a map (a repeated field of generated map entries)."""
    return field.message_type is not None and field.message_type.GetOptions().map_entry


# Encoding: each converter takes a field value as protobuf answers it and returns a JSON value.


def _enc_double(value: float) -> float | int | str:
    if -_SAFE_INTEGER < value < _SAFE_INTEGER:
        integral = int(value)
        if integral == value and (integral or _copysign(1.0, value) > 0):
            return integral
        return value
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == float("-inf"):
        return "-Infinity"
    return value


class _WireStrings(dict[int, str]):
    """Enum number → wire string, "" for the zero value (which is never written).

    Subscripting it with a number that has no wire string raises the shape error.
    """

    __slots__ = ("enum",)

    def __init__(self, enum: str) -> None:
        super().__init__({0: ""})
        self.enum = enum

    def __missing__(self, number: int) -> str:
        raise _ShapeError(f"{number} is not a value of {self.enum}")


def _enc_bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _enc_timestamp(value: Any) -> str:
    """A Timestamp in the Dart form: UTC, ``Z``, milli-, micro- or nanosecond digits."""
    seconds = value.seconds
    nanos = value.nanos
    # A known day is in range, and so is a whole number of milliseconds: no check needed then.
    day = _DAY_PREFIXES.get(seconds // 86400)
    fraction = _MILLIS.get(nanos)
    if day is None or fraction is None:
        day, fraction = _timestamp_parts(seconds, nanos)
    rest = seconds % 86400
    return f"{day}{_HOURS_MINUTES[rest // 60]}{_TWO_DIGITS[rest % 60]}{fraction}"


def _timestamp_parts(seconds: int, nanos: int) -> tuple[str, str]:
    """The ``YYYY-MM-DDT`` prefix and the fraction of a timestamp, checked against the range."""
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos <= 999_999_999):
        raise _ShapeError(
            f"timestamp out of range (seconds={seconds}, nanos={nanos}): "
            "RFC 3339 covers 0001-01-01 to 9999-12-31"
        )
    days = seconds // 86400
    day = _DAY_PREFIXES.get(days)
    if day is None:
        day = date.fromordinal(days + _EPOCH_ORDINAL).isoformat() + "T"
        if len(_DAY_PREFIXES) < 10_000:
            _DAY_PREFIXES[days] = day
    if nanos % 1_000_000 == 0:
        fraction = _MILLIS[nanos]
    elif nanos % 1000 == 0:
        fraction = f".{nanos // 1000:06d}Z"
    else:
        fraction = f".{nanos:09d}Z"
    return day, fraction


def _enc_value(value: Any) -> Any:
    kind = _value_kind(value, "kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return _enc_double(value.number_value)
    if kind == "struct_value":
        return _enc_struct(value.struct_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [_enc_value(item) for item in value.list_value.values[:]]
    return None


def _enc_struct(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields = value.fields
    for key in fields:
        item = fields[key]
        kind = _value_kind(item, "kind")
        # Strings and numbers, the commonest values, without a call to _enc_value.
        if kind == "string_value":
            out[key] = item.string_value
        elif kind == "number_value":
            out[key] = _enc_double(item.number_value)
        else:
            out[key] = _enc_value(item)
    return out


def _enc_list_value(value: Any) -> list[Any]:
    return [_enc_value(item) for item in value.values[:]]


def _enc_empty(value: Any) -> dict[str, Any]:
    return {}


def _copy_list(value: Any) -> list[Any]:
    """A repeated field as a list: a slice, as iterating a repeated field ends in an IndexError."""
    return value[:]  # type: ignore[no-any-return]


def _enc_list(element: _Conv) -> _Conv:
    def enc_list(value: Any) -> list[Any]:
        out: list[Any] = []
        append = out.append
        try:
            for item in value[:]:
                item = element(item)
                if item is not _SKIP:
                    append(item)
        except _ShapeError as exc:
            exc.path.append(f"[{len(out)}]")
            raise
        return out

    return enc_list


def _enc_map(key_conv: _Conv | None, element: _Conv | None) -> _Conv:
    # Not value.items() nor dict(value): map containers answer items() and keys() in Python.
    def enc_map(value: Any) -> dict[str, Any]:
        if element is None and key_conv is None:
            return {key: value[key] for key in value}
        out: dict[str, Any] = {}
        key = ""
        try:
            for key in value:
                item = value[key] if element is None else element(value[key])
                if item is not _SKIP:
                    out[key if key_conv is None else key_conv(key)] = item
        except _ShapeError as exc:
            exc.path.append(f"[{key!r}]")
            raise
        return out

    return enc_map


def _enc_map_key(field: FieldDescriptor) -> _Conv | None:
    if field.type == _TYPE.TYPE_STRING:
        return None
    if field.type == _TYPE.TYPE_BOOL:
        return lambda key: "true" if key else "false"
    return str


def _encode_kind(field: FieldDescriptor) -> int:
    """How a field's whole value is written: as is, as an enum wire string, or converted.

    Only the types :meth:`Codec._encode_element` passes on unconverted are written as is.
    """
    if field.is_repeated:
        return _CALL
    if field.type == _TYPE.TYPE_ENUM:
        return _ENUM
    if field.type in _INT_RANGES or field.type in (_TYPE.TYPE_STRING, _TYPE.TYPE_BOOL):
        return _AS_IS
    return _CALL


def _read_source(field: FieldDescriptor) -> str:
    """The expression of a generated writer that reads ``field`` of ``message``."""
    name = field.name
    return f"getattr(message, {name!r})" if keyword.iskeyword(name) else f"message.{name}"


def _asks_presence(field: FieldDescriptor) -> bool:
    """Whether a generated writer asks HasField before it reads ``field``.

    An enum whose default is zero need not: it is not written when zero, set or not.
    """
    return field.has_presence and not (_encode_kind(field) == _ENUM and field.default_value == 0)


def _field_writer_source(field: FieldDescriptor, conv: str) -> list[str]:
    """The lines of a generated writer that write ``field`` into ``out``.

    ``conv`` names the converter (or enum wire strings) of the field. A shape error raised for
    the field gets the field's key added to its path.
    """
    kind = _encode_kind(field)
    key = repr(field.json_name)
    name = field.name
    read = _read_source(field)
    if kind == _ENUM:
        # The zero value is never written; _WireStrings raises for a number it does not know.
        lines = [f"value = {read}", "if value:", f"    out[{key}] = {conv}[value]"]
    elif field.is_repeated:
        lines = [f"value = {read}", "if value:", f"    out[{key}] = {conv}(value)"]
    else:
        lines = [f"out[{key}] = {read if kind == _AS_IS else f'{conv}({read})'}"]
    if _asks_presence(field):
        lines = [f"if has({name!r}):", *(f"    {line}" for line in lines)]
    if kind != _AS_IS:
        lines = [
            "try:",
            *(f"    {line}" for line in lines),
            "except _ShapeError as exc:",
            f"    exc.path.append({'.' + field.json_name!r})",
            "    raise",
        ]
    return lines


def _message_type(field: FieldDescriptor) -> Descriptor:
    message_type = field.message_type
    if message_type is None:
        raise ConfigError(f"{field.full_name} is not a message field")
    return message_type


def _enum_type(field: FieldDescriptor) -> EnumDescriptor:
    enum_type = field.enum_type
    if enum_type is None:
        raise ConfigError(f"{field.full_name} is not an enum field")
    return enum_type


def _is_enum(field: FieldDescriptor) -> bool:
    return field.type == _TYPE.TYPE_ENUM


def _is_plain_enum(field: FieldDescriptor) -> bool:
    return _is_enum(field) and not (field.is_repeated or field.has_presence)


def _always_written_list(field: FieldDescriptor) -> bool:
    """Whether an empty repeated or map field is still written: ``(pieces.v1.wire_required)``."""
    return field.is_repeated and bool(field.GetOptions().Extensions[options_pb2.wire_required])


def _is_required_scalar(field: FieldDescriptor) -> bool:
    return not (
        field.is_repeated
        or field.has_presence
        or field.type in (_TYPE.TYPE_MESSAGE, _TYPE.TYPE_GROUP, _TYPE.TYPE_ENUM)
    )


class Codec:
    """Converts between parsed JSON values and messages; compiles each message type once.

    ``on_unknown(kind, where, what)`` is called for each unknown key (``"field"``, the message's
    full name, the key) or enum string (``"enum"``, the enum's full name, the string) met while
    decoding, after the debug log line; it must not raise.
    """

    def __init__(self, *, on_unknown: OnUnknown | None = None) -> None:
        self._on_unknown = on_unknown
        self._report = True
        self._strict = False
        self._checker: Codec | None = None
        self._decoders: dict[Descriptor, Callable[[Any], Message]] = {}
        self._encoders: dict[Descriptor, Callable[[Message], Any]] = {}
        self._builders: dict[Descriptor, _Conv] = {}
        self._writers: dict[Descriptor, _Conv] = {}
        self._enum_numbers: dict[EnumDescriptor, dict[str, int]] = {}
        self._enum_strings: dict[EnumDescriptor, _WireStrings] = {}
        self._field_decoders: dict[FieldDescriptor, _Conv] = {}
        self._field_encoders: dict[FieldDescriptor, tuple[int, Any]] = {}

    # Public API.

    def decoder(self, descriptor: Descriptor) -> Callable[[Any], Message]:
        """The function turning a parsed JSON value into a ``descriptor`` message.

        It raises UpstreamBodyError when the value does not have the message's shape.
        Raises ConfigError if the type uses a well-known type this codec does not carry.
        """
        decoder = self._decoders.get(descriptor)
        if decoder is None:
            decoder = self._compile_decoder(descriptor)
            self._decoders[descriptor] = decoder
        return decoder

    def encoder(self, descriptor: Descriptor) -> Callable[[Message], Any]:
        """The function turning a ``descriptor`` message into a JSON-ready value.

        The value holds only dict, list, str, int, float, bool and None. It raises RequestError
        for a value the wire cannot carry. Raises ConfigError like :meth:`decoder`.
        """
        encoder = self._encoders.get(descriptor)
        if encoder is None:
            encoder = self._compile_encoder(descriptor)
            self._encoders[descriptor] = encoder
        return encoder

    def decode(self, descriptor: Descriptor, value: Any) -> Message:
        """Decode one JSON value as a ``descriptor`` message; raises like :meth:`decoder`."""
        return self.decoder(descriptor)(value)

    def encode(self, message: Message) -> Any:
        """Encode one message as a JSON-ready value; raises like :meth:`encoder`."""
        return self.encoder(cast(Descriptor, message.DESCRIPTOR))(message)

    def decode_field(self, field: FieldDescriptor, value: Any) -> Any:
        """Decode a JSON value as the value of one field, e.g. a bare JSON array for ``paths``.

        Answers what can be assigned to the field or passed to its message's constructor: a
        list for a repeated field, a dict for a map, a message for a message field, an int for an
        enum, or None when ``value`` is null or an unknown enum string. Raises UpstreamBodyError
        when ``value`` does not have the field's shape.
        """
        owner = field.containing_type
        if owner is None:
            raise ConfigError(f"{field.full_name} is not a message field")
        if value is None:
            return None
        root = f"{owner.name}.{field.json_name}"
        conv = self._field_decoders.get(field)
        if conv is None:
            conv = self._field_decoders[field] = self._decode_conv(field)
        try:
            result = conv(value)
        except _ShapeError as exc:
            raise UpstreamBodyError(exc.text(root)) from None
        except RecursionError:
            raise UpstreamBodyError(f"{root}: nested too deeply") from None
        if result is _SKIP:
            return None
        try:
            holder = GetMessageClass(owner)(**{field.name: result})
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            check = self._strict_checker()._decode_conv(field)
            raise UpstreamBodyError(_locate(check, value, root, exc)) from exc
        held = getattr(holder, field.name)
        if is_map(field):
            return dict(held)
        if field.is_repeated:
            return list(held)
        return held

    def encode_field(self, message: Message, field: FieldDescriptor) -> Any:
        """Encode one field of ``message`` as a JSON value, e.g. a string field as a JSON string.

        Answers :data:`ABSENT` when the field is not written on the wire (unset optional or
        message, UNSPECIFIED enum, empty list or map not marked ``wire_required``). Raises
        RequestError like :meth:`encoder`.
        """
        value = getattr(message, field.name)
        if field.is_repeated:
            if not value and not _always_written_list(field):
                return ABSENT
        elif field.has_presence and not message.HasField(field.name):
            return ABSENT
        how = self._field_encoders.get(field)
        if how is None:
            how = self._field_encoders[field] = self._encode_conv(field)
        kind, conv = how
        try:
            if kind == _AS_IS:
                return value
            if kind == _CALL:
                return conv(value)
            return conv[value] or ABSENT
        except _ShapeError as exc:
            root = f"{message.DESCRIPTOR.name}.{field.json_name}"
            raise RequestError(exc.text(root), field=exc.where(root)) from None

    # Decoding.

    def _unknown(self, kind: UnknownKind, where: str, what: str) -> None:
        if self._report:
            _log_unknown(kind, where, what)
            if self._on_unknown is not None:
                self._on_unknown(kind, where, what)

    def _strict_checker(self) -> Codec:
        """A silent codec that checks every value, to find the path of a constructor error."""
        if self._checker is None:
            checker = Codec()
            checker._report = False
            checker._strict = True
            self._checker = checker
        return self._checker

    def _compile_decoder(self, descriptor: Descriptor) -> Callable[[Any], Message]:
        root = descriptor.name
        build = self._message_builder(descriptor)
        full_name = descriptor.full_name
        cls = GetMessageClass(descriptor)

        if full_name == _EMPTY:

            def decode_empty(value: Any) -> Message:
                return cls()

            return decode_empty

        if full_name in (_STRUCT, _LIST_VALUE):
            holder_field = "struct_value" if full_name == _STRUCT else "list_value"
            value_cls = GetMessageClass(descriptor.file.message_types_by_name["Value"])

            def construct(content: Any) -> Message:
                message = cls()
                message.MergeFrom(getattr(value_cls(**{holder_field: content}), holder_field))
                return message

        else:

            def construct(content: Any) -> Message:
                return cls(**content)

        def decode(value: Any) -> Message:
            try:
                content = build(value)
            except _ShapeError as exc:
                raise UpstreamBodyError(exc.text(root)) from None
            except RecursionError:
                raise UpstreamBodyError(f"{root}: nested too deeply") from None
            try:
                return construct(content)
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                check = self._strict_checker()._message_builder(descriptor)
                raise UpstreamBodyError(_locate(check, value, root, exc)) from exc

        return decode

    def _message_builder(self, descriptor: Descriptor) -> _Conv:
        """The converter from a JSON object to constructor arguments of ``descriptor``."""
        builder = self._builders.get(descriptor)
        if builder is not None:
            return builder
        full_name = descriptor.full_name
        if full_name in _UNSUPPORTED:
            raise ConfigError(f"the codec does not carry {full_name}")
        special = {
            _TIMESTAMP: _dec_timestamp,
            _STRUCT: _dec_struct,
            _LIST_VALUE: _dec_list_value,
            _VALUE: _dec_value,
            _EMPTY: _dec_empty,
        }.get(full_name)
        if special is not None:
            self._builders[descriptor] = special
            return special

        # json key -> (field name, type passed on unchecked, converter, enum wire numbers); a
        # string for an enum field is passed on as its number when it is a known wire string
        table: dict[str, tuple[str, type, _Conv, dict[str, int] | None]] = {}
        unknown = self._unknown

        def build(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise _ShapeError(f"expected an object, got {_describe(value)}")
            kwargs: dict[str, Any] = {}
            key = ""
            try:
                for key, item in value.items():
                    # Subscripting, not table.get: unknown keys are rare, a method call is not.
                    try:
                        name, fast, conv, numbers = table[key]
                    except KeyError:
                        unknown("field", full_name, key)
                        continue
                    if type(item) is fast:
                        if numbers is None:
                            kwargs[name] = item
                            continue
                        if item in numbers:
                            kwargs[name] = numbers[item]
                            continue
                    if item is not None:
                        item = conv(item)
                        if item is not _SKIP:
                            kwargs[name] = item
            except _ShapeError as exc:
                exc.path.append(f".{key}")
                raise
            return kwargs

        self._builders[descriptor] = build
        try:
            for field in descriptor.fields:
                single = not field.is_repeated
                fast = self._fast_type(field) if single else _Never
                numbers = None
                if single and _is_enum(field):
                    fast, numbers = str, self._enum_maps(_enum_type(field))[0]
                table[field.json_name] = (field.name, fast, self._decode_conv(field), numbers)
        except ConfigError:
            del self._builders[descriptor]
            raise
        return build

    def _fast_type(self, field: FieldDescriptor) -> type:
        """The JSON type one value of ``field`` can be passed on as, unchecked.

        Integers go unchecked too except in the strict checker: the constructor rejects those out
        of range, and the checker then finds where.
        """
        kind = field.type
        if kind == _TYPE.TYPE_STRING:
            return str
        if kind == _TYPE.TYPE_BOOL:
            return bool
        if kind == _TYPE.TYPE_DOUBLE:
            return float
        if kind in _INT_RANGES:
            return _Never if self._strict else int
        if kind == _TYPE.TYPE_MESSAGE and not is_map(field):
            name = _message_type(field).full_name
            if name == _STRUCT:
                return dict
            if name == _LIST_VALUE:
                return list
        return _Never

    def _decode_conv(self, field: FieldDescriptor) -> _Conv:
        """The converter of a field's whole JSON value."""
        if is_map(field):
            entry = _message_type(field).fields_by_name
            key, value = entry["key"], entry["value"]
            element = self._decode_element(value, 0)
            return _dec_map(_dec_map_key(key), element, self._fast_type(value))
        if field.is_repeated:
            return _dec_list(self._decode_element(field, 0), self._fast_type(field))
        return self._decode_element(field, _SKIP)

    def _decode_element(self, field: FieldDescriptor, unknown_enum: Any) -> _Conv:
        """The converter of one value of ``field`` (one item if repeated)."""
        kind = field.type
        if kind == _TYPE.TYPE_MESSAGE:
            return self._message_builder(_message_type(field))
        if kind == _TYPE.TYPE_ENUM:
            return self._enum_decoder(_enum_type(field), unknown_enum)
        if kind == _TYPE.TYPE_STRING:
            return _dec_string
        if kind == _TYPE.TYPE_BOOL:
            return _dec_bool
        if kind == _TYPE.TYPE_DOUBLE:
            return _dec_double
        if kind == _TYPE.TYPE_FLOAT:
            return _dec_float
        if kind == _TYPE.TYPE_BYTES:
            return _dec_bytes
        if kind in _INT_RANGES:
            return _dec_int(*_INT_RANGES[kind])
        raise ConfigError(f"the codec does not carry field {field.full_name} (type {kind})")

    def _enum_decoder(self, enum: EnumDescriptor, unknown_result: Any) -> _Conv:
        numbers = self._enum_maps(enum)[0]
        full_name = enum.full_name
        unknown = self._unknown

        def dec_enum(value: Any) -> Any:
            if type(value) is str:
                number = numbers.get(value)
                if number is not None:
                    return number
                unknown("enum", full_name, value)
                return unknown_result
            raise _ShapeError(f"expected a string, got {_describe(value)}")

        return dec_enum

    def wire_numbers(self, enum: EnumDescriptor) -> dict[str, int]:
        """Each wire string of ``enum`` and its number (the zero value has none)."""
        return self._enum_maps(enum)[0]

    def _enum_maps(self, enum: EnumDescriptor) -> tuple[dict[str, int], _WireStrings]:
        """Wire string → number, and number → wire string ("" for the zero value)."""
        numbers = self._enum_numbers.get(enum)
        if numbers is None:
            numbers = {}
            strings = _WireStrings(enum.full_name)
            for value in enum.values:
                if value.number == 0:
                    continue
                wire = value.GetOptions().Extensions[options_pb2.wire_value] or value.name
                if numbers.setdefault(wire, value.number) != value.number:
                    raise ConfigError(f"{enum.full_name}: wire value {wire!r} is used twice")
                strings.setdefault(value.number, wire)
            self._enum_numbers[enum] = numbers
            self._enum_strings[enum] = strings
        return numbers, self._enum_strings[enum]

    # Encoding.

    def _compile_encoder(self, descriptor: Descriptor) -> Callable[[Message], Any]:
        root = descriptor.name
        write = self._message_writer(descriptor)

        def encode(message: Message) -> Any:
            try:
                return write(message)
            except _ShapeError as exc:
                raise RequestError(exc.text(root), field=exc.where(root)) from None

        return encode

    def _message_writer(self, descriptor: Descriptor) -> _Conv:
        """The converter from a ``descriptor`` message to its JSON value."""
        writer = self._writers.get(descriptor)
        if writer is not None:
            return writer
        full_name = descriptor.full_name
        if full_name in _UNSUPPORTED:
            raise ConfigError(f"the codec does not carry {full_name}")
        special = {
            _TIMESTAMP: _enc_timestamp,
            _STRUCT: _enc_struct,
            _LIST_VALUE: _enc_list_value,
            _VALUE: _enc_value,
            _EMPTY: _enc_empty,
        }.get(full_name)
        if special is not None:
            self._writers[descriptor] = special
            return special

        return self._generated_writer(descriptor)

    def _generated_writer(self, descriptor: Descriptor) -> _Conv:
        """A writer compiled from Python source: straight-line code for each field.

        Code with the keys, field names and converters fixed for the message type costs far
        less than a loop dispatching on each field, and asking HasField of each field costs
        less than ListFields, which wraps and sorts every set field. The keys come in the order
        ListFields gives: required scalars first (always written), then the other fields by
        number, then the empty lists that are always written. A message of plain scalars and
        enums only keeps its declaration order.
        """
        fields = list(descriptor.fields)
        if not all(_is_required_scalar(f) or _is_plain_enum(f) for f in fields):
            fields = [f for f in fields if _is_required_scalar(f)] + sorted(
                (f for f in fields if not _is_required_scalar(f)), key=lambda f: f.number
            )
        body = ["out = {}"]
        if any(_asks_presence(f) for f in fields):
            body.append("has = message.HasField")
        for index, field in enumerate(fields):
            body += _field_writer_source(field, f"conv{index}")
        for field in descriptor.fields:
            if _always_written_list(field):
                key = repr(field.json_name)
                empty = "{}" if is_map(field) else "[]"
                body += [f"if {key} not in out:", f"    out[{key}] = {empty}"]
        body.append("return out")
        # Only identifiers and repr() of strings from the descriptor make up the source.
        name = f"write_{descriptor.name}"
        source = "\n".join([f"def {name}(message):", *(f"    {line}" for line in body)])
        # The converters are globals of the code, set below: a field may be of this very type.
        namespace: dict[str, Any] = {"_ShapeError": _ShapeError}
        exec(compile(source, f"<writer of {descriptor.full_name}>", "exec"), namespace)
        write: _Conv = namespace[name]
        self._writers[descriptor] = write
        try:
            for index, field in enumerate(fields):
                namespace[f"conv{index}"] = self._encode_conv(field)[1]
        except ConfigError:
            del self._writers[descriptor]
            raise
        return write

    def _encode_conv(self, field: FieldDescriptor) -> tuple[int, Any]:
        """How a field's whole value is written (see _encode_kind), and with what.

        The converter, the enum's wire strings, or None for a value written as is.
        """
        kind = _encode_kind(field)
        if kind == _ENUM:
            return kind, self._enum_maps(_enum_type(field))[1]
        if is_map(field):
            entry = _message_type(field).fields_by_name
            key, value = entry["key"], entry["value"]
            return kind, _enc_map(_enc_map_key(key), self._encode_element(value))
        if field.is_repeated:
            element = self._encode_element(field)
            return kind, _copy_list if element is None else _enc_list(element)
        return kind, self._encode_element(field)

    def _encode_element(self, field: FieldDescriptor) -> _Conv | None:
        """The converter of one value of ``field``, or None when it is already JSON-ready."""
        kind = field.type
        if kind == _TYPE.TYPE_MESSAGE:
            return self._message_writer(_message_type(field))
        if kind == _TYPE.TYPE_ENUM:
            strings = self._enum_maps(_enum_type(field))[1]
            return lambda value: strings[value] or _SKIP
        if kind in (_TYPE.TYPE_DOUBLE, _TYPE.TYPE_FLOAT):
            return _enc_double
        if kind == _TYPE.TYPE_BYTES:
            return _enc_bytes
        if kind in _INT_RANGES or kind in (_TYPE.TYPE_STRING, _TYPE.TYPE_BOOL):
            return None
        raise ConfigError(f"the codec does not carry field {field.full_name} (type {kind})")
