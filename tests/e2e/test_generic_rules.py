"""Rules the PiecesOS contract does not use yet, served from a service defined in the test:
nested field paths, ``{var=**}``, ``body: "*"``, query parameters; and rules that cannot be
served fail at start-up naming the RPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
import pytest
from aiohttp import web
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import ServiceDescriptor

from gateway.errors import ConfigError
from gateway.server import Gateway
from tests.conftest import gateway_config, serve_upstream

F = descriptor_pb2.FieldDescriptorProto


def build_service(rules: dict[str, http_pb2.HttpRule], name: str = "Library") -> ServiceDescriptor:
    """A tiny service whose RPCs all take ``Request`` and answer ``Reply``, in its own package
    of the default pool (where the google.api.http extension is known)."""
    pool = descriptor_pool.Default()
    package = f"test.{name.lower()}.v1"
    proto = descriptor_pb2.FileDescriptorProto(
        name=f"test/{name.lower()}.proto",
        package=package,
        syntax="proto3",
        dependency=["google/api/annotations.proto"],
    )
    shelf = proto.message_type.add(name="Shelf")
    shelf.field.add(name="id", number=1, type=F.TYPE_STRING, json_name="id")
    shelf.field.add(name="theme", number=2, type=F.TYPE_STRING, json_name="theme")
    request = proto.message_type.add(name="Request")
    for number, (field_name, kind, label, type_name) in enumerate(
        [
            ("name", F.TYPE_STRING, F.LABEL_OPTIONAL, ""),
            ("shelf", F.TYPE_MESSAGE, F.LABEL_OPTIONAL, f".{package}.Shelf"),
            ("page_size", F.TYPE_INT32, F.LABEL_OPTIONAL, ""),
            ("tags", F.TYPE_STRING, F.LABEL_REPEATED, ""),
            ("exact", F.TYPE_BOOL, F.LABEL_OPTIONAL, ""),
        ],
        start=1,
    ):
        field = request.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
    reply = proto.message_type.add(name="Reply")
    reply.field.add(name="path", number=1, type=F.TYPE_STRING)
    reply.field.add(name="body", number=2, type=F.TYPE_STRING)
    service = proto.service.add(name=name)
    for method_name, rule in rules.items():
        method = service.method.add(
            name=method_name, input_type=f".{package}.Request", output_type=f".{package}.Reply"
        )
        method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    pool.Add(proto)
    return pool.FindServiceByName(f"{package}.{name}")


RULES = {
    "GetBook": http_pb2.HttpRule(get="/v1/{name=shelves/*/books/*}"),
    "GetAnything": http_pb2.HttpRule(get="/v1/files/{name=**}"),
    "ListBooks": http_pb2.HttpRule(get="/v1/shelves/{shelf.id}/books"),
    "CreateShelf": http_pb2.HttpRule(post="/v1/{name}:create", body="*"),
    "PutShelf": http_pb2.HttpRule(put="/v1/shelves/{name}", body="shelf"),
    "Delete": http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="DELETE", path="/v1/x")),
}


class Echo:
    """An upstream that answers with what it received."""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {"path": f"{request.method} {request.raw_path}", "body": body.decode()}
        )


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    async with serve_upstream(Echo().handle) as url:
        yield url


LIBRARY = build_service(RULES)


@pytest.fixture
async def library(echo_url: str) -> AsyncIterator[tuple[grpc.aio.Channel, ServiceDescriptor]]:
    service = LIBRARY
    async with (
        Gateway(gateway_config(echo_url), services=[service]) as gateway,
        grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel,
    ):
        yield channel, service


async def call(
    library: tuple[grpc.aio.Channel, ServiceDescriptor], method: str, **fields: Any
) -> tuple[str, Any]:
    channel, service = library
    request_class = message_factory.GetMessageClass(service.methods_by_name[method].input_type)
    reply_class = message_factory.GetMessageClass(service.methods_by_name[method].output_type)
    rpc = channel.unary_unary(
        f"/{service.full_name}/{method}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=reply_class.FromString,
    )
    reply = await rpc(request_class(**fields), timeout=5)
    return reply.path, orjson.loads(reply.body) if reply.body else None


async def test_multi_segment_variable_keeps_its_slashes_and_encodes_the_rest(library: Any) -> None:
    path, _ = await call(library, "GetBook", name="shelves/s 1/books/b?2")
    assert path == "GET /v1/shelves/s%201/books/b%3F2"
    path, _ = await call(library, "GetAnything", name="a/b/c.txt")
    assert path == "GET /v1/files/a/b/c.txt"


async def test_multi_segment_variable_rejects_a_wrong_shape_or_dot_segments(library: Any) -> None:
    for value in ("books/1", "shelves/../books/1", "shelves/1/books/1/extra"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(library, "GetBook", name=value)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(library, "GetAnything", name="a/../../os/restart")
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_nested_field_path_and_query_parameters_for_the_rest(library: Any) -> None:
    from google.protobuf import message_factory as factory

    shelf_class = factory.GetMessageClass(library[1].file.message_types_by_name["Shelf"])
    path, body = await call(
        library,
        "ListBooks",
        shelf=shelf_class(id="s/1", theme="sci fi & more"),
        page_size=20,
        tags=["a", "b&c"],
        exact=True,
        name="n",
    )
    route, _, query = path.partition("?")
    assert route == "GET /v1/shelves/s%2F1/books"
    assert sorted(query.split("&")) == sorted(
        ["name=n", "shelf.theme=sci%20fi%20%26%20more", "pageSize=20", "tags=a", "tags=b%26c",
         "exact=true"]
    )  # fmt: skip
    path, _ = await call(library, "ListBooks", shelf=shelf_class(id="s2"))
    assert path == "GET /v1/shelves/s2/books"
    assert body is None


async def test_body_star_sends_the_fields_the_path_does_not_bind(library: Any) -> None:
    path, body = await call(library, "CreateShelf", name="s1", page_size=3, tags=["x"])
    assert path == "POST /v1/s1:create"
    # Plain proto3 scalars are always written, as PiecesOS requires them; `name` is in the path.
    assert body == {"pageSize": 3, "tags": ["x"], "exact": False}


async def test_body_field_and_custom_verb(library: Any) -> None:
    from google.protobuf import message_factory as factory

    shelf_class = factory.GetMessageClass(library[1].file.message_types_by_name["Shelf"])
    path, body = await call(library, "PutShelf", name="s1", shelf=shelf_class(id="1"), exact=True)
    assert path == "PUT /v1/shelves/s1?exact=true"
    assert body == {"id": "1", "theme": ""}
    path, _ = await call(library, "Delete")
    assert path.startswith("DELETE /v1/x")


@pytest.mark.parametrize(
    ("index", "rule", "problem"),
    [
        (0, http_pb2.HttpRule(), "no verb and path"),
        (1, http_pb2.HttpRule(get="v1/no-leading-slash"), "path template"),
        (2, http_pb2.HttpRule(get="/v1/{missing}"), "names no request field"),
        (3, http_pb2.HttpRule(get="/v1/{tags}"), "repeated"),
        (4, http_pb2.HttpRule(get="/v1/{shelf}"), "string, integer or bool"),
        (5, http_pb2.HttpRule(get="/v1/x", body="*"), "GET rule cannot carry a body"),
        (6, http_pb2.HttpRule(post="/v1/x", body="nope"), "body field 'nope'"),
        (7, http_pb2.HttpRule(post="/v1/x", response_body="nope"), "response_body 'nope'"),
    ],
)
async def test_a_rule_that_cannot_be_served_stops_start_up_naming_the_rpc(
    index: int, rule: http_pb2.HttpRule, problem: str
) -> None:
    service = build_service({"Broken": rule}, name=f"Broken{index}")
    with pytest.raises(ConfigError, match=problem) as caught:
        Gateway(gateway_config("http://127.0.0.1:9"), services=[service])
    assert f"test.broken{index}.v1.Broken{index}.Broken" in str(caught.value)
