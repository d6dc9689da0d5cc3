"""Secrets out of what the HTTP signals carry: URLs, headers, bodies, responses, exceptions.

Masking is by name, as for woven parameters (:func:`eventweave._advice.is_secret`
under :data:`eventweave.SECRET_NAMES`): the value of a query parameter, form field,
JSON key, XML element or attribute, URL matrix parameter or header whose name is a
secret is replaced by :data:`eventweave.MASK`, and so is the password of a URL's
``user:password@``. Bodies are read with real parsers — ``json``, expat (which
refuses DTDs here, so no entity is expanded), the ``&``-splitting and
percent-decoding of ``urllib.parse.parse_qsl`` — on ``str`` and ``bytes`` alike.
A body that looks like JSON or XML, cannot be parsed, and mentions a secret name
is masked whole: what cannot be read cannot be shown safely.

Text derived from a request — an exception's message quoting the URL or a header
value, a response header echoing a token — cannot be parsed back into its parts:
it is scrubbed of the secret *values* met while masking that request
(:class:`Secrets`).

Cost: a text that mentions no secret name and holds none of ``@ % \\u &#`` cannot
hold a masked value, so it is returned as is after one scan, without parsing; the
masked views of a response (its request, URL, headers, redirects) are computed
when a receiver first reads them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus
from xml.parsers import expat

import requests
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

from .._advice import MASK, SECRET_NAMES, SHORTEST_SCRUBBED, is_secret
from ._xml import safe_xml_parser

__all__ = [
    "SECRET_HEADERS",
    "ResponseView",
    "Secrets",
    "exception_view",
    "mask_headers",
    "mask_json",
    "mask_param",
    "mask_request",
    "mask_text",
    "mask_url",
    "mask_value",
    "request_secrets",
    "secret_name",
]

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
"""Headers masked whatever their name says: they carry credentials."""

# The secret names as is_secret compares them: lower case, without "_" or "-".
_WORDS = tuple(sorted({name.lower().replace("_", "").replace("-", "") for name in SECRET_NAMES}))
# How a masked value can hide from that comparison: a URL's userinfo, and the
# escapes of forms (%70assword), JSON ("\u0070assword") and XML text (&#64;).
_ESCAPES = ("@", "%", "\\u", "&#")
# One pass over a lower-cased text finds any of them (what lower() leaves alike).
_SUSPECT = re.compile("|".join(re.escape(text) for text in (*_WORDS, *_ESCAPES)))
_MASK_BYTES = MASK.encode("ascii")


def secret_name(name: object) -> bool:
    """Whether a parameter, field, header or element called ``name`` is masked."""
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).decode("utf-8", "replace")
    if not isinstance(name, str):
        return False
    return is_secret(name, SECRET_NAMES)  # cached, and the cache is bounded


def _might_hold_secret(text: str) -> bool:
    """False only when ``text`` cannot hold a value masking would replace.

    A search for the secret names (and the escapes that could hide one), not a
    way of masking: whatever it finds is then read by a parser.
    """
    lowered = text.lower()
    if "_" in lowered or "-" in lowered:  # X-Api-Key, api_key: compared without them
        lowered = lowered.replace("_", "").replace("-", "")
    return _SUSPECT.search(lowered) is not None


class Secrets:
    """The secret values met while masking one request, to scrub text derived from it.

    Each value is kept with the spellings a message may quote it in: as given,
    percent-decoded and -encoded, and escaped as ``repr`` shows it. A value (or
    spelling) shorter than :data:`eventweave._advice.SHORTEST_SCRUBBED` is not
    kept: scrubbing ``token=1`` would replace every ``1`` of a message.
    """

    __slots__ = ("_segments", "_values")

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._segments: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self._values or self._segments)

    def add_segment(self, segment: str) -> None:
        """Remember a path segment holding a secret (``/session/{token}``), as spelled."""
        self._segments += (segment,)
        self.add(segment)
        self.add(unquote(segment))

    def hide_in_url(self, url: str) -> str:
        """``url``, already masked by structure, with its secret path segments masked
        and every secret value of the request scrubbed (a token may sit in a path)."""
        return self.scrub(hide_segments(url, self._segments))

    def add(self, value: object) -> None:
        """Remember ``value`` (a str, bytes or number) as a secret."""
        if isinstance(value, (bytes, bytearray)):
            texts = {bytes(value).decode("utf-8", "replace"), bytes(value).decode("latin-1")}
            texts.add(repr(bytes(value))[2:-1])
        elif isinstance(value, str):
            texts = {value}
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            texts = {str(value)}
        else:
            return
        for text in texts:
            if len(text) < SHORTEST_SCRUBBED or text == MASK:
                continue
            spellings = (
                text,
                unquote(text),
                unquote_plus(text),
                quote(text, safe=""),
                quote_plus(text),
                quote(text, safe="!#$%&'()*+,/:;=?@[]~"),  # as requests requotes a URL
                repr(text)[1:-1],
            )
            self._values.update(
                spelling for spelling in spellings if len(spelling) >= SHORTEST_SCRUBBED
            )

    def add_credential(self, value: object) -> None:
        """Remember an Authorization-like value, its credentials and, for Basic, the password."""
        self.add(value)
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("latin-1")
        if not isinstance(value, str):
            return
        scheme, _, credentials = value.strip().partition(" ")
        credentials = credentials.strip()
        if not credentials:
            return
        self.add(credentials)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("latin-1")
            except (binascii.Error, ValueError):
                return
            self.add(decoded)
            self.add(decoded.partition(":")[2])

    def scrub(self, text: str) -> str:
        """``text`` with every secret value replaced by the mask, longest first."""
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        return text

    def found_in(self, text: str) -> bool:
        """Whether ``text`` still holds one of the secret values."""
        return any(value in text for value in self._values)


# -- URLs and forms -------------------------------------------------------------------


def hide_segments(text: str, segments: tuple[str, ...]) -> str:
    """``text`` (a path or URL) with each whole path segment in ``segments`` masked."""
    if not segments:
        return text
    spelled = "|".join(re.escape(segment) for segment in segments)
    return re.sub(f"(?<=/)(?:{spelled})(?=[/;?#]|\\Z)", lambda _: MASK, text)


def _url_like(text: str) -> bool:
    """Whether ``text`` starts as an absolute URL does: ``scheme://``."""
    scheme, sep, _ = text.partition("://")
    return bool(
        sep
        and scheme[:1].isascii()
        and scheme[:1].isalpha()
        and all(c.isascii() and (c.isalnum() or c in "+.-") for c in scheme)
    )


