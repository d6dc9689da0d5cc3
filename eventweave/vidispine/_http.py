"""Vidispine signals for REST calls made directly with ``requests``.

Legacy portals call the Vidispine API with ``requests`` as well as through
the helpers. :func:`instrument_http` weaves ``requests.Session.request``
(which the module functions ``requests.get`` ... go through too), or one
session's ``request``, with an advice that looks each request up in a route
table (verb + path template -> family, operation name, instance) and sends
the same ``vidispine_pre_*`` / ``vidispine_post_*`` / ``vidispine_failed``
signals as the helper instrumentation.
"""

from __future__ import annotations

import contextvars
import json
import linecache
import logging
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from types import FunctionType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

import requests

from .._advice import (
    MASK,
    _foreign_marks,
    _muted,
    _runtime,
    _silent_classes_seen,
    function_markers,
    is_silent,
    marker_host,
)
from .._signals import epoch as _epoch
from .._signals import send_lines
from .._weaving import Advice, Hook, Site, Weaving, weave
from .._weaving._codegen import Inline
from . import _scope
from . import signals as _signals
from ._masking import (
    ResponseView,
    Secrets,
    exception_view,
    hide_segments,
    mask_headers,
    mask_json,
    mask_param,
    mask_url,
    mask_value,
    request_secrets,
    secret_name,
)
from ._notifications import add_field, created_id
from ._scope import inside_helper, register_http_gate

__all__ = ["NOTIFICATION_ENTITIES", "ROUTES", "Route", "instrument_http"]

logger = logging.getLogger("eventweave.vidispine.http")

_FAMILIES = ("create", "modify", "delete", "get")


class Route(NamedTuple):
    """One entry of the HTTP route table.

    :ivar verb: the HTTP method, e.g. ``"PUT"``.
    :ivar template: the path below the API root, with ``{name}`` standing for
        one whole path segment: ``"/item/{item}/metadata"``.
    :ivar family: ``"create"``, ``"modify"``, ``"delete"`` or ``"get"``: which
        signals are sent.
    :ivar operation: sent as ``method=``, e.g. ``"setItemMetadata"`` (the
        helper method name, where a helper makes this call).
    :ivar instance: what is sent as ``instance``: the name of a ``{name}`` in
        the template (its decoded value); ``"result"``: the new id read from
        the response (None in the pre signal); ``"body:key"``: that key of the
        request's JSON body; or None.
    """

    verb: str
    template: str
    family: str
    operation: str
    instance: str | None = None


NOTIFICATION_ENTITIES = (
    "job",
    "item",
    "collection",
    "metadata",
    "file",
    "shape",
    "storage",
    "quota",
    "access",
    "group",
    "document",
    "deletion-lock",
)
"""The resources Vidispine keeps notifications on: ``/{entity}/notification``."""


def _notification_routes() -> tuple[Route, ...]:
    # Literal entity names: "/group/notification" is not a group called "notification".
    routes: list[Route] = []
    for entity in NOTIFICATION_ENTITIES:
        collection, one = f"/{entity}/notification", f"/{entity}/notification/{{notification}}"
        routes += [
            Route("GET", collection, "get", "listNotifications"),
            Route("POST", collection, "create", "createNotification", "result"),
            Route("GET", one, "get", "getNotification", "notification"),
            Route("DELETE", one, "delete", "removeNotification", "notification"),
        ]
    return tuple(routes)


ROUTES: tuple[Route, ...] = (
    # UserHelper
    Route("POST", "/user", "create", "createUser", "body:userName"),
    Route("GET", "/user", "get", "listUsers"),
    Route("GET", "/user/{username}", "get", "getUser", "username"),
    Route("DELETE", "/user/{username}", "delete", "deleteUser", "username"),
    Route("PUT", "/group/{group}/user/{username}", "modify", "addUserToGroup", "username"),
    Route("DELETE", "/group/{group}/user/{username}", "modify", "removeUserFromGroup", "username"),
    # GroupHelper
    Route("GET", "/group", "get", "listGroups"),
    Route("GET", "/group/{group}", "get", "getGroup", "group"),
    Route("PUT", "/group/{group}", "create", "createGroup", "group"),
    Route("DELETE", "/group/{group}", "delete", "removeGroup", "group"),
    Route("PUT", "/group/{group}/group/{child}", "modify", "setChildGroupToGroup", "group"),
    Route("DELETE", "/group/{group}/group/{child}", "modify", "removeChildGroupFromGroup", "group"),
    # ItemHelper
    Route("POST", "/import/placeholder", "create", "createPlaceholder", "result"),
    Route("GET", "/item/{item}", "get", "getItem", "item"),
    Route("DELETE", "/item/{item}", "delete", "removeItem", "item"),
    Route("GET", "/item/{item}/metadata", "get", "getItemMetadata", "item"),
    Route("PUT", "/item/{item}/metadata", "modify", "setItemMetadata", "item"),
    Route("POST", "/item/{item}/transcode", "modify", "retranscode", "item"),
    Route("GET", "/metadata-field", "get", "listMetadataFields"),
    Route("GET", "/metadata-field/{field}", "get", "getMetadataField", "field"),
    Route("PUT", "/metadata-field/{field}", "modify", "createOrModifyMetadataField", "field"),
    Route("DELETE", "/metadata-field/{field}", "delete", "removeMetadataField", "field"),
    Route("GET", "/metadata-field/field-group", "get", "listMetadataFieldGroups"),
    Route("GET", "/metadata-field/field-group/{group}", "get", "getMetadataFieldGroup", "group"),
    Route(
        "PUT", "/metadata-field/field-group/{group}", "create", "createMetadataFieldGroup", "group"
    ),
    Route(
        "DELETE",
        "/metadata-field/field-group/{group}",
        "delete",
        "removeMetadataFieldGroup",
        "group",
    ),
    Route(
        "PUT",
        "/metadata-field/field-group/{group}/{field}",
        "modify",
        "addFieldToMetadataFieldGroup",
        "group",
    ),
    Route(
        "DELETE",
        "/metadata-field/field-group/{group}/{field}",
        "modify",
        "removeFieldFromMetadataFieldGroup",
        "group",
    ),
    Route("GET", "/shape-tag", "get", "listShapeTags"),
    Route("GET", "/shape-tag/{tag}", "get", "getShapeTag", "tag"),
    Route("PUT", "/shape-tag/{tag}", "modify", "createOrModifyShapeTag", "tag"),
    Route("DELETE", "/shape-tag/{tag}", "delete", "removeShapeTag", "tag"),
    # Jobs and notifications (register_notification / unregister_notification)
    Route("GET", "/job", "get", "listJobs"),
    Route("GET", "/job/{job}", "get", "getJob", "job"),
    *_notification_routes(),
)
"""The default route table: every endpoint the helpers of
:mod:`eventweave.vidispine.client` call, named after the helper method that
calls it, plus the reads and notification endpoints of the same resources."""

