"""Reading a plan's text: TOML, the line of every key, ``${NAME}`` from the environment.

``tomllib`` gives no positions for a valid document, so a single pass over
the text (:class:`Index`) records the line of every table, key and string
value; errors then find their line with one dictionary lookup. The pass is
made once per file, the first time a line is asked for (an error, or
``eventweave show``): loading a valid plan never needs it. Nesting is
bounded: deeper than :data:`MAX_DEPTH` is an error, and so is anything deep
enough to exhaust the TOML parser's recursion. Everything here runs in time
linear in the size of the file: no regular expression, and no search that
starts again from the same place.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .._advice import MASK, SECRET_NAMES, is_secret
from ._errors import PlanError, Scrubber, Where, key_of

__all__ = ["MAX_DEPTH", "Document", "Index", "parse"]

MAX_DEPTH = 32
"""How deeply tables, arrays and dotted keys may nest. A plan needs four levels."""

Path = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = frozenset(",]}#\n\r")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class Index:
    """The first line of each table, key and string value of a plan.

    Paths are tuples of keys, with the position in an array of tables as an
    int: ``("weave", 1, "pre")`` is ``pre`` in the second ``[[weave]]``.
    """

    def __init__(self) -> None:
        self.keys: dict[Path, int] = {}
        self.values: dict[tuple[Path, str], int] = {}

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of the nearest enclosing table or key found."""
        for end in range(len(path), 0, -1):
            found = self.keys.get(path[:end])
            if found is not None:
                return found
        return None

    def value_line(self, path: Path, value: str) -> int | None:
        """The line where the string ``value`` is written under ``path`` (an array's items)."""
        found = self.values.get((path, value))
        return found if found is not None else self.line(path)