def _same(text: str) -> str:
    return text


def _mask_field(
    field: str, found: Secrets | None, decode: Callable[[str], str] = unquote_plus
) -> str:
    """One ``name=value`` of a form or query, masked; ``field`` itself if unchanged."""
    name, sep, value = field.partition("=")
    if not sep:
        return field  # a bare key: no value to hide
    if secret_name(decode(name)):
        if found is not None:
            found.add(value)
        return f"{name}={MASK}"
    masked = _mask_param_value(value, found, decode)
    return field if masked is value else f"{name}={masked}"


def _mask_param_value(value: str, found: Secrets | None, decode: Callable[[str], str]) -> str:
    """The value of a parameter whose name is no secret, masked: a URL in it, and
    more parameters after a ``#`` (a fragment that was not encoded) or a ``;``
    (``1;token=x``, as some servers split). A value may be read more than one of
    these ways; it is masked for each."""
    text, encoded = value, False
    if "://" in value or "%3a" in value.lower():
        decoded = decode(value)
        if _url_like(decoded):
            text, encoded = mask_url(decoded, found), decoded != value
    masked = _mask_separated(text, found, _same if encoded else decode)
    if masked == value:
        return value
    return quote(masked, safe=":/?=&@;#*") if encoded else masked


def _mask_separated(text: str, found: Secrets | None, decode: Callable[[str], str]) -> str:
    """``text`` with the parameters after a ``#`` or a ``;`` masked."""
    head, hash_, fragment = text.partition("#")
    if hash_:
        masked_head = _mask_separated(head, found, decode)
        masked_fragment = _mask_form(fragment, found)
        if masked_head is head and masked_fragment is fragment:
            return text
        return f"{masked_head}#{masked_fragment}"
    head, semicolon, rest = text.partition(";")
    if semicolon:
        masked_rest = _mask_field(rest, found, decode)
        return text if masked_rest is rest else f"{head};{masked_rest}"
    return text