_VERB_FAMILIES = {
    "GET": "get",
    "HEAD": "get",
    "OPTIONS": "get",
    "POST": "create",
    "PUT": "modify",
    "PATCH": "modify",
    "DELETE": "delete",
}
# A verb nobody listed may change state; "modify" is the family that says so
# without claiming something was created or removed.
_OTHER_VERBS_FAMILY = "modify"

_ID_SEGMENT = re.compile(
    r"[A-Za-z][A-Za-z0-9]{0,7}-\d+"  # Vidispine ids: VX-12, site id then number
    r"|\d+"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Set while an HTTP signal is being prepared or sent, and while the request
# it is about runs: requests made meanwhile (by a receiver calling Vidispine,
# or a second weaving of the same call) emit nothing, so nothing loops.
_busy: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "eventweave_vidispine_http", default=False
)


# -- routes -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    route: Route
    segments: tuple[str | None, ...]  # None: a {name} segment
    names: tuple[str, ...]
    literals: int
    secrets: tuple[str, ...]  # the names that are secrets: their values are masked
    secret_instance: bool  # the instance rule names a secret ("body:password")
    # The whole template as one expression over a path spelled the usual way
    # (see _usual_path), a group per {name}: one C call tries a candidate.
    # The groups are named after the template's names when those can name a
    # group (identifiers, each once): groupdict() then gives the values.
    pattern: re.Pattern[str]
    named_groups: bool


def _template_segments(template: str) -> list[str]:
    return [s for s in template.strip("/").split("/") if s]


def _compile(route: Any) -> _Compiled:
    if isinstance(route, Route):
        pass
    elif isinstance(route, (tuple, list)) and 4 <= len(route) <= 5:
        route = Route(*route)
    else:
        msg = (
            f"routes= takes Route(verb, template, family, operation, instance) entries "
            f"or tuples of those, got {route!r}"
        )
        raise TypeError(msg)
    verb, template, family, operation, instance = route
    where = f"route {tuple(route)!r}"
    if not isinstance(verb, str) or not verb.strip() or not verb.strip().isalpha():
        msg = f"{where}: the verb must be an HTTP method such as 'GET' or 'PUT'"
        raise ValueError(msg)
    if not isinstance(template, str) or not template.startswith("/"):
        msg = f"{where}: the template must be a path starting with '/', e.g. '/item/{{item}}'"
        raise ValueError(msg)
    if family not in _FAMILIES:
        msg = f"{where}: unknown family {family!r}; expected one of {', '.join(_FAMILIES)}"
        raise ValueError(msg)
    if not isinstance(operation, str) or not operation:
        msg = f"{where}: the operation must be a non-empty name, e.g. 'setItemMetadata'"
        raise ValueError(msg)
    segments: list[str | None] = []
    names: list[str] = []
    for segment in _template_segments(template):
        if segment.startswith("{") and segment.endswith("}") and len(segment) > 2:
            segments.append(None)
            names.append(segment[1:-1])
        elif "{" in segment or "}" in segment:
            msg = f"{where}: {{name}} must be a whole path segment, not part of {segment!r}"
            raise ValueError(msg)
        else:
            segments.append(segment)
    if instance is not None and instance != "result":
        if not isinstance(instance, str):
            msg = f"{where}: instance must be a template name, 'result', 'body:key' or None"
            raise ValueError(msg)
        if instance.startswith("body:"):
            if not instance[5:]:
                msg = f"{where}: 'body:' needs the key to read, e.g. 'body:userName'"
                raise ValueError(msg)
        elif instance not in names:
            known = ", ".join(names) or "none"
            msg = (
                f"{where}: instance {instance!r} is not a {{name}} of the template "
                f"(it has: {known}); or use 'result', 'body:key' or None"
            )
            raise ValueError(msg)
    route = Route(verb.strip().upper(), template, family, operation, instance)
    literals = sum(1 for s in segments if s is not None)
    secrets = tuple(name for name in names if secret_name(name))
    secret_instance = instance not in (None, "result") and secret_name(instance.rpartition(":")[2])
    named_groups = len(set(names)) == len(names) and all(n.isidentifier() for n in names)
    groups = iter(names)
    parts: list[str] = []
    for literal in segments:
        if literal is not None:
            parts.append(re.escape(literal))
        else:
            parts.append(f"(?P<{next(groups)}>[^/]+)" if named_groups else "([^/]+)")
    pattern = re.compile("/" + "/".join(parts))
    return _Compiled(
        route,
        tuple(segments),
        tuple(names),
        literals,
        secrets,
        secret_instance,
        pattern,
        named_groups,
    )


def _usual_path(path: str) -> str:
    """``path`` spelled the usual way: "/a/b", no empty segment, no matrix parameters."""
    if ";" in path or "//" in path or path[:1] != "/" or (path[-1:] == "/" and path != "/"):
        return "/" + "/".join(_path_segments(path))
    return path


def _path_segments(path: str) -> list[str]:
    if ";" in path:  # matrix parameters (";number=10") qualify a segment, not part of it
        return [s.partition(";")[0] for s in path.split("/") if s]
    return [s for s in path.split("/") if s]


