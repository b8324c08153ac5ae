"""Parsed JSON straight to protobuf wire bytes, for answers the codec takes as they are.

The gateway answers a call with the bytes of a message. Decoding the JSON into a message
(:meth:`gateway.codec.Codec.decoder`) and then serializing it builds every field twice, once
as a Python value and once inside protobuf; a :class:`WireWriter` writes the bytes directly,
with one straight-line function compiled per message type (fields in number order, as protobuf
serializes them).

It only writes what the decoder would take unchanged: known keys, values of the field's own
JSON type, integers in range, known enum strings, timestamps it can read. On anything else (an
unknown key or enum string, a number where a string belongs, a message with a ``oneof``, …)
the writer answers None and the caller decodes with the codec, which skips and logs, converts,
or raises ``UpstreamBodyError`` as the wire rules say. Either way the caller sends the bytes of
the message the codec decodes; the writer never raises.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any, Final, cast

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from gateway.codec import (
    INT_RANGES,
    Codec,
    ShapeError,
    is_map,
    parse_base64,
    parse_timestamp,
)

__all__ = ["WireWriter"]

_TYPE = FieldDescriptor
_Write = Callable[[Any], bytes]


class _NotPlain(Exception):
    """The value is not one the writer takes as it is: the codec decides what it means."""


_GIVE_UP: Final = (
    _NotPlain,
    ShapeError,  # a timestamp or base64 string the codec's parsers refuse
    KeyError,  # an enum string in a list or map that has no number
    TypeError,  # an unhashable JSON value looked up as an enum string
    ValueError,  # UnicodeEncodeError: a lone surrogate in a string
    OverflowError,  # an integer too large for a double
    RecursionError,
    struct.error,
)

_VARINT = (_TYPE.TYPE_INT32, _TYPE.TYPE_INT64, _TYPE.TYPE_UINT32, _TYPE.TYPE_UINT64)
_ZIGZAG = (_TYPE.TYPE_SINT32, _TYPE.TYPE_SINT64)
_FIXED: Final = {
    _TYPE.TYPE_FIXED32: struct.Struct("<I").pack,
    _TYPE.TYPE_SFIXED32: struct.Struct("<i").pack,
    _TYPE.TYPE_FIXED64: struct.Struct("<Q").pack,
    _TYPE.TYPE_SFIXED64: struct.Struct("<q").pack,
}
_FLOAT32_MAX: Final = 3.4028234663852886e38
_SMALL: Final = tuple(bytes([n]) for n in range(128))
_pack_double = struct.Struct("<d").pack
_pack_float = struct.Struct("<f").pack
_copysign = math.copysign

# Wire types.
_VARINT_WIRE, _FIXED64_WIRE, _LENGTH_WIRE, _FIXED32_WIRE = 0, 1, 2, 5


def _varint(number: int) -> bytes:
    """A non-negative integer as a base-128 varint."""
    if number < 128:
        return _SMALL[number]
    out = bytearray()
    while number > 127:
        out.append((number & 127) | 128)
        number >>= 7
    out.append(number)
    return bytes(out)


def _signed(number: int) -> bytes:
    """An int32/int64 as protobuf writes it: negatives as their 64-bit two's complement."""
    return _varint(number if number >= 0 else number + (1 << 64))


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _length_delimited(tag: bytes, data: bytes) -> bytes:
    size = len(data)
    return tag + (_SMALL[size] if size < 128 else _varint(size)) + data


# The well-known types, as the codec reads them.


def _timestamp_bytes(value: Any) -> bytes:
    fields = parse_timestamp(value)
    seconds, nanos = fields["seconds"], fields["nanos"]
    out = b"\x08" + _signed(seconds) if seconds else b""
    return out + b"\x10" + _varint(nanos) if nanos else out


def _value_bytes(value: Any) -> bytes:
    """A JSON value as a ``google.protobuf.Value``."""
    kind = type(value)
    if kind is str:
        return _length_delimited(b"\x1a", value.encode())
    if kind is bool:
        return b"\x20\x01" if value else b"\x20\x00"
    if kind is int or kind is float:
        return b"\x11" + _pack_double(value)
    if kind is dict:
        return _length_delimited(b"\x2a", _struct_bytes(value))
    if kind is list:
        return _length_delimited(b"\x32", _list_value_bytes(value))
    if value is None:
        return b"\x08\x00"
    raise _NotPlain


def _struct_bytes(value: Any) -> bytes:
    if type(value) is not dict:
        raise _NotPlain
    return b"".join(
        [
            _length_delimited(
                b"\x0a",
                _length_delimited(b"\x0a", key.encode())
                + _length_delimited(b"\x12", _value_bytes(item)),
            )
            for key, item in value.items()
        ]
    )