def mask_param(name: str, value: str) -> str:
    """The value of one (decoded) query or form parameter, as receivers see it."""
    if secret_name(name):
        return MASK
    try:
        return _mask_param_value(value, None, _same)
    except Exception:  # no input may make masking fail open
        return MASK


def _mask_form(text: str, found: Secrets | None) -> str:
    """A form body or query string with secret fields masked, split as parse_qsl splits it.

    Fields that need no masking keep their spelling; a trailing ``&`` or a bare
    key (no ``=``, so no value) stays as it is.
    """
    fields = text.split("&")
    changed = False
    for index, field in enumerate(fields):
        masked = _mask_field(field, found)
        if masked is not field:
            fields[index] = masked
            changed = True
    return "&".join(fields) if changed else text


def _mask_path(path: str, found: Secrets | None) -> str:
    """A URL path with secret matrix parameters (``/item/VX-1;token=x``) masked."""
    segments = path.split("/")
    changed = False
    for index, segment in enumerate(segments):
        head, semicolon, params = segment.partition(";")
        if semicolon:
            masked = _mask_field(params, found)
            if masked is not params:
                segments[index] = f"{head};{masked}"
                changed = True
    return "/".join(segments) if changed else path


def mask_url(url: str, found: Secrets | None = None) -> str:
    """``url`` with the password of its ``user:password@`` and secret parameters masked.

    Secret parameters are those of the query and of the fragment
    (``#access_token=...``), and matrix parameters of the path. A relative URL
    (a path) is masked the same way. Returns ``url`` itself when nothing changes.
    """
    if "@" not in url and "?" not in url and ";" not in url and "#" not in url:
        return url  # nothing that could be masked
    try:
        return _mask_url(url, found)
    except Exception:  # no input may make masking fail open
        return MASK


def _mask_url(url: str, found: Secrets | None) -> str:
    head, rest = "", url
    scheme_end = url.find("://")
    if scheme_end > 0 and _url_like(url[: scheme_end + 3]):
        start = scheme_end + 3
        end = len(url)
        for stop in "/?#":
            index = url.find(stop, start)
            if index != -1:
                end = min(end, index)
        authority = url[start:end]
        userinfo, at, hostport = authority.rpartition("@")
        if at:
            user, colon, password = userinfo.partition(":")
            if colon and password:
                if found is not None:
                    found.add(password)
                authority = f"{user}:{MASK}@{hostport}"
        head, rest = url[:start] + authority, url[end:]
    before_fragment, hash_, fragment = rest.partition("#")
    path, question, query = before_fragment.partition("?")
    masked = (
        head
        + _mask_path(path, found)
        + question
        + _mask_form(query, found)
        + hash_
        + _mask_form(fragment, found)
    )
    return url if masked == url else masked


# -- bodies ---------------------------------------------------------------------------


def mask_text(body: str | bytes, found: Secrets | None = None) -> str | bytes:
    """``body`` with its secrets masked, read as JSON, XML, a URL or a form.

    Which one is chosen by its first character (``{``/``[``, ``<``, a
    ``scheme://``); any other text is read as a form. ``bytes`` stay ``bytes``,
    in their own encoding (JSON is re-encoded as UTF-8). Returns ``body``
    itself when nothing changes.
    """
    try:
        if isinstance(body, str):
            return _mask_str(body, found)
        text, codec = _decode(body)
        masked = _mask_str(text, found)
        if masked is text:
            return body
        return masked.encode(codec)
    except Exception:  # no input may make masking fail open
        return MASK if isinstance(body, str) else _MASK_BYTES


def _decode(body: bytes) -> tuple[str, str]:
    """``body`` as text, and the codec that gives the very same bytes back."""
    codec = json.detect_encoding(body)  # BOMs and the NUL patterns of UTF-16/32
    if codec == "utf-8":
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return body.decode("latin-1"), "latin-1"  # any bytes, one char each
    try:
        return body.decode(codec), codec
    except UnicodeDecodeError:
        return body.decode("latin-1"), "latin-1"


