"""A fake Vidispine server: a real HTTP server on loopback, with state a test can inspect.

It implements the part of the Vidispine REST API that the helper layer
(:mod:`eventweave.vidispine.client`) and the notification machinery use, with
Vidispine's paths, JSON documents, status codes and error documents::

    with FakeVidispine() as fake:
        api = VidispineAPI(fake.url, *fake.auth)
        UserHelper(api).createUser("alice", "Alice", "secret")
        assert "alice" in fake.state.users

Endpoints (all under ``/API``, Basic auth, JSON in and out):

- users: ``POST /user``, ``GET /user``, ``GET|DELETE /user/{name}``
- groups: ``GET /group``, ``GET|PUT|DELETE /group/{name}``,
  ``PUT|DELETE /group/{name}/user/{user}``, ``PUT|DELETE /group/{name}/group/{child}``
- items: ``POST /import/placeholder``, ``GET|DELETE /item/{id}``,
  ``GET|PUT /item/{id}/metadata``, ``POST /item/{id}/transcode?tag=...``
- metadata fields: ``GET /metadata-field``, ``GET|PUT|DELETE /metadata-field/{name}``,
  ``GET /metadata-field/field-group``, ``GET|PUT|DELETE /metadata-field/field-group/{name}``,
  ``PUT|DELETE /metadata-field/field-group/{name}/{field}``
- shape tags: ``GET /shape-tag``, ``GET|PUT|DELETE /shape-tag/{tag}``
- jobs: ``GET /job``, ``GET /job/{id}``
- notifications: ``GET|POST /{entity}/notification``,
  ``GET|DELETE /{entity}/notification/{id}``

Job notifications are really POSTed (or PUT) to their callback URL with ``requests``,
which must be on loopback. Only the ``job`` entity's notifications are ever delivered.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import re
import signal
import socket
import socketserver
import sys
import threading
import traceback
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import requests

from . import _http
from ._fakestate import (
    Delivery,
    FakeError,
    FakeState,
    FieldGroup,
    Group,
    Item,
    Job,
    Notification,
    User,
    conflict,
    find,
    invalid_input,
    md5_hex,
    metadata_to_document,
    not_found,
    now,
    parse_metadata_document,
)
from ._http import Route
from ._notifications import basic_credentials

__all__ = ["Delivery", "FakeState", "FakeVidispine", "fake_vidispine_fixture"]

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]

JOB_TRIGGERS = frozenset({"create", "update", "stop", "finished", "fail"})
TERMINAL_STATUSES = frozenset({"FINISHED", "FAILED_TOTAL", "ABORTED"})
_XML_NAMESPACE = "http://xml.vidispine.com/schema/vidispine"
_JSON_TYPES = ("application/json", "text/json")
_XML_TYPES = ("application/xml", "text/xml")


@dataclass
class _Request:
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    user: str

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class _Reply:
    body: Any = None
    status: int = 200
    # Runs in the handler thread once the response is sent (jobs finish there).
    after: Callable[[], None] | None = None


_Handler = Callable[[_Request], _Reply]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    literals: int
    handler: str


def _compile(route: Route) -> _Route:
    parts = route.template.strip("/").split("/")
    regex = "/".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    literals = sum(1 for p in parts if not p.startswith("{"))
    return _Route(route.verb, re.compile(f"^/{regex}$"), literals, route.operation)


# The fake serves the endpoints of the HTTP instrumentation's route table, each with
# the _Routes method named after the route's operation.
ROUTES: tuple[_Route, ...] = tuple(_compile(route) for route in _http.ROUTES)


def _match(path: str) -> tuple[list[tuple[_Route, dict[str, str]]], bool]:
    """Return the most specific routes matching ``path`` (any method), and whether any did."""
    found = [(r, m.groupdict()) for r in ROUTES if (m := r.pattern.match(path))]
    if not found:
        return [], False
    # "/metadata-field/field-group" also matches "/metadata-field/{field}": literals win.
    best = max(r.literals for r, _ in found)
    return [(r, p) for r, p in found if r.literals == best], True


def is_loopback_url(url: str) -> bool:
    """Tell whether ``url`` is an http(s) URL on 127.0.0.0/8, ``localhost`` or ``[::1]``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    for media_range in accept.split(","):
        media = media_range.split(";")[0].strip().lower()
        if media in ("*/*", "application/*", *_JSON_TYPES) or media.endswith("+json"):
            return True
    return False


def _is_json_type(media_type: str) -> bool:
    return media_type in _JSON_TYPES or media_type.endswith("+json")


def _require_object(body: Any, what: str) -> JSONDict:
    if not isinstance(body, dict):
        raise invalid_input(f"the request body must be a {what} JSON object", context=what)
    return body


