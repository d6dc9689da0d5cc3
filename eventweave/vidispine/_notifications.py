"""Vidispine notifications: parse them, receive them over HTTP, register the callback.

The receiving side is one framework-neutral core, :meth:`NotificationReceiver.handle`,
which the WSGI app (:meth:`NotificationReceiver.__call__`) and the Django view
(``eventweave.contrib.django.vidispine_notification_view``) both adapt.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hmac
import inspect
import json
import keyword
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import parse_qs
from xml.parsers import expat

import requests

from . import signals as _default_signals
from ._masking import mask_url
from ._xml import RefusedDoctype, safe_xml_parser

__all__ = [
    "MalformedNotification",
    "NotificationError",
    "NotificationReceiver",
    "NotificationResponse",
    "UnsupportedContentType",
    "parse_notification",
    "register_notification",
    "unregister_notification",
]

logger = logging.getLogger("eventweave.vidispine.notifications")

VIDISPINE_NS = "http://xml.vidispine.com/schema/vidispine"

FieldValue: TypeAlias = str | list[str]
"""A notification field's value: a string, or a list when the key repeats."""

StartResponse = Callable[..., Any]
WSGIEnvironment = Mapping[str, Any]

_JSON_TYPES = frozenset({"application/json", "text/json"})
_XML_TYPES = frozenset({"application/xml", "text/xml"})
_ACCEPTED = "application/json, application/xml"
_READ_CHUNK = 64 * 1024
# Never sent by name: what receivers are given anyway (signal, sender), what the
# receiver sends itself (instance, fields), and the receiving method's self;
# plus, per signal, every parameter its send methods take (see _send_names).
_RESERVED_NAMES = frozenset({"signal", "sender", "instance", "fields", "self"})
# Python's own codecs that are no character set a document is written in (the
# codecs docs list them as "Python Specific Encodings"): refused as unknown.
_NOT_CHARSETS = frozenset(
    {"idna", "mbcs", "oem", "palmos", "punycode", "raw-unicode-escape", "undefined"}
    | {"unicode-escape"}
)
# RFC 9110 token characters, which a charset name is made of.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MAX_CHARSET = 64
_SIGNAL_NAMES = ("vidispine_auto_import_ntfcn", "vidispine_notification")


class MalformedNotification(ValueError):
    """A notification body that is not a well-formed Vidispine notification.

    The receivers answer it with 400 and emit nothing.
    """


class UnsupportedContentType(ValueError):
    """A notification body in a media type or charset that cannot be parsed.

    The receivers answer it with 415 and emit nothing.

    :param content_type: the ``Content-Type`` at fault, as received.
    """

    def __init__(self, message: str, content_type: str | None) -> None:
        super().__init__(message)
        self.content_type = content_type