def _mask_str(text: str, found: Secrets | None) -> str:
    if not _might_hold_secret(text):
        return text
    stripped = text.lstrip().lstrip("\ufeff")
    first = stripped[:1]
    if first in ("{", "["):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return MASK  # JSON-looking, unreadable, and it names a secret
        clean, changed = _mask_json(document, found)
        return json.dumps(clean) if changed else text
    if first == "<":
        masked_xml = _mask_xml(stripped, found)
        if masked_xml is None:
            return MASK  # XML-looking, not well-formed (or a DTD), and it names a secret
        return text if masked_xml is stripped else masked_xml
    if _url_like(stripped.strip()):
        return mask_url(text, found)
    return _mask_form(text, found)


def mask_json(value: Any, found: Secrets | None = None) -> Any:
    """A copy of a ``json=`` body with the values of secret keys masked, at any depth.

    Strings in it are read by :func:`mask_text` (a URL's password, say). Always a
    copy, so a receiver cannot change what is sent: the body as JSON carries it
    (tuples become lists, keys strings), as ``requests`` sends it.
    """
    if found is None:
        # The C encoder and decoder copy a body that mentions no secret at a
        # fraction of the cost of walking it in Python.
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            pass  # requests will refuse it too; walk what there is
        else:
            if not _might_hold_secret(text):
                return json.loads(text)
    try:
        return _mask_json(value, found)[0]
    except Exception:  # a cycle, a mapping that raises: no input may make masking fail open
        return MASK


def _mask_json(value: Any, found: Secrets | None) -> tuple[Any, bool]:
    """A JSON-like value with the values of secret keys masked, and whether any was."""
    # Concrete types first: an isinstance() against an ABC costs more than
    # the rest of a node's visit.
    if isinstance(value, str):
        masked = _mask_str(value, found)
        return masked, masked is not value
    if isinstance(value, (int, float)) or value is None:
        return value, False
    if isinstance(value, (list, tuple)):
        items = [_mask_json(item, found) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    if isinstance(value, (dict, Mapping)):
        changed = False
        clean: dict[Any, Any] = {}
        for key, item in value.items():
            if secret_name(key):
                if found is not None:
                    _collect(item, found)
                clean[key], changed = MASK, True
            else:
                clean[key], item_changed = _mask_json(item, found)
                changed = changed or item_changed
        return clean, changed
    return value, False


def _collect(value: Any, found: Secrets) -> None:
    """Remember every scalar inside a masked value."""
    if isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, found)
    else:
        found.add(value)


# -- XML ------------------------------------------------------------------------------


class _Element:
    __slots__ = ("has_child", "secret", "start", "text")

    def __init__(self, start: int, secret: bool) -> None:
        self.start = start
        self.secret = secret
        self.has_child = False
        self.text: list[str] = []


def _tag_end(data: bytes, start: int) -> int:
    """Where the start tag at ``data[start]`` ends: the index of its ``>``.

    The tag is well-formed (expat read it), so a quote only opens an attribute
    value, which holds no quote of its own kind.
    """
    position = start
    while True:
        close = data.index(b">", position)
        double, single = data.find(b'"', position, close), data.find(b"'", position, close)
        quotes = [index for index in (double, single) if index != -1]
        if not quotes:
            return close
        opening = min(quotes)
        position = data.index(data[opening : opening + 1], opening + 1) + 1


def _attribute_spans(data: bytes, start: int, end: int) -> list[tuple[str, int, int]]:
    """Each attribute of the start tag ``data[start:end]``: its name and value span
    (inside the quotes)."""
    spans: list[tuple[str, int, int]] = []
    position = start
    while True:
        equals = data.find(b"=", position, end)
        if equals == -1:
            return spans
        name = data[position:equals].split()[-1].decode("utf-8")  # after the element name
        opening = min(i for i in (data.find(b'"', equals), data.find(b"'", equals)) if i != -1)
        closing = data.index(data[opening : opening + 1], opening + 1)
        spans.append((name, opening + 1, closing))
        position = closing + 1