def _list_value_bytes(value: Any) -> bytes:
    if type(value) is not list:
        raise _NotPlain
    return b"".join([_length_delimited(b"\x0a", _value_bytes(item)) for item in value])


def _empty_bytes(value: Any) -> bytes:
    return b""  # the codec reads any JSON value as Empty


def _never(value: Any) -> bytes:
    raise _NotPlain


_SPECIAL: Final = {
    "google.protobuf.Timestamp": _timestamp_bytes,
    "google.protobuf.Struct": _struct_bytes,
    "google.protobuf.ListValue": _list_value_bytes,
    "google.protobuf.Value": _value_bytes,
    "google.protobuf.Empty": _empty_bytes,
}


class WireWriter:
    """Compiles and caches one writer per message type; see the module docstring."""

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._writers: dict[Descriptor, _Write] = {}

    def writer(self, descriptor: Descriptor) -> Callable[[Any], bytes | None]:
        """The function writing a parsed JSON value as ``descriptor`` bytes, or None when the
        codec must decide what the value means."""
        write = self._message(descriptor)

        def write_or_none(value: Any) -> bytes | None:
            try:
                return write(value)
            except _GIVE_UP:
                return None

        return write_or_none

    # Compiling.

    def _message(self, descriptor: Descriptor) -> _Write:
        write = self._writers.get(descriptor)
        if write is not None:
            return write
        special = _SPECIAL.get(descriptor.full_name)
        if special is not None:
            return special
        if descriptor.full_name.startswith("google.protobuf.") or any(
            len(oneof.fields) > 1 for oneof in descriptor.oneofs
        ):
            # A well-known type the codec does not carry, or a oneof: which member wins
            # depends on the order of the JSON keys.
            self._writers[descriptor] = _never
            return _never
        return self._compile(descriptor)

    def _compile(self, descriptor: Descriptor) -> _Write:
        """A writer compiled from Python source: straight-line code for each field.

        Only identifiers and ``repr()`` of strings and bytes from the descriptor make up the
        source; the helpers of each field are globals of the code, set after it is cached, as
        a field may be of this very type.
        """
        fields = sorted(descriptor.fields, key=lambda f: f.number)
        known = frozenset(f.json_name for f in fields)
        body = [
            "if type(value) is not dict or not value.keys() <= known:",
            "    raise NotPlain",
            "get = value.get",
            "out = []",
            "put = out.append",
        ]
        helpers: dict[str, Callable[[], Any]] = {}
        for index, field in enumerate(fields):
            lines = self._field_source(field, f"f{index}", helpers)
            body += [f"item = get({field.json_name!r})", "if item is not None:"]
            body += [f"    {line}" for line in lines]
        body.append("return b''.join(out)")
        name = f"write_{descriptor.name}"
        source = "\n".join([f"def {name}(value):", *(f"    {line}" for line in body)])
        namespace: dict[str, Any] = {
            "NotPlain": _NotPlain,
            "known": known,
            "SMALL": _SMALL,
            "varint": _varint,
            "signed": _signed,
            "copysign": _copysign,
            "pack_double": _pack_double,
            "pack_float": _pack_float,
            "FLOAT32_MAX": _FLOAT32_MAX,
        }
        exec(compile(source, f"<wire writer of {descriptor.full_name}>", "exec"), namespace)
        write: _Write = namespace[name]
        self._writers[descriptor] = write
        try:
            for key, make in helpers.items():
                namespace[key] = make()
        except Exception:
            del self._writers[descriptor]
            raise
        return write

    def _field_source(
        self, field: FieldDescriptor, helper: str, helpers: dict[str, Callable[[], Any]]
    ) -> list[str]:
        """The lines writing the present (not null) JSON value ``item`` of ``field``."""
        kind = field.type
        number = field.number
        presence = field.has_presence

        def emit_length_delimited(data: str) -> list[str]:
            tag = _tag(number, _LENGTH_WIRE)
            return [
                f"data = {data}",
                "size = len(data)",
                f"put({tag!r} + SMALL[size] if size < 128 else {tag!r} + varint(size))",
                "put(data)",
            ]

        if is_map(field) or field.is_repeated:
            helpers[helper] = lambda: self._repeated(field)
            return [f"put({helper}(item))"]
        if kind == _TYPE.TYPE_MESSAGE:
            message_type = cast(Descriptor, field.message_type)
            helpers[helper] = lambda: self._message(message_type)
            return emit_length_delimited(f"{helper}(item)")
        if kind == _TYPE.TYPE_STRING or kind == _TYPE.TYPE_BYTES:
            check = (
                ["if type(item) is not str:", "    raise NotPlain"]
                if kind == _TYPE.TYPE_STRING
                else []
            )
            read = "item.encode()" if kind == _TYPE.TYPE_STRING else f"{helper}(item)"
            if kind == _TYPE.TYPE_BYTES:
                helpers[helper] = lambda: parse_base64
            lines = emit_length_delimited(read)
            if not presence:
                lines = [lines[0], "if data:", *(f"    {line}" for line in lines[1:])]
            return check + lines
        if kind == _TYPE.TYPE_ENUM:
            # Wire string -> tag and number, ready to write; the zero value has no string.
            tag = _tag(number, _VARINT_WIRE)
            numbers = self._codec.wire_numbers(cast(EnumDescriptor, field.enum_type))
            helpers[helper] = lambda: {wire: tag + _varint(n) for wire, n in numbers.items()}
            return [
                f"data = {helper}.get(item)",
                "if data is None:",
                "    raise NotPlain",
                "put(data)",
            ]
        if kind == _TYPE.TYPE_BOOL:
            tag = _tag(number, _VARINT_WIRE)
            true, false = tag + b"\x01", tag + b"\x00"
            return [
                "if item is True:",
                f"    put({true!r})",
                "elif item is False:",
                f"    put({false!r})" if presence else "    pass",
                "else:",
                "    raise NotPlain",
            ]
        if kind in INT_RANGES:
            low, high, _ = INT_RANGES[kind]
            if kind in _VARINT:
                tag, write = _tag(number, _VARINT_WIRE), "signed(item)"
            elif kind in _ZIGZAG:
                bits = 63 if kind == _TYPE.TYPE_SINT64 else 31
                tag, write = _tag(number, _VARINT_WIRE), f"varint(item << 1 ^ item >> {bits})"
            else:
                wide = kind in (_TYPE.TYPE_FIXED64, _TYPE.TYPE_SFIXED64)
                tag = _tag(number, _FIXED64_WIRE if wide else _FIXED32_WIRE)
                helpers[helper] = lambda: _FIXED[kind]
                write = f"{helper}(item)"
            lines = [
                f"if type(item) is not int or not {low} <= item <= {high}:",
                "    raise NotPlain",
            ]
            put = f"put({tag!r} + {write})"
            return lines + ([put] if presence else ["if item:", f"    {put}"])
        if kind == _TYPE.TYPE_DOUBLE or kind == _TYPE.TYPE_FLOAT:
            wide = kind == _TYPE.TYPE_DOUBLE
            tag = _tag(number, _FIXED64_WIRE if wide else _FIXED32_WIRE)
            lines = [
                "if type(item) is not float and type(item) is not int:",
                "    raise NotPlain",
            ]
            if not wide:
                lines += ["if not -FLOAT32_MAX <= item <= FLOAT32_MAX:", "    raise NotPlain"]
            put = f"put({tag!r} + {'pack_double' if wide else 'pack_float'}(item))"
            # Protobuf writes a negative zero: it differs from the default in its sign bit.
            written = "if item or copysign(1.0, item) < 0:"
            return lines + ([put] if presence else [written, f"    {put}"])
        return ["raise NotPlain"]  # a type the codec does not carry either

    def _repeated(self, field: FieldDescriptor) -> _Write:
        """The writer of a whole repeated or map field's JSON value, tags included."""
        if is_map(field):
            return self._map(field)
        element = self._element(field)
        tag = _tag(field.number, _LENGTH_WIRE)
        if element is not None:

            def write_list(value: Any) -> bytes:
                if type(value) is not list:
                    raise _NotPlain
                return b"".join([_length_delimited(tag, element(item)) for item in value])

            return write_list
        packed = self._packed(field)

        def write_packed(value: Any) -> bytes:
            if type(value) is not list:
                raise _NotPlain
            if not value:
                return b""
            return _length_delimited(tag, b"".join([packed(item) for item in value]))

        return write_packed

    def _element(self, field: FieldDescriptor) -> _Write | None:
        """The bytes of one length-delimited value of ``field``; None when it is packed."""
        kind = field.type
        if kind == _TYPE.TYPE_MESSAGE:
            return self._message(cast(Descriptor, field.message_type))
        if kind == _TYPE.TYPE_STRING:

            def string_bytes(value: Any) -> bytes:
                if type(value) is not str:
                    raise _NotPlain
                return value.encode()

            return string_bytes
        if kind == _TYPE.TYPE_BYTES:
            return parse_base64
        return None

    def _packed(self, field: FieldDescriptor) -> _Write:
        """The bytes of one value of a packed (numeric, bool or enum) ``field``, without tag."""
        kind = field.type
        if kind == _TYPE.TYPE_ENUM:
            enum = cast(EnumDescriptor, field.enum_type)
            numbers = {wire: _varint(n) for wire, n in self._codec.wire_numbers(enum).items()}
            return numbers.__getitem__  # KeyError: the codec writes the zero value instead
        if kind == _TYPE.TYPE_BOOL:

            def bool_bytes(value: Any) -> bytes:
                if value is True:
                    return b"\x01"
                if value is False:
                    return b"\x00"
                raise _NotPlain

            return bool_bytes
        if kind == _TYPE.TYPE_DOUBLE or kind == _TYPE.TYPE_FLOAT:
            wide = kind == _TYPE.TYPE_DOUBLE

            def real_bytes(value: Any) -> bytes:
                if type(value) is not float and type(value) is not int:
                    raise _NotPlain
                if wide:
                    return _pack_double(value)
                if not -_FLOAT32_MAX <= value <= _FLOAT32_MAX:
                    raise _NotPlain
                return _pack_float(value)

            return real_bytes
        if kind in INT_RANGES:
            low, high, _ = INT_RANGES[kind]
            pack = _FIXED.get(kind)
            bits = 63 if kind == _TYPE.TYPE_SINT64 else 31

            def integer_bytes(value: Any) -> bytes:
                if type(value) is not int or not low <= value <= high:
                    raise _NotPlain
                if pack is not None:
                    return pack(value)
                if kind in _ZIGZAG:
                    return _varint(value << 1 ^ value >> bits)
                return _signed(value)

            return integer_bytes
        return _never

    def _map(self, field: FieldDescriptor) -> _Write:
        """A JSON object as map entries: key (field 1) and value (field 2), both always written."""
        entry = cast(Descriptor, field.message_type).fields_by_name
        key_field, value_field = entry["key"], entry["value"]
        tag = _tag(field.number, _LENGTH_WIRE)
        key_bytes = _map_key(key_field)
        value_bytes = self._map_value(value_field)

        def write_map(value: Any) -> bytes:
            if type(value) is not dict:
                raise _NotPlain
            return b"".join(
                [
                    _length_delimited(tag, key_bytes(key) + value_bytes(item))
                    for key, item in value.items()
                ]
            )

        return write_map

    def _map_value(self, field: FieldDescriptor) -> _Write:
        """A map value as field 2 of its entry, tag included."""
        element = self._element(field)
        if element is not None:
            tag = _tag(2, _LENGTH_WIRE)
            return lambda value: _length_delimited(tag, element(value))
        packed = self._packed(field)
        tag = _tag(2, _wire_type(field))
        return lambda value: tag + packed(value)