class NotificationError(Exception):
    """Vidispine refused to create or delete a notification.

    :param status: the HTTP status Vidispine answered with.
    :param body: the response body, as text (Vidispine puts the reason there).
    :param url: the URL of the request.
    """

    def __init__(self, message: str, *, status: int, body: str, url: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.url = url


# --------------------------------------------------------------------------- parsing


def _split_content_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    if not content_type:
        return "", {}
    media_type, *raw_params = content_type.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        name, sep, value = raw.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    return media_type.strip().lower(), params


def _syntax(media_type: str) -> str | None:
    if media_type in _JSON_TYPES or media_type.endswith("+json"):
        return "json"
    if media_type in _XML_TYPES or media_type.endswith("+xml"):
        return "xml"
    return None


def add_field(fields: dict[str, Any], key: str, value: str) -> None:
    """Add ``key``: a key seen again collects its values in a list, in order."""
    previous = fields.get(key)
    if previous is None:
        fields[key] = value
    elif isinstance(previous, list):
        previous.append(value)
    else:
        fields[key] = [previous, value]


def _json_scalar(value: object, key: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    msg = f"field {key!r}: a value must be a string, not {type(value).__name__}"
    raise MalformedNotification(msg)


def _decode(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset)
    except (UnicodeError, ValueError) as exc:  # UnicodeDecodeError, or a codec's own error
        msg = f"notification body is not valid {charset}: {exc}"
        raise MalformedNotification(msg) from None


def _parse_json(body: bytes, charset: str | None) -> dict[str, FieldValue]:
    text: str | bytes = _decode(body, charset) if charset else body
    try:
        document = json.loads(text)
    except UnicodeDecodeError as exc:
        msg = f"notification body is not valid UTF-8, UTF-16 or UTF-32: {exc}"
        raise MalformedNotification(msg) from None
    except (ValueError, RecursionError) as exc:
        msg = f"notification body is not valid JSON: {exc}"
        raise MalformedNotification(msg) from None
    if not isinstance(document, dict):
        msg = 'a JSON notification must be an object {"field": [{"key": ..., "value": ...}]}'
        raise MalformedNotification(msg)
    entries = document.get("field", [])
    if isinstance(entries, dict):  # a single field, as some JSON serialisers collapse lists
        entries = [entries]
    if not isinstance(entries, list):
        msg = '"field" must be a list of {"key": ..., "value": ...} objects'
        raise MalformedNotification(msg)
    fields: dict[str, FieldValue] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            msg = f'every "field" entry needs a string "key": got {entry!r:.80}'
            raise MalformedNotification(msg)
        key = entry["key"]
        value = entry.get("value")
        for item in value if isinstance(value, list) else [value]:
            add_field(fields, key, _json_scalar(item, key))
    return fields


class _SimpleMetadataBuilder:
    """Collects ``field/key`` and ``field/value`` from a SimpleMetadataDocument.

    Driven by expat directly rather than ElementTree, because only a raw expat
    parser lets us refuse DTDs outright (entity expansion attacks such as
    "billion laughs" need a DTD to declare their entities).
    """

    def __init__(self) -> None:
        self.fields: dict[str, FieldValue] = {}
        self._depth = 0
        self._key: list[str] | None = None
        self._values: list[str] = []
        self._text: list[str] | None = None

    @staticmethod
    def _local(name: str) -> str:
        return name.rpartition(" ")[2]

    def start(self, name: str, _attributes: object) -> None:
        self._depth += 1
        local = self._local(name)
        if self._depth == 1 and local != "SimpleMetadataDocument":
            msg = f"XML notification root must be SimpleMetadataDocument, not {local!r}"
            raise MalformedNotification(msg)
        if self._depth == 2 and local == "field":
            self._key, self._values = None, []
        elif self._depth == 3 and local in ("key", "value"):
            self._text = []

    def end(self, name: str) -> None:
        local = self._local(name)
        if self._depth == 3 and self._text is not None:
            text = "".join(self._text)
            if local == "key":
                if self._key is not None:
                    msg = "an XML notification field has more than one <key>"
                    raise MalformedNotification(msg)
                self._key = [text]
            else:
                self._values.append(text)
            self._text = None
        elif self._depth == 2 and local == "field":
            if self._key is None:
                msg = "an XML notification field has no <key>"
                raise MalformedNotification(msg)
            for value in self._values or [""]:
                add_field(self.fields, self._key[0], value)
        self._depth -= 1

    def text(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _parse_xml(body: bytes, charset: str | None) -> dict[str, FieldValue]:
    builder = _SimpleMetadataBuilder()
    parser = safe_xml_parser(start=builder.start, end=builder.end, text=builder.text)
    # The HTTP charset overrides the XML declaration (RFC 7303); expat parses
    # a str as the text it is, whatever its declaration says.
    document: str | bytes = _decode(body, charset) if charset else body
    try:
        parser.Parse(document, True)
    except expat.ExpatError as exc:
        msg = f"notification body is not well-formed XML: {exc}"
        raise MalformedNotification(msg) from None
    except RefusedDoctype:
        msg = "XML notification declares a DOCTYPE or entity; refused (entity expansion)"
        raise MalformedNotification(msg) from None
    return builder.fields


def _charset(name: str | None, content_type: str) -> str | None:
    """The codec of a ``charset`` parameter; UnsupportedContentType for one we cannot use."""
    if not name:
        return None
    if len(name) > _MAX_CHARSET or not set(name) <= _TOKEN:
        msg = f"malformed charset {name[:_MAX_CHARSET]!r} in Content-Type {content_type!r}"
        raise UnsupportedContentType(msg, content_type)
    try:
        codec = codecs.lookup(name).name
        "".encode(codec)  # binary transforms such as base64 are no text encodings
    except (LookupError, UnicodeError, ValueError):
        codec = None
    if codec is None or codec in _NOT_CHARSETS:
        msg = f"unknown charset {name!r} in Content-Type {content_type!r}"
        raise UnsupportedContentType(msg, content_type) from None
    return codec


def parse_notification(body: bytes, content_type: str) -> dict[str, FieldValue]:
    """Parse a Vidispine notification body into ``{key: value}``.

    Vidispine sends the key-value data of a notification either as JSON,
    ``{"field": [{"key": "jobId", "value": "VX-12"}, ...]}``, or as XML,
    ``<SimpleMetadataDocument xmlns="http://xml.vidispine.com/schema/vidispine">``
    ``<field><key>jobId</key><value>VX-12</value></field>...``. Values are
    strings; a key that repeats maps to the list of its values, in order.

    The ``charset`` parameter of ``content_type`` is honoured (for XML it
    overrides the XML declaration); Python's own codecs that are no document
    charset (``punycode``, ``idna``, ``unicode_escape`` ...) count as unknown.
    XML declaring a DOCTYPE or entities is refused, so entity expansion attacks
    cannot run.

    :param body: the request body.
    :param content_type: the request's ``Content-Type``: ``application/json``,
        ``application/xml``, ``text/xml``, ``text/json`` or a ``+json`` /
        ``+xml`` type, with parameters.
    :raises UnsupportedContentType: for any other media type, or an unknown
        or malformed charset.
    :raises MalformedNotification: when the body is not a well-formed
        notification of that type.
    """
    media_type, params = _split_content_type(content_type)
    syntax = _syntax(media_type)
    if syntax is None:
        msg = (
            f"cannot parse a notification of type {content_type!r}: "
            f"configure the Vidispine notification with contentType {_ACCEPTED}"
        )
        raise UnsupportedContentType(msg, content_type)
    charset = _charset(params.get("charset"), content_type)
    if syntax == "json":
        return _parse_json(body, charset)
    return _parse_xml(body, charset)


# -------------------------------------------------------------------------- receiving


class NotificationResponse(NamedTuple):
    """What :meth:`NotificationReceiver.handle` answers: framework-neutral."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _response(status: HTTPStatus, text: str, *extra: tuple[str, str]) -> NotificationResponse:
    body = f"{status.value} {status.phrase}: {text}\n".encode()
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        # Error texts quote parts of the request: never let a browser sniff them as HTML.
        ("X-Content-Type-Options", "nosniff"),
    ]
    headers.extend(extra)
    return NotificationResponse(status.value, headers, body)


def _send_names(signal: Any) -> frozenset[str]:
    """The names a notification field cannot be sent by to ``signal``.

    Those of :data:`_RESERVED_NAMES`, and every parameter that ``send`` or
    ``send_robust`` takes itself (blinker's ``send`` has ``_async_wrapper``):
    a field of that name would be taken for it, or clash with it.
    """
    names = set(_RESERVED_NAMES)
    for method in (getattr(signal, "send", None), getattr(signal, "send_robust", None)):
        if method is None:
            continue
        function = getattr(method, "__func__", method)  # with self, if it is a method
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            continue
        names.update(p.name for p in parameters if p.kind is not p.VAR_KEYWORD)
    return frozenset(names)


def _emit(signal: Any, sender: type, named: dict[str, Any]) -> None:
    send_robust = getattr(signal, "send_robust", None)
    if send_robust is not None:
        try:
            responses = send_robust(sender, **named)
        except Exception:
            logger.exception(
                "Vidispine notification acknowledged although sending it on %r raised", signal
            )
            return
        for receiver, response in responses:
            if isinstance(response, Exception):
                logger.warning(
                    "Vidispine notification acknowledged although receiver %s raised %r",
                    getattr(receiver, "__qualname__", receiver),
                    response,
                )
        return
    # Any object with .send may stand for a signal (a blinker signal has no
    # send_robust); its failures must not turn into a 500 either.
    try:
        signal.send(sender, **named)
    except Exception:
        logger.exception(
            "Vidispine notification acknowledged although a receiver of %r raised", signal
        )


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic ...`` header, else None."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


class NotificationReceiver:
    """A WSGI app that turns Vidispine notifications into signals.

    Mount it where Vidispine's HTTP notification action posts (any path). A
    POST whose body is a job notification with ``type`` ``AUTO_IMPORT`` emits
    ``vidispine_auto_import_ntfcn``; any other notification emits
    ``vidispine_notification``. Both are sent with ``sender`` the receiver's
    class, ``instance`` the ``itemId`` field (None if absent), ``fields`` the
    parsed ``{key: value}`` dict (see :func:`parse_notification`), and each
    field whose key is a Python identifier by name; keys that are not, or
    that clash with ``signal``, ``sender``, ``instance`` or ``fields``, are
    only in ``fields``.

    Receivers are called with ``send_robust``: one that raises is logged
    (logger ``eventweave.vidispine.notifications``) and the notification is
    still acknowledged with 200, so Vidispine does not retry it forever.

    Answers, in the order checked: 405 for a method other than POST; 401
    when a secret is configured and the request does not carry it (the
    comparison is constant-time); 415 for a body that is neither JSON nor
    XML; 413 when ``Content-Length`` exceeds ``max_body`` (before reading
    anything) or a body of unknown length grows past it (reading stops
    there); 400 for a malformed body. None of them emits anything.

    :param token: a shared secret the request must carry as the ``token``
        query parameter (``http://portal/notify?token=...`` as the callback
        URL) or as ``Authorization: Bearer ...``.
    :param basic_auth: ``(user, password)`` the request must carry as Basic
        auth (``http://user:password@portal/notify`` as the callback URL).
        With both secrets set, either one is accepted. (Behind Apache
        mod_wsgi, ``WSGIPassAuthorization On`` is needed for Authorization
        headers to reach the app.)
    :param max_body: the largest body accepted, in bytes (default 1 MiB).
    :param signals: an object or module holding signals named
        ``vidispine_auto_import_ntfcn`` and ``vidispine_notification``
        (anything with ``.send``, such as a portal's own Django signals);
        one it lacks is taken from :mod:`eventweave.vidispine.signals`.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        max_body: int = 1_048_576,
        signals: object = None,
    ) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            msg = f"NotificationReceiver token must be a non-empty str (got {type(token).__name__})"
            raise ValueError(msg)
        if basic_auth is not None:
            pair = tuple(basic_auth) if isinstance(basic_auth, (tuple, list)) else ()
            if len(pair) != 2 or not all(isinstance(part, str) for part in pair) or ":" in pair[0]:
                msg = (
                    "NotificationReceiver basic_auth must be a (user, password) pair of "
                    "strings, the user without ':'"
                )
                raise ValueError(msg)
            basic_auth = (pair[0], pair[1])
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            msg = f"NotificationReceiver max_body must be a positive int, not {max_body!r}"
            raise ValueError(msg)
        self.token = token
        self.basic_auth = basic_auth
        self.max_body = max_body
        self._auto_import_signal, self._notification_signal = _resolve_signals(signals)
        self._reserved = {
            id(signal): _send_names(signal)
            for signal in (self._auto_import_signal, self._notification_signal)
        }

    def __repr__(self) -> str:
        secrets = [name for name in ("token", "basic_auth") if getattr(self, name) is not None]
        return f"<{type(self).__name__} secrets={secrets} max_body={self.max_body}>"

    # ---------------------------------------------------------------- the core

    def handle(
        self,
        *,
        method: str,
        content_type: str | None,
        content_length: int | str | None,
        authorization: str | None,
        query_string: str,
        read: Callable[[int], bytes],
    ) -> NotificationResponse:
        """Handle one notification request, whatever the web framework.

        :param method: the request method.
        :param content_type: the ``Content-Type`` header, or None.
        :param content_length: the ``Content-Length``, as an int or as the
            header's text (an invalid one is answered with 400), or None when
            unknown (a chunked body): then at most ``max_body + 1`` bytes are read.
        :param authorization: the ``Authorization`` header, or None.
        :param query_string: the raw query string (for ``token=``).
        :param read: reads up to ``n`` bytes of the body; returns ``b""`` at
            its end.
        :returns: status, headers and body to answer with.
        """
        if isinstance(content_length, str):
            header = content_length
            try:
                content_length = int(header)
            except ValueError:
                content_length = -1
            if content_length < 0:
                return _response(HTTPStatus.BAD_REQUEST, f"invalid Content-Length {header!r}")
        if method.upper() != "POST":
            return _response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "Vidispine notifications are POSTed",
                ("Allow", "POST"),
            )
        if not self._authorized(authorization, query_string):
            return _response(
                HTTPStatus.UNAUTHORIZED,
                "missing or wrong notification credentials",
                *self._challenges(),
            )
        media_type, _ = _split_content_type(content_type)
        if _syntax(media_type) is None:
            return _response(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {content_type!r} is not one of {_ACCEPTED}",
                ("Accept-Post", _ACCEPTED),
            )
        if content_length is not None and content_length > self.max_body:
            return self._too_large()
        try:
            body = self._read_body(read, content_length)
        except OSError as exc:  # the client went away mid-body
            return _response(HTTPStatus.BAD_REQUEST, f"the body could not be read: {exc}")
        if body is None:
            return self._too_large()
        try:
            fields = parse_notification(body, content_type or "")
        except UnsupportedContentType as exc:
            return _response(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc), ("Accept-Post", _ACCEPTED)
            )
        except MalformedNotification as exc:
            return _response(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception:
            # Only a flaw of ours gets here; the sender's body is still what we
            # could not read, and a 500 would make Vidispine send it again.
            logger.exception("a Vidispine notification body could not be parsed")
            return _response(HTTPStatus.BAD_REQUEST, "the notification body could not be parsed")
        self._dispatch(fields)
        return _response(HTTPStatus.OK, "notification received")

    def _too_large(self) -> NotificationResponse:
        return _response(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"notification body exceeds {self.max_body} bytes (max_body)",
        )

    def _read_body(self, read: Callable[[int], bytes], content_length: int | None) -> bytes | None:
        # Read to the declared length (or to the end, for an unknown length) but
        # never more than max_body + 1 bytes: one byte over is proof enough.
        limit = self.max_body + 1 if content_length is None else content_length
        chunks: list[bytes] = []
        received = 0
        while received < limit:
            chunk = read(min(_READ_CHUNK, limit - received))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        if received > self.max_body:
            return None
        return b"".join(chunks)

    def _authorized(self, authorization: str | None, query_string: str) -> bool:
        if self.token is None and self.basic_auth is None:
            return True
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if self.token is not None:
            expected = self.token.encode()
            if scheme == "bearer" and hmac.compare_digest(credentials.encode(), expected):
                return True
            for offered in parse_qs(query_string, keep_blank_values=True).get("token", ()):
                if hmac.compare_digest(offered.encode(), expected):
                    return True
        if self.basic_auth is not None:
            offered_pair = basic_credentials(authorization)
            if offered_pair is None:
                return False
            user, password = offered_pair
            # Both comparisons always run, so the time taken does not tell
            # whether the user name was right.
            user_ok = hmac.compare_digest(user.encode(), self.basic_auth[0].encode())
            password_ok = hmac.compare_digest(password.encode(), self.basic_auth[1].encode())
            return user_ok & password_ok
        return False

    def _challenges(self) -> list[tuple[str, str]]:
        challenges = []
        if self.basic_auth is not None:
            challenges.append(
                ("WWW-Authenticate", 'Basic realm="vidispine-notifications", charset="UTF-8"')
            )
        if self.token is not None:
            challenges.append(("WWW-Authenticate", 'Bearer realm="vidispine-notifications"'))
        return challenges

    def _dispatch(self, fields: dict[str, FieldValue]) -> None:
        auto_import = fields.get("type") == "AUTO_IMPORT"
        signal = self._auto_import_signal if auto_import else self._notification_signal
        reserved = self._reserved[id(signal)]
        named: dict[str, Any] = {
            key: value
            for key, value in fields.items()
            if key.isidentifier() and not keyword.iskeyword(key) and key not in reserved
        }
        named["instance"] = fields.get("itemId")
        named["fields"] = fields
        _emit(signal, type(self), named)

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request through :meth:`handle`."""
        header: str = environ.get("CONTENT_LENGTH") or ""
        content_length: int | str | None = header
        if not header.strip():
            # PEP 3333: without CONTENT_LENGTH an app must not read the input,
            # unless the server marks the end of a chunked body.
            content_length = None if environ.get("wsgi.input_terminated") else 0
        response = self.handle(
            method=environ.get("REQUEST_METHOD", "GET"),
            content_type=environ.get("CONTENT_TYPE"),
            content_length=content_length,
            authorization=environ.get("HTTP_AUTHORIZATION"),
            query_string=environ.get("QUERY_STRING", ""),
            read=environ["wsgi.input"].read,
        )
        start_response(_status_line(response.status), response.headers)
        return [response.body]


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _resolve_signals(signals: object) -> tuple[Any, Any]:
    if signals is None:
        return _default_signals.vidispine_auto_import_ntfcn, _default_signals.vidispine_notification
    found = [getattr(signals, name, None) for name in _SIGNAL_NAMES]
    if all(signal is None for signal in found):
        msg = (
            f"signals={signals!r} has neither {' nor '.join(_SIGNAL_NAMES)}: pass a module "
            "or object holding signals of those names"
        )
        raise TypeError(msg)
    resolved = []
    for name, signal in zip(_SIGNAL_NAMES, found, strict=True):
        if signal is None:
            signal = getattr(_default_signals, name)
        elif not callable(getattr(signal, "send", None)):
            msg = f"signals.{name} = {signal!r} has no send(sender, **named) method"
            raise TypeError(msg)
        resolved.append(signal)
    return resolved[0], resolved[1]


# ------------------------------------------------------------------------ registering

_DEFAULT_TRIGGERS: dict[str, tuple[str, ...]] = {
    "job": ("finished",),
    "item": ("create",),
    "collection": ("create",),
    "group": ("create",),
    "storage": ("create",),
    "document": ("create",),
    "quota": ("create",),
}


def _notification_document(
    callback_url: str, entity: str, triggers: Sequence[str]
) -> dict[str, Any]:
    """A NotificationDocument in Vidispine's JSON form.

    Its XML form, as Vidispine documents it, is::

        <NotificationDocument xmlns="http://xml.vidispine.com/schema/vidispine">
          <action><http synchronous="false"><url>...</url><timeout>10</timeout>
            <retry>3</retry><method>POST</method><contentType>application/json</contentType>
          </http></action>
          <trigger><job><finished/></job></trigger>
        </NotificationDocument>
    """
    return {
        "action": {
            "http": {
                "synchronous": False,
                "url": callback_url,
                "timeout": 10,
                "retry": 3,
                "method": "POST",
                "contentType": "application/json",
            }
        },
        "trigger": {entity: {event: {} for event in triggers}},
    }


def register_notification(
    url: str,
    callback_url: str,
    *,
    auth: Any,
    entity: str = "job",
    session: requests.Session | None = None,
    triggers: Sequence[str] | None = None,
) -> str:
    """Create a notification in Vidispine that POSTs JSON to ``callback_url``.

    POSTs a NotificationDocument to ``{url}/{entity}/notification``: an
    asynchronous HTTP action (POST, ``application/json``, timeout 10 s, 3
    retries) with a trigger on ``entity``. By default a job notification
    fires when a job finishes, which is when an auto-import job reports its
    ``itemId``; other entities fire on ``create``.

    :param url: the Vidispine API root, ending in ``/API``.
    :param callback_url: where Vidispine should POST, e.g. the URL of a
        mounted :class:`NotificationReceiver`, with ``?token=...`` or
        ``user:password@`` if it requires a secret.
    :param auth: anything ``requests`` takes as ``auth``, usually
        ``(user, password)``.
    :param entity: the notification resource: ``job`` (default), ``item``,
        ``collection``, ``group``, ``storage``, ``document``, ``quota``, or
        another one together with ``triggers``.
    :param session: a ``requests.Session`` to send with (default: a plain
        ``requests`` call).
    :param triggers: the trigger events, as Vidispine names them for
        ``entity`` (``("finished",)``, ``("create", "update")`` ...); one
        notification per event is the portable choice.
    :returns: the id of the new notification (``VX-...``).
    :raises NotificationError: when Vidispine answers with an error.
    """
    if triggers is None:
        if entity not in _DEFAULT_TRIGGERS:
            expected = ", ".join(_DEFAULT_TRIGGERS)
            msg = (
                f"no default trigger for notification entity {entity!r}: pass triggers=, "
                f"or use one of {expected}"
            )
            raise ValueError(msg)
        triggers = _DEFAULT_TRIGGERS[entity]
    elif isinstance(triggers, str) or not triggers:
        msg = f"triggers must be a non-empty sequence of event names, not {triggers!r}"
        raise ValueError(msg)
    endpoint = f"{url.rstrip('/')}/{entity}/notification"
    response = (session or requests).request(
        "POST",
        endpoint,
        json=_notification_document(callback_url, entity, triggers),
        headers={"Accept": "application/json"},
        auth=auth,
        timeout=30,
    )
    try:
        _raise_for_status(response, "create the notification")
        notification_id = created_id(response)
    finally:
        response.close()
    if not notification_id:
        msg = f"Vidispine created a notification at {_shown_url(endpoint)} but did not say its id"
        raise NotificationError(
            msg, status=response.status_code, body=response.text, url=_shown_url(endpoint)
        )
    return notification_id


def unregister_notification(
    url: str,
    notification_id: str,
    *,
    auth: Any,
    entity: str = "job",
    session: requests.Session | None = None,
) -> None:
    """Delete a notification created by :func:`register_notification`.

    :param url: the Vidispine API root, ending in ``/API``.
    :param notification_id: the id ``register_notification`` returned.
    :param auth: anything ``requests`` takes as ``auth``.
    :param entity: the notification resource it was created on.
    :param session: a ``requests.Session`` to send with.
    :raises NotificationError: when Vidispine answers with an error (404 when
        no such notification exists).
    """
    endpoint = f"{url.rstrip('/')}/{entity}/notification/{notification_id}"
    response = (session or requests).request(
        "DELETE", endpoint, headers={"Accept": "application/json"}, auth=auth, timeout=30
    )
    try:
        _raise_for_status(response, f"delete notification {notification_id}")
    finally:
        response.close()


def _raise_for_status(response: requests.Response, doing: str) -> None:
    if response.status_code < 400:
        return
    url = _shown_url(str(response.url))
    msg = (
        f"Vidispine could not {doing}: {response.status_code} {response.reason} "
        f"from {response.request.method} {url}: {response.text[:500]}"
    )
    raise NotificationError(msg, status=response.status_code, body=response.text, url=url)


def _shown_url(url: str) -> str:
    """``url`` as an error may show it: its password and secret parameters masked."""
    return mask_url(url)


_ID_KEYS = ("id", "jobId", "uri")


def created_id(response: requests.Response) -> str | None:
    """The id Vidispine answered a create with: JSON ``id``/``jobId``/``uri``, XML, or plain text.

    A URI stands for its last path segment. None when the answer names no id.
    """
    if not response.content:
        return None
    media_type, _ = _split_content_type(response.headers.get("Content-Type"))
    text = response.text.strip()
    if "json" in media_type or text[:1] in ("{", "["):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        if isinstance(document, dict):
            for key in _ID_KEYS:
                value = document.get(key)
                if isinstance(value, list) and value:
                    value = value[0]
                if isinstance(value, str) and value:
                    return _last_segment(value)
        return None
    if "xml" in media_type or text[:1] == "<":
        return _xml_id(response.content)
    return _last_segment(text) if text and len(text) < 1024 and "\n" not in text else None


def _last_segment(value: str) -> str:
    # Vidispine answers some creates with a URI; the id is its last segment.
    return value.rstrip("/").rpartition("/")[2]


def _xml_id(body: bytes) -> str | None:
    """The root's ``id`` attribute, or the text of its ``id``, ``jobId`` or ``uri`` child."""
    found: dict[str, str] = {}
    stack: list[str] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        if not stack and attributes.get("id"):
            found["attribute"] = attributes["id"]
        stack.append(name.rpartition(" ")[2])

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        # Only the root's own children: a document nests other elements called id.
        if len(stack) == 2 and stack[1] in _ID_KEYS:
            found[stack[1]] = found.get(stack[1], "") + data

    parser = safe_xml_parser(start=start, end=end, text=text)
    try:
        parser.Parse(body, True)
    except (expat.ExpatError, RefusedDoctype):
        return None
    for key in ("attribute", *_ID_KEYS):
        value = found.get(key, "").strip()
        if value:
            return _last_segment(value)
    return None