class _Scanner:
    """One pass over a TOML text, lenient: on text it does not understand it moves on.

    ``tomllib`` judges the syntax afterwards; this only needs to agree with it
    on valid documents, and to always make progress.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.size = len(text)
        self.pos = 0
        self.lineno = 1
        self.counted = 0  # newlines before this offset are in self.lineno
        self.index = Index()
        self.table: Path = ()
        self.arrays: dict[Path, int] = {}  # array-of-tables path -> index of its last table
        self.too_deep: tuple[int, Path] | None = None  # the first place nesting past MAX_DEPTH

    # -- positions ------------------------------------------------------------

    def line(self) -> int:
        if self.pos > self.counted:
            self.lineno += self.text.count("\n", self.counted, self.pos)
            self.counted = self.pos
        return self.lineno

    def peek(self, offset: int = 0) -> str:
        at = self.pos + offset
        return self.text[at] if at < self.size else ""

    def skip_blank(self, newlines: bool) -> None:
        text, size = self.text, self.size
        while self.pos < size:
            char = text[self.pos]
            if char in " \t":
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = size if end == -1 else end
            elif newlines and char in "\r\n":
                self.pos += 1
            else:
                return

    # -- tokens ---------------------------------------------------------------

    def string(self) -> str | None:
        """Consume a string at ``pos``; its value if single-line and decodable, else None."""
        text, quote = self.text, self.text[self.pos]
        if text.startswith(quote * 3, self.pos):
            self._multiline(quote)
            return None
        start = self.pos + 1
        line_end = text.find("\n", start)
        if line_end == -1:
            line_end = self.size
        close = text.find(quote, start, line_end)
        if quote == "'":
            end = line_end if close == -1 else close
            self.pos = end + 1
            return text[start:end]
        # Each search starts where the previous one ended: linear however many escapes.
        at, escaped = start, False
        while True:
            escape = text.find("\\", at, line_end if close == -1 else close)
            if escape == -1:
                break
            escaped, at = True, escape + 2
            if close != -1 and at > close:
                close = text.find(quote, at, line_end)
        end = line_end if close == -1 else close
        self.pos = end + 1
        raw = text[start:end]
        return _unescape(raw) if escaped else raw

    def _multiline(self, quote: str) -> None:
        text, delimiter = self.text, quote * 3
        at = self.pos + 3
        close = text.find(delimiter, at)
        if quote == '"':
            while True:
                limit = self.size if close == -1 else close
                escape = text.find("\\", at, limit)
                if escape == -1:
                    break
                at = escape + 2
                if close != -1 and at > close:
                    close = text.find(delimiter, at)
        if close == -1:
            self.pos = self.size
            return
        end = close + 3
        while end < self.size and end - close < 5 and text[end] == quote:
            end += 1  # up to two quotes may end the content: """a""""" is 'a""'
        self.pos = end

    def key(self) -> list[str] | None:
        """Consume a dotted key: its parts, or None when there is none here."""
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            char = self.peek()
            if char in ('"', "'"):
                part = self.string()
                parts.append(part if part is not None else "")
            elif char in _BARE:
                start = self.pos
                while self.pos < self.size and self.text[self.pos] in _BARE:
                    self.pos += 1
                parts.append(self.text[start : self.pos])
            else:
                return parts or None
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.pos += 1

    def scalar(self) -> None:
        """Consume a number, boolean or date: up to a comma, bracket, comment or line end."""
        text, size = self.text, self.size
        while self.pos < size and text[self.pos] not in _SCALAR_END:
            self.pos += 1

    # -- structure ------------------------------------------------------------

    def record(self, path: Path) -> None:
        if len(path) > MAX_DEPTH:
            if self.too_deep is None:
                self.too_deep = (self.line(), path[: MAX_DEPTH + 1])
            return
        self.index.keys.setdefault(path, self.line())

    def header(self) -> None:
        double = self.peek(1) == "["
        self.pos += 2 if double else 1
        parts = self.key() or []
        resolved: list[str | int] = []
        for part in parts:
            resolved.append(part)
            last = self.arrays.get(tuple(resolved))
            if last is not None and (double is False or len(resolved) < len(parts)):
                resolved.append(last)
        path: Path = tuple(resolved)
        for end in range(1, min(len(path), MAX_DEPTH + 1)):
            self.record(path[:end])  # tables a dotted header makes on the way
        if double:
            position = self.arrays.get(path, -1) + 1
            self.arrays[path] = position
            self.record(path)
            path = (*path, position)
        self.record(path)
        self.table = path
        self.skip_blank(newlines=False)
        self.pos += 2 if double and self.text.startswith("]]", self.pos) else 1

    def run(self) -> Index:
        # A stack of open arrays and inline tables: (kind, path, items so far).
        stack: list[tuple[str, Path, int]] = []
        while self.pos < self.size:
            start = self.pos
            if not stack:
                self.skip_blank(newlines=True)
                if self.pos >= self.size:
                    break
                if self.peek() == "[":
                    self.header()
                else:
                    self.assignment(self.table, stack)
            else:
                kind, path, count = stack[-1]
                self.skip_blank(newlines=True)
                char = self.peek()
                if char in ("]", "}"):
                    stack.pop()
                    self.pos += 1
                elif char == ",":
                    self.pos += 1
                elif kind == "array":
                    stack[-1] = (kind, path, count + 1)
                    self.value((*path, count), path, stack)
                elif char:
                    self.assignment(path, stack)
            if self.pos == start:
                self.pos += 1  # never stall on text this reader does not know
        return self.index

    def assignment(self, table: Path, stack: list[tuple[str, Path, int]]) -> None:
        parts = self.key()
        if parts is None:
            return
        path = (*table, *parts)
        for end in range(len(table) + 1, min(len(path), MAX_DEPTH + 1) + 1):
            self.record(path[:end])
        self.skip_blank(newlines=False)
        if self.peek() == "=":
            self.pos += 1
            self.value(path, path, stack)

    def value(self, path: Path, strings: Path, stack: list[tuple[str, Path, int]]) -> None:
        """Consume a value at ``path``; string items are recorded under ``strings``."""
        self.skip_blank(newlines=False)
        char = self.peek()
        if char in ('"', "'"):
            line = self.line()
            found = self.string()
            if found is not None:
                self.index.values.setdefault((strings, found), line)
        elif char in ("[", "{"):
            if len(path) >= MAX_DEPTH:
                if self.too_deep is None:
                    self.too_deep = (self.line(), path)
                path = path[:MAX_DEPTH]  # keep counting brackets, stop recording
            stack.append(("array" if char == "[" else "table", path, 0))
            self.pos += 1
        else:
            self.scalar()


def _unescape(raw: str) -> str | None:
    """The value of a basic string's body, or None if an escape is not TOML's."""
    parts: list[str] = []
    at = 0
    while True:
        escape = raw.find("\\", at)
        if escape == -1:
            parts.append(raw[at:])
            return "".join(parts)
        parts.append(raw[at:escape])
        code = raw[escape + 1 : escape + 2]
        if code in _ESCAPES:
            parts.append(_ESCAPES[code])
            at = escape + 2
        elif code in ("u", "U"):
            width = 4 if code == "u" else 8
            digits = raw[escape + 2 : escape + 2 + width]
            try:
                parts.append(chr(int(digits, 16)))
            except ValueError:
                return None
            at = escape + 2 + width
        else:
            return None


# -- the environment ------------------------------------------------------------


class _Unresolved(Exception):
    pass


def _is_name(name: str) -> bool:
    return bool(name) and name.isascii() and (name.isidentifier())


def expand(text: str, environ: Mapping[str, str], used: dict[str, str]) -> str:
    """``text`` with ``${NAME}`` and ``${NAME:-default}`` replaced from ``environ``.

    ``$${`` stands for a literal ``${``. ``${NAME:-default}`` takes the default
    when the variable is unset or empty, as shells do. Each variable read is
    put in ``used``.
    """
    if "$" not in text:
        return text
    out: list[str] = []
    at = 0
    while True:
        dollar = text.find("$", at)
        if dollar == -1:
            out.append(text[at:])
            return "".join(out)
        out.append(text[at:dollar])
        if text.startswith("$${", dollar):
            out.append("${")
            at = dollar + 3
            continue
        if not text.startswith("${", dollar):
            out.append("$")
            at = dollar + 1
            continue
        close = text.find("}", dollar + 2)
        if close == -1:
            msg = (
                f"'${{' at offset {dollar} is never closed; write ${{NAME}}, "
                "${NAME:-default}, or $${ for a literal '${'"
            )
            raise _Unresolved(msg)
        inner = text[dollar + 2 : close]
        name, has_default, default = inner.partition(":-")
        if not _is_name(name):
            msg = (
                f"'${{{inner[:40]}}}' is not ${{NAME}} or ${{NAME:-default}} "
                "(a variable name is letters, digits and _); write $${ for a literal '${'"
            )
            raise _Unresolved(msg)
        value = environ.get(name)
        if not value and has_default:
            value = default
        elif value is None:
            msg = (
                f"the environment variable {name} is not set; set it, or give a default: "
                f"${{{name}:-...}}"
            )
            raise _Unresolved(msg)
        else:
            used[name] = value
        out.append(value)
        at = close + 1


# -- the document ---------------------------------------------------------------


class Document:
    """A plan's data, with where each part of it is written."""

    def __init__(self, file: str, text: str, data: dict[str, Any], scrub: Scrubber) -> None:
        self.file = file
        self.text = text
        self.data = data
        self.scrub = scrub
        self._index: Index | None = None

    @property
    def index(self) -> Index:
        """The line of every key, found in one pass over the text when first needed."""
        if self._index is None:
            self._index = _Scanner(self.text).run()
        return self._index

    def where(self, path: Path, value: str | None = None, *, key: Path | None = None) -> Where:
        """The place of ``path`` (of the string ``value`` inside it, for array items),
        named after ``key`` (default: ``path``)."""
        locate = functools.partial(self.line, path, value)
        return Where(self.file, None, path if key is None else key, self.scrub, locate=locate)

    def line(self, path: Path, value: str | None = None) -> int | None:
        if value is None:
            return self.index.line(path)
        return self.index.value_line(path, value)


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    return importlib.import_module("tomli")


_TOO_DEEP = (
    f"tables, arrays and keys nest more than {MAX_DEPTH} levels deep here; "
    "a plan needs a few (section, key, value)"
)


def parse(text: str, file: str, environ: Mapping[str, str] | None = None) -> Document:
    """Read a plan's TOML ``text``: its data, with ``${...}`` resolved, and its secrets.

    :raises PlanError: the text is not TOML, nests too deeply, or names an
        environment variable that is not set.
    """
    try:
        decoder = _toml()
    except ImportError:
        msg = "plans need Python 3.11+ (tomllib) or the tomli package: pip install tomli"
        raise PlanError(msg, file=file) from None
    try:
        data: dict[str, Any] = decoder.loads(text)
    except decoder.TOMLDecodeError as exc:
        message = str(exc)
        line = getattr(exc, "lineno", None) or _line_in(message)
        raise PlanError(f"invalid TOML: {message}", file=file, line=line) from None
    except RecursionError:
        # The parser recurses once per level: say where, from the scanner.
        scanner = _Scanner(text)
        scanner.run()
        line, path = scanner.too_deep or (None, ())
        raise PlanError(_TOO_DEEP, file=file, line=line, key=key_of(_head(path)) or None) from None
    document = Document(file, text, data, Scrubber())
    _resolve_environment(document, os.environ if environ is None else environ)
    return document


def _head(path: Path) -> Path:
    """The section and key a path starts with: ``("weave", 0, "redact", 0, 0)`` ->
    ``("weave", 0, "redact")``, as errors name the place."""
    names = 0
    for end, part in enumerate(path, 1):
        names += isinstance(part, str)
        if names == 2:
            return path[:end]
    return path[:1]


def _line_in(message: str) -> int | None:
    """The N of '(at line N, column M)' in tomllib's messages."""
    _, found, rest = message.rpartition("at line ")
    digits = rest.partition(",")[0].strip().rstrip(")")
    return int(digits) if found and digits.isdigit() else None


def _strings(document: Document) -> Iterator[tuple[Path, Any, str | int, str]]:
    """Every string value of the plan: ``(path of its container, container, key, value)``.

    Walks with a stack of its own, and refuses (PlanError) anything nested
    deeper than MAX_DEPTH.
    """
    stack: list[tuple[Path, Any]] = [((), document.data)]
    while stack:
        path, data = stack.pop()
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            if isinstance(value, str):
                yield path, data, key, value
            elif isinstance(value, (dict, list)):
                inner = (*path, key)
                if len(inner) >= MAX_DEPTH:
                    where = document.where(_head(inner))
                    raise where.error(_TOO_DEEP)
                stack.append((inner, value))


def _resolve_environment(document: Document, environ: Mapping[str, str]) -> None:
    """Expand ``${...}`` in every string value, in place; record the secrets found."""
    used: dict[str, str] = {}
    scrub = document.scrub
    for path, container, key, value in _strings(document):
        if "$" in value:
            try:
                value = expand(value, environ, used)
            except _Unresolved as exc:
                raise _unresolved(document, path, key, value, str(exc)) from None
            container[key] = value
        # the key it is the value of: its own, or the array's
        name = key if isinstance(key, str) else _last_name(path)
        if "://" in value or is_secret(name, SECRET_NAMES):
            _secrets_of(scrub, name, value)
    for name, value in used.items():
        if is_secret(name, SECRET_NAMES):
            scrub.add(value)


def _unresolved(
    document: Document, path: Path, key: str | int, value: str, reason: str
) -> PlanError:
    if isinstance(key, int):
        # an array item: its line is found by its text, under the array's key
        where_path = _named_part(path)
        where = document.where(where_path, value, key=_head(where_path))
    else:
        where_path = (*path, key)
        where = document.where(where_path, key=_head(where_path))
    return where.error(reason)


def _last_name(path: Path) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return ""


def _named_part(path: Path) -> Path:
    """``path`` without the array positions at its end: where the scanner files array items."""
    end = len(path)
    while end and isinstance(path[end - 1], int):
        end -= 1
    return path[:end]


def _secrets_of(scrub: Scrubber, name: str, value: str) -> None:
    """Note what in a plan's string is secret: a password or token in a URL, or the value
    of a secret-named key."""
    if is_secret(name, SECRET_NAMES):
        scrub.add(value)
    if "://" not in value:
        return
    try:
        split = urlsplit(value.strip())
        password = split.password
    except ValueError:
        return
    if password:
        userinfo = split.netloc.rpartition("@")[0]
        user = userinfo.partition(":")[0]
        scrub.add(userinfo, f"{user}:{MASK}")
        if password not in user:  # else masking it alone would hide the user name too
            scrub.add(password)
    for key, item in parse_qsl(split.query, keep_blank_values=False):
        if is_secret(key, SECRET_NAMES):
            scrub.add(item)