def _xml_escape(text: str, *, attribute: bool) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").replace("'", "&apos;") if attribute else text


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _mask_xml(text: str, found: Secrets | None) -> str | None:
    """XML with the content of secret elements, secret attributes and URLs masked.

    Read by expat (no DTD, so no entity expansion); the masked spans are cut out
    of the document as written, so everything else keeps its spelling. The whole
    content of a secret element goes: CDATA sections, comments splitting its
    text, nested elements. None when ``text`` is not well-formed XML.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    stack: list[_Element] = []
    contents: list[tuple[_Element, int, bytes]] = []  # element, its end tag, what replaces
    tags: list[tuple[int, dict[str, bytes]]] = []  # start tags with attributes to replace
    secret: _Element | None = None  # the secret element being read, if any
    hidden = 0  # depth inside it

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal secret, hidden
        if stack:
            stack[-1].has_child = True
        if secret is not None:
            hidden += 1
            return
        element = _Element(parser.CurrentByteIndex, secret_name(_local(name)))
        stack.append(element)
        if element.secret:
            secret, hidden = element, 1
        replace: dict[str, bytes] = {}
        for attribute, value in attributes.items():
            if secret_name(_local(attribute)):
                replace[attribute] = _MASK_BYTES
                if found is not None:
                    found.add(value)
            elif _url_like(value):
                masked = mask_url(value, found)
                if masked is not value:
                    replace[attribute] = _xml_escape(masked, attribute=True).encode("utf-8")
        if replace:
            tags.append((element.start, replace))

    def end(_name: str) -> None:
        nonlocal secret, hidden
        if secret is not None:
            hidden -= 1
            if hidden:
                return
            secret = None
        element = stack.pop()
        if element.secret:
            if found is not None:
                found.add("".join(element.text))
            contents.append((element, parser.CurrentByteIndex, _MASK_BYTES))
        elif not element.has_child and element.text:
            value = "".join(element.text).strip()
            if _url_like(value):
                masked = mask_url(value, found)
                if masked is not value:
                    replacement = _xml_escape(masked, attribute=False).encode("utf-8")
                    contents.append((element, parser.CurrentByteIndex, replacement))

    def character_data(chunk: str) -> None:
        if secret is not None:
            secret.text.append(chunk)
        elif stack and not stack[-1].has_child:
            stack[-1].text.append(chunk)

    parser = safe_xml_parser(
        start=start, end=end, text=character_data, encoding="utf-8", namespaces=False
    )
    try:
        parser.Parse(data, True)
    except (expat.ExpatError, ValueError):
        return None
    spans: list[tuple[int, int, bytes]] = []  # (start, end, replacement) in data
    for element, end_tag, replacement in contents:
        tag_end = _tag_end(data, element.start)
        if data[tag_end - 1] != ord("/") and tag_end + 1 < end_tag:  # not <a/>, not empty
            spans.append((tag_end + 1, end_tag, replacement))
    for tag_start, replace in tags:
        for attribute, value_start, value_end in _attribute_spans(
            data, tag_start, _tag_end(data, tag_start)
        ):
            if attribute in replace:
                spans.append((value_start, value_end, replace[attribute]))
    if not spans:
        return text
    out: list[bytes] = []
    position = 0
    for span_start, span_end, replacement in sorted(spans):
        if span_start < position:
            continue  # inside a span already replaced
        out += (data[position:span_start], replacement)
        position = span_end
    out.append(data[position:])
    return b"".join(out).decode("utf-8")


# -- structured values and headers ----------------------------------------------------


def mask_value(value: Any, found: Secrets | None = None) -> Any:
    """A copy of a body given to ``requests`` with its secrets masked.

    Mappings and lists of ``(name, value)`` pairs (``data=``, ``params=``; names
    ``str`` or ``bytes``) mask the values of secret names; ``str`` and ``bytes``
    are read by :func:`mask_text`; lists are masked item by item. Anything else
    (a number, a file, a generator) is returned as it is, unread.
    """
    try:
        return _mask_value(value, found)
    except Exception:  # a cycle, a mapping that raises: no input may make masking fail open
        return MASK


def _mask_value(value: Any, found: Secrets | None) -> Any:
    if isinstance(value, (str, bytes)):
        return mask_text(value, found)
    if isinstance(value, Mapping):
        return {key: _masked_field(key, item, found) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(_is_pair(item) for item in value):
            return [(key, _masked_field(key, item, found)) for key, item in value]
        return [_mask_value(item, found) for item in value]
    return value


def _is_pair(item: Any) -> bool:
    return isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], (str, bytes))


def _masked_field(name: Any, value: Any, found: Secrets | None) -> Any:
    if secret_name(name):
        if found is not None:
            _collect(value, found)
        return MASK
    return _mask_value(value, found)


def mask_headers(headers: Any, found: Secrets | None = None) -> dict[Any, Any]:
    """Headers (a mapping or ``(name, value)`` pairs, ``str`` or ``bytes``) as a dict, masked.

    :data:`SECRET_HEADERS` and headers named like a secret (``X-Api-Key``) are
    masked whole; a value that is a URL has its own secrets masked.
    """
    try:
        items: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers or ()
        masked: dict[Any, Any] = {}
        for name, value in items:
            text = name.decode("latin-1") if isinstance(name, (bytes, bytearray)) else str(name)
            if text.strip().lower() in SECRET_HEADERS or secret_name(text.strip()):
                if found is not None:
                    found.add_credential(value)
                masked[name] = MASK
            elif isinstance(value, str) and _url_like(value.strip()):
                masked[name] = mask_url(value, found)
            elif isinstance(value, bytes) and _url_like(value.decode("latin-1").strip()):
                masked[name] = mask_url(value.decode("latin-1"), found).encode("latin-1")
            else:
                masked[name] = value
        return masked
    except Exception:  # requests refuses such headers itself; never fail open here
        return {"": MASK}


def _add_auth(auth: Any, found: Secrets) -> None:
    if isinstance(auth, (tuple, list)):
        for part in auth[1:]:
            found.add(part)
    elif auth is not None:
        for name, value in getattr(auth, "__dict__", {}).items():
            if secret_name(name):
                found.add(value)


def _add_cookies(cookies: Any, found: Secrets) -> None:
    if isinstance(cookies, CookieJar):
        for cookie in cookies:
            found.add(cookie.value)
    elif isinstance(cookies, Mapping):
        for value in cookies.values():
            found.add(value)


def request_secrets(named: Mapping[str, Any], prepared: Any = None) -> Secrets:
    """Every secret value of a ``Session.request`` call: its arguments and, once
    prepared, the request as sent (where ``auth=`` became a header)."""
    found = Secrets()
    url = named.get("url")
    if isinstance(url, bytes):
        url = url.decode("utf-8", "replace")
    if isinstance(url, str):
        mask_url(url, found)
    mask_value(named.get("params"), found)
    mask_headers(named.get("headers"), found)
    mask_value(named.get("data"), found)
    mask_json(named.get("json"), found)
    _add_auth(named.get("auth"), found)
    _add_cookies(named.get("cookies"), found)
    if isinstance(prepared, requests.PreparedRequest):
        if isinstance(prepared.url, str):
            mask_url(prepared.url, found)
        mask_headers(prepared.headers, found)
        if isinstance(prepared.body, (str, bytes)):
            mask_text(prepared.body, found)
        _add_cookies(getattr(prepared, "_cookies", None), found)
    return found


# -- what receivers get of requests' objects ---------------------------------------------


def mask_request(request: Any, secrets: Secrets | None = None) -> Any:
    """A copy of a ``PreparedRequest`` with its URL, headers and body masked, no
    cookies and no hooks.

    A streamed body (a file, a generator) is not passed on: reading it would
    take it from the request.
    """
    if not isinstance(request, requests.PreparedRequest):
        return request
    clone = requests.PreparedRequest()
    clone.method = request.method
    if isinstance(request.url, str):
        url = mask_url(request.url)
        clone.url = secrets.hide_in_url(url) if secrets is not None else url
    clone.headers = _scrubbed_headers(request.headers, secrets)
    clone._cookies = RequestsCookieJar()  # type: ignore[attr-defined]  # cookies are credentials
    clone.body = mask_text(request.body) if isinstance(request.body, (str, bytes)) else None
    # Not the request's hooks: an auth handler (HTTPDigestAuth) hooks in its
    # bound methods, whose object holds the password.
    clone.hooks = default_hooks()
    return clone


def _scrubbed_headers(headers: Any, secrets: Secrets | None) -> CaseInsensitiveDict[Any]:
    """Headers masked by name, and every other value scrubbed of the request's secrets."""
    masked = mask_headers(headers)
    if secrets:
        for name, value in masked.items():
            if isinstance(value, str):
                masked[name] = secrets.scrub(value)
    return CaseInsensitiveDict(masked)


