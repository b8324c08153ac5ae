"""Transcoding rules: one :class:`Route` per RPC, read from its ``google.api.http`` annotation.

:func:`load_routes` validates every rule when the gateway starts and raises
:class:`gateway.errors.ConfigError` naming the RPC whose rule cannot be served, so that a bad
.proto never turns into a failure at call time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.message import Message

from gateway.errors import ConfigError
from gateway.pathtemplate import PathTemplate

_Fail = Callable[[str], ConfigError]
WELL_KNOWN_OBJECTS = frozenset(
    {
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
    }
)
SCALAR_PATH_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_BOOL,
    }
)


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A request field sent as a query parameter; ``path`` walks nested messages."""

    name: str
    path: tuple[FieldDescriptor, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """Everything needed to turn one RPC into one REST call and back."""

    method: MethodDescriptor
    verb: str
    template: PathTemplate
    path_fields: tuple[tuple[FieldDescriptor, ...], ...]
    body_field: FieldDescriptor | None
    body_is_request: bool
    query: tuple[QueryParam, ...]
    response_field: FieldDescriptor | None
    request_class: type[Message]
    response_class: type[Message]

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def deprecated(self) -> bool:
        return bool(self.method.GetOptions().deprecated)

    def describe(self) -> str:
        """``VERB /path/{var}``, the label used in logs and metrics."""
        return f"{self.verb} {self.template.template}"


def load_routes(services: Iterable[ServiceDescriptor]) -> list[Route]:
    """Build and validate a route for every method of ``services``."""
    return [route_for(method) for service in services for method in service.methods]


def route_for(method: MethodDescriptor) -> Route:
    """Build the route of one RPC; raises ConfigError naming the RPC when it cannot be served."""
    rpc = f"{method.containing_service.full_name}.{method.name}"

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"rpc {rpc}: {problem}")

    if method.client_streaming:
        raise fail("client-streaming methods cannot be served as one REST request")
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        raise fail("has no google.api.http annotation")
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        raise fail("its google.api.http rule has no verb and path")
    if pattern == "custom":
        verb, path = rule.custom.kind.upper(), rule.custom.path
        if not verb.isalpha():
            raise fail(f"custom verb {rule.custom.kind!r} is not an HTTP method")
    else:
        verb, path = pattern.upper(), getattr(rule, pattern)
    try:
        template = PathTemplate.parse(path)
    except ValueError as exc:
        raise fail(f"path template {path!r}: {exc}") from None

    request_type: Descriptor = method.input_type
    path_fields = tuple(
        _resolve_path_field(request_type, variable.field_path, fail)
        for variable in template.variables
    )
    bound_top = {chain[0].name for chain in path_fields if len(chain) == 1}

    body_field: FieldDescriptor | None = None
    body_is_request = rule.body == "*"
    if rule.body and verb == "GET":
        raise fail("a GET rule cannot carry a body")
    if rule.body and not body_is_request:
        body_field = request_type.fields_by_name.get(rule.body)
        if body_field is None:
            raise fail(f"body field {rule.body!r} is not a field of {request_type.full_name}")
        if body_field.name in bound_top:
            raise fail(f"body field {rule.body!r} is also bound in the path")

    query: tuple[QueryParam, ...] = ()
    if not body_is_request:
        bound = {tuple(field.name for field in chain) for chain in path_fields}
        if body_field is not None:
            bound.add((body_field.name,))
        query = tuple(_query_params(request_type, bound, (), fail))

    response_field: FieldDescriptor | None = None
    response_type: Descriptor = method.output_type
    if rule.response_body:
        response_field = response_type.fields_by_name.get(rule.response_body)
        if response_field is None:
            raise fail(
                f"response_body {rule.response_body!r} is not a field of {response_type.full_name}"
            )

    return Route(
        method=method,
        verb=verb,
        template=template,
        path_fields=path_fields,
        body_field=body_field,
        body_is_request=body_is_request,
        query=query,
        response_field=response_field,
        request_class=message_factory.GetMessageClass(request_type),
        response_class=message_factory.GetMessageClass(response_type),
    )


def _resolve_path_field(
    message: Descriptor, field_path: tuple[str, ...], fail: _Fail
) -> tuple[FieldDescriptor, ...]:
    chain: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for part in field_path:
        field = current.fields_by_name.get(part) if current is not None else None
        if field is None:
            raise fail(f"path variable {'.'.join(field_path)!r} names no request field")
        if field.is_repeated:
            raise fail(f"path variable {'.'.join(field_path)!r} is a repeated field")
        chain.append(field)
        current = field.message_type
    if chain[-1].type not in SCALAR_PATH_TYPES:
        raise fail(f"path variable {'.'.join(field_path)!r} must be a string, integer or bool")
    return tuple(chain)


def _query_params(
    message: Descriptor,
    bound: set[tuple[str, ...]],
    prefix: tuple[FieldDescriptor, ...],
    fail: _Fail,
) -> Iterable[QueryParam]:
    """Every field not bound by the path or body, flattened to ``parent.child`` names."""
    for field in message.fields:
        chain = (*prefix, field)
        names = tuple(f.name for f in chain)
        if names in bound:
            continue
        name = ".".join(f.json_name for f in chain)
        if field.message_type is not None:
            nested = field.message_type
            if (
                field.is_repeated
                or nested.full_name in WELL_KNOWN_OBJECTS
                or nested.GetOptions().map_entry
                or any(f.message_type is nested for f in prefix)
                or len(chain) > 8
            ):
                raise fail(
                    f"field {name!r} is not bound by the path or body and cannot be sent as "
                    "a query parameter; bind it with body"
                )
            yield from _query_params(nested, bound, chain, fail)
        else:
            yield QueryParam(name=name, path=chain)