def _match_in(
    candidates: Sequence[_Compiled], path: str
) -> tuple[_Compiled, dict[str, str]] | None:
    """The first of ``candidates`` (same verb and length as ``path``, spelled the usual
    way) matching it, and its values.

    Candidates come most literal first (see :func:`_index`).
    """
    for compiled in candidates:
        match = compiled.pattern.fullmatch(path)
        if match is None:
            continue
        if compiled.named_groups:
            values = match.groupdict()
        else:  # a name used twice keeps its last value
            values = dict(zip(compiled.names, match.groups(), strict=True))
        if "%" in path:  # the test first: unquote costs several times more
            values = {name: unquote(value) for name, value in values.items()}
        if compiled.secrets:  # /user/{token}: the value is a secret
            values.update(dict.fromkeys(compiled.secrets, MASK))
        return compiled, values
    return None


def _secret_segments(compiled: _Compiled, path: str) -> tuple[str, ...]:
    """The path segments, as spelled in ``path``, that hold ``compiled``'s secret values."""
    match = compiled.pattern.fullmatch(_usual_path(path))
    if match is None:  # pragma: no cover - the route was found on this very path
        return ()
    secret = set(compiled.secrets)
    return tuple(
        value for name, value in zip(compiled.names, match.groups(), strict=True) if name in secret
    )


def _fallback(verb: str, segments: list[str]) -> tuple[Route, str | None]:
    """The family, operation and instance of a request no route describes."""
    parts = []
    first_id: str | None = None
    for segment in segments:
        if _ID_SEGMENT.fullmatch(segment):
            parts.append("{id}")
            if first_id is None:
                first_id = unquote(segment)
        else:
            parts.append(segment)
    template = "/" + "/".join(parts)
    family = _VERB_FAMILIES.get(verb, _OTHER_VERBS_FAMILY)
    return Route(verb, template, family, template, None), first_id


# -- base URL -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Base:
    scheme: str
    host: str
    port: int
    path: str

    @cached_property
    def _usual(self) -> re.Pattern[str]:
        """The root spelled ``scheme://host[:port]/path`` (scheme and host in any case),
        then the path below it, up to a query or fragment."""
        authority = re.escape(f"{self.scheme}://{self.host}")
        port = f"(?::{self.port})?" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return re.compile(
            f"(?i:{authority}){port}{re.escape(self.path)}(/[^?#]*)?(?:[?#]|\\Z)", re.ASCII
        )

    @cached_property
    def _prefix(self) -> str:
        """The root as it is most often spelled: lower case, no default port."""
        port = "" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.path}"

    def relative(self, url: str) -> str | None:
        """The path of ``url`` below this API root, or None if it is elsewhere."""
        # The common spellings are read without urlsplit, which costs more
        # than the rest of the lookup: the root exactly, then any case or port.
        # (urlsplit drops tabs and newlines: a URL with any goes to it.)
        prefix = self._prefix
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if rest.isprintable() and (not rest or rest[0] in "/?#"):
                path = rest.partition("?")[0].partition("#")[0]
                return path or "/"
        elif "\t" not in url and "\n" not in url and "\r" not in url:
            match = self._usual.match(url)
            if match is not None:
                return match.group(1) or "/"
        return self.relative_parsed(url)

    def relative_parsed(self, url: str) -> str | None:
        """:meth:`relative`, by parsing ``url`` whatever its spelling."""
        try:
            split = urlsplit(url)
            port = split.port
        except ValueError:
            return None
        scheme = split.scheme.lower()
        if scheme != self.scheme or (split.hostname or "") != self.host:
            return None
        if (port or _DEFAULT_PORTS.get(scheme)) != self.port:
            return None
        path = split.path or "/"
        if path == self.path or path == self.path + "/":
            return "/"
        if not path.startswith(self.path + "/"):
            return None
        return path[len(self.path) :]


def _parse_base(base_url: str) -> _Base:
    if not isinstance(base_url, str):
        msg = f"instrument_http() takes the API root as a str, got {type(base_url).__name__}"
        raise TypeError(msg)
    try:
        split = urlsplit(base_url.strip())
        port = split.port
    except ValueError as exc:
        msg = f"instrument_http(): {mask_url(base_url)!r} is not a valid URL: {exc}"
        raise ValueError(msg) from None
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not split.hostname:
        msg = (
            f"instrument_http() needs the http(s) URL of the Vidispine API root, "
            f"e.g. 'http://vidispine:8080/API', got {mask_url(base_url)!r}"
        )
        raise ValueError(msg)
    return _Base(scheme, split.hostname, port or _DEFAULT_PORTS[scheme], split.path.rstrip("/"))


# -- what receivers get -------------------------------------------------------------


def _query(url_query: str, params: Any) -> dict[str, Any]:
    """Query parameters from the URL and ``params=``, masked; a repeated key maps to a list."""
    pairs = parse_qsl(url_query, keep_blank_values=True) if url_query else []
    if isinstance(params, bytes):
        params = params.decode("utf-8", "replace")
    if isinstance(params, str):
        pairs += parse_qsl(params, keep_blank_values=True)
    elif params is not None:
        try:
            items: Iterable[Any] = params.items() if isinstance(params, Mapping) else params
            for key, value in items:
                if isinstance(key, bytes):
                    key = key.decode("utf-8", "replace")
                values = value if isinstance(value, (list, tuple)) else [value]
                for item in values:
                    if isinstance(item, bytes):
                        item = item.decode("utf-8", "replace")
                    if item is not None:
                        pairs.append((str(key), str(item)))
        except (TypeError, ValueError):
            pass  # requests will refuse these params itself
    found: dict[str, Any] = {}
    for key, value in pairs:
        add_field(found, key, mask_param(key, value))
    return found


# -- the advice ---------------------------------------------------------------------


_FAMILY_SIGNALS: dict[str, tuple[Any, Any]] = {
    "create": (_signals.vidispine_pre_create, _signals.vidispine_post_create),
    "modify": (_signals.vidispine_pre_modify, _signals.vidispine_post_modify),
    "delete": (_signals.vidispine_pre_delete, _signals.vidispine_post_delete),
    "get": (_signals.vidispine_pre_get, _signals.vidispine_post_get),
}
_GATE: tuple[Any, ...] = (
    *(signal for pair in _FAMILY_SIGNALS.values() for signal in pair),
    _signals.vidispine_failed,
)