class ResponseView(requests.Response):
    """A response as receivers see it: the same status, content and timing, credentials masked.

    Its ``request`` (and that of each redirect in ``history``, and ``next``) is a
    masked copy (:func:`mask_request`), its ``url`` and ``headers`` are masked
    (``Set-Cookie`` whole, secrets of the request scrubbed from the other
    values), and it has no cookies. Each is computed when first read. It holds
    no connection and no ``raw`` stream: a body not read yet (``stream=True``)
    is not shown, since reading it would take it from the caller. The caller's
    response is never changed.
    """

    # Not requests.Response.__init__: a view shares the response's state.
    def __init__(self, response: requests.Response, secrets: Callable[[], Secrets]) -> None:
        content = response.__dict__.get("_content", False)
        self.__dict__.update(
            _content=content if isinstance(content, bytes) else None,
            _content_consumed=True,
            status_code=response.status_code,
            encoding=response.encoding,
            reason=response.reason,
            elapsed=response.elapsed,
            raw=None,
            connection=None,
            # The response and its secrets are held in a closure, not in
            # attributes, and the closure hands back only masked values: no
            # attribute or method of the view returns what it masks. The
            # closure can still be read by introspection (__closure__): this
            # keeps secrets from receivers that read what they are sent, not
            # from code that digs through the interpreter.
            _view_masked=lambda name: _masked_attribute(response, name, secrets),
        )

    @cached_property
    def url(self) -> str:  # type: ignore[override]
        url: str = self.__dict__["_view_masked"]("url")
        return url

    @cached_property
    def headers(self) -> CaseInsensitiveDict[str]:  # type: ignore[override]
        headers: CaseInsensitiveDict[str] = self.__dict__["_view_masked"]("headers")
        return headers

    @cached_property
    def request(self) -> requests.PreparedRequest:  # type: ignore[override]
        request: requests.PreparedRequest = self.__dict__["_view_masked"]("request")
        return request

    @cached_property
    def history(self) -> list[requests.Response]:  # type: ignore[override]
        history: list[requests.Response] = self.__dict__["_view_masked"]("history")
        return history

    @cached_property
    def cookies(self) -> RequestsCookieJar:  # type: ignore[override]
        return RequestsCookieJar()

    @cached_property
    def _next(self) -> Any:
        return self.__dict__["_view_masked"]("_next")