def _names_in(document: Any, list_key: str, item_key: str, name_key: str) -> list[str]:
    """Read names from ``{"userList": {"user": [{"userName": ...}]}}``-shaped lists."""
    if document is None:
        return []
    container = document.get(list_key) if isinstance(document, dict) else None
    if container is None:
        return []
    entries = container.get(item_key, []) if isinstance(container, dict) else None
    if not isinstance(entries, list):
        raise invalid_input(f"'{list_key}.{item_key}' must be a list", context=list_key)
    names = []
    for entry in entries:
        name = entry.get(name_key) if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise invalid_input(
                f"each entry of '{list_key}.{item_key}' needs a string '{name_key}'",
                context=list_key,
            )
        names.append(name)
    return names


def _name_matches_path(body: JSONDict, key: str, path_name: str, what: str) -> None:
    given = body.get(key)
    if given is not None and given != path_name:
        raise invalid_input(
            f"{what} name in the body ({given!r}) differs from the one in the URL",
            context=key,
            value=str(given),
        )


def _render_notification(fields: Sequence[tuple[str, str]], content_type: str) -> bytes:
    if content_type.split(";")[0].strip().lower() in _XML_TYPES:
        root = ET.Element("SimpleMetadataDocument", xmlns=_XML_NAMESPACE)
        for key, value in fields:
            entry = ET.SubElement(root, "field")
            ET.SubElement(entry, "key").text = key
            ET.SubElement(entry, "value").text = value
        xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return xml
    body = {"field": [{"key": k, "value": v} for k, v in fields]}
    return json.dumps(body).encode("utf-8")