_Index = dict[tuple[str, int, str | None], tuple[_Compiled, ...]]


def _first(compiled: _Compiled) -> str | None:
    return compiled.segments[0] if compiled.segments else None


def _literal(table: Sequence[_Compiled]) -> dict[tuple[str, str], _Compiled]:
    """The templates without a ``{name}``, by verb and path: the first listed of each.

    Such a template is the most literal one of its length, so where it
    matches it wins; a lookup finds it without trying an expression.
    """
    found: dict[tuple[str, str], _Compiled] = {}
    for compiled in table:
        if compiled.literals == len(compiled.segments):
            path = "/" + "/".join(s for s in compiled.segments if s is not None)
            found.setdefault((compiled.route.verb, path), compiled)
    return found


def _index(table: Sequence[_Compiled]) -> _Index:
    """The routes with a ``{name}`` that may match a path, by its verb, length and first segment.

    Under ``(verb, length, first)``: the routes of that verb and length whose
    first segment is ``first`` or a ``{name}``; under ``(verb, length, None)``:
    those whose first segment is a ``{name}``. So a lookup tries a few routes
    instead of the whole table, and takes the first that matches: the most
    literal template wins ("/metadata-field/field-group" over
    "/metadata-field/{field}"), and on a tie the first listed.
    """
    table = [c for c in table if c.literals < len(c.segments)]  # see _literal
    keys = {(c.route.verb, len(c.segments), _first(c)) for c in table}
    return {
        (verb, count, first): tuple(
            sorted(
                (
                    c
                    for c in table
                    if c.route.verb == verb
                    and len(c.segments) == count
                    and _first(c) in (first, None)
                ),
                key=lambda c: -c.literals,  # stable: table order among equals
            )
        )
        for verb, count, first in keys
    }


class _HttpAdvice(Advice):
    """Sends Vidispine signals for ``Session.request`` calls to one API root."""

    def __init__(self, base: _Base, own: tuple[_Compiled, ...], defaults: bool) -> None:
        self.base = base
        self.own = own
        self.defaults = defaults
        tables = (own, _DEFAULT_TABLE) if defaults else (own,)
        # Own routes first, then the defaults; in each, an exact template first.
        self.indexes = tuple((_literal(table), _index(table)) for table in tables if table)
        # What the verb and URL of a request say (see target()), by the two as
        # given: a portal calls the same few URLs again and again. Those
        # holding a secret are not kept; emptied when full.
        self.targets: dict[tuple[str, str], _Target] = {}

    def _key(self) -> tuple[Any, ...]:
        return (self.base, tuple(c.route for c in self.own), self.defaults)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _HttpAdvice) and other._key() == self._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        base = self.base
        root = f"{base.scheme}://{base.host}:{base.port}{base.path}"
        extra = f", {len(self.own)} own routes" if self.own else ""
        return f"VidispineHTTP({root}{extra}{'' if self.defaults else ', defaults replaced'})"

    def bind(self, site: Site) -> Hook:
        return _HttpHook(self, site)

    def route_for(
        self, verb: str, path: str
    ) -> tuple[Route, dict[str, str], str | None, _Compiled | None]:
        """The route of a request, its template values (secrets masked), the fallback
        instance, and the compiled route (None for a path no route describes)."""
        path = _usual_path(path)
        if path == "/":
            count, first = 0, None
        else:
            count = path.count("/")
            end = path.find("/", 1)
            first = path[1:] if end < 0 else path[1:end]
        key = (verb, count, first)
        for literal, index in self.indexes:
            exact = literal.get((verb, path))
            if exact is not None:
                return exact.route, {}, None, exact
            candidates = index.get(key) or index.get((verb, count, None))
            if candidates:
                found = _match_in(candidates, path)
                if found is not None:
                    return found[0].route, found[1], None, found[0]
        route, first_id = _fallback(verb, path[1:].split("/") if count else [])
        return route, {}, first_id, None

    def target(self, verb: str | bytes, url: str) -> _Target | None:
        """What a request of ``verb`` to ``url`` is about, or None if ``url`` is elsewhere."""
        path = self.base.relative(url)
        if path is None:
            return None
        verb = (verb.decode("ascii", "replace") if isinstance(verb, bytes) else verb).upper()
        route, path_params, first_id, compiled = self.route_for(verb, path)
        rule = route.instance
        if rule is None:
            instance = first_id
        elif rule == "result":
            instance = None
        elif rule.startswith("body:"):
            instance = _FROM_BODY
        else:
            instance = path_params.get(rule)
        shown_url = mask_url(url)
        shown_path = mask_url(path) if ";" in path else path  # matrix: /item/VX-1;token=
        hidden: tuple[str, ...] = ()
        if compiled is not None and compiled.secrets:  # /session/{token}
            hidden = _secret_segments(compiled, path)
            shown_url = hide_segments(shown_url, hidden)
            shown_path = hide_segments(shown_path, hidden)
        secret = bool(hidden) or shown_url != url
        return _Target(
            verb, route, path_params, instance, compiled, shown_url, shown_path, hidden, secret
        )


