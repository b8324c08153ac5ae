"""Incremental decoding of a streamed body that carries a sequence of JSON values.

PiecesOS does not document how ``POST /backup/{backup}/restore/streamed`` frames its messages, so
:class:`JsonStreamDecoder` accepts every common framing and tells them apart from the first bytes:

- ``ndjson`` / ``concat`` / ``single``: values one after another, separated by nothing,
  whitespace or newlines (``{...}\\n{...}``, ``{...}{...}``, a lone ``{...}``);
- ``array``: one JSON array whose elements are returned as each completes, before its ``]``;
- ``sse``: server-sent events whose ``data`` (joined over several ``data:`` lines) is one value.

Bytes may be fed in chunks split anywhere. Values are located with C-level searches and parsed by
``orjson``; a value split over many chunks is scanned once, so decoding is linear in the body.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from gateway.errors import (
    GatewayError,
    UpstreamBodyError,
    UpstreamStreamBroken,
    UpstreamTooLarge,
)

__all__ = ["JsonStreamDecoder"]

_BOM: Final = b"\xef\xbb\xbf"
_SSE_STARTS: Final = (b"data:", b"event:", b"id:", b"retry:", b":")
_OPEN: Final = frozenset(b"{[")
_CLOSE: Final = frozenset(b"}]")
_VALUE_START: Final = frozenset(b'{["-0123456789tfn')
_QUOTE, _COMMA, _OPEN_ARRAY, _CLOSE_ARRAY = ord('"'), ord(","), ord("["), ord("]")
_COLON, _LF = ord(":"), ord("\n")
_CR = ord("\r")
_WHITESPACE_BYTES: Final = frozenset(b" \t\r\n")
_TRAILING_CONTENT: Final = "unexpected content after document"
_END_OF_DATA: Final = "unexpected end of data"
_INCOMPLETE, _UNKNOWN = 0, -1
_OFF, _EACH, _BULK = 0, 1, 2
_QUICK_RETRIES = 3
_MAX_SEPARATOR = 8
_QUICK_WINDOW = 64 * 1024

_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_CONTROL = re.compile(rb"[\t\r\n]")
_STRUCTURAL = re.compile(rb'[{}\[\]"]')
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_SCALAR_END = re.compile(rb'[ \t\r\n,\[\]{}"]')
# Outside strings, a closing bracket followed by an opening one is only found between values;
# in an array, also between the elements of a nested list (the parse then fails).
_SEQUENCE_BOUNDARY = re.compile(rb"[}\]][ \t\r\n]*[{\[]")
_ARRAY_BOUNDARY = re.compile(rb"[}\]][ \t\r\n]*(?:,[ \t\r\n]*[{\[]|\])")

_SEQUENCE, _ARRAY, _SSE = "sequence", "array", "sse"
_FIRST, _ELEMENT, _SEPARATOR, _CLOSED = range(4)


class JsonStreamDecoder:
    """Turn the chunks of a streamed body into the JSON values it carries, in order.

    ``feed()`` returns every value a chunk completes; ``close()`` must be called at the end of the
    body. Errors:

    - :class:`UpstreamBodyError`: bytes that are not JSON (or not JSON inside an SSE event).
    - :class:`UpstreamStreamBroken`: ``close()`` while a value or the array is still open.
    - :class:`UpstreamTooLarge`: one value (or SSE event) exceeds ``max_object_bytes``; at most
      that much plus one chunk is ever buffered.

    An error is never raised in place of values decoded before it: when a chunk completes some
    values and then hits an error, ``feed()`` returns those values and the error is raised by the
    next call to ``feed()`` or ``close()``. After an error, every call raises it again.

    ``content_type`` ``text/event-stream`` selects SSE unless the body starts with ``{`` or ``[``
    (a JSON body mislabelled as SSE would otherwise be silently ignored as unknown SSE fields).
    """

    def __init__(
        self, content_type: str | None = None, *, max_object_bytes: int = 16 * 1024 * 1024
    ) -> None:
        if max_object_bytes <= 0:
            raise ValueError("max_object_bytes must be positive")
        media_type = (content_type or "").partition(";")[0].strip().lower()
        self._sse_hint = media_type == "text/event-stream"
        self._max = max_object_bytes
        self._buf = bytearray()
        self._pos = 0  # first byte of _buf not yet consumed (the start of a value being scanned)
        self._offset = 0  # body offset of _buf[0]
        self._count = 0
        self._error: GatewayError | None = None
        self._mode: str | None = None
        self._framing: str | None = None
        self._bom_checked = False
        # JSON: the top-level value being scanned across chunks, and the array's state.
        self._scanning = False
        self._scan_pos = 0
        self._closers = bytearray()
        self._in_string = False
        self._scalar = False
        self._array_state = _FIRST
        self._retries = 0
        self._separator = b""
        self._newline_gap = False
        # SSE: data lines of the event being read.
        self._data: list[bytes] = []
        self._data_size = 0
        self._skip_lf = False

    @property
    def framing(self) -> str | None:
        """``"ndjson"``, ``"concat"``, ``"array"``, ``"sse"`` or ``"single"`` once detected.

        ``"single"`` until a second value shows whether values are separated by newlines.
        """
        return self._framing

    def feed(self, chunk: bytes) -> list[Any]:
        """Decode ``chunk`` and return every value it completes, in order."""
        if self._error is not None:
            raise self._error
        self._buf += chunk
        return self._run(final=False)

    def close(self) -> list[Any]:
        """Signal the end of the body and return the values still pending.

        Raises :class:`UpstreamStreamBroken` if the body ended inside a value or an unclosed array.
        """
        if self._error is not None:
            raise self._error
        return self._run(final=True)

    def _run(self, *, final: bool) -> list[Any]:
        out: list[Any] = []
        try:
            if self._mode is not None or self._detect(final):
                if self._mode == _SSE:
                    self._run_sse(out, final)
                else:
                    self._run_json(out, final)
            if final:
                self._check_finished()
        except GatewayError as exc:
            self._error = exc
            if not out:
                raise
            return out
        if self._pos:
            del self._buf[: self._pos]
            self._offset += self._pos
            self._scan_pos -= self._pos
            self._pos = 0
        return out

    def _detect(self, final: bool) -> bool:
        buf = self._buf
        if not self._bom_checked:
            head = bytes(buf[:3])
            if len(head) < 3 and _BOM.startswith(head) and not final:
                return False
            if head == _BOM:
                self._pos = 3
            self._bom_checked = True
        match = _WHITESPACE.match(buf, self._pos)
        assert match is not None
        self._pos = p = match.end()
        if p == len(buf):
            return False
        first = buf[p]
        if first in _OPEN or (first in _VALUE_START and not self._sse_hint):
            if first == _OPEN_ARRAY:
                self._mode, self._framing, self._pos = _ARRAY, "array", p + 1
            else:
                self._mode, self._framing = _SEQUENCE, "single"
            return True
        head = bytes(buf[p : p + 6])
        if self._sse_hint or head.startswith(_SSE_STARTS):
            self._mode = self._framing = _SSE
            return True
        if any(start.startswith(head) for start in _SSE_STARTS):
            if final:
                raise self._broken("in the middle of object")
            return False
        raise UpstreamBodyError(
            f"streamed body is neither JSON nor server-sent events: it starts with {head!r}"
        )

    def _run_json(self, out: list[Any], final: bool) -> None:
        buf = self._buf
        n = len(buf)
        p = self._pos
        in_array = self._mode == _ARRAY
        newline = -1  # the first b"\n" at or after p (n if none), once looked up
        last_end = -1  # end of the value before p, when it is in this buffer
        strategy = _BULK  # how _run_separated may look for values, lowered as guesses fail
        with memoryview(buf) as view:
            while True:
                if self._scanning:
                    end = self._scan(p, final)
                    if end < 0:
                        break
                    out.append(self._load(view, p, end))
                    self._scanning = False
                    self._array_state = _SEPARATOR
                    p = last_end = end
                    continue
                if p < n and buf[p] in _WHITESPACE_BYTES:
                    match = _WHITESPACE.match(buf, p)
                    assert match is not None
                    gap_start, p = p, match.end()
                    if self._framing == "single" and buf.find(b"\n", gap_start, p) >= 0:
                        self._newline_gap = True
                if p >= n:
                    break
                if self._framing == "single" and self._count:
                    self._framing = "ndjson" if self._newline_gap else "concat"
                first = buf[p]
                if in_array:
                    state = self._array_state
                    if state == _SEPARATOR:
                        if first == _COMMA:
                            self._array_state = _ELEMENT
                            p += 1
                            continue
                        if first != _CLOSE_ARRAY:
                            raise self._unexpected(p, "expected ',' or ']' after an array element")
                    elif state == _CLOSED:
                        raise self._unexpected(p, "data after the end of the JSON array")
                    elif first == _CLOSE_ARRAY and state == _ELEMENT:
                        raise self._unexpected(p, "expected an array element after ','")
                    if first == _CLOSE_ARRAY:
                        self._array_state = _CLOSED
                        p += 1
                        continue
                if first in _OPEN:
                    gap = p - last_end
                    if last_end > 0 and gap <= _MAX_SEPARATOR and buf[last_end - 1] in _CLOSE:
                        self._separator = bytes(buf[last_end - 1 : p + 1])
                    separator = self._separator
                    if strategy and separator and first == separator[-1]:
                        p, strategy = self._run_separated(out, view, p, separator, strategy)
                        first = buf[p]
                    if newline < p:
                        newline = buf.find(b"\n", p)
                        if newline < 0:
                            newline = n
                    value, end = self._quick_value(view, p, newline)
                    if end > 0:
                        out.append(value)
                        self._count += 1
                        self._retries = 0
                        self._array_state = _SEPARATOR
                        p = last_end = end
                        continue
                    if (
                        end == _INCOMPLETE
                        and not final
                        and self._retries < _QUICK_RETRIES
                        and n - p <= self._max
                    ):
                        self._retries += 1
                        break
                elif first not in _VALUE_START:
                    raise self._unexpected(p, "expected a JSON value")
                self._scanning = True
                self._retries = 0
                self._scan_pos = p + 1
                self._closers = bytearray([first + 2]) if first in _OPEN else bytearray()
                self._in_string = first == _QUOTE
                self._scalar = first not in _OPEN and first != _QUOTE
        self._pos = p

    def _run_separated(
        self, out: list[Any], view: memoryview, p: int, separator: bytes, strategy: int
    ) -> tuple[int, int]:
        """Decode the values from ``p`` on that are followed by ``separator``.

        ``separator`` is what was last seen between two values, from the closing bracket of one
        to the opening bracket of the next (``b"}\\n{"``, ``b"},{"``, ``b"}{"``). Every value is
        still parsed on its own, so a match inside a value only makes that parse fail, and the
        caller then finds that value's end another way. ``_BULK`` first tries all the values up
        to the last match at once, ``_EACH`` looks for one match at a time. Returns the next
        value's start and the strategy left for the rest of the buffer.
        """
        buf = self._buf
        skip = len(separator) - 2
        loads = orjson.loads
        count = 0
        last = buf.rfind(separator, p) if strategy == _BULK else -1
        if last > p and last - p < self._max:
            try:
                if b"," in separator:
                    values = loads(b"[" + view[p : last + 1] + b"]")
                elif _CONTROL.search(separator):
                    # Raw control characters cannot occur in strings: split between the values.
                    values = list(map(loads, bytes(view[p : last + 1]).split(separator[1:-1])))
                else:
                    template = b"%c%%b%c" % (separator[-1], separator[0])
                    pieces = bytes(view[p + 1 : last]).split(separator)
                    values = list(map(loads, map(template.__mod__, pieces)))
            except orjson.JSONDecodeError:
                strategy = _EACH
            else:
                out += values
                count = len(values)
                p = last + 1 + skip
        if strategy == _EACH:
            find = buf.find
            append = out.append
            limit = self._max
            while True:
                end = find(separator, p) + 1
                if end <= 0 or end - p > limit:
                    break
                try:
                    append(loads(view[p:end]))
                except orjson.JSONDecodeError:
                    if not count:
                        strategy = _OFF
                    break
                count += 1
                p = end + skip
        if count:
            self._count += count
            self._retries = 0
            self._array_state = _ELEMENT
        return p, strategy

    def _quick_value(self, view: memoryview, start: int, newline: int) -> tuple[Any, int]:
        """Parse the array or object at ``start`` by guessing where it ends.

        The guesses are the end of its line, then the next place where a closing bracket meets
        the opening bracket of another value, then (when there is none) the last closing bracket
        in the buffer. Returns the value and its end, or ``_INCOMPLETE`` when it surely continues
        past the buffer, or ``_UNKNOWN`` when only an exact scan can tell.
        """
        buf = self._buf
        tried = -1
        status = _UNKNOWN
        if newline < len(buf):
            end = newline
            if buf[end - 1] == _CR:
                end -= 1
            if buf[end - 1] == _COMMA:
                end -= 1
            if end - start <= self._max:
                value, status = _parse_first(view, start, end)
                if status > 0:
                    return value, status
                tried = end
        boundary = _ARRAY_BOUNDARY if self._mode == _ARRAY else _SEQUENCE_BOUNDARY
        match = boundary.search(buf, start + 1)
        if match is not None:
            end = match.start() + 1
            if end != tried and end - start <= self._max:
                value, status = _parse_first(view, start, end)
                if status > 0:
                    return value, status
            return None, _UNKNOWN
        end = max(buf.rfind(b"}", start), buf.rfind(b"]", start)) + 1
        if end <= start:
            return None, _INCOMPLETE
        if end == tried:
            return None, status
        if end - start > min(self._max, _QUICK_WINDOW):
            return None, _UNKNOWN
        return _parse_first(view, start, end)

    def _scan(self, start: int, final: bool) -> int:
        """Continue the exact scan of the value at ``start``; its end, or -1 if incomplete.

        A closing bracket that does not match its opening one also ends the value, so that
        ``orjson`` reports the error as soon as the bytes are there.
        """
        buf = self._buf
        n = len(buf)
        pos = self._scan_pos
        closers = self._closers
        in_string = self._in_string
        end = -1
        if self._scalar:
            match = _SCALAR_END.search(buf, pos)
            if match is not None:
                end = match.start()
            elif final and self._mode == _SEQUENCE:
                end = n
            else:
                pos = n
        else:
            while True:
                if in_string:
                    string_rest = _STRING_REST.match(buf, pos)
                    assert string_rest is not None
                    pos = string_rest.end()
                    if pos >= n or buf[pos] != _QUOTE:
                        break
                    pos += 1
                    in_string = False
                    if not closers:
                        end = pos
                        break
                    continue
                match = _STRUCTURAL.search(buf, pos)
                if match is None:
                    pos = n
                    break
                pos = match.end()
                char = buf[pos - 1]
                if char == _QUOTE:
                    in_string = True
                elif char in _OPEN:
                    closers.append(char + 2)  # "{" + 2 == "}", "[" + 2 == "]"
                elif closers.pop() != char or not closers:
                    end = pos
                    break
        self._scan_pos, self._in_string = pos, in_string
        if (end if end >= 0 else n) - start > self._max:
            raise UpstreamTooLarge(
                f"streamed object #{self._count + 1} is larger than {self._max} bytes"
            )
        return end

    def _load(self, view: memoryview, start: int, end: int) -> Any:
        try:
            value = orjson.loads(view[start:end])
        except orjson.JSONDecodeError as exc:
            raise UpstreamBodyError(
                f"invalid JSON in streamed object #{self._count + 1} "
                f"(starting at body byte {self._offset + start}): {exc}"
            ) from None
        self._count += 1
        return value

    def _unexpected(self, p: int, expected: str) -> UpstreamBodyError:
        found = bytes(self._buf[p : p + 16])
        return UpstreamBodyError(
            f"invalid JSON stream at body byte {self._offset + p}, after {self._count} complete "
            f"objects: {expected}, found {found!r}"
        )

    def _run_sse(self, out: list[Any], final: bool) -> None:
        buf = self._buf
        n = len(buf)
        p = self._pos
        if self._skip_lf and p < n:
            if buf[p] == _LF:
                p += 1
            self._skip_lf = False
        stop = n if final else max(buf.rfind(b"\n", p), buf.rfind(b"\r", p)) + 1
        if stop > p:
            block = bytes(buf[p:stop])
            p = stop
            self._skip_lf = block.endswith(b"\r")
            data = self._data
            size = self._data_size
            for line in block.splitlines():
                if not line:
                    if data:
                        self._data_size = size = 0
                        self._dispatch(out)
                    continue
                if line.startswith(b"data: "):
                    value = line[6:]
                elif line.startswith(b"data:"):
                    value = line[5:]
                elif line[0] == _COLON:
                    continue  # a comment
                else:
                    field, _, value = line.partition(b":")
                    if field != b"data":
                        continue  # event, id, retry and unknown fields carry no payload
                    value = value[1:] if value[:1] == b" " else value
                data.append(value)
                size += len(value) + 1
                if size > self._max:
                    raise self._sse_too_large()
            self._data_size = size
        self._pos = p
        if final:
            if self._data:
                try:
                    self._dispatch(out)
                except UpstreamBodyError:
                    raise self._broken("in the middle of object") from None
        elif n - p + self._data_size > self._max:
            raise self._sse_too_large()

    def _dispatch(self, out: list[Any]) -> None:
        data = self._data
        payload = data[0] if len(data) == 1 else b"\n".join(data)
        data.clear()
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            if not payload.strip():
                return  # an event without data, such as a keep-alive
            raise UpstreamBodyError(
                f"invalid JSON in streamed object #{self._count + 1} "
                f"(server-sent event data {payload[:40]!r}): {exc}"
            ) from None
        out.append(value)
        self._count += 1

    def _sse_too_large(self) -> UpstreamTooLarge:
        return UpstreamTooLarge(
            f"server-sent event #{self._count + 1} is larger than {self._max} bytes"
        )

    def _check_finished(self) -> None:
        if self._scanning:
            raise self._broken("in the middle of object")
        if self._mode == _ARRAY and self._array_state != _CLOSED:
            raise self._broken("before the JSON array was closed, expecting object")

    def _broken(self, where: str) -> UpstreamStreamBroken:
        return UpstreamStreamBroken(
            f"stream ended after {self._count} complete objects {where} {self._count + 1}"
        )


def _parse_first(view: memoryview, start: int, end: int) -> tuple[Any, int]:
    """Parse the value at ``start`` if it ends by ``end``: the value and its end, else a status."""
    try:
        return orjson.loads(view[start:end]), end
    except orjson.JSONDecodeError as exc:
        if exc.msg.startswith(_END_OF_DATA):
            return None, _INCOMPLETE
        if not exc.msg.startswith(_TRAILING_CONTENT) or exc.pos <= 0:
            return None, _UNKNOWN
        stop = start + len(exc.doc[: exc.pos].rstrip().encode())
    try:
        return orjson.loads(view[start:stop]), stop
    except orjson.JSONDecodeError:
        return None, _UNKNOWN
