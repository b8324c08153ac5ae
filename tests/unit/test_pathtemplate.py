"""PathTemplate: parsing google.api.http templates and expanding caller values safely."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import RequestError
from gateway.pathtemplate import PathTemplate, PathVariable

BASE = "http://127.0.0.1:39300"

# Parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "variables", "verb"),
    [
        ("/os/device/information", (), None),
        ("/applications/{application}", (PathVariable(("application",), ("*",)),), None),
        ("/backup/{backup}/restore/streamed", (PathVariable(("backup",)),), None),
        (
            "/v1/{name=shelves/*/books/*}",
            (PathVariable(("name",), ("shelves", "*", "books", "*")),),
            None,
        ),
        ("/v1/{name=**}", (PathVariable(("name",), ("**",)),), None),
        ("/v1/{parent.name}/items:batchGet", (PathVariable(("parent", "name")),), "batchGet"),
        ("/v1/{name=projects/*}:cancel", (PathVariable(("name",), ("projects", "*")),), "cancel"),
        (
            "/v1/{x=*}/{y.z_1=a/**}",
            (PathVariable(("x",)), PathVariable(("y", "z_1"), ("a", "**"))),
            None,
        ),
        ("/os/link_provider", (), None),
        ("/a-b/c.d/e~f/g_h/$!&'()+,;=@", (), None),
    ],
)
def test_valid_templates_parse(
    template: str, variables: tuple[PathVariable, ...], verb: str | None
) -> None:
    parsed = PathTemplate.parse(template)
    assert parsed.template == template
    assert str(parsed) == template
    assert parsed.variables == variables
    assert parsed.verb == verb
    assert parsed.field_paths() == tuple(v.field_path for v in variables)


@pytest.mark.parametrize(
    ("segments", "multi"),
    [(("*",), False), (("**",), True), (("shelves", "*"), True), (("a", "**"), True)],
)
def test_multi_segment(segments: tuple[str, ...], multi: bool) -> None:
    assert PathVariable(("name",), segments).multi_segment is multi


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", r"must start with '/' \(at position 0\)"),
        ("os/restart", r"must start with '/' \(at position 0\)"),
        ("/", r"empty segment \(at position 1\)"),
        ("/v1/", r"empty segment \(at position 4\)"),
        ("/v1//x", r"empty segment \(at position 4\)"),
        ("/v1/{name", r"unbalanced '\{'.* \(at position 4\)"),
        ("/v1/{name}}", r"unbalanced '\}' \(at position 10\)"),
        ("/v1/name}", r"unbalanced '\}' \(at position 8\)"),
        ("/v1/{a={b}}", r"nested variable.* \(at position 7\)"),
        ("/v1/{a/{b}}", r"nested variable"),
        ("/v1/{name=**}/x", r"'\*\*' in \{name\} must be the last segment"),
        ("/v1/{name=a/**/b}", r"'\*\*' in \{name\} must be the last segment"),
        ("/v1/{a=**}/{b}", r"'\*\*' in \{a\} must be the last segment"),
        ("/v1/{a}/{a}", r"field 'a' is bound twice"),
        ("/v1/{a.b}/x/{a.b=*}", r"field 'a.b' is bound twice"),
        ("/v1/{a}/{a.b}", r"field 'a' is bound in \{a\} and \{a.b\}"),
        ("/v1/a?b", r"character '\?' is not allowed here \(at position 5\)"),
        ("/v1/a#b", r"character '#' is not allowed"),
        ("/v1/a%2Fb", r"character '%' is not allowed"),
        ("/v1/a b", r"character ' ' is not allowed"),
        ("/v1/é", r"character 'é' is not allowed"),
        ("/v1/a\nb", r"character '\\n' is not allowed"),
        ("/v1/{a=x y}", r"character ' ' is not allowed"),
        ("/v1/*", r"wildcard '\*' outside a variable"),
        ("/v1/**:get", r"wildcard '\*\*' outside a variable"),
        ("/v1/a*", r"character '\*' is not allowed"),
        ("/v1/{a=*b}", r"'\*' must be a whole segment"),
        ("/v1/..", r"'\.\.' is not allowed as a path segment"),
        ("/v1/./x", r"'\.' is not allowed as a path segment"),
        ("/v1/{a=shelves/..}", r"'\.\.' is not allowed as a path segment"),
        ("/v1:", r"empty verb"),
        ("/v1/x:a:b", r"':verb' must end the template"),
        ("/v1/x:get/y", r"':verb' must end the template"),
        ("/v1/{a-b}", r"invalid field path 'a-b'"),
        ("/v1/{}", r"invalid field path ''"),
        ("/v1/{a.}", r"invalid field path 'a.'"),
        ("/v1/{1a}", r"invalid field path '1a'"),
        ("/v1/{=*}", r"invalid field path ''"),
        ("/v1/{a=}", r"empty segment"),
        ("/v1/{a=x//y}", r"empty segment"),
        ("/v1/a{b}", r"'\{' must start a whole segment \(at position 5\)"),
        ("/v1/{a}b", r"a variable must be a whole segment \(at position 7\)"),
        ("/v1/{a}{b}", r"'\{' must start a whole segment \(at position 7\)"),
        ("/v1/{a=b:c}", r"character ':' is not allowed"),
    ],
)
def test_invalid_templates_say_what_is_wrong(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PathTemplate.parse(template)


# Expansion ---------------------------------------------------------------------------------


def test_literal_template_expands_to_itself() -> None:
    assert PathTemplate.parse("/os/device/information").expand({}) == "/os/device/information"
    assert PathTemplate.parse("/v1/a-b:do").expand({}) == "/v1/a-b:do"


def test_expands_the_real_routes() -> None:
    restore = PathTemplate.parse("/backup/{backup}/restore/streamed")
    assert restore.expand({("backup",): "b-42"}) == "/backup/b-42/restore/streamed"
    app = PathTemplate.parse("/applications/{application}")
    assert app.expand({("application",): "1f2e-UUID_x.y~z"}) == "/applications/1f2e-UUID_x.y~z"


def test_nested_field_path_and_verb() -> None:
    template = PathTemplate.parse("/v1/{parent.name}/items:batchGet")
    assert template.expand({("parent", "name"): "p 1"}) == "/v1/p%201/items:batchGet"
    assert template.expand({("parent", "name"): "a:batchGet"}) == "/v1/a%3AbatchGet/items:batchGet"


HOSTILE = [
    ("../os/restart", "..%2Fos%2Frestart"),
    ("a/b", "a%2Fb"),
    ("?x=1", "%3Fx%3D1"),
    ("#frag", "%23frag"),
    ("%2F", "%252F"),
    ("%2e%2e", "%252e%252e"),
    ("%2e", "%252e"),
    ("...", "..."),
    (" a b ", "%20a%20b%20"),
    ("é", "%C3%A9"),
    ("🎉", "%F0%9F%8E%89"),
    ("\x00", "%00"),
    ("a\r\nHost: evil", "a%0D%0AHost%3A%20evil"),
    ("\\..\\", "%5C..%5C"),
    ("a;b=c", "a%3Bb%3Dc"),
    ("@evil.com", "%40evil.com"),
    ("http://evil/", "http%3A%2F%2Fevil%2F"),
    ("AZaz09-._~", "AZaz09-._~"),
    ("!$&'()*+,", "%21%24%26%27%28%29%2A%2B%2C"),
]


@pytest.mark.parametrize(("value", "encoded"), HOSTILE)
def test_hostile_values_stay_inside_their_segment(value: str, encoded: str) -> None:
    template = PathTemplate.parse("/backup/{backup}/restore/streamed")
    path = template.expand({("backup",): value})
    assert path == f"/backup/{encoded}/restore/streamed"
    segments = path.split("/")
    assert len(segments) == 5
    assert segments[2] == encoded
    assert unquote(segments[2]) == value
    assert all(unquote(segment) not in (".", "..") for segment in segments)
    assert re.fullmatch(r"[A-Za-z0-9\-._~%/]+", path)
    url = urlsplit(BASE + path)
    assert (url.path, url.query, url.fragment, url.netloc) == (path, "", "", "127.0.0.1:39300")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", r"'backup' cannot be empty"),
        (".", r"'backup' cannot be '\.': a dot-segment would change the route"),
        ("..", r"'backup' cannot be '\.\.'"),
        ("\ud800", r"'backup' is not valid Unicode text"),
    ],
)
def test_values_that_would_change_the_route_are_refused(value: str, message: str) -> None:
    template = PathTemplate.parse("/backup/{backup}/restore")
    with pytest.raises(RequestError, match=message) as caught:
        template.expand({("backup",): value})
    assert caught.value.field == "backup"


def test_missing_value_names_the_field() -> None:
    template = PathTemplate.parse("/v1/{parent.name}/items/{item}")
    with pytest.raises(RequestError, match="'item' has no value") as caught:
        template.expand({("parent", "name"): "p"})
    assert caught.value.field == "item"
    with pytest.raises(RequestError, match=r"'parent\.name' has no value") as caught:
        template.expand({("item",): "i"})
    assert caught.value.field == "parent.name"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("shelves/1/books/2", "/v1/shelves/1/books/2:get"),
        ("shelves/a b/books/c%d", "/v1/shelves/a%20b/books/c%25d:get"),
        ("shelves/é/books/?", "/v1/shelves/%C3%A9/books/%3F:get"),
        ("shelves/.../books/x", "/v1/shelves/.../books/x:get"),
    ],
)
def test_multi_segment_pattern_keeps_its_slashes(value: str, path: str) -> None:
    template = PathTemplate.parse("/v1/{name=shelves/*/books/*}:get")
    assert template.expand({("name",): value}) == path


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("shelves/1/books", "must match 'shelves/\\*/books/\\*', got 'shelves/1/books'"),
        ("shelves/1/books/2/3", "must match"),
        ("shelves/1/novels/2", "must match"),
        ("Shelves/1/books/2", "must match"),
        ("x/shelves/1/books/2", "must match"),
        ("shelves/1%2Fbooks/2", "must match"),
        ("shelves/../books/2", "cannot have a '\\.\\.' segment"),
        ("shelves/./books/2", "cannot have a '\\.' segment"),
        ("shelves//books/2", "cannot have an empty segment"),
        ("", "cannot be empty"),
    ],
)
def test_multi_segment_pattern_is_enforced(value: str, message: str) -> None:
    template = PathTemplate.parse("/v1/{name=shelves/*/books/*}:get")
    with pytest.raises(RequestError, match=message) as caught:
        template.expand({("name",): value})
    assert caught.value.field == "name"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("a", "/v1/a"),
        ("a/b/c", "/v1/a/b/c"),
        ("a b/c?d/#", "/v1/a%20b/c%3Fd/%23"),
        ("%2e%2e/x", "/v1/%252e%252e/x"),
    ],
)
def test_double_star_takes_any_number_of_safe_segments(value: str, path: str) -> None:
    assert PathTemplate.parse("/v1/{name=**}").expand({("name",): value}) == path


@pytest.mark.parametrize("value", ["", "/a", "a/", "a//b", "a/../b", "..", "./a", "a/."])
def test_double_star_refuses_empty_and_dot_segments(value: str) -> None:
    with pytest.raises(RequestError, match="cannot"):
        PathTemplate.parse("/v1/{name=**}").expand({("name",): value})


def test_literal_prefix_before_double_star() -> None:
    template = PathTemplate.parse("/v1/{name=files/**}")
    assert template.expand({("name",): "files/a/b"}) == "/v1/files/a/b"
    assert template.expand({("name",): "files"}) == "/v1/files"
    with pytest.raises(RequestError, match="must match"):
        template.expand({("name",): "other/a"})


# Properties --------------------------------------------------------------------------------

valid_text = st.text(st.characters(exclude_categories=("Cs",)))


@settings(max_examples=500)
@given(value=valid_text)
def test_any_text_round_trips_in_exactly_one_segment(value: str) -> None:
    template = PathTemplate.parse("/backup/{backup}/restore")
    if value in ("", ".", ".."):
        with pytest.raises(RequestError):
            template.expand({("backup",): value})
        return
    path = template.expand({("backup",): value})
    parts = path.split("/")
    assert len(parts) == 4
    assert parts[:2] == ["", "backup"]
    assert parts[3] == "restore"
    assert unquote(parts[2], errors="strict") == value
    assert re.fullmatch(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})+", parts[2])
    url = urlsplit(BASE + path)
    assert (url.path, url.query, url.fragment) == (path, "", "")


@settings(max_examples=300)
@given(value=st.text())
def test_no_text_escapes_its_segment(value: str) -> None:
    template = PathTemplate.parse("/backup/{backup}/restore")
    refused: RequestError | None = None
    try:
        path = template.expand({("backup",): value})
    except RequestError as exc:
        refused = exc
    if refused is not None:
        assert refused.field == "backup"
        assert value in ("", ".", "..") or not value.isascii()
    else:
        assert len(path.split("/")) == 4
        assert unquote(path.split("/")[2]) not in ("", ".", "..")


@settings(max_examples=300)
@given(pieces=st.lists(valid_text, min_size=1, max_size=5))
def test_double_star_round_trips_segment_by_segment(pieces: list[str]) -> None:
    template = PathTemplate.parse("/v1/{name=**}:get")
    value = "/".join(pieces)
    if any(piece in ("", ".", "..") for piece in value.split("/")):
        with pytest.raises(RequestError):
            template.expand({("name",): value})
        return
    path = template.expand({("name",): value})
    assert path.endswith(":get")
    segments = path[: -len(":get")].split("/")[2:]
    assert [unquote(segment) for segment in segments] == value.split("/")
    assert all(unquote(segment) not in (".", "..") for segment in segments)