class _Target:
    """What the verb and URL of a request say, worked out once per spelling (see
    :attr:`_HttpAdvice.targets`): the same for every request with the same two.

    A plain class with slots, read on every request: its attributes, and the
    route's fields copied here, cost one specialised load each.
    """

    __slots__ = (
        "compiled",
        "family",
        "hidden",
        "instance",
        "known",
        "operation",
        "path",
        "path_params",
        "payload",
        "route",
        "rule",
        "secret",
        "url",
        "verb",
        "with_result",
    )

    def __init__(
        self,
        verb: str,
        route: Route,
        path_params: dict[str, str],
        instance: Any,
        compiled: _Compiled | None,
        url: str,
        path: str,
        hidden: tuple[str, ...],
        secret: bool,
    ) -> None:
        self.verb = verb  # upper case
        self.route = route
        self.path_params = path_params  # secrets masked; copied for each request
        self.instance = instance  # from the path; None for "result"; _FROM_BODY for "body:key"
        self.compiled = compiled  # None for a path no route describes
        self.url = url  # masked
        self.path = path  # masked
        self.hidden = hidden  # secret path segments (/session/{token})
        self.secret = secret  # the URL holds a secret: the target is not kept with it
        self.operation = route.operation
        self.family = route.family
        self.rule = route.instance
        self.with_result = route.instance == "result"  # the instance is in the response
        # (epoch, reading): _reading(family, epoch) for this target's own family,
        # one tuple so that threads setting it never pair one's epoch with
        # another's reading.
        self.known: tuple[object, Any] = (None, None)  # (epoch, _Reading) once worked out
        # The start of every payload for this target, in the order receivers
        # see it. Per request, "instance" is set when a "body:" rule reads it,
        # and "path_params" is replaced by a copy when a receiver can read it
        # (so that one changing its own changes nothing here).
        self.payload: dict[str, Any] = {
            "instance": None if instance is _FROM_BODY else instance,
            "method": route.operation,
            "http_method": verb,
            "url": url,
            "path": path,
            "path_params": path_params,
            "route": route if compiled is not None else None,
        }

    def __repr__(self) -> str:
        return f"_Target({self.verb} {self.url} -> {self.route!r})"


_DEFAULT_TABLE: tuple[_Compiled, ...] = tuple(_compile(route) for route in ROUTES)


# The call's parameters, masked copies of which are sent only when some
# receiver can read them (see eventweave._reads): masking a body costs more
# than the rest of the advice.
_PREPARED: tuple[str, ...] = ("params", "headers", "json", "data")


# Per family: the union below with its sender, and the epoch of the signals'
# receivers it was worked out in (see eventweave._signals.epoch: any change of
# any signal's receivers moves it).
_Sender = Callable[[Any, Any, dict[str, Any]], None]
# (names read or None; their sender; whether they leave path_params and every
# _PREPARED key unread; whether they leave "result" and "response" unread; the
# family's pre and post signals)
_Reading = tuple[frozenset[str] | None, _Sender, bool, bool, Any, Any]
_unions: dict[str, tuple[object, _Reading]] = {}


def _reading(family: str, now: object) -> _Reading:
    """What the receivers of ``family``'s signals and of ``vidispine_failed`` can read,
    the function sending a payload to such receivers (see :func:`_sender`), and
    whether none of them reads a key of ``_PREPARED``: worked out once per
    epoch, not per request. ``now``: the epoch, read before this call."""
    known = _unions.get(family)
    if known is not None and known[0] is now:
        return known[1]
    pre, post = _FAMILY_SIGNALS[family]
    failed = _signals.vidispine_failed
    names: frozenset[str] | None = None
    before, after, failing = pre._names_read(), post._names_read(), failed._names_read()
    if before is not None and after is not None and failing is not None:
        names = before | after | failing
    unprepared = names is not None and names.isdisjoint(_PREPARED) and "path_params" not in names
    unviewed = names is not None and "result" not in names and "response" not in names
    reading = (names, _sender(names), unprepared, unviewed, pre, post)
    _unions[family] = (now, reading)
    return reading


def _prepare(
    payload: dict[str, Any],
    named: Mapping[str, Any],
    url: str,
    reads: frozenset[str] | None,
    keys: Iterable[str] = _PREPARED,
) -> tuple[str, ...]:
    """Add the masked copies of the call's ``keys`` some receiver reads; returns the others."""
    if reads is not None and reads.isdisjoint(keys):
        return tuple(keys)  # the common receiver: it reads none of them
    left: list[str] = []
    for key in keys:
        if reads is not None and key not in reads:
            left.append(key)
            continue
        value = named.get(key)
        if key == "params":
            query = url.partition("#")[0].partition("?")[2]
            payload[key] = _query(query, value) if query or value is not None else {}
        elif key == "headers":
            payload[key] = mask_headers(value) if value else {}
        elif key == "json":
            payload[key] = None if value is None else mask_json(value)
        else:
            payload[key] = None if value is None else mask_value(value)
    return tuple(left)


def _send(signal: Any, sender: Any, payload: dict[str, Any], reads: frozenset[str] | None) -> None:
    """Send ``payload`` on ``signal``: all of it, or only the names some receiver reads."""
    if reads is None:
        signal.send(sender, **payload)
    else:
        # What nobody reads stays out: iterating the few names read is cheaper
        # than filtering the payload.
        signal.send(sender, **{key: payload[key] for key in reads if key in payload})


# Every key a payload may hold: a sender is written for those a receiver reads.
_PAYLOAD_KEYS = frozenset(
    {
        "instance",
        "method",
        "http_method",
        "url",
        "path",
        "path_params",
        "params",
        "headers",
        "json",
        "data",
        "route",
        "result",
        "response",
        "status_code",
        "exception",
    }
)
_senders: dict[frozenset[str], _Sender] = {}
_hooks_open: weakref.WeakSet[_HttpHook] = weakref.WeakSet()


def _forget_senders() -> None:
    """Drop the senders written, and their source (when no HTTP weaving is left)."""
    for send in list(_senders.values()):
        filename = send.__code__.co_filename if hasattr(send, "__code__") else None
        if filename is not None:
            linecache.cache.pop(filename, None)
    _senders.clear()
    _unions.clear()


def _sender(reads: frozenset[str] | None) -> _Sender:
    """``send(signal, sender, payload)``: :func:`_send` for receivers reading ``reads``.

    For a known set of names, when the payload holds every name read, the
    receivers are called as a person would write it (see
    :func:`eventweave._signals.send_lines`): ``receiver(signal=signal,
    sender=sender, method=method, url=url)``, no keyword dict built or
    unpacked. Otherwise it is :func:`_send`, which sends the same.
    """
    if reads is None:
        return partial(_send, reads=None)
    keys = reads & _PAYLOAD_KEYS  # the others are never in a payload
    found = _senders.get(keys)
    if found is None:
        found = _senders[keys] = _write_sender(tuple(sorted(keys)))
    return found