class _Routes:
    """The endpoint implementations, named after their route's operation; each runs with
    ``state.lock`` held."""

    def __init__(self, fake: FakeVidispine) -> None:
        self.fake = fake
        self.state = fake.state

    # -- users -------------------------------------------------------------------------

    def user_document(self, user: User) -> JSONDict:
        return {
            "userName": user.username,
            "realName": user.real_name,
            "disabled": user.disabled,
            "groupList": {"group": [{"groupName": g} for g in self.state.groups_of(user.username)]},
            "metadata": {"field": [{"key": k, "value": v} for k, v in user.metadata.items()]},
        }

    def createUser(self, req: _Request) -> _Reply:
        body = _require_object(req.body, "UserDocument")
        username = body.get("userName")
        if not isinstance(username, str) or not username.strip():
            raise invalid_input("a UserDocument needs a non-empty 'userName'", context="userName")
        if username in self.state.users or username == self.fake.username:
            raise conflict("User", username, f"a user named {username!r} already exists")
        password_type = req.arg("passwordType") or "md5"
        password = body.get("password")
        if password is not None and not isinstance(password, str):
            raise invalid_input("'password' must be a string", context="password")
        if password_type == "raw":
            password_md5 = md5_hex(password) if password is not None else None
        elif password_type == "md5":
            if password is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", password):
                raise invalid_input(
                    "with passwordType=md5 (the default) the password must be an MD5 hex "
                    "digest; send passwordType=raw for a plain-text password",
                    context="password",
                )
            password_md5 = password.lower() if password is not None else None
        else:
            raise invalid_input(
                "passwordType must be 'raw' or 'md5'", context="passwordType", value=password_type
            )
        groups = _names_in(body, "groupList", "group", "groupName")
        for name in groups:
            self.state.group(name)
        metadata = {}
        raw_metadata = body.get("metadata") or {}
        for entry in raw_metadata.get("field", []) if isinstance(raw_metadata, dict) else []:
            if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                metadata[entry["key"]] = str(entry.get("value", ""))
        real_name = body.get("realName", "")
        self.state.users[username] = User(
            username=username,
            real_name=real_name if isinstance(real_name, str) else str(real_name),
            password_md5=password_md5,
            metadata=metadata,
        )
        for name in groups:
            self.state.groups[name].users.append(username)
        return _Reply()

    def listUsers(self, req: _Request) -> _Reply:
        users = [self.user_document(u) for u in self.state.users.values()]
        return _Reply({"hits": len(users), "user": users})

    def getUser(self, req: _Request) -> _Reply:
        return _Reply(self.user_document(self.state.user(req.params["username"])))

    def deleteUser(self, req: _Request) -> _Reply:
        username = req.params["username"]
        user = self.state.user(username)
        if req.arg("hard", "false") == "true":
            del self.state.users[username]
            for group in self.state.groups.values():
                if username in group.users:
                    group.users.remove(username)
        else:
            # Vidispine's plain DELETE only disables the account; hard=true removes it.
            user.disabled = True
        return _Reply()

    # -- groups ------------------------------------------------------------------------

    def group_document(self, group: Group) -> JSONDict:
        return {
            "groupName": group.name,
            "description": group.description,
            "role": False,
            "userList": {"user": [{"userName": u} for u in group.users]},
            "childGroupList": {"group": [{"groupName": c} for c in group.children]},
            "parentGroupList": {
                "group": [{"groupName": p} for p in self.state.parents_of(group.name)]
            },
        }

    def listGroups(self, req: _Request) -> _Reply:
        groups = [self.group_document(g) for g in self.state.groups.values()]
        return _Reply({"hits": len(groups), "group": groups})

    def getGroup(self, req: _Request) -> _Reply:
        return _Reply(self.group_document(self.state.group(req.params["group"])))

    def createGroup(self, req: _Request) -> _Reply:
        name = req.params["group"]
        body = _require_object(req.body, "GroupDocument") if req.body is not None else {}
        _name_matches_path(body, "groupName", name, "group")
        users = _names_in(body, "userList", "user", "userName")
        children = _names_in(body, "childGroupList", "group", "groupName")
        for username in users:
            self.state.user(username)
        for child in children:
            self.state.group(child)
            if child == name:
                raise invalid_input("a group cannot be its own child", context="childGroupList")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid_input("'description' must be a string", context="description")
        # PUT /group/{name} is Vidispine's create-or-update: an existing group is updated.
        group = self.state.groups.setdefault(name, Group(name))
        if description is not None:
            group.description = description
        group.users.extend(u for u in users if u not in group.users)
        group.children.extend(c for c in children if c not in group.children)
        return _Reply()

    def removeGroup(self, req: _Request) -> _Reply:
        name = req.params["group"]
        self.state.group(name)
        del self.state.groups[name]
        for group in self.state.groups.values():
            if name in group.children:
                group.children.remove(name)
        return _Reply()

    def addUserToGroup(self, req: _Request) -> _Reply:
        group = self.state.group(req.params["group"])
        username = req.params["username"]
        self.state.user(username)
        if username not in group.users:
            group.users.append(username)
        return _Reply()

    def removeUserFromGroup(self, req: _Request) -> _Reply:
        group = self.state.group(req.params["group"])
        username = req.params["username"]
        self.state.user(username)
        if username in group.users:
            group.users.remove(username)
        return _Reply()

    def setChildGroupToGroup(self, req: _Request) -> _Reply:
        group = self.state.group(req.params["group"])
        child = req.params["child"]
        self.state.group(child)
        if child == group.name or group.name in self.state.descendants_of(child):
            raise invalid_input(
                f"adding {child!r} under {group.name!r} would make a cycle of groups",
                context="child-groupname",
                value=child,
            )
        if child not in group.children:
            group.children.append(child)
        return _Reply()

    def removeChildGroupFromGroup(self, req: _Request) -> _Reply:
        group = self.state.group(req.params["group"])
        child = req.params["child"]
        self.state.group(child)
        if child in group.children:
            group.children.remove(child)
        return _Reply()

    # -- items -------------------------------------------------------------------------

    def item_metadata_list(self, item: Item) -> JSONDict:
        return {"item": [{"id": item.id, "metadata": metadata_to_document(item.metadata)}]}

    def createPlaceholder(self, req: _Request) -> _Reply:
        components = {}
        for name in ("container", "audio", "video", "binary"):
            raw = req.arg(name)
            if raw is None:
                continue
            if not raw.isdigit():
                raise invalid_input(
                    f"{name} must be a non-negative integer", context=name, value=raw
                )
            components[name] = int(raw)
        if not any(components.values()):
            raise invalid_input(
                "a placeholder needs at least one component, e.g. container=1",
                context="container",
            )
        metadata = parse_metadata_document(req.body)
        item = Item(self.state.next_id("item"), metadata=metadata, shapes=["original"])
        self.state.items[item.id] = item
        return _Reply({"id": item.id})

    def getItem(self, req: _Request) -> _Reply:
        item = self.state.item(req.params["item"])
        content = {part.strip() for part in (req.arg("content") or "metadata").split(",")}
        document: JSONDict = {"id": item.id}
        if "metadata" in content:
            document["metadata"] = metadata_to_document(item.metadata)
        if "shape" in content:
            document["shape"] = [{"tag": [tag]} for tag in item.shapes]
        return _Reply(document)

    def removeItem(self, req: _Request) -> _Reply:
        item = self.state.item(req.params["item"])
        del self.state.items[item.id]
        return _Reply()

    def getItemMetadata(self, req: _Request) -> _Reply:
        return _Reply(self.item_metadata_list(self.state.item(req.params["item"])))

    def setItemMetadata(self, req: _Request) -> _Reply:
        item = self.state.item(req.params["item"])
        if req.body is None:
            raise invalid_input("send a MetadataDocument as the body", context="MetadataDocument")
        # Fields need no definition first: the fake accepts any field name.
        item.metadata.update(parse_metadata_document(req.body))
        return _Reply(self.item_metadata_list(item))

    def retranscode(self, req: _Request) -> _Reply:
        item = self.state.item(req.params["item"])
        tag = req.arg("tag")
        if not tag:
            raise invalid_input("transcode needs a tag query parameter", context="tag")
        if tag not in self.state.shape_tags:
            raise not_found("ShapeTag", tag)
        job = self.fake._create_job(
            "TRANSCODE", user=req.user, data={"itemId": item.id, "tag": tag}
        )

        def finish() -> None:
            self.fake._run_job(job.id, "FINISHED", on_finish=lambda: self._add_shape(item.id, tag))

        return _Reply(job.document(), after=finish)

    def _add_shape(self, item_id: str, tag: str) -> bool:
        item = self.state.items.get(item_id)
        if item is None:
            return False
        if tag not in item.shapes:
            item.shapes.append(tag)
        return True

    # -- metadata fields and field groups ----------------------------------------------

    def listMetadataFields(self, req: _Request) -> _Reply:
        return _Reply({"field": list(self.state.metadata_fields.values())})

    def getMetadataField(self, req: _Request) -> _Reply:
        return _Reply(find(self.state.metadata_fields, "MetadataField", req.params["field"]))

    def createOrModifyMetadataField(self, req: _Request) -> _Reply:
        name = req.params["field"]
        body = _require_object(req.body, "MetadataFieldDocument")
        _name_matches_path(body, "name", name, "field")
        field_type = body.get("type")
        if not isinstance(field_type, str) or not field_type:
            raise invalid_input(
                "a MetadataFieldDocument needs a 'type' such as 'string' or 'integer'",
                context="type",
            )
        document = {**body, "name": name}
        self.state.metadata_fields[name] = document
        return _Reply(document)

    def removeMetadataField(self, req: _Request) -> _Reply:
        name = req.params["field"]
        if self.state.metadata_fields.pop(name, None) is None:
            raise not_found("MetadataField", name)
        for group in self.state.field_groups.values():
            if name in group.fields:
                group.fields.remove(name)
        return _Reply()

    def field_group_document(self, group: FieldGroup) -> JSONDict:
        fields = [self.state.metadata_fields.get(f, {"name": f}) for f in group.fields]
        return {**group.document, "name": group.name, "field": fields}

    def field_group(self, name: str) -> FieldGroup:
        return find(self.state.field_groups, "MetadataFieldGroup", name)

    def listMetadataFieldGroups(self, req: _Request) -> _Reply:
        return _Reply({"group": [{"name": name} for name in self.state.field_groups]})

    def getMetadataFieldGroup(self, req: _Request) -> _Reply:
        return _Reply(self.field_group_document(self.field_group(req.params["group"])))

    def createMetadataFieldGroup(self, req: _Request) -> _Reply:
        name = req.params["group"]
        body = (
            _require_object(req.body, "MetadataFieldGroupDocument") if req.body is not None else {}
        )
        _name_matches_path(body, "name", name, "field group")
        raw_fields = body.get("field", [])
        if not isinstance(raw_fields, list):
            raise invalid_input("'field' must be a list", context="field")
        fields = []
        for entry in raw_fields:
            field_name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(field_name, str):
                raise invalid_input("each field needs a string 'name'", context="field")
            if field_name not in self.state.metadata_fields:
                raise not_found("MetadataField", field_name)
            fields.append(field_name)
        # Like PUT /metadata-field/{name}: create, or update an existing group.
        group = self.state.field_groups.setdefault(name, FieldGroup(name))
        group.document = {k: v for k, v in body.items() if k not in ("name", "field")}
        group.fields.extend(f for f in fields if f not in group.fields)
        return _Reply(self.field_group_document(group))

    def removeMetadataFieldGroup(self, req: _Request) -> _Reply:
        group = self.field_group(req.params["group"])
        del self.state.field_groups[group.name]
        return _Reply()

    def addFieldToMetadataFieldGroup(self, req: _Request) -> _Reply:
        group = self.field_group(req.params["group"])
        name = req.params["field"]
        if name not in self.state.metadata_fields:
            raise not_found("MetadataField", name)
        if name not in group.fields:
            group.fields.append(name)
        return _Reply()

    def removeFieldFromMetadataFieldGroup(self, req: _Request) -> _Reply:
        group = self.field_group(req.params["group"])
        name = req.params["field"]
        if name not in group.fields:
            raise not_found("MetadataField", name)
        group.fields.remove(name)
        return _Reply()

    # -- shape tags --------------------------------------------------------------------

    def listShapeTags(self, req: _Request) -> _Reply:
        return _Reply({"uri": list(self.state.shape_tags)})

    def getShapeTag(self, req: _Request) -> _Reply:
        return _Reply(find(self.state.shape_tags, "ShapeTag", req.params["tag"]))

    def createOrModifyShapeTag(self, req: _Request) -> _Reply:
        tag = req.params["tag"]
        body = _require_object(req.body, "TranscodePresetDocument")
        _name_matches_path(body, "name", tag, "shape tag")
        self.state.shape_tags[tag] = {**body, "name": tag}
        return _Reply(self.state.shape_tags[tag])

    def removeShapeTag(self, req: _Request) -> _Reply:
        tag = req.params["tag"]
        if self.state.shape_tags.pop(tag, None) is None:
            raise not_found("ShapeTag", tag)
        return _Reply()

    # -- jobs --------------------------------------------------------------------------

    def listJobs(self, req: _Request) -> _Reply:
        jobs = [j.document() for j in self.state.jobs.values()]
        return _Reply({"hits": len(jobs), "job": jobs})

    def getJob(self, req: _Request) -> _Reply:
        return _Reply(self.state.job(req.params["job"]).document())

    # -- notifications -----------------------------------------------------------------

    @staticmethod
    def entity_of(req: _Request) -> str:
        return req.path.strip("/").split("/")[0]

    def notification(self, req: _Request) -> Notification:
        notification_id = req.params["notification"]
        found = self.state.notifications.get(notification_id)
        if found is None or found.entity != self.entity_of(req):
            raise not_found("Notification", notification_id)
        return found

    def listNotifications(self, req: _Request) -> _Reply:
        entity = self.entity_of(req)
        ids = [n.id for n in self.state.notifications.values() if n.entity == entity]
        return _Reply({"uri": ids})

    def getNotification(self, req: _Request) -> _Reply:
        return _Reply(self.notification(req).document)

    def removeNotification(self, req: _Request) -> _Reply:
        del self.state.notifications[self.notification(req).id]
        return _Reply()

    def createNotification(self, req: _Request) -> _Reply:
        entity = self.entity_of(req)
        body = _require_object(req.body, "NotificationDocument")
        action = body.get("action")
        http = action.get("http") if isinstance(action, dict) else None
        if not isinstance(http, dict):
            raise invalid_input(
                "FakeVidispine supports only HTTP actions: send "
                '{"action": {"http": {"url": ..., "method": "POST"}}, "trigger": {...}}',
                context="action",
            )
        url = http.get("url")
        if not isinstance(url, str) or not is_loopback_url(url):
            raise invalid_input(
                "FakeVidispine delivers notifications only to http(s) URLs on loopback "
                "(127.0.0.1, localhost, [::1])",
                context="action.http.url",
                value=str(url),
            )
        method = str(http.get("method", "POST")).upper()
        if method not in ("POST", "PUT"):
            raise invalid_input(
                "action.http.method must be POST or PUT", context="method", value=method
            )
        content_type = str(http.get("contentType", "application/json"))
        if content_type.split(";")[0].strip().lower() not in (*_JSON_TYPES, *_XML_TYPES):
            raise invalid_input(
                "action.http.contentType must be application/json or application/xml",
                context="contentType",
                value=content_type,
            )
        trigger = body.get("trigger")
        events = trigger.get(entity) if isinstance(trigger, dict) else None
        if not isinstance(events, dict):
            raise invalid_input(
                f"a notification on /{entity} needs a trigger like "
                f'{{"trigger": {{"{entity}": {{"finished": ""}}}}}}',
                context="trigger",
            )
        triggers = frozenset(events) & JOB_TRIGGERS if entity == "job" else frozenset(events)
        if entity == "job" and not triggers:
            raise invalid_input(
                "a job trigger needs one of: " + ", ".join(sorted(JOB_TRIGGERS)),
                context="trigger.job",
            )
        job_type = events.get("type")
        notification = Notification(
            id=self.state.next_id("notification"),
            entity=entity,
            document=body,
            url=url,
            method=method,
            content_type=content_type,
            triggers=triggers,
            job_type=job_type if isinstance(job_type, str) and job_type != "*" else None,
        )
        self.state.notifications[notification.id] = notification
        return _Reply({"uri": [notification.id]})


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads, joined by server_close(), so stop() leaves none behind.
    daemon_threads = False
    block_on_close = True
    # The default backlog of 5 resets connections when a test opens dozens at once.
    request_queue_size = 128

    def __init__(self, fake: FakeVidispine) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in fake.host:
            self.address_family = socket.AF_INET6
        super().__init__((fake.host, fake.requested_port), _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (getfqdn), which can wait
        # on DNS; the fake never uses that name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        # Registered here, in the serving thread, so stop() sees every accepted socket.
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads idling on keep-alive connections so they can be joined."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on,
    # the body then waits for the client's delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True
    server_version = "FakeVidispine"
    # An idle keep-alive connection is dropped after this many seconds.
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)

    def _send(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            # The body's end is unknown, so this connection cannot carry another request.
            self.close_connection = True
            raise invalid_input("bad Content-Length header", value=length) from None
        return self.rfile.read(size) if size > 0 else b""

    def _handle(self) -> None:
        fake = self.server.fake
        reply: _Reply | None = None
        try:
            reply = self._dispatch(fake)
        except FakeError as exc:
            self._send(exc.status, exc.document(), _error_headers(exc))
        except Exception as exc:
            fake._record_error(exc)
            # The connection state is unknown after an unexpected error; close it.
            self.close_connection = True
            self._send(
                500,
                {"internalServer": {"explanation": f"{type(exc).__name__}: {exc}"}},
                {"Connection": "close"},
            )
        else:
            self._send(reply.status, reply.body)
        if reply is not None and reply.after is not None:
            try:
                reply.after()
            except Exception as exc:
                fake._record_error(exc)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _dispatch(self, fake: FakeVidispine) -> _Reply:
        split = urllib.parse.urlsplit(self.path)
        raw_body = self._read_body()
        with fake.state.lock:
            fake.requests.append((self.command, split.path))
        user = fake._authenticate(self.headers.get("Authorization"), self.headers.get("RunAs"))

        if split.path != "/API" and not split.path.startswith("/API/"):
            raise not_found("URI", split.path)
        # Matched still quoted, so an id holding "%2F" stays one segment; matrix
        # parameters (";key=value") are accepted and ignored.
        path = "/" + "/".join(s.split(";")[0] for s in split.path[4:].strip("/").split("/"))
        routes, any_path = _match(path)
        if not any_path:
            raise not_found("URI", split.path)
        chosen = next(((r, p) for r, p in routes if r.method == self.command), None)
        if chosen is None:
            allowed = ", ".join(sorted({r.method for r, _ in routes}))
            raise FakeError(
                405,
                "methodNotAllowed",
                {
                    "method": self.command,
                    "explanation": f"{split.path} accepts {allowed}",
                    "allow": allowed,
                },
            )
        if not _accepts_json(self.headers.get("Accept")):
            raise FakeError(
                406,
                "notAcceptable",
                {"explanation": "FakeVidispine answers only with application/json"},
            )
        body: Any = None
        if raw_body.strip():
            # get_content_type(): the lower-cased media type, "text/plain" when missing.
            if not _is_json_type(self.headers.get_content_type()):
                raise FakeError(
                    415,
                    "unsupportedMediaType",
                    {
                        "explanation": "FakeVidispine reads only JSON bodies: "
                        "send Content-Type: application/json",
                        "value": self.headers.get("Content-Type", ""),
                    },
                )
            try:
                body = json.loads(raw_body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise invalid_input(f"malformed JSON body: {exc}", context="body") from None
        route, params = chosen
        request = _Request(
            path=path,
            params={k: urllib.parse.unquote(v) for k, v in params.items()},
            query=urllib.parse.parse_qs(split.query),
            body=body,
            user=user,
        )
        handler: _Handler = getattr(fake._routes, route.handler)
        with fake.state.lock:
            return handler(request)


def _error_headers(exc: FakeError) -> dict[str, str]:
    if exc.status == 401:
        return {"WWW-Authenticate": 'Basic realm="Vidispine"'}
    if exc.status == 405:
        return {"Allow": exc.detail.get("allow", "")}
    return {}


class FakeVidispine:
    """A Vidispine REST API on ``127.0.0.1``, in memory, for tests and demos.

    A real ``ThreadingHTTPServer``, on a free port unless ``port=`` names one
    (``python -m eventweave.vidispine.fake`` serves one from the command line): clients
    talk HTTP to it with Basic auth and JSON, and get Vidispine's documents, status
    codes and error
    documents back (``{"notFound": {"type": "Item", "id": "VX-9"}}`` with 404, 409 for
    an existing user, 400 for invalid input, 405 for a wrong method). Its state is in
    :attr:`state` and every request received is logged in :attr:`requests` as
    ``(method, path)``.

    Jobs (transcodes, :meth:`simulate_auto_import`, :meth:`simulate_job`) send the
    job notifications registered with ``POST /API/job/notification`` to their callback
    URLs, which must be on loopback; each attempt is recorded in ``state.deliveries``.

    :param username: the administrator's user name for Basic auth.
    :param password: the administrator's password.
    :param host: the address to listen on: ``127.0.0.1`` by default, ``::1`` for
        IPv6 loopback; another address exposes the fake, and its administrator
        password, to that network.
    :param port: the TCP port to listen on; 0 (the default) picks a free one.
    """

    def __init__(
        self,
        username: str = "admin",
        password: str = "admin",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not isinstance(host, str) or not host:
            msg = f"FakeVidispine(host=...): expected an address such as '127.0.0.1', got {host!r}"
            raise TypeError(msg)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            msg = (
                f"FakeVidispine(port=...): expected a TCP port from 1 to 65535, or 0 for "
                f"a free one, got {port!r}"
            )
            raise ValueError(msg)
        self.username = username
        self.password = password
        self.host = host
        """The address the server listens on."""
        self.requested_port = port
        """The port asked for; 0 for any free one (:attr:`port` is the one in use)."""
        self.state = FakeState()
        self.requests: list[tuple[str, str]] = []
        self.delivery_timeout = 2.0
        """Seconds to wait for a notification receiver to answer."""
        self._routes = _Routes(self)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._lifecycle_lock = threading.Lock()
        self._jobs_running = 0
        self._jobs_idle = threading.Condition(self.state.lock)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeVidispine:
        """Start serving; does nothing if already started.

        :raises OSError: when the address cannot be listened on (a port in use, an
            address this host does not have); the message names both.
        """
        with self._lifecycle_lock:
            if self._server is not None:
                return self
            try:
                server = _Server(self)
            except OSError as exc:
                where = f"[{self.host}]" if ":" in self.host else self.host
                msg = (
                    f"FakeVidispine cannot listen on {where}:{self.requested_port}: "
                    f"{exc.strerror or exc}; choose another port (0 picks a free one)"
                )
                raise OSError(exc.errno, msg) from exc
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                # stop() waits up to one poll interval for the loop to notice it.
                kwargs={"poll_interval": 0.01},
                name=f"FakeVidispine:{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every connection; idempotent."""
        with self._lifecycle_lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> FakeVidispine:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port the server listens on (the last one, once stopped)."""
        if self._port is None:
            raise RuntimeError("FakeVidispine has no port yet: call start() or use `with`")
        return self._port

    @property
    def url(self) -> str:
        """The API root, ``http://127.0.0.1:<port>/API`` (the host listened on, if another).

        A server listening on every address (``0.0.0.0``, ``::``) gives its loopback URL.
        """
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/API"

    @property
    def auth(self) -> tuple[str, str]:
        """The administrator's ``(username, password)``, ready for ``requests``' ``auth=``."""
        return (self.username, self.password)

    # -- jobs and notifications --------------------------------------------------------

    def simulate_auto_import(
        self, filename: str, metadata: Mapping[str, str | Sequence[str]] | None = None
    ) -> str:
        """Import an item as an auto-import rule would, and return its id.

        Creates a file and an item holding ``originalFilename`` plus ``metadata``, then
        an ``AUTO_IMPORT`` job that finishes. Its job notifications (``type``
        ``AUTO_IMPORT`` with ``itemId``, ``fileId``, ``filename``) are delivered to the
        registered callbacks before this returns, so a test needs no sleep.

        :param filename: the name of the file that appeared in the watched storage.
        :param metadata: field name -> value or values to give the new item.
        """
        values: dict[str, list[str]] = {"originalFilename": [filename]}
        for name, value in (metadata or {}).items():
            values[name] = [value] if isinstance(value, str) else [str(v) for v in value]
        with self.state.lock:
            file_id = self.state.next_id("file")
            self.state.files[file_id] = filename
            item = Item(self.state.next_id("item"), metadata=values, shapes=["original"])
            self.state.items[item.id] = item
        self.simulate_job(
            "AUTO_IMPORT",
            data={"itemId": item.id, "fileId": file_id, "filename": filename},
        )
        return item.id

    def simulate_job(
        self,
        job_type: str,
        *,
        status: str = "FINISHED",
        data: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> str:
        """Run a job of ``job_type`` to ``status`` and deliver its notifications; return its id.

        Delivery happens before this returns.

        :param job_type: the job type, e.g. ``TRANSCODE`` or ``AUTO_IMPORT``.
        :param status: the final status: ``FINISHED``, ``FAILED_TOTAL`` or ``ABORTED``.
        :param data: job data sent with the notifications, e.g. ``{"itemId": "VX-1"}``.
        :param user: the user the job runs as; the administrator by default.
        """
        if status not in TERMINAL_STATUSES:
            expected = ", ".join(sorted(TERMINAL_STATUSES))
            raise ValueError(
                f"simulate_job: unknown final status {status!r}; use one of {expected}"
            )
        job = self._create_job(job_type, user=user or self.username, data=dict(data or {}))
        self._run_job(job.id, status)
        return job.id

    def wait_for_jobs(self, timeout: float = 5.0) -> bool:
        """Wait until every job has finished and its notifications were sent.

        Transcode jobs finish right after their HTTP response; call this before
        inspecting their outcome. Returns False if ``timeout`` seconds passed first.

        :param timeout: the longest wait, in seconds.
        """
        with self._jobs_idle:
            return self._jobs_idle.wait_for(lambda: self._jobs_running == 0, timeout)

    def _create_job(self, job_type: str, *, user: str, data: dict[str, str]) -> Job:
        with self.state.lock:
            job = Job(
                id=self.state.next_id("job"),
                type=job_type,
                status="STARTED",
                user=user,
                started=now(),
                data=data,
            )
            self.state.jobs[job.id] = job
            self._jobs_running += 1
            return job

    def _run_job(
        self, job_id: str, status: str, on_finish: Callable[[], bool] | None = None
    ) -> None:
        """Deliver the job's create event, end it with ``status``, deliver its end events."""
        try:
            self._notify_job(job_id, frozenset({"create"}), "create")
            with self.state.lock:
                job = self.state.jobs[job_id]
                if status == "FINISHED" and on_finish is not None and not on_finish():
                    status = "FAILED_TOTAL"
                job.status = status
                job.finished = now()
            end = "finished" if status == "FINISHED" else "fail"
            self._notify_job(job_id, frozenset({"update", "stop", end}), end)
        finally:
            with self._jobs_idle:
                self._jobs_running -= 1
                self._jobs_idle.notify_all()

    def _notify_job(self, job_id: str, events: frozenset[str], event: str) -> None:
        with self.state.lock:
            job = self.state.jobs[job_id]
            fields = job.notification_fields()
            targets = [
                n
                for n in self.state.notifications.values()
                if n.entity == "job"
                and n.triggers & events
                and (n.job_type is None or n.job_type == job.type)
            ]
        # Outside the lock: a receiver may call back into this server while it handles us.
        for notification in targets:
            self._deliver(notification, event, fields)

    def _deliver(
        self, notification: Notification, event: str, fields: list[tuple[str, str]]
    ) -> None:
        delivery = Delivery(notification.id, notification.url, event, fields)
        if not is_loopback_url(notification.url):
            delivery.error = "refused: the callback URL is not on loopback"
        else:
            try:
                response = requests.request(
                    notification.method,
                    notification.url,
                    data=_render_notification(fields, notification.content_type),
                    headers={"Content-Type": notification.content_type},
                    timeout=self.delivery_timeout,
                )
                response.close()
                delivery.status_code = response.status_code
                if not response.ok:
                    delivery.error = f"the receiver answered {response.status_code}"
            except requests.RequestException as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
        with self.state.lock:
            self.state.deliveries.append(delivery)

    # -- internals used by the request handler -----------------------------------------

    def _authenticate(self, authorization: str | None, run_as: str | None) -> str:
        """Return the user a request acts as, or raise the 401."""
        username, password = basic_credentials(authorization) or (None, None)
        with self.state.lock:
            if username is None or password is None:
                ok = False
            elif username == self.username:
                ok = password == self.password
            else:
                user = self.state.users.get(username)
                ok = user is not None and user.check_password(password)
            if not ok:
                raise FakeError(
                    401,
                    "notAuthorized",
                    {"explanation": "send Basic auth with a valid user name and password"},
                )
            if run_as and run_as != self.username:
                target = self.state.users.get(run_as)
                if target is None or target.disabled:
                    raise FakeError(
                        401,
                        "notAuthorized",
                        {"explanation": f"RunAs names an unknown user: {run_as!r}"},
                    )
        return run_as or (username or "")

    def _record_error(self, exc: BaseException) -> None:
        logger.error("FakeVidispine handler failed", exc_info=exc)
        with self.state.lock:
            self.state.server_errors.append("".join(traceback.format_exception(exc)))

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<FakeVidispine {where}>"


def fake_vidispine_fixture() -> Iterator[FakeVidispine]:
    """Yield a started :class:`FakeVidispine` and stop it afterwards (a pytest fixture body).

    Register it with ``pytest.fixture(fake_vidispine_fixture, name="fake_vidispine")``.
    """
    with FakeVidispine() as fake:
        yield fake


# -- serving from the command line ---------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m eventweave.vidispine.fake``: serve a FakeVidispine until interrupted.

    Prints the API root URL, serves until SIGINT (Ctrl-C) or SIGTERM, then stops
    cleanly and returns 0; returns 1 when the address cannot be listened on.

    :param argv: the arguments after the program name; ``sys.argv[1:]`` by default.
    """
    parser = argparse.ArgumentParser(
        prog="python -m eventweave.vidispine.fake",
        description="Serve a fake Vidispine REST API (in memory, for tests and demos).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8080, help="TCP port, 0 for a free one (default: %(default)s)"
    )
    parser.add_argument("--user", default="admin", help="administrator (default: %(default)s)")
    parser.add_argument("--password", default="admin", help="its password (default: admin)")
    args = parser.parse_args(argv)
    if not args.host:
        parser.error("argument --host: expected an address such as 127.0.0.1 or 0.0.0.0")
    try:
        fake = FakeVidispine(args.user, args.password, host=args.host, port=args.port)
    except ValueError as exc:  # the port: FakeVidispine says what it takes
        parser.error(f"argument --port: {str(exc).partition(': ')[2]}")
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            fake.start()
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"FakeVidispine serving {fake.url} (user {fake.username!r}); Ctrl-C stops it")
        sys.stdout.flush()
        stop.wait()
        fake.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("FakeVidispine stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
