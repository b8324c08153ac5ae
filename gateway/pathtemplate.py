"""``google.api.http`` path templates: parsed once, expanded per request with strict encoding.

The grammar is the one of ``google/api/http.proto``::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

Expansion is a security boundary: the values come from the gRPC caller, so every variable is
percent-encoded down to RFC 3986 unreserved characters and can never add a segment, a dot-segment,
a query or a fragment to the path PiecesOS sees. Only ``/`` between the segments of a
multi-segment variable (``{name=shelves/*}``, ``{name=**}``) survives, and those segments are
checked against the pattern one by one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from gateway.errors import RequestError

__all__ = ["PathTemplate", "PathVariable"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# RFC 3986 pchar without ":" (it starts the verb), "%" (literals are written decoded) and "*"
# (a wildcard is a whole segment).
_LITERAL_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()+,;=@"
)
_DOT_SEGMENTS: Final = frozenset({".", ".."})
_SHOWN_VALUE_CHARS = 64


@dataclass(frozen=True)
class PathVariable:
    """A ``{field.path=pattern}`` variable; ``segments`` is ``("*",)`` when no pattern is given."""

    field_path: tuple[str, ...]
    segments: tuple[str, ...] = ("*",)

    @property
    def multi_segment(self) -> bool:
        """True when the value may span several path segments (``**`` or a multi-part pattern)."""
        return len(self.segments) > 1 or "**" in self.segments

    @property
    def name(self) -> str:
        """The dotted field path, as it appears in the template and in errors."""
        return ".".join(self.field_path)


@dataclass(frozen=True)
class PathTemplate:
    """A parsed path template; build it with :meth:`parse`, use it with :meth:`expand`."""

    template: str
    variables: tuple[PathVariable, ...]
    verb: str | None = None
    _parts: tuple[str | PathVariable, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def parse(cls, template: str) -> PathTemplate:
        """Parse ``template``; raises ``ValueError`` naming the problem and its position.

        Beyond the grammar, it rejects what cannot be expanded safely: a wildcard outside a
        variable (there is no value to put there), ``**`` anywhere but last, two variables
        binding the same field, literals with characters that would need encoding or change the
        URL (``?``, ``#``, ``%``, space) and ``.``/``..`` literal segments.
        """
        parts, verb = _Parser(template).parse()
        variables = tuple(part for part in parts if isinstance(part, PathVariable))
        _check_variables(variables, parts)
        return cls(template, variables, verb, parts)

    def field_paths(self) -> tuple[tuple[str, ...], ...]:
        """The request fields bound by the path, in template order."""
        return tuple(variable.field_path for variable in self.variables)

    def expand(self, values: Mapping[tuple[str, ...], str]) -> str:
        """The request path for ``values`` (keyed by field path), percent-encoded.

        Raises :class:`RequestError` (with ``field`` set to the dotted field path) when a value is
        missing, empty, ``.`` or ``..`` (or has such a segment), or does not match the variable's
        pattern. No value can add or remove a path segment outside its variable.
        """
        encoded: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                encoded.append(part)
                continue
            value = values.get(part.field_path)
            if value is None:
                raise RequestError(
                    f"path variable {part.name!r} has no value: the field is required",
                    field=part.name,
                )
            if part.multi_segment:
                encoded.append(_expand_segments(part, value))
            else:
                encoded.append(_encode_segment(part, value))
        path = "/" + "/".join(encoded)
        return f"{path}:{self.verb}" if self.verb is not None else path

    def __str__(self) -> str:
        return self.template


def _encode_segment(variable: PathVariable, value: str, *, one_of_many: bool = False) -> str:
    if value == "":
        what = "have an empty segment" if one_of_many else "be empty"
        raise RequestError(f"path variable {variable.name!r} cannot {what}", field=variable.name)
    if value in _DOT_SEGMENTS:
        what = f"have a {value!r} segment" if one_of_many else f"be {value!r}"
        raise RequestError(
            f"path variable {variable.name!r} cannot {what}: a dot-segment would change the route",
            field=variable.name,
        )
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:
        raise RequestError(
            f"path variable {variable.name!r} is not valid Unicode text", field=variable.name
        ) from None


def _expand_segments(variable: PathVariable, value: str) -> str:
    if value == "":
        return _encode_segment(variable, value)
    pieces = value.split("/")
    pattern = variable.segments
    encoded: list[str] = []
    for index, expected in enumerate(pattern):
        if expected == "**":
            rest = pieces[index:]
            encoded.extend(_encode_segment(variable, piece, one_of_many=True) for piece in rest)
            break
        if index >= len(pieces):
            raise _mismatch(variable, value)
        piece = pieces[index]
        if expected == "*":
            encoded.append(_encode_segment(variable, piece, one_of_many=len(pieces) > 1))
        elif piece == expected:
            encoded.append(expected)
        else:
            raise _mismatch(variable, value)
    else:
        if len(pieces) != len(pattern):
            raise _mismatch(variable, value)
    if not encoded:
        raise _mismatch(variable, value)
    return "/".join(encoded)


def _mismatch(variable: PathVariable, value: str) -> RequestError:
    shown = value if len(value) <= _SHOWN_VALUE_CHARS else value[:_SHOWN_VALUE_CHARS] + "..."
    return RequestError(
        f"path variable {variable.name!r} must match {'/'.join(variable.segments)!r}, "
        f"got {shown!r}",
        field=variable.name,
    )


def _check_variables(
    variables: tuple[PathVariable, ...], parts: tuple[str | PathVariable, ...]
) -> None:
    for index, part in enumerate(parts):
        if not isinstance(part, PathVariable) or "**" not in part.segments:
            continue
        if index != len(parts) - 1 or "**" in part.segments[:-1]:
            raise ValueError(f"'**' in {{{part.name}}} must be the last segment of the path")
    for index, variable in enumerate(variables):
        for other in variables[:index]:
            shorter, longer = sorted((variable.field_path, other.field_path), key=len)
            if longer[: len(shorter)] == shorter:
                what = (
                    "twice" if shorter == longer else f"in {{{other.name}}} and {{{variable.name}}}"
                )
                raise ValueError(f"field {'.'.join(shorter)!r} is bound {what}")


class _Parser:
    """A single pass over the template; errors say what is wrong and at which position."""

    def __init__(self, template: str) -> None:
        self.text = template
        self.pos = 0

    def parse(self) -> tuple[tuple[str | PathVariable, ...], str | None]:
        text = self.text
        if not text.startswith("/"):
            raise self.error("a path template must start with '/'", 0)
        self.pos = 1
        parts: list[str | PathVariable] = []
        verb: str | None = None
        while True:
            if text.startswith("{", self.pos):
                parts.append(self.variable())
                if self.pos < len(text) and text[self.pos] not in "/:":
                    if text[self.pos] in "{}":
                        raise self.unexpected(self.pos)
                    raise self.error("a variable must be a whole segment", self.pos)
            else:
                literal = self.segment(in_variable=False)
                if literal in ("*", "**"):
                    raise self.error(
                        f"wildcard {literal!r} outside a variable has no value to expand; "
                        "bind it to a field as {field=" + literal + "}",
                        self.pos - len(literal),
                    )
                parts.append(literal)
            if self.pos == len(text):
                break
            char = text[self.pos]
            self.pos += 1
            if char == ":":
                verb = self.literal("verb")
                if self.pos != len(text):
                    raise self.error("the ':verb' must end the template", self.pos)
                break
            if char != "/":
                raise self.unexpected(self.pos - 1)
        return tuple(parts), verb

    def variable(self) -> PathVariable:
        text = self.text
        start = self.pos
        close = text.find("}", start)
        opening = text.find("{", start + 1)
        if close < 0:
            raise self.error("unbalanced '{': the variable is never closed", start)
        if 0 <= opening < close:
            raise self.error("nested variable: '{' inside a variable", opening)
        body = text[start + 1 : close]
        name, equals, _ = body.partition("=")
        field_path = tuple(name.split("."))
        for ident in field_path:
            if not _IDENT.match(ident):
                raise self.error(f"invalid field path {name!r} in variable", start + 1)
        segments: tuple[str, ...] = ("*",)
        self.pos = start + 1 + len(name) + len(equals)
        if equals:
            found = [self.segment(in_variable=True)]
            while text.startswith("/", self.pos) and self.pos < close:
                self.pos += 1
                found.append(self.segment(in_variable=True))
            segments = tuple(found)
        if self.pos != close:
            raise self.unexpected(self.pos)
        self.pos = close + 1
        return PathVariable(field_path, segments)

    def segment(self, *, in_variable: bool) -> str:
        text = self.text
        if text.startswith("*", self.pos):
            star = "**" if text.startswith("**", self.pos) else "*"
            self.pos += len(star)
            ends = "/}" if in_variable else "/:"
            if self.pos == len(text) or text[self.pos] in ends:
                return star
            raise self.error(f"{star!r} must be a whole segment", self.pos - len(star))
        literal = self.literal("segment")
        if literal in _DOT_SEGMENTS:
            raise self.error(
                f"{literal!r} is not allowed as a path segment", self.pos - len(literal)
            )
        return literal

    def literal(self, what: str) -> str:
        text = self.text
        start = self.pos
        while self.pos < len(text) and text[self.pos] in _LITERAL_CHARS:
            self.pos += 1
        if self.pos == start:
            if self.pos == len(text) or text[self.pos] in "/:}":
                raise self.error(f"empty {what}", self.pos)
            raise self.unexpected(self.pos)
        if self.pos < len(text) and text[self.pos] not in "/:}":
            raise self.unexpected(self.pos)
        return text[start : self.pos]

    def unexpected(self, pos: int) -> ValueError:
        char = self.text[pos]
        if char == "}":
            return self.error("unbalanced '}'", pos)
        if char == "{":
            return self.error("'{' must start a whole segment", pos)
        return self.error(f"character {char!r} is not allowed here", pos)

    def error(self, problem: str, pos: int) -> ValueError:
        return ValueError(f"{problem} (at position {pos})")