# Keys every payload holds from the start (see _Target.payload): a sender
# reads them without asking first.
_ALWAYS = frozenset({"method", "http_method", "url", "path", "path_params", "route"})


def _write_sender(keys: tuple[str, ...]) -> _Sender:
    # Only names of _PAYLOAD_KEYS are written into the source.
    assert all(key in _PAYLOAD_KEYS for key in keys)
    values = [f"{key} = payload[{key!r}]" for key in keys]
    loop = send_lines("signal", "sender", ", ".join(f"{key}={key}" for key in keys), last=True)
    body = [*values, *loop]
    # A key some payloads lack (the pre signal's has no "result"): those go to
    # _send, which sends what they hold.
    present = " and ".join(f"{key!r} in payload" for key in keys if key not in _ALWAYS)
    if present:
        body = [f"if {present}:", *(f"    {line}" for line in body), "    return"]
        body.append("_send(signal, sender, payload, reads)")
    source = "def send(signal, sender, payload):\n" + "".join(f"    {line}\n" for line in body)
    namespace: dict[str, Any] = {"_send": _send, "reads": frozenset(keys)}
    filename = f"<eventweave vidispine sender {', '.join(keys) or '(no names)'}>"
    # Kept for tracebacks through it (a receiver that raises): there are few.
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    exec(compile(source, filename, "exec"), namespace)
    send: _Sender = namespace["send"]
    return send


# What begin() hands to after() or error(): (the _busy token, sender, payload,
# post signal, reading, the epoch it is of, target, the call's arguments,
# the keys left unprepared, the URL as a str, family). A tuple, built and
# taken apart in one instruction each on every request; a _Call is made of
# it only where more than the common case is needed.
_State = tuple[
    "contextvars.Token[bool]",
    Any,
    dict[str, Any],
    Any,
    _Reading,
    object,
    _Target,
    "dict[str, Any] | tuple[Any, ...]",
    tuple[str, ...],
    str,
    str,
]


class _Call:
    """One request being reported, beyond the common case: what its post or
    failed signal needs (see _State)."""

    __slots__ = (
        "_secrets",
        "family",
        "left",
        "named",
        "names",
        "payload",
        "reading",
        "seen",
        "send",
        "sender",
        "target",
        "url",
    )

    def __init__(self, names: tuple[str, ...], state: _State) -> None:
        _, sender, payload, _, reading, seen, target, named, left, url, family = state
        self.sender = sender
        self.payload = payload
        self.reading = reading
        self.seen = seen
        self.target = target
        self.named = named
        self.left = left
        self.url = url
        self.family = family
        # The call's own arguments, kept to find its secrets and never sent: by
        # name, or (from the hook's own listening form) their values in the
        # order of ``names``, named when first needed (see arguments()).
        self.names = names
        self.send: _Sender = self.reading[1]  # as the receivers were last seen
        self._secrets: Secrets | None = None

    def arguments(self) -> dict[str, Any]:
        """The call's arguments by name."""
        named = self.named = _by_name(self.names, self.named)
        return named

    def secrets(self, prepared: Any) -> Secrets:
        """The secret values of the call and of ``prepared``, the request as sent."""
        if self._secrets is None:
            found = request_secrets(self.arguments(), prepared)
            for segment in self.target.hidden:  # secret path segments (/session/{token})
                found.add_segment(segment)
            self._secrets = found
        return self._secrets

    def lazy_secrets(self, prepared: Any) -> Callable[[], Secrets]:
        return lambda: self.secrets(prepared)

    def reads(self) -> frozenset[str] | None:
        """What the receivers can read now, the payload completed to match.

        A receiver connected while the request ran may read what nobody could
        when it started.
        """
        now = self.seen = _epoch.now
        self.reading = _reading(self.family, now)
        reads, self.send = self.reading[:2]
        left = self.left
        if left and (reads is None or not reads.isdisjoint(left)):
            if "instance" in left and (reads is None or "instance" in reads):
                target = self.target
                rule = target.rule
                assert rule is not None  # only a "body:" rule leaves it
                self.payload["instance"] = _body_instance(self.arguments(), rule, target.compiled)
                left = tuple(key for key in left if key != "instance")
            self.left = _prepare(self.payload, self.arguments(), self.url, reads, left)
        shared = self.target.path_params
        if self.payload.get("path_params") is shared and (reads is None or "path_params" in reads):
            self.payload["path_params"] = shared.copy()  # not copied when the request started
        return reads


def _by_name(names: tuple[str, ...], named: dict[str, Any] | tuple[Any, ...]) -> dict[str, Any]:
    """A call's arguments by name: ``named`` itself, or its values named after ``names``."""
    if type(named) is dict:
        return named
    return dict(zip(names, named, strict=True))


_TARGETS_KEPT = 1024
_URL_KEPT = 2048  # characters