def _wire_type(field: FieldDescriptor) -> int:
    kind = field.type
    if kind in (_TYPE.TYPE_DOUBLE, _TYPE.TYPE_FIXED64, _TYPE.TYPE_SFIXED64):
        return _FIXED64_WIRE
    if kind in (_TYPE.TYPE_FLOAT, _TYPE.TYPE_FIXED32, _TYPE.TYPE_SFIXED32):
        return _FIXED32_WIRE
    if kind in (_TYPE.TYPE_STRING, _TYPE.TYPE_BYTES, _TYPE.TYPE_MESSAGE):
        return _LENGTH_WIRE
    return _VARINT_WIRE


def _map_key(field: FieldDescriptor) -> _Write:
    """A JSON object key as field 1 of a map entry, tag included, read as the codec reads it."""
    kind = field.type
    tag = _tag(1, _wire_type(field))
    if kind == _TYPE.TYPE_STRING:
        return lambda key: _length_delimited(tag, key.encode())
    if kind == _TYPE.TYPE_BOOL:

        def bool_key(key: str) -> bytes:
            if key == "true":
                return tag + b"\x01"
            if key == "false":
                return tag + b"\x00"
            raise _NotPlain

        return bool_key
    low, high, _ = INT_RANGES[kind]
    pack = _FIXED.get(kind)
    bits = 63 if kind == _TYPE.TYPE_SINT64 else 31

    def integer_key(key: str) -> bytes:
        if not (key.isdigit() or (key[:1] == "-" and key[1:].isdigit())) or not key.isascii():
            raise _NotPlain
        number = int(key)
        if not low <= number <= high:
            raise _NotPlain
        if pack is not None:
            return tag + pack(number)
        if kind in _ZIGZAG:
            return tag + _varint(number << 1 ^ number >> bits)
        return tag + _signed(number)

    return integer_key
