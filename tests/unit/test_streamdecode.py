"""JsonStreamDecoder: every framing, every split point, truncation, garbage and size limits."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import UpstreamBodyError, UpstreamStreamBroken, UpstreamTooLarge
from gateway.streamdecode import JsonStreamDecoder

TRICKY: list[Any] = [
    {"type": "progress", "percentage": 12.5, "backup": {"id": "b-1"}, "done": False},
    {"s": 'braces { } [ ] and "quotes" and \\ backslash \\" end', "n": None, "list": [1, [2], {}]},
    {"unicode": "é ü 汉字 🎉👍🏽", "escaped": "\u00e9\n\t\\u", "": ""},
    {"s": "}{", "t": "}\n{", "u": "},{", "nested": [{"a": {"b": [{"c": "]}"}]}}]},
    {"last": True, "n": -0.5e-3, "big": 9007199254740993},
]


def compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def pretty(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode()


def sse_event(payload: bytes, newline: bytes = b"\n") -> bytes:
    lines = [b"data: " + line for line in payload.split(b"\n")]
    return newline.join(lines) + newline + newline


ENCODERS: dict[str, Callable[[list[Any]], bytes]] = {
    "ndjson": lambda values: b"".join(compact(v) + b"\n" for v in values),
    "ndjson-crlf-blank-lines": lambda values: b"\r\n\r\n".join(map(compact, values)) + b"\r\n",
    "ndjson-pretty": lambda values: b"\n".join(map(pretty, values)) + b"\n",
    "concat": lambda values: b"".join(map(compact, values)),
    "concat-spaces": lambda values: b"  ".join(map(compact, values)) + b" \t",
    "array": lambda values: b"[" + b",".join(map(compact, values)) + b"]",
    "array-spaced": lambda values: b"[ \n" + b" ,\r\n  ".join(map(compact, values)) + b"\n ]\n",
    "array-pretty": lambda values: pretty(values),
    "sse": lambda values: b"".join(sse_event(compact(v)) for v in values),
    "sse-crlf-multiline": lambda values: b"".join(
        b"event: progress\r\nid: %d\r\n: keep-alive\r\nretry: 10\r\n" % i
        + sse_event(pretty(v), b"\r\n")
        for i, v in enumerate(values)
    ),
    "sse-cr": lambda values: b"".join(sse_event(pretty(v), b"\r") for v in values),
}
FRAMING_NAME = {
    "ndjson": "ndjson",
    "ndjson-crlf-blank-lines": "ndjson",
    "ndjson-pretty": "ndjson",
    "concat": "concat",
    "concat-spaces": "concat",
    "array": "array",
    "array-spaced": "array",
    "array-pretty": "array",
    "sse": "sse",
    "sse-crlf-multiline": "sse",
    "sse-cr": "sse",
}


def decode(chunks: Iterable[bytes], content_type: str | None = None, **kwargs: Any) -> list[Any]:
    decoder = JsonStreamDecoder(content_type, **kwargs)
    values: list[Any] = []
    for chunk in chunks:
        values += decoder.feed(chunk)
    values += decoder.close()
    return values


def split_at(body: bytes, points: Iterable[int]) -> list[bytes]:
    cuts = sorted({0, len(body), *points})
    return [body[a:b] for a, b in itertools.pairwise(cuts)]


def byte_by_byte(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def feed_all(decoder: JsonStreamDecoder, chunks: Iterable[bytes], into: list[Any]) -> None:
    """Feed every chunk, then close, collecting values in ``into`` until something raises."""
    for chunk in chunks:
        into += decoder.feed(chunk)
    into += decoder.close()


@pytest.mark.parametrize("name", list(ENCODERS))
def test_every_framing_decodes_in_one_chunk(name: str) -> None:
    body = ENCODERS[name](TRICKY)
    decoder = JsonStreamDecoder()
    values = decoder.feed(body) + decoder.close()
    assert values == TRICKY
    assert decoder.framing == FRAMING_NAME[name]


@pytest.mark.parametrize("name", list(ENCODERS))
def test_every_framing_decodes_byte_by_byte(name: str) -> None:
    body = ENCODERS[name](TRICKY)
    assert decode(byte_by_byte(body)) == TRICKY


@pytest.mark.parametrize("name", list(ENCODERS))
def test_every_two_chunk_split(name: str) -> None:
    body = ENCODERS[name](TRICKY[:3])
    for cut in range(len(body) + 1):
        assert decode([body[:cut], body[cut:]]) == TRICKY[:3], f"split at byte {cut}"


@pytest.mark.parametrize("name", list(ENCODERS))
def test_every_three_chunk_split_of_a_small_body(name: str) -> None:
    values = [{"a": "é}"}, [1, {"b": '\\"'}], {"c": ["{", "["]}]
    body = ENCODERS[name](values)
    for first in range(0, len(body) + 1, 3):
        for second in range(first, len(body) + 1, 2):
            chunks = split_at(body, [first, second])
            assert decode(chunks) == values, f"split at bytes {first} and {second}"


@pytest.mark.parametrize("name", ["ndjson", "concat", "array", "array-spaced", "concat-spaces"])
def test_json_values_are_returned_by_the_feed_that_completes_them(name: str) -> None:
    values = [{"n": i, "s": "x}" * i, "inner": {"k": [i]}} for i in range(4)]
    body = ENCODERS[name](values)
    decoder = JsonStreamDecoder()
    seen = [(i, v) for i, byte in enumerate(byte_by_byte(body)) for v in decoder.feed(byte)]
    assert decoder.close() == []
    assert [value for _, value in seen] == values
    closing, position = [], 0
    for value in values:
        position = body.index(compact(value), position) + len(compact(value))
        closing.append(position - 1)
    assert [index for index, _ in seen] == closing


def test_sse_event_is_returned_by_the_feed_with_its_blank_line() -> None:
    body = b'data: {"a": 1}\n\ndata: {"b":\ndata: 2}\n\n'
    decoder = JsonStreamDecoder()
    assert decoder.feed(b'data: {"a": 1}\n') == []
    assert decoder.feed(b"\n") == [{"a": 1}]
    assert decoder.feed(b'data: {"b":\ndata: 2}\n') == []
    assert decoder.feed(b"\n") == [{"b": 2}]
    assert decoder.close() == []
    assert decode([body]) == [{"a": 1}, {"b": 2}]


def test_array_elements_arrive_before_the_closing_bracket() -> None:
    decoder = JsonStreamDecoder()
    assert decoder.feed(b'[ {"a": 1} ,\n') == [{"a": 1}]
    assert decoder.feed(b'{"b": [2]}') == [{"b": [2]}]
    assert decoder.feed(b" , 3 ,") == [3]
    assert decoder.feed(b'"x" ]') == ["x"]
    assert decoder.close() == []


def test_sse_data_lines_join_with_newlines_per_spec() -> None:
    body = b'data:["a",\ndata:  "b"]\n\n'  # one space after the colon is dropped, not two
    assert decode([body]) == [["a", "b"]]


def test_sse_data_lines_are_not_glued_together() -> None:
    with pytest.raises(UpstreamBodyError, match="object #1"):
        decode([b"data: 1\ndata: 2\n\n"])


def test_sse_ignores_comments_fields_and_keep_alive_events() -> None:
    body = (
        b": hello\r\n\r\n"
        b'event: progress\r\nid: 7\r\nretry: 1000\r\nunknown: x\r\ndata: {"a": 1}\r\n\r\n'
        b"data:\r\n\r\n"
        b"event: ping\r\n\r\n"
        b"data\r\ndata: 2\r\n\r\n"
    )
    assert decode([body]) == [{"a": 1}, 2]


def test_sse_is_chosen_by_content_type() -> None:
    body = b'\n\ndata: {"a": 1}\n\n'
    decoder = JsonStreamDecoder("text/event-stream; charset=utf-8")
    assert decoder.feed(body) + decoder.close() == [{"a": 1}]
    assert decoder.framing == "sse"


def test_json_body_mislabelled_as_sse_is_still_decoded() -> None:
    decoder = JsonStreamDecoder("text/event-stream")
    assert decoder.feed(b'{"a": 1}\n{"a": 2}\n') + decoder.close() == [{"a": 1}, {"a": 2}]
    assert decoder.framing == "ndjson"


@pytest.mark.parametrize("content_type", [None, "application/json", "application/x-ndjson"])
def test_sse_is_sniffed_from_the_first_line(content_type: str | None) -> None:
    for start in (
        b"data: 1\n\n",
        b"event: x\ndata: 1\n\n",
        b": c\ndata: 1\n\n",
        b"id: 1\ndata: 1\n\n",
    ):
        assert decode(byte_by_byte(start), content_type) == [1]


@pytest.mark.parametrize("name", ["ndjson", "array", "sse", "concat"])
def test_leading_utf8_bom_is_skipped(name: str) -> None:
    body = b"\xef\xbb\xbf" + ENCODERS[name](TRICKY)
    assert decode([body]) == TRICKY
    assert decode(byte_by_byte(body)) == TRICKY


def test_single_object_framing() -> None:
    decoder = JsonStreamDecoder("application/json")
    assert decoder.feed(b'  {"a": [1, 2') == []
    assert decoder.feed(b"]}\n") == [{"a": [1, 2]}]
    assert decoder.close() == []
    assert decoder.framing == "single"


def test_top_level_scalars_and_strings() -> None:
    body = b'1\n"two"\ntrue\nnull\n-2.5e3\n{"x": 1}\n"}{"\n7'
    assert decode([body]) == [1, "two", True, None, -2500.0, {"x": 1}, "}{", 7]
    assert decode(byte_by_byte(body)) == [1, "two", True, None, -2500.0, {"x": 1}, "}{", 7]


@pytest.mark.parametrize("body", [b"", b"   \r\n\t ", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_empty_body_decodes_to_nothing(body: bytes) -> None:
    decoder = JsonStreamDecoder()
    assert decoder.feed(body) == []
    assert decoder.close() == []
    assert decoder.framing is None


# Truncation --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODERS))
def test_truncated_inside_an_object_is_a_broken_stream(name: str) -> None:
    body = ENCODERS[name](TRICKY)
    third = ENCODERS[name](TRICKY[:3])
    # Cut in the middle of the fourth object: after its opening, before its end.
    cut = len(third) + (len(body) - len(third)) // 3
    decoder = JsonStreamDecoder()
    values = decoder.feed(body[:cut])
    assert values == TRICKY[:3]
    with pytest.raises(UpstreamStreamBroken, match=r"after 3 complete objects .* object 4"):
        decoder.close()


@pytest.mark.parametrize("name", list(ENCODERS))
def test_every_truncation_point_either_decodes_a_prefix_or_is_broken(name: str) -> None:
    values = TRICKY[:3]
    body = ENCODERS[name](values)
    for cut in range(len(body)):
        decoder = JsonStreamDecoder()
        got: list[Any] = []
        broken: UpstreamStreamBroken | None = None
        try:
            feed_all(decoder, [body[:cut]], got)
        except UpstreamStreamBroken as exc:
            broken = exc
        assert got == values[: len(got)], f"cut at {cut}"
        if broken is not None:
            assert f"after {len(got)} complete objects" in str(broken)
        elif name.startswith("array") and body[:cut].strip():
            # Without an error, the cut must fall after the closing bracket.
            assert body[:cut].rstrip().endswith(b"]"), f"unclosed array accepted at {cut}"


@pytest.mark.parametrize(
    ("body", "count"),
    [
        (b'{"a": "unterminated \\', 0),
        (b'{"a": 1}\n{"b": "x', 1),
        (b'{"a": 1}{"b": {"c": 1}', 1),
        (b'[{"a": 1}, {"b"', 1),
        (b'[{"a": 1}, ', 1),
        (b"[", 0),
        (b'[{"a": 1}', 1),
        (b"[1, 2", 1),
        (b'data: {"a": 1}\n\ndata: {"b": ', 1),
        (b'data: {"a": 1}\n\ndata: {"b": 2,\ndata: ', 1),
    ],
)
def test_truncation_reports_the_number_of_complete_objects(body: bytes, count: int) -> None:
    decoder = JsonStreamDecoder()
    assert len(decoder.feed(body)) == count
    with pytest.raises(UpstreamStreamBroken, match=f"after {count} complete objects"):
        decoder.close()


def test_sse_last_event_without_blank_line_is_kept() -> None:
    assert decode([b'data: {"a": 1}\n\ndata: {"b": 2}']) == [{"a": 1}, {"b": 2}]
    assert decode([b'data: {"a": 1}\n\ndata: {"b": 2}\r\n']) == [{"a": 1}, {"b": 2}]


# Garbage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "good", "message"),
    [
        (b"<html>oops</html>", 0, "neither JSON nor server-sent events"),
        (b"hello\n", 0, "neither JSON nor server-sent events"),
        (b'{"a": 1}\n{"b": nope}\n', 1, r"invalid JSON in streamed object #2"),
        (b'{"a": 1}\n{"b": 2}\n{"c": 3,}\n', 2, r"object #3"),
        (b'{"a": 1} xyz {"b": 2}', 1, "expected a JSON value"),
        (b'{"a": 1},{"b": 2}', 1, "expected a JSON value"),
        (b'{"a": 1}]', 1, "expected a JSON value"),
        (b'[{"a": 1} {"b": 2}]', 1, "expected ',' or ']'"),
        (b'[{"a": 1},]', 1, "expected an array element"),
        (b'[{"a": 1}] {"b": 2}', 1, "after the end of the JSON array"),
        (b'[{"a": 1}, {"b": 1]]', 1, "object #2"),
        (b'{"a": "\xff\xfe"}\n', 0, "object #1"),
        (b'{"a": 1}\n{"b": "\xc3"}\n', 1, "object #2"),
        (b'data: {"a": 1}\n\ndata: [DONE]\n\n', 1, "object #2"),
        (b"data: {\"a\": 1}\n\ndata: {'b': 2}\n\n", 1, "object #2"),
        (b"{} tru\n", 1, "object #2"),
    ],
)
def test_garbage_is_a_body_error_after_the_good_objects(
    body: bytes, good: int, message: str
) -> None:
    for chunks in ([body], byte_by_byte(body)):
        decoder = JsonStreamDecoder()
        values: list[Any] = []
        with pytest.raises(UpstreamBodyError, match=message):
            feed_all(decoder, chunks, values)
        assert len(values) == good


def test_error_after_good_objects_in_one_chunk_is_raised_by_the_next_call() -> None:
    decoder = JsonStreamDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b": 2}\n{"c": oops}\n{"d": 4}\n') == [{"a": 1}, {"b": 2}]
    with pytest.raises(UpstreamBodyError, match="#3"):
        decoder.feed(b"")
    with pytest.raises(UpstreamBodyError, match="#3"):
        decoder.close()


def test_error_with_nothing_decoded_is_raised_at_once() -> None:
    decoder = JsonStreamDecoder()
    decoder.feed(b'{"a": 1}\n')
    with pytest.raises(UpstreamBodyError, match="#2"):
        decoder.feed(b'{"b": oops}\n')


def test_garbage_error_says_where() -> None:
    decoder = JsonStreamDecoder()
    decoder.feed(b'{"a": 1}\n')
    with pytest.raises(UpstreamBodyError, match=r"streamed object #2 \(starting at body byte 9\)"):
        decoder.feed(b'{"b": [1, 2}\n')


# Size limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [97, 1 << 20])
@pytest.mark.parametrize("name", ["ndjson", "concat", "array", "sse", "ndjson-pretty"])
def test_object_larger_than_the_limit_is_too_large(name: str, chunk_size: int) -> None:
    values = [{"small": 1}, {"big": "x" * 2000}, {"small": 2}]
    body = ENCODERS[name](values)
    decoder = JsonStreamDecoder(max_object_bytes=1000)
    got: list[Any] = []
    with pytest.raises(UpstreamTooLarge, match="larger than 1000 bytes"):
        feed_all(decoder, split_at(body, range(0, len(body), chunk_size)), got)
    assert got == values[:1]


def test_object_at_the_limit_is_accepted() -> None:
    value = {"s": "x" * 100}
    body = compact(value)
    assert decode([body + b"\n" + body], max_object_bytes=len(body)) == [value, value]
    with pytest.raises(UpstreamTooLarge):
        decode([body], max_object_bytes=len(body) - 1)


@pytest.mark.parametrize(
    ("start", "filler"),
    [
        (b'{"a": "', b"x"),
        (b'{"a": "', b"\\\\"),
        (b'[{"a": [', b"1, "),
        (b'{"a": [', b'{"b": 1}, '),
        (b"[[", b"[], "),
        (b"123", b"4"),
        (b"data: ", b"x"),
        (b"data: 1\n", b"data: " + b"2" * 40 + b"\n"),
        (b": comment\ndata: 1\n", b"x"),
    ],
)
def test_never_ending_value_fails_without_buffering_it(start: bytes, filler: bytes) -> None:
    limit, chunk = 10_000, filler * 50
    decoder = JsonStreamDecoder(max_object_bytes=limit)
    fed = [start]

    def chunks() -> Iterator[bytes]:
        yield start
        while len(fed) * len(chunk) < 10 * limit:
            fed.append(chunk)
            yield chunk

    values: list[Any] = []
    with pytest.raises(UpstreamTooLarge):
        feed_all(decoder, chunks(), values)
    assert values == []
    assert sum(map(len, fed)) <= limit + len(chunk)


def test_zero_limit_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_object_bytes"):
        JsonStreamDecoder(max_object_bytes=0)


def test_large_object_in_small_chunks() -> None:
    items = [{"id": i, "name": f"item {i} }}{{", "tags": ["a", "b"]} for i in range(40_000)]
    value = {"items": items}
    body = compact(value)
    assert len(body) > 2_000_000
    assert decode(split_at(body, range(0, len(body), 256))) == [value]


# Property ----------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=("Cs",)), max_size=6), inner, max_size=4
        )
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8), json_values, max_size=5
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(json_objects, max_size=6),
    name=st.sampled_from(sorted(ENCODERS)),
    data=st.data(),
)
def test_any_objects_in_any_framing_split_anywhere_round_trip(
    values: list[dict[str, Any]], name: str, data: st.DataObject
) -> None:
    body = ENCODERS[name](values)
    if data.draw(st.booleans(), label="bom"):
        body = b"\xef\xbb\xbf" + body
    points = data.draw(st.lists(st.integers(0, len(body)), max_size=8), label="split points")
    assert decode(split_at(body, points)) == values