class _HttpHook(Hook):
    def __init__(self, advice: _HttpAdvice, site: Site) -> None:
        self.advice = advice
        self.site = site
        self.host = marker_host(site.function)  # asked for its markers on every call
        self.plain_host = type(self.host) is FunctionType
        self.release = register_http_gate(lambda: _GATE)
        _hooks_open.add(self)
        self.targets = advice.targets
        self.names: tuple[str, ...] = ()  # the parameters inline() passes by value

    @property
    def gate(self) -> tuple[Any, ...] | None:
        return _GATE

    def close(self) -> None:
        self.release()
        _hooks_open.discard(self)
        if not _hooks_open:  # nothing of the last weaving is left behind
            _forget_senders()
        super().close()

    def inline(self, ctx: Inline) -> tuple[dict[str, Any], list[str]] | None:
        """The listening form for ``Session.request``'s own parameter list.

        The hook gets the verb, the URL and the other arguments' values as a
        tuple, named (a dict built) only when something needs them by name:
        a ``body:`` instance rule, a receiver reading ``params``... or the
        secrets of a response view. A request to another host, or one that
        sends nothing, is then passed on without a second call into the hook.
        Any other parameter list takes the generic form.
        """
        if ctx.kind != "sync" or ctx.varargs or ctx.varkw or ctx.weak:
            return None
        exprs = dict(ctx.named)
        if "method" not in exprs or "url" not in exprs:
            return None
        self.names = tuple(name for name, _ in ctx.named)
        values = "(" + "".join(f"{expr}, " for _, expr in ctx.named) + ")"
        return ctx.around(self, f"{ctx.self_expr}, {exprs['method']}, {exprs['url']}, {values}")

    def before(
        self, self_: Any, args: tuple[Any, ...], kwargs: dict[str, Any], named: dict[str, Any]
    ) -> Any:
        return self.begin(self_, named.get("method"), named.get("url"), named)

    def begin(
        self, self_: Any, verb: Any, url: Any, named: dict[str, Any] | tuple[Any, ...]
    ) -> _State | None:
        """Send the pre signal of a request, if it is to the API; its state for ``after``.

        ``named``: the call's arguments by name, or their values in the order
        of :attr:`names` (from :meth:`inline`'s form).
        """
        if _busy.get() or (_scope._helper_keys and inside_helper()):
            return None
        if _runtime.rare and _muted.get():  # only muted() sets it, and makes it rare
            return None
        try:  # the usual call: its target is known (kept only for a verb of type str)
            target = self.targets.get((verb, url)) if type(url) is str else None
        except TypeError:  # a verb that cannot be hashed: requests' own error follows
            target = None
        if target is None:
            if type(url) is str and type(verb) is str:
                target = self.advice.target(verb, url)
                if target is None:
                    return None
                # Not kept: a URL holding a secret, and a long one (a GET with
                # a large query), which is seldom asked for twice.
                if not target.secret and len(url) <= _URL_KEPT:
                    if len(self.targets) >= _TARGETS_KEPT:
                        self.targets.clear()
                    self.targets[verb, url] = target
            else:
                if isinstance(url, bytes):
                    url = url.decode("utf-8", "replace")
                elif url is not None and not isinstance(url, str):
                    url = str(url)
                if url is None or not isinstance(verb, (str, bytes)):
                    return None
                target = self.advice.target(verb, url)
                if target is None:
                    return None
        host = self.host
        if self.plain_host and not host.__dict__ and not _foreign_marks:
            instead = None  # a function without an attribute carries no marker
        else:
            silenced, instead = function_markers(host)
            if silenced:
                return None
        if self_ is not None:
            sender = type(self_)
            seen = _silent_classes_seen.get(id(sender))  # what is_silent() keeps, read at once
            if seen[1] if seen is not None and seen[0] is sender else is_silent(sender):
                return None
        else:
            sender = requests.Session
        # What the receivers can read: worked out once per epoch (any change
        # of receivers moves it), kept on the target for its own family.
        now = _epoch.now
        if instead is None or instead not in _FAMILY_SIGNALS:
            family = target.family
            known = target.known
            if known[0] is now:
                reading = known[1]
            else:
                reading = _reading(family, now)
                target.known = (now, reading)
        else:
            family = instead
            reading = _reading(family, now)
        reads, send, unprepared, _, pre, post = reading
        # Each value is masked here, before any receiver sees it, and only if
        # a receiver can read it; a masker returns what it was given, unparsed,
        # when it cannot hold a secret.
        payload = target.payload.copy()
        if unprepared:
            left = _PREPARED  # the common receiver: it reads none of them, nor path_params
        else:
            named = _by_name(self.names, named)
            left = _prepare(payload, named, url, reads)
            if reads is None or "path_params" in reads:
                payload["path_params"] = target.path_params.copy()
        if target.instance is _FROM_BODY:
            if reads is None or "instance" in reads:  # else the body is left unparsed
                rule = target.rule
                assert rule is not None  # a body: rule
                named = _by_name(self.names, named)
                payload["instance"] = _body_instance(named, rule, target.compiled)
            else:
                del payload["instance"]
                left += ("instance",)
        token = _busy.set(True)
        try:
            send(pre, sender, payload)
        except BaseException:
            _busy.reset(token)
            raise
        return (token, sender, payload, post, reading, now, target, named, left, url, family)

    def after(self, state: _State | None, result: Any) -> Any:
        if state is None:
            return result
        token, sender, payload, post, reading, seen, target, _, _, _, _ = state
        try:
            # The common case: receivers unchanged since the request started (so
            # the payload is complete), none reading the response itself, a
            # success, an instance known from the URL or not read.
            if (
                seen is _epoch.now
                and reading[3]
                and isinstance(result, requests.Response)
                and (not target.with_result or "instance" not in reading[0])  # type: ignore[operator]
            ):
                status = result.status_code
                if status < 400:
                    payload["status_code"] = status
                    reading[1](post, sender, payload)
                    return result
            return self._after(_Call(self.names, state), post, result)
        finally:
            _busy.reset(token)

    def _after(self, call: _Call, post: Any, result: Any) -> Any:
        # Receivers unchanged since the request started: the payload is complete.
        reads = call.reading[0] if call.seen is _epoch.now else call.reads()
        if not isinstance(result, requests.Response):
            call.send(post, call.sender, {"result": result, **call.payload})
            return result
        payload = call.payload
        status = result.status_code
        if status >= 400:
            payload["status_code"] = status
            error: requests.HTTPError | None = None
            # The view, and the error holding it, only for a receiver that can read them.
            if reads is None or "response" in reads or "exception" in reads:
                view = ResponseView(result, call.lazy_secrets(result.request))
                payload["response"] = view
                if reads is None or "exception" in reads:
                    kind = "Client" if status < 500 else "Server"
                    message = (
                        f"{status} {kind} Error: {result.reason} "
                        f"for {payload['http_method']} {payload['url']}"
                    )
                    error = requests.HTTPError(message, response=view, request=view.request)
            _report(call, error, payload)
            return result
        if reads is None or "result" in reads or "response" in reads:
            view = ResponseView(result, call.lazy_secrets(result.request))
            payload["response"] = view
            payload["result"] = view
        payload["status_code"] = status
        if call.target.rule == "result" and (reads is None or "instance" in reads):
            # Reading a streamed body here would take it from the caller.
            stream = call.arguments().get("stream")
            payload["instance"] = None if stream else created_id(result)
        call.send(post, call.sender, payload)
        return result

    def error(self, state: _State | None, exception: BaseException) -> None:
        if state is None:
            return
        try:
            call = _Call(self.names, state)
            if isinstance(exception, Exception):
                reads = call.reads()
                view: BaseException | None = None
                if reads is None or "exception" in reads:  # else nobody can read the copy
                    secrets = call.secrets(getattr(exception, "request", None))
                    view = exception_view(exception, secrets)
                _report(call, view, call.payload)
        finally:
            _busy.reset(state[0])


