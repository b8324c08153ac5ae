"""Per-route conversion between a gRPC message and a REST exchange.

A :class:`RouteTranscoder` is compiled once per route at start-up (codec encoders and decoders
looked up once) and then used on every call:

- :meth:`RouteTranscoder.request_for` raises ``RequestError`` for a value that cannot be put
  in the path (empty, ``.``/``..``, wrong shape);
- :meth:`RouteTranscoder.decode_response` and :class:`StreamTranscoder` raise
  ``UpstreamBodyError`` for a 2xx body that is not JSON or not the documented shape, and the
  stream also ``UpstreamStreamBroken``/``UpstreamTooLarge`` from the stream decoder.

Answers come out as the serialized response message, ready for the gRPC wire: written straight
from the JSON by :class:`~gateway.wirewriter.WireWriter` when it can, else decoded by the codec
and serialized.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from google.protobuf.message import Message

from gateway.codec import ABSENT, Codec
from gateway.errors import UpstreamBodyError
from gateway.rules import Route
from gateway.streamdecode import JsonStreamDecoder
from gateway.wirewriter import WireWriter

EMPTY = "google.protobuf.Empty"
PREVIEW_BYTES = 120


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """The REST request for one gRPC call."""

    method: str
    path: str
    body: bytes | None


class RouteTranscoder:
    """Turns requests of one route into REST requests and REST answers into responses."""

    def __init__(self, route: Route, codec: Codec, writer: WireWriter | None = None) -> None:
        self.route = route
        self._codec = codec
        self._label = route.describe()
        self._response_class = route.response_class
        self._empty_response = route.method.output_type.full_name == EMPTY
        self._decode_message = codec.decoder(route.method.output_type)
        self._write = (writer or WireWriter(codec)).writer(route.method.output_type)
        field = route.response_field
        self._response_key = None if field is None else field.json_name
        self._encode_message = codec.encoder(route.method.input_type)
        self._static_path = route.template.expand({}) if not route.path_fields else None

    def request_for(self, request: Message) -> OutgoingRequest:
        """The verb, path (with query) and JSON body for ``request``."""
        route = self.route
        path = self._static_path or route.template.expand(
            {
                variable.field_path: _path_value(request, chain)
                for variable, chain in zip(route.template.variables, route.path_fields, strict=True)
            }
        )
        if route.query:
            query = self._query_string(request)
            if query:
                path = f"{path}?{query}"
        body: bytes | None = None
        if route.body_field is not None:
            value = self._codec.encode_field(request, route.body_field)
            if value is not ABSENT:
                body = orjson.dumps(value)
        elif route.body_is_request:
            body = orjson.dumps(self._without_path_fields(self._encode_message(request)))
        return OutgoingRequest(route.verb, path, body)

    def decode_response(self, status: int, content_type: str, body: bytes) -> bytes:
        """The serialized response message for a 2xx answer."""
        if self._empty_response:
            return b""
        value = parse_json(body, f"{self._label} answered HTTP {status}", content_type)
        return self.decode_value(value)

    def decode_value(self, value: Any) -> bytes:
        """The serialized response message for one parsed JSON value."""
        key = self._response_key
        wire = self._write(value if key is None else {key: value})
        if wire is not None:
            return wire
        return self._codec_message(value).SerializeToString()

    def _codec_message(self, value: Any) -> Message:
        """The response message for a value the wire writer left to the codec."""
        field = self.route.response_field
        if field is not None:
            return self._response_class(**{field.name: self._codec.decode_field(field, value)})
        return self._decode_message(value)

    def stream(self, content_type: str | None, max_object_bytes: int) -> StreamTranscoder:
        """A fresh incremental decoder for one streamed answer."""
        return StreamTranscoder(
            JsonStreamDecoder(content_type, max_object_bytes=max_object_bytes), self.decode_value
        )

    def _query_string(self, request: Message) -> str:
        pairs: list[str] = []
        for param in self.route.query:
            holder: Message = request
            for field in param.path[:-1]:
                if not holder.HasField(field.name):
                    break
                holder = getattr(holder, field.name)
            else:
                field = param.path[-1]
                if (
                    not field.has_presence
                    and not field.is_repeated
                    and getattr(holder, field.name) == field.default_value
                ):
                    continue  # proto3 without presence: the default means "not set"
                value = self._codec.encode_field(holder, field)
                if value is ABSENT:
                    continue
                name = quote(param.name, safe="")
                for item in value if isinstance(value, list) else [value]:
                    pairs.append(f"{name}={quote(_query_text(item), safe='')}")
        return "&".join(pairs)

    def _without_path_fields(self, encoded: dict[str, Any]) -> dict[str, Any]:
        """``body: "*"`` sends every field the path does not already carry."""
        for chain in self.route.path_fields:
            holder: Any = encoded
            for field in chain[:-1]:
                holder = holder.get(field.json_name)
                if not isinstance(holder, dict):
                    break
            else:
                holder.pop(chain[-1].json_name, None)
        return encoded


class StreamTranscoder:
    """Decodes a streamed answer chunk by chunk into serialized response messages, in order."""

    def __init__(self, decoder: JsonStreamDecoder, decode: Callable[[Any], bytes]) -> None:
        self._decoder = decoder
        self._decode = decode

    def feed(self, chunk: bytes) -> list[bytes]:
        return [self._decode(value) for value in self._decoder.feed(chunk)]

    def close(self) -> list[bytes]:
        return [self._decode(value) for value in self._decoder.close()]


def parse_json(body: bytes, what: str, content_type: str) -> Any:
    """Parse a 2xx body; raises UpstreamBodyError saying what was wrong."""
    if not body.strip():
        raise UpstreamBodyError(f"{what} with an empty body where JSON was expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        preview = body[:PREVIEW_BYTES].decode("utf-8", errors="replace")
        raise UpstreamBodyError(
            f"{what} with a body that is not JSON ({content_type or 'no content type'}; "
            f"{exc}): {preview!r}"
        ) from None


def _path_value(request: Message, chain: tuple[Any, ...]) -> str:
    value: Any = request
    for field in chain:
        value = getattr(value, field.name)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