def _masked_attribute(
    response: requests.Response, name: str, secrets: Callable[[], Secrets]
) -> Any:
    """The ``name`` attribute of ``response`` as its :class:`ResponseView` shows it.

    Only the attributes the view masks: no other is read from the response.
    """
    if name not in _MASKED_ATTRIBUTES:
        raise AttributeError(name)
    value = getattr(response, name, None)
    if name == "url":
        return secrets().hide_in_url(mask_url(value)) if isinstance(value, str) else value
    if name == "headers":
        return _scrubbed_headers(value, secrets())
    if name == "history":
        return [ResponseView(r, secrets) for r in value or ()]
    return mask_request(value, secrets())  # request, _next


_MASKED_ATTRIBUTES = frozenset({"url", "headers", "request", "history", "_next"})


# -- exceptions -----------------------------------------------------------------------

_CHAIN_DEPTH = 8  # causes and contexts followed; deeper ones are dropped
_scrubbed_types: dict[type[BaseException], type[BaseException]] = {}


def exception_view(exc: BaseException, secrets: Secrets) -> BaseException:
    """A copy of ``exc`` for receivers: its message, arguments, attributes, causes
    and notes scrubbed of ``secrets``, its request and response masked.

    A copy of the same type where the type allows it; otherwise an instance of a
    subclass of it whose message is the scrubbed one, so ``isinstance`` checks
    still hold. The traceback is kept (it shows code, not values); the exception
    the caller gets is not touched.
    """
    return _ExceptionCopier(secrets).copy(exc, 0)