def _report(call: _Call, exception: BaseException | None, payload: dict[str, Any]) -> None:
    # ``exception`` is None only when no receiver reads it (the sender leaves it out).
    # The caller must get its own outcome (the response, or the original
    # exception) unchanged, so a failing receiver is logged, not raised.
    try:
        call.send(_signals.vidispine_failed, call.sender, {"exception": exception, **payload})
    except Exception:
        logger.exception(
            "a receiver of vidispine_failed raised while reporting %s %s",
            payload.get("http_method"),
            payload.get("url"),
        )


_FROM_BODY: Any = object()  # a target's instance that a "body:key" rule reads per request


def _body_instance(named: Mapping[str, Any], rule: str, compiled: _Compiled | None) -> Any:
    """The instance a ``"body:key"`` rule names in the call's ``json=`` or ``data=``."""
    instance = _body_value(named.get("json"), named.get("data"), rule[5:])
    if instance is not None and compiled is not None and compiled.secret_instance:
        return MASK
    return instance


def _body_value(json_body: Any, data: Any, key: str) -> Any:
    document = json_body
    if document is None and isinstance(data, (str, bytes)):
        try:
            document = json.loads(data)
        except ValueError:
            return None
    if document is None and isinstance(data, Mapping):
        document = data
    if isinstance(document, Mapping):
        return document.get(key)
    return None


def instrument_http(
    base_url: str,
    *,
    session: requests.Session | None = None,
    routes: Sequence[Route | tuple[Any, ...]] | None = None,
    replace_routes: bool = False,
) -> Weaving:
    """Send Vidispine signals for requests made with ``requests`` to ``base_url``.

    Every request to the API root ``base_url`` (same scheme, host and port,
    a path below its path) is looked up in the route table, and sends the
    pre signal of the route's family before, then its post signal, or
    ``vidispine_failed``:

    - ``sender``: the session's class (``requests.Session`` for
      ``requests.get`` and friends); ``instance``: per the route (see
      :class:`Route`); ``method``: the route's operation name;
      ``http_method``, ``url`` (password and secret query values masked),
      ``path`` (below the API root, as sent), ``path_params`` (the decoded
      ``{name}`` values), ``params`` (query parameters, secrets masked),
      ``headers`` (the call's own headers, Authorization and Cookie
      masked), ``json`` and ``data`` (the body, secret keys masked), and
      ``route`` (the :class:`Route`, None for an unknown path).
    - post, for a status below 400: the same plus ``result`` and
      ``response`` (a view of the response whose ``request`` has its
      credentials masked) and ``status_code``; a ``"result"`` route's
      ``instance`` is then the new id.
    - ``vidispine_failed`` instead of post: for a status of 400 or more,
      with ``exception`` a ``requests.HTTPError`` (the caller still gets the
      response unchanged); when ``requests`` raises, with ``exception`` (a
      copy with the request's credentials masked), the original being
      re-raised. A failing ``vidispine_failed`` receiver is logged.

    Receivers get only the keyword arguments they can read: when no receiver
    of the request's signals (pre, post and ``vidispine_failed``) uses its
    ``**kwargs``, the arguments none of them names are left out, and are not
    even prepared (``params``, ``headers``, ``json`` and ``data`` are not
    masked, no response view or exception copy is built). A receiver that
    reads its ``**kwargs``, or is not a plain function or method, gets
    everything, and so do all receivers beside it.

    A request no route describes still emits: its family comes from the verb
    (GET, HEAD, OPTIONS: get; POST: create; PUT, PATCH: modify; DELETE:
    delete; others: modify) and its operation is its path with id-like
    segments (``VX-12``, numbers, UUIDs) replaced by ``{id}``
    (``"/item/{id}/shape/{id}"``); its instance is the first such id.

    Nothing is sent for requests to other hosts or paths, inside an
    instrumented helper call (the helper's own signals stand for it), inside
    :func:`eventweave.muted`, or while an HTTP signal is being handled (a
    receiver may call Vidispine without looping).

    :param base_url: the Vidispine API root, e.g. ``"http://vidispine:8080/API"``.
    :param session: instrument only this ``requests.Session``; by default
        every session, and the ``requests.get`` ... functions.
    :param routes: routes tried before the default :data:`ROUTES`: one with
        the same verb and template replaces the default, others extend it.
        ``Route`` entries or ``(verb, template, family, operation, instance)``
        tuples. Among the routes matching a request, the one with the most
        literal segments wins; on a tie, the first listed.
    :param replace_routes: use only ``routes``, without the defaults.
    :returns: the :class:`eventweave.Weaving`; ``unweave()`` restores
        ``Session.request``. Calling again with the same arguments returns
        the same weaving.
    :raises ValueError: ``base_url`` is not an http(s) URL, or a route is
        malformed (the message names it).
    """
    base = _parse_base(base_url)
    own = tuple(_compile(route) for route in routes or ())
    if replace_routes and not own:
        msg = "instrument_http(replace_routes=True) needs routes= to replace the defaults with"
        raise ValueError(msg)
    advice = _HttpAdvice(base, own, defaults=not replace_routes)
    if session is None:
        return weave("requests.sessions:Session.request", advice)
    if not isinstance(session, requests.Session):
        msg = f"instrument_http(session=) takes a requests.Session, got {type(session).__name__}"
        raise TypeError(msg)
    return weave((session, "request"), advice)
