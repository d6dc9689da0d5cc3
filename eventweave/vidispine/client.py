"""The reference helper layer: Vidispine REST calls made with ``requests``.

:class:`VidispineAPI` is a small session wrapper (base URL, Basic auth, JSON, ``RunAs``,
timeouts, typed errors). :class:`UserHelper`, :class:`GroupHelper` and
:class:`ItemHelper` carry the method names and parameter names of Cantemo Portal's
helpers, so code written against those runs here, and the instrumentation in
:mod:`eventweave.vidispine` treats both alike: the first parameter after ``self`` is
the identifier the call is about (user name, group name, item id)::

    api = VidispineAPI("http://localhost:8080/API", "admin", "admin")
    item_id = ItemHelper(api).createPlaceholder(metadata_document(title="Intro"))
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import requests

__all__ = [
    "Conflict",
    "GroupHelper",
    "ItemHelper",
    "NotFound",
    "Unauthorized",
    "UserHelper",
    "VidispineAPI",
    "VidispineError",
    "metadata_document",
    "metadata_values",
]

JSONDict = dict[str, Any]
MetadataValue = str | int | float | Sequence[str | int | float]


class VidispineError(Exception):
    """A Vidispine call answered with an error status.

    :param message: what failed, and how to fix it when that is known.
    :param status_code: the HTTP status.
    :param method: the HTTP method of the request.
    :param url: the URL of the request.
    :param body: the parsed error document (a dict), the raw text, or None.
    """

    def __init__(
        self, message: str, *, status_code: int, method: str, url: str, body: Any = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.url = url
        self.body = body


class NotFound(VidispineError):
    """404: the user, group, item, field, tag, job or path does not exist."""


class Conflict(VidispineError):
    """409: the entity already exists."""


class Unauthorized(VidispineError):
    """401: the credentials (or the ``RunAs`` user) were refused."""


_ERRORS: dict[int, tuple[type[VidispineError], str]] = {
    401: (Unauthorized, "check the user name and password given to VidispineAPI (and run_as)"),
    404: (NotFound, ""),
    409: (Conflict, "it already exists; remove it first or pick another name"),
}


def _describe(body: Any) -> str:
    """Summarise a Vidispine error document: ``notFound: Item 'VX-9'``."""
    if isinstance(body, dict) and len(body) == 1:
        kind, detail = next(iter(body.items()))
        if isinstance(detail, dict):
            if "type" in detail and "id" in detail:
                text = f"{kind}: {detail['type']} {detail['id']!r}"
                return f"{text} ({detail['explanation']})" if "explanation" in detail else text
            if "explanation" in detail:
                return f"{kind}: {detail['explanation']}"
        return f"{kind}: {detail}"
    text = str(body or "").strip()
    return text[:200] if text else "no error document"


def _parse(response: requests.Response) -> Any:
    if not response.content:
        return None
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text


def _posted_id(api: VidispineAPI, path: str, result: Any, key: str, what: str) -> str:
    """Return ``result[key]``, the id a POST to ``path`` answered with, or raise naming it."""
    value = result.get(key) if isinstance(result, dict) else None
    if isinstance(value, str):
        return value
    url = f"{api.url}{path}"
    raise VidispineError(
        f"POST {url} answered without {what}: {result!r}",
        status_code=200,
        method="POST",
        url=url,
        body=result,
    )


def _q(segment: str) -> str:
    """Quote one path segment: an id may hold ``/`` or spaces."""
    return urllib.parse.quote(segment, safe="")


class VidispineAPI:
    """A ``requests.Session`` bound to one Vidispine API root.

    Every request carries Basic auth, ``Accept: application/json``, the ``RunAs``
    header when ``run_as`` is given, and ``timeout``. Bodies go out as JSON; answers
    come back parsed (None when empty). An error status raises :class:`NotFound`,
    :class:`Conflict`, :class:`Unauthorized` or else :class:`VidispineError`;
    connection failures raise ``requests`` exceptions unchanged.

    :param url: the API root, e.g. ``http://localhost:8080/API``.
    :param username: the user to authenticate as.
    :param password: that user's password.
    :param run_as: perform every call on behalf of this user (an administrator's right).
    :param timeout: seconds to wait for each answer.
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        run_as: str | None = None,
        timeout: float = 10,
    ) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.run_as = run_as
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = (username, password)
        self.session.headers["Accept"] = "application/json"
        if run_as is not None:
            self.session.headers["RunAs"] = run_as

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request and return the parsed answer.

        :param method: the HTTP method.
        :param path: the path below the API root, e.g. ``/item/VX-1/metadata``.
        :param params: query parameters.
        :param json: a body to send as JSON; None sends no body.
        """
        url = f"{self.url}/{path.lstrip('/')}"
        response = self.session.request(method, url, params=params, json=json, timeout=self.timeout)
        with response:
            body = _parse(response)
            if response.status_code < 400:
                return body
        error_class, hint = _ERRORS.get(response.status_code, (VidispineError, ""))
        message = f"{method} {url} failed with {response.status_code}: {_describe(body)}"
        if hint:
            message = f"{message}; {hint}"
        raise error_class(
            message, status_code=response.status_code, method=method, url=url, body=body
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and return the parsed answer."""
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """POST ``json`` to ``path`` and return the parsed answer."""
        return self.request("POST", path, params=params, json=json)

    def put(self, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """PUT ``json`` to ``path`` and return the parsed answer."""
        return self.request("PUT", path, params=params, json=json)

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """DELETE ``path`` and return the parsed answer."""
        return self.request("DELETE", path, params=params)

    def close(self) -> None:
        """Close the session's connections."""
        self.session.close()

    def __enter__(self) -> VidispineAPI:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        run_as = f" run_as={self.run_as!r}" if self.run_as else ""
        return f"<VidispineAPI {self.url} as {self.username!r}{run_as}>"


def metadata_document(**fields: MetadataValue) -> JSONDict:
    """Build a MetadataDocument setting each field over the whole item.

    ``metadata_document(title="Intro", keywords=["a", "b"])`` gives
    ``{"timespan": [{"field": [{"name": "title", "value": [{"value": "Intro"}]}, ...],
    "start": "-INF", "end": "+INF"}]}``.

    :param fields: field name -> a value or a sequence of values (numbers become strings).
    """
    entries = []
    for name, value in fields.items():
        values = [value] if isinstance(value, (str, int, float)) else list(value)
        entries.append({"name": name, "value": [{"value": str(v)} for v in values]})
    return {"timespan": [{"field": entries, "start": "-INF", "end": "+INF"}]}


def metadata_values(document: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return field name -> values from a MetadataDocument (the reverse of ``metadata_document``).

    Fields inside field groups are included; a field set in several timespans keeps the
    values of the last one.

    :param document: a MetadataDocument as Vidispine returns it.
    """
    values: dict[str, list[str]] = {}

    def collect(container: Mapping[str, Any]) -> None:
        for entry in container.get("field", []):
            values[entry["name"]] = [str(v.get("value", "")) for v in entry.get("value", [])]
        for group in container.get("group", []):
            collect(group)

    for timespan in document.get("timespan", []):
        collect(timespan)
    return values


class UserHelper:
    """User accounts and their group memberships.

    :param api: the API to call.
    """

    def __init__(self, api: VidispineAPI) -> None:
        self.api = api

    def createUser(
        self,
        newUserName: str,
        newRealName: str,
        newPassword: str,
        groups: Sequence[str] | None = None,
        email: str | None = None,
    ) -> None:
        """Create a user (``POST /user``), optionally in existing groups.

        :param newUserName: the new user's name; :class:`Conflict` if it is taken.
        :param newRealName: the full name shown to people.
        :param newPassword: the password, sent as plain text (``passwordType=raw``).
        :param groups: names of groups to put the user in.
        :param email: stored in the user's metadata under ``email``.
        """
        document: JSONDict = {
            "userName": newUserName,
            "realName": newRealName,
            "password": newPassword,
        }
        if groups:
            document["groupList"] = {"group": [{"groupName": g} for g in groups]}
        if email is not None:
            document["metadata"] = {"field": [{"key": "email", "value": email}]}
        self.api.post("/user", document, params={"passwordType": "raw"})

    def deleteUser(self, username: str) -> None:
        """Remove a user for good (``DELETE /user/{username}?hard=true``).

        :param username: the user to remove.
        """
        self.api.delete(f"/user/{_q(username)}", params={"hard": "true"})

    def addUserToGroup(self, username: str, group_name: str) -> None:
        """Add a user to a group (``PUT /group/{group}/user/{username}``).

        :param username: the user.
        :param group_name: the group.
        """
        self.api.put(f"/group/{_q(group_name)}/user/{_q(username)}")

    def removeUserFromGroup(self, username: str, group_name: str) -> None:
        """Take a user out of a group (``DELETE /group/{group}/user/{username}``).

        :param username: the user.
        :param group_name: the group.
        """
        self.api.delete(f"/group/{_q(group_name)}/user/{_q(username)}")

    def getUser(self, username: str) -> JSONDict:
        """Return a user's UserDocument (``GET /user/{username}``).

        :param username: the user.
        """
        result: JSONDict = self.api.get(f"/user/{_q(username)}")
        return result


class GroupHelper:
    """Groups and their child groups.

    :param api: the API to call.
    """

    def __init__(self, api: VidispineAPI) -> None:
        self.api = api

    def createGroup(self, group_name: str, description: str | None = None) -> None:
        """Create a group, or update it if it exists (``PUT /group/{group}``).

        :param group_name: the group's name.
        :param description: a description to store with it.
        """
        document: JSONDict = {"groupName": group_name}
        if description is not None:
            document["description"] = description
        self.api.put(f"/group/{_q(group_name)}", document)

    def setChildGroupToGroup(self, group_name: str, child_group_name: str) -> None:
        """Make one group a child of another (``PUT /group/{group}/group/{child}``).

        :param group_name: the parent group.
        :param child_group_name: the group to put under it.
        """
        self.api.put(f"/group/{_q(group_name)}/group/{_q(child_group_name)}")

    def removeChildGroupFromGroup(self, group_name: str, child_group_name: str) -> None:
        """Undo :meth:`setChildGroupToGroup` (``DELETE /group/{group}/group/{child}``).

        :param group_name: the parent group.
        :param child_group_name: the child group to detach.
        """
        self.api.delete(f"/group/{_q(group_name)}/group/{_q(child_group_name)}")

    def removeGroup(self, group_name: str) -> None:
        """Delete a group (``DELETE /group/{group}``).

        :param group_name: the group to delete.
        """
        self.api.delete(f"/group/{_q(group_name)}")

    def getGroup(self, group_name: str) -> JSONDict:
        """Return a group's GroupDocument (``GET /group/{group}``).

        :param group_name: the group.
        """
        result: JSONDict = self.api.get(f"/group/{_q(group_name)}")
        return result


class ItemHelper:
    """Items, their metadata, metadata fields and field groups, shape tags, transcodes.

    :param api: the API to call.
    """

    def __init__(self, api: VidispineAPI) -> None:
        self.api = api

    def createPlaceholder(
        self, metadata_document: Mapping[str, Any] | None = None, container: int = 1
    ) -> str:
        """Create a placeholder item (``POST /import/placeholder``) and return its new id.

        :param metadata_document: initial metadata, a MetadataDocument.
        :param container: the number of container components the item will receive.
        """
        path = "/import/placeholder"
        body = dict(metadata_document) if metadata_document is not None else {}
        result = self.api.post(path, body, params={"container": container})
        return _posted_id(self.api, path, result, "id", "an item id")

    def setItemMetadata(self, item_id: str, metadata_document: Mapping[str, Any]) -> JSONDict:
        """Set metadata fields of an item (``PUT /item/{id}/metadata``); others are kept.

        :param item_id: the item, e.g. ``VX-12``.
        :param metadata_document: the fields to set, a MetadataDocument.
        """
        result: JSONDict = self.api.put(f"/item/{_q(item_id)}/metadata", dict(metadata_document))
        return result

    def getItem(self, item_id: str, content: Mapping[str, Any] | None = None) -> JSONDict:
        """Return an item's ItemDocument (``GET /item/{id}``).

        :param item_id: the item.
        :param content: what to include, as Cantemo's helpers take it:
            ``{"content": ["metadata", "shape"], "field": ["title"]}``. Each key
            is a query parameter; a list is sent comma-separated, as Vidispine
            reads it. Without it, Vidispine's default (the metadata) comes back.
        """
        params = None
        if content is not None:
            params = {
                key: ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
                for key, value in content.items()
            }
        result: JSONDict = self.api.get(f"/item/{_q(item_id)}", params=params)
        return result

    def getItemMetadata(self, item_id: str) -> JSONDict:
        """Return an item's metadata as a MetadataDocument (``GET /item/{id}/metadata``).

        :param item_id: the item.
        """
        result = self.api.get(f"/item/{_q(item_id)}/metadata")
        # Vidispine wraps it in a MetadataListDocument: {"item": [{"id": ..., "metadata": ...}]}.
        items = result.get("item") if isinstance(result, dict) else None
        if isinstance(items, list) and items and isinstance(items[0], dict):
            document: JSONDict = items[0].get("metadata", {})
            return document
        fallback: JSONDict = result
        return fallback

    def removeItem(self, item_id: str) -> None:
        """Delete an item (``DELETE /item/{id}``).

        :param item_id: the item.
        """
        self.api.delete(f"/item/{_q(item_id)}")

    def createOrModifyMetadataField(
        self, field_name: str, field_document: Mapping[str, Any]
    ) -> JSONDict | None:
        """Define a metadata field or change it (``PUT /metadata-field/{name}``).

        :param field_name: the field's name.
        :param field_document: its MetadataFieldDocument, e.g. ``{"type": "string"}``.
        """
        document = {"name": field_name, **field_document}
        result: JSONDict | None = self.api.put(f"/metadata-field/{_q(field_name)}", document)
        return result

    def removeMetadataField(self, field_name: str) -> None:
        """Delete a metadata field definition (``DELETE /metadata-field/{name}``).

        :param field_name: the field.
        """
        self.api.delete(f"/metadata-field/{_q(field_name)}")

    def createMetadataFieldGroup(
        self, group_name: str, document: Mapping[str, Any] | None = None
    ) -> JSONDict | None:
        """Create a metadata field group (``PUT /metadata-field/field-group/{name}``).

        :param group_name: the group's name.
        :param document: its MetadataFieldGroupDocument, if more than the name is needed.
        """
        body = {"name": group_name, **(document or {})}
        result: JSONDict | None = self.api.put(
            f"/metadata-field/field-group/{_q(group_name)}", body
        )
        return result

    def removeMetadataFieldGroup(self, group_name: str) -> None:
        """Delete a metadata field group (``DELETE /metadata-field/field-group/{name}``).

        :param group_name: the group.
        """
        self.api.delete(f"/metadata-field/field-group/{_q(group_name)}")

    def addFieldToMetadataFieldGroup(self, group_name: str, field_name: str) -> None:
        """Add a field to a field group (``PUT /metadata-field/field-group/{group}/{field}``).

        :param group_name: the field group.
        :param field_name: the field to add.
        """
        self.api.put(f"/metadata-field/field-group/{_q(group_name)}/{_q(field_name)}")

    def createOrModifyShapeTag(
        self, tag_name: str, tag_document: Mapping[str, Any]
    ) -> JSONDict | None:
        """Define a shape tag or change it (``PUT /shape-tag/{tag}``).

        :param tag_name: the tag's name.
        :param tag_document: its transcode preset, a TranscodePresetDocument.
        """
        document = {"name": tag_name, **tag_document}
        result: JSONDict | None = self.api.put(f"/shape-tag/{_q(tag_name)}", document)
        return result

    def removeShapeTag(self, tag_name: str) -> None:
        """Delete a shape tag (``DELETE /shape-tag/{tag}``).

        :param tag_name: the tag.
        """
        self.api.delete(f"/shape-tag/{_q(tag_name)}")

    def retranscode(self, item_id: str, tag_name: str) -> str:
        """Start a transcode of an item to a shape tag; return the job id.

        ``POST /item/{id}/transcode?tag={tag}``; the job runs on in Vidispine.

        :param item_id: the item.
        :param tag_name: the shape tag to transcode to.
        """
        path = f"/item/{_q(item_id)}/transcode"
        result = self.api.post(path, params={"tag": tag_name})
        return _posted_id(self.api, path, result, "jobId", "a job id")