class _ExceptionCopier:
    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self.seen: dict[int, BaseException] = {}

    def copy(self, exc: BaseException, depth: int) -> BaseException:
        if id(exc) in self.seen:
            return self.seen[id(exc)]
        try:
            clone = copy.copy(exc)
            if type(clone) is not type(exc):
                raise TypeError(type(clone))
        except Exception:
            clone = _with_message(exc, self.secrets)
        self.seen[id(exc)] = clone
        try:
            clone.args = tuple(self.scrub(arg, depth) for arg in exc.args)
            self.copy_attributes(exc, clone, depth)
            if isinstance(exc, OSError):
                # str() of an OSError reads these, not args (and None is not unset)
                for name in ("strerror", "filename", "filename2"):
                    if getattr(exc, name) is not None:
                        setattr(clone, name, self.scrub(getattr(exc, name), depth))
            leaks = _leaks(clone, self.secrets)
        except Exception:
            leaks = True
        if leaks:  # a __str__ of its own, reading what we could not scrub
            clone = _with_message(exc, self.secrets)
            self.seen[id(exc)] = clone
            with contextlib.suppress(Exception):  # the message matters; attributes are a courtesy
                self.copy_attributes(exc, clone, depth)
        chained = depth < _CHAIN_DEPTH
        cause, context = exc.__cause__, exc.__context__
        clone.__cause__ = self.copy(cause, depth + 1) if chained and cause is not None else None
        clone.__context__ = (
            self.copy(context, depth + 1) if chained and context is not None else None
        )
        clone.__suppress_context__ = exc.__suppress_context__
        return clone.with_traceback(exc.__traceback__)

    def copy_attributes(self, exc: BaseException, clone: BaseException, depth: int) -> None:
        for name, value in vars(exc).items():
            if name != "_scrubbed_message":
                setattr(clone, name, self.scrub(value, depth))

    def scrub(self, value: Any, depth: int) -> Any:
        secrets = self.secrets
        if isinstance(value, str):
            return secrets.scrub(value)
        if isinstance(value, bytes):
            return secrets.scrub(value.decode("latin-1")).encode("latin-1")
        if isinstance(value, BaseException):
            if depth >= _CHAIN_DEPTH:
                return _with_message(value, secrets)
            return self.copy(value, depth + 1)
        if isinstance(value, requests.PreparedRequest):
            return mask_request(value, secrets)
        if isinstance(value, requests.Response):
            return ResponseView(value, lambda: secrets)
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(item, depth) for item in value)
        return value


def _leaks(exc: BaseException, secrets: Secrets) -> bool:
    try:
        text = f"{exc}\n{exc!r}"
    except Exception:
        return True
    return secrets.found_in(text)


def _fixed_str(self: BaseException) -> str:
    message: str = self.__dict__.get("_scrubbed_message", "")
    return message


def _fixed_repr(self: BaseException) -> str:
    return f"{type(self).__name__}({_fixed_str(self)!r})"


def _with_message(exc: BaseException, secrets: Secrets) -> BaseException:
    """An instance of a subclass of ``type(exc)`` saying ``exc``'s message, scrubbed."""
    try:
        message = secrets.scrub(str(exc))
    except Exception:
        message = f"{type(exc).__name__} (its message could not be read)"
    cls = type(exc)
    try:
        sub = _scrubbed_types.get(cls)
        if sub is None:
            namespace = {
                "__str__": _fixed_str,
                "__repr__": _fixed_repr,
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
            }
            sub = _scrubbed_types[cls] = type(cls.__name__, (cls,), namespace)
        clone = BaseException.__new__(sub)
        clone.args = (message,)
    except Exception:
        clone = Exception(message)
    clone.__dict__["_scrubbed_message"] = message
    return clone
