"""Tests for `eventweave.vidispine.fake`: the fake Vidispine server, over real HTTP."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from typing import Any

import pytest
import requests

from eventweave.vidispine._fakestate import metadata_to_document
from eventweave.vidispine._http import ROUTES, Route
from eventweave.vidispine.fake import FakeVidispine, fake_vidispine_fixture

from .conftest import CallbackReceiver, Received

TIMEOUT = 5


def call(
    fake: FakeVidispine,
    method: str,
    path: str,
    *,
    auth: tuple[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    return requests.request(
        method, fake.url + path, auth=auth or fake.auth, timeout=TIMEOUT, **kwargs
    )


def doc(title: str = "x", **more: str) -> dict[str, Any]:
    fields = [{"name": "title", "value": [{"value": title}]}]
    fields += [{"name": k, "value": [{"value": v}]} for k, v in more.items()]
    return {"timespan": [{"field": fields, "start": "-INF", "end": "+INF"}]}


def register(
    fake: FakeVidispine,
    url: str,
    *,
    entity: str = "job",
    content_type: str = "application/json",
    **trigger: str,
) -> str:
    body = {
        "action": {"http": {"url": url, "method": "POST", "contentType": content_type}},
        "trigger": {entity: trigger or {"finished": ""}},
    }
    response = call(fake, "POST", f"/{entity}/notification", json=body)
    assert response.status_code == 200, response.text
    uri: list[str] = response.json()["uri"]
    return uri[0]


def create_user(fake: FakeVidispine, name: str, password: str = "pw") -> requests.Response:
    return call(
        fake,
        "POST",
        "/user",
        params={"passwordType": "raw"},
        json={"userName": name, "realName": name.title(), "password": password},
    )


# -- lifecycle ---------------------------------------------------------------------------


def test_url_is_api_root_on_loopback(fake_vidispine: FakeVidispine) -> None:
    assert fake_vidispine.url == f"http://127.0.0.1:{fake_vidispine.port}/API"
    assert fake_vidispine.auth == ("admin", "admin")


def test_stop_closes_the_port() -> None:
    fake = FakeVidispine().start()
    port = fake.port
    fake.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_stop_is_idempotent() -> None:
    fake = FakeVidispine().start()
    fake.stop()
    fake.stop()
    assert not fake.running


def test_url_before_start_names_the_fix() -> None:
    with pytest.raises(RuntimeError, match="call start"):
        _ = FakeVidispine().url


def test_context_manager_serves_inside_and_stops_after() -> None:
    with FakeVidispine("root", "s3cret") as fake:
        assert call(fake, "GET", "/user").status_code == 200
    assert not fake.running


def test_stop_does_not_wait_for_idle_keepalive_connections() -> None:
    fake = FakeVidispine().start()
    with requests.Session() as session:
        session.auth = fake.auth
        assert session.get(fake.url + "/user", timeout=TIMEOUT).status_code == 200
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2


def test_fixture_yields_started_server_and_stops_it() -> None:
    fixture = fake_vidispine_fixture()
    fake = next(fixture)
    assert fake.running
    with pytest.raises(StopIteration):
        next(fixture)
    assert not fake.running


# -- authentication and protocol ---------------------------------------------------------


def test_missing_credentials_get_401_with_challenge(fake_vidispine: FakeVidispine) -> None:
    response = requests.get(fake_vidispine.url + "/user", timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_password_gets_401(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "GET", "/user", auth=("admin", "wrong"))
    assert response.status_code == 401
    assert "notAuthorized" in response.json()


def test_created_user_can_authenticate(fake_vidispine: FakeVidispine) -> None:
    create_user(fake_vidispine, "alice", "pa55")
    assert call(fake_vidispine, "GET", "/user", auth=("alice", "pa55")).status_code == 200
    assert call(fake_vidispine, "GET", "/user", auth=("alice", "nope")).status_code == 401


def test_md5_password_is_stored_as_given(fake_vidispine: FakeVidispine) -> None:
    digest = hashlib.md5(b"pa55", usedforsecurity=False).hexdigest()
    body = {"userName": "bob", "password": digest}
    assert call(fake_vidispine, "POST", "/user", json=body).status_code == 200
    assert call(fake_vidispine, "GET", "/user", auth=("bob", "pa55")).status_code == 200


def test_md5_password_type_with_plain_password_gets_400(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "POST", "/user", json={"userName": "bob", "password": "pw"})
    assert response.status_code == 400
    assert "passwordType=raw" in response.json()["invalidInput"]["explanation"]


def test_run_as_unknown_user_gets_401(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "GET", "/user", headers={"RunAs": "ghost"})
    assert response.status_code == 401
    assert "ghost" in response.json()["notAuthorized"]["explanation"]


def test_unknown_path_gets_404_with_not_found_document(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "GET", "/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"notFound": {"type": "URI", "id": "/API/no-such-thing"}}


def test_path_outside_api_gets_404(fake_vidispine: FakeVidispine) -> None:
    response = requests.get(
        fake_vidispine.url.removesuffix("/API") + "/user", auth=fake_vidispine.auth, timeout=5
    )
    assert response.status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_gets_405_with_allow_header(
    fake_vidispine: FakeVidispine, method: str
) -> None:
    response = call(fake_vidispine, method, "/job")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert response.json()["methodNotAllowed"]["method"] == method


def test_malformed_json_gets_400(fake_vidispine: FakeVidispine) -> None:
    response = call(
        fake_vidispine,
        "POST",
        "/user",
        data=b'{"userName": ',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["invalidInput"]["context"] == "body"


def test_xml_body_gets_415(fake_vidispine: FakeVidispine) -> None:
    response = call(
        fake_vidispine,
        "POST",
        "/user",
        data=b"<UserDocument/>",
        headers={"Content-Type": "application/xml"},
    )
    assert response.status_code == 415


def test_body_without_content_type_gets_415(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "PUT", "/group/editors", data=b'{"description": "x"}')
    assert "Content-Type" not in response.request.headers
    assert response.status_code == 415
    assert "editors" not in fake_vidispine.state.groups


@pytest.mark.parametrize("content_type", ["Application/JSON", "application/vnd.vidispine+json"])
def test_json_media_types_are_read_in_any_case_and_with_json_suffix(
    fake_vidispine: FakeVidispine, content_type: str
) -> None:
    response = call(
        fake_vidispine,
        "PUT",
        "/group/editors",
        data=b'{"description": "x"}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200
    assert fake_vidispine.state.groups["editors"].description == "x"


def test_accept_without_json_gets_406(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "GET", "/user", headers={"Accept": "application/xml"})
    assert response.status_code == 406


def test_json_is_accepted_with_charset_and_answered_as_json(
    fake_vidispine: FakeVidispine,
) -> None:
    response = call(
        fake_vidispine,
        "PUT",
        "/group/editors",
        data=b'{"description": "caf\xc3\xa9"}',
        headers={"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert fake_vidispine.state.groups["editors"].description == "café"


def test_handler_exception_gets_500_and_server_keeps_serving(
    fake_vidispine: FakeVidispine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(username: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fake_vidispine.state, "user", broken)
    response = call(fake_vidispine, "GET", "/user/alice")
    assert response.status_code == 500
    assert "disk on fire" in response.json()["internalServer"]["explanation"]
    assert "disk on fire" in fake_vidispine.state.server_errors[0]
    monkeypatch.undo()
    assert call(fake_vidispine, "GET", "/user/alice").status_code == 404


def test_requests_are_logged_as_method_and_path(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "GET", "/user", params={"first": "1"})
    call(fake_vidispine, "DELETE", "/item/VX-1")
    assert fake_vidispine.requests == [("GET", "/API/user"), ("DELETE", "/API/item/VX-1")]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.verb} {r.template}")
def test_every_route_of_the_http_table_is_served(fake: FakeVidispine, route: Route) -> None:
    path = "/".join("x" if s.startswith("{") else s for s in route.template.split("/"))
    response = call(fake, route.verb, path)
    # 400 and 404 come from the route's handler: x is no valid body or entity.
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code == 404:
        assert response.json()["notFound"]["type"] != "URI"


def test_quoted_path_segments_are_decoded(fake_vidispine: FakeVidispine) -> None:
    assert call(fake_vidispine, "PUT", "/group/a%2Fb%20c").status_code == 200
    assert "a/b c" in fake_vidispine.state.groups


def test_trailing_slash_and_matrix_parameters_are_ignored(fake_vidispine: FakeVidispine) -> None:
    assert call(fake_vidispine, "GET", "/shape-tag/").status_code == 200
    assert call(fake_vidispine, "GET", "/job;first=1").status_code == 200


# -- users -------------------------------------------------------------------------------


def test_create_user_stores_it(fake_vidispine: FakeVidispine) -> None:
    assert create_user(fake_vidispine, "alice").status_code == 200
    user = fake_vidispine.state.users["alice"]
    assert user.real_name == "Alice"
    assert user.password_md5 == hashlib.md5(b"pw", usedforsecurity=False).hexdigest()


def test_get_user_returns_user_document(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/group/editors")
    body = {
        "userName": "alice",
        "realName": "Alice A",
        "groupList": {"group": [{"groupName": "editors"}]},
        "metadata": {"field": [{"key": "email", "value": "a@example.org"}]},
    }
    call(fake_vidispine, "POST", "/user", json=body)
    got = call(fake_vidispine, "GET", "/user/alice").json()
    assert got["userName"] == "alice"
    assert got["realName"] == "Alice A"
    assert got["groupList"] == {"group": [{"groupName": "editors"}]}
    assert got["metadata"] == {"field": [{"key": "email", "value": "a@example.org"}]}
    assert "password" not in got


def test_list_users_counts_hits(fake_vidispine: FakeVidispine) -> None:
    create_user(fake_vidispine, "alice")
    create_user(fake_vidispine, "bob")
    listed = call(fake_vidispine, "GET", "/user").json()
    assert listed["hits"] == 2
    assert [u["userName"] for u in listed["user"]] == ["alice", "bob"]


def test_duplicate_user_gets_409(fake_vidispine: FakeVidispine) -> None:
    create_user(fake_vidispine, "alice")
    response = create_user(fake_vidispine, "alice")
    assert response.status_code == 409
    assert response.json()["conflict"]["id"] == "alice"


def test_user_without_name_gets_400(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "POST", "/user", json={"realName": "Nobody"})
    assert response.status_code == 400
    assert response.json()["invalidInput"]["context"] == "userName"


def test_user_in_unknown_group_gets_404_and_is_not_created(fake_vidispine: FakeVidispine) -> None:
    body = {"userName": "alice", "groupList": {"group": [{"groupName": "ghosts"}]}}
    response = call(fake_vidispine, "POST", "/user", json=body)
    assert response.status_code == 404
    assert response.json() == {"notFound": {"type": "Group", "id": "ghosts"}}
    assert "alice" not in fake_vidispine.state.users


def test_unknown_user_gets_404_with_not_found_document(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "GET", "/user/nobody")
    assert response.status_code == 404
    assert response.json() == {"notFound": {"type": "User", "id": "nobody"}}


def test_plain_delete_disables_user(fake_vidispine: FakeVidispine) -> None:
    create_user(fake_vidispine, "alice", "pw")
    assert call(fake_vidispine, "DELETE", "/user/alice").status_code == 200
    assert fake_vidispine.state.users["alice"].disabled
    assert call(fake_vidispine, "GET", "/user", auth=("alice", "pw")).status_code == 401


def test_hard_delete_removes_user_and_memberships(fake_vidispine: FakeVidispine) -> None:
    create_user(fake_vidispine, "alice")
    call(fake_vidispine, "PUT", "/group/editors")
    call(fake_vidispine, "PUT", "/group/editors/user/alice")
    response = call(fake_vidispine, "DELETE", "/user/alice", params={"hard": "true"})
    assert response.status_code == 200
    assert "alice" not in fake_vidispine.state.users
    assert fake_vidispine.state.groups["editors"].users == []


# -- groups ------------------------------------------------------------------------------


def test_put_group_creates_then_updates(fake_vidispine: FakeVidispine) -> None:
    assert call(fake_vidispine, "PUT", "/group/editors", json={"description": "a"}).ok
    assert call(fake_vidispine, "PUT", "/group/editors", json={"description": "b"}).ok
    assert list(fake_vidispine.state.groups) == ["editors"]
    assert call(fake_vidispine, "GET", "/group/editors").json()["description"] == "b"


def test_group_name_in_body_must_match_url(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "PUT", "/group/editors", json={"groupName": "other"})
    assert response.status_code == 400


def test_user_is_added_to_and_removed_from_group(fake_vidispine: FakeVidispine) -> None:
    create_user(fake_vidispine, "alice")
    call(fake_vidispine, "PUT", "/group/editors")
    assert call(fake_vidispine, "PUT", "/group/editors/user/alice").ok
    assert fake_vidispine.state.groups["editors"].users == ["alice"]
    got = call(fake_vidispine, "GET", "/group/editors").json()
    assert got["userList"] == {"user": [{"userName": "alice"}]}
    assert call(fake_vidispine, "DELETE", "/group/editors/user/alice").ok
    assert fake_vidispine.state.groups["editors"].users == []


def test_unknown_user_added_to_group_gets_404(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/group/editors")
    response = call(fake_vidispine, "PUT", "/group/editors/user/ghost")
    assert response.status_code == 404
    assert response.json() == {"notFound": {"type": "User", "id": "ghost"}}


def test_user_added_to_unknown_group_gets_404(fake_vidispine: FakeVidispine) -> None:
    create_user(fake_vidispine, "alice")
    response = call(fake_vidispine, "PUT", "/group/ghosts/user/alice")
    assert response.json() == {"notFound": {"type": "Group", "id": "ghosts"}}


def test_child_group_is_set_and_removed(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/group/staff")
    call(fake_vidispine, "PUT", "/group/editors")
    assert call(fake_vidispine, "PUT", "/group/staff/group/editors").ok
    assert fake_vidispine.state.groups["staff"].children == ["editors"]
    parents = call(fake_vidispine, "GET", "/group/editors").json()["parentGroupList"]
    assert parents == {"group": [{"groupName": "staff"}]}
    assert call(fake_vidispine, "DELETE", "/group/staff/group/editors").ok
    assert fake_vidispine.state.groups["staff"].children == []


def test_child_group_cycle_gets_400(fake_vidispine: FakeVidispine) -> None:
    for name in ("a", "b", "c"):
        call(fake_vidispine, "PUT", f"/group/{name}")
    call(fake_vidispine, "PUT", "/group/a/group/b")
    call(fake_vidispine, "PUT", "/group/b/group/c")
    response = call(fake_vidispine, "PUT", "/group/c/group/a")
    assert response.status_code == 400
    assert "cycle" in response.json()["invalidInput"]["explanation"]


def test_deleted_group_leaves_its_parents(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/group/staff")
    call(fake_vidispine, "PUT", "/group/editors")
    call(fake_vidispine, "PUT", "/group/staff/group/editors")
    assert call(fake_vidispine, "DELETE", "/group/editors").ok
    assert "editors" not in fake_vidispine.state.groups
    assert fake_vidispine.state.groups["staff"].children == []
    assert call(fake_vidispine, "GET", "/group/editors").status_code == 404


def test_list_groups_counts_hits(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/group/a")
    call(fake_vidispine, "PUT", "/group/b")
    listed = call(fake_vidispine, "GET", "/group").json()
    assert listed["hits"] == 2
    assert [g["groupName"] for g in listed["group"]] == ["a", "b"]


# -- items and metadata ------------------------------------------------------------------


def test_placeholder_returns_vx_id_and_stores_metadata(fake_vidispine: FakeVidispine) -> None:
    response = call(
        fake_vidispine, "POST", "/import/placeholder", params={"container": 1}, json=doc("Intro")
    )
    assert response.json() == {"id": "VX-1"}
    assert fake_vidispine.state.items["VX-1"].metadata == {"title": ["Intro"]}
    second = call(fake_vidispine, "POST", "/import/placeholder", params={"container": 1})
    assert second.json() == {"id": "VX-2"}


def test_placeholder_without_components_gets_400(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "POST", "/import/placeholder")
    assert response.status_code == 400
    assert response.json()["invalidInput"]["context"] == "container"


def test_item_metadata_put_merges_fields(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "POST", "/import/placeholder?container=1", json=doc("Old", genre="news"))
    response = call(fake_vidispine, "PUT", "/item/VX-1/metadata", json=doc("New"))
    assert response.status_code == 200
    assert fake_vidispine.state.items["VX-1"].metadata == {"title": ["New"], "genre": ["news"]}


def test_item_metadata_get_returns_metadata_list_document(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "POST", "/import/placeholder?container=1", json=doc("Intro"))
    got = call(fake_vidispine, "GET", "/item/VX-1/metadata").json()
    assert got["item"][0]["id"] == "VX-1"
    timespan = got["item"][0]["metadata"]["timespan"][0]
    assert (timespan["start"], timespan["end"]) == ("-INF", "+INF")
    assert timespan["field"] == [{"name": "title", "value": [{"value": "Intro"}]}]


def test_item_get_returns_what_content_asks_for(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "POST", "/import/placeholder?container=1", json=doc("Intro"))
    default = call(fake_vidispine, "GET", "/item/VX-1").json()
    shapes = call(fake_vidispine, "GET", "/item/VX-1", params={"content": "shape"}).json()
    both = call(fake_vidispine, "GET", "/item/VX-1", params={"content": "metadata,shape"}).json()
    assert default == {"id": "VX-1", "metadata": metadata_to_document({"title": ["Intro"]})}
    assert shapes == {"id": "VX-1", "shape": [{"tag": ["original"]}]}
    assert both == {**default, **shapes}


def test_fields_inside_metadata_groups_are_read(fake_vidispine: FakeVidispine) -> None:
    grouped = {
        "timespan": [
            {
                "group": [
                    {"name": "Film", "field": [{"name": "director", "value": [{"value": "X"}]}]}
                ],
                "start": "-INF",
                "end": "+INF",
            }
        ]
    }
    call(fake_vidispine, "POST", "/import/placeholder?container=1", json=grouped)
    assert fake_vidispine.state.items["VX-1"].metadata == {"director": ["X"]}


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"timespan": {}},
        {"timespan": [{"field": [{"value": [{"value": "x"}]}]}]},
        {"timespan": [{"field": [{"name": "title", "value": "x"}]}]},
        {"timespan": [{"field": [{"name": "title", "value": [{"value": {"a": 1}}]}]}]},
    ],
)
def test_malformed_metadata_document_gets_400(fake_vidispine: FakeVidispine, body: Any) -> None:
    call(fake_vidispine, "POST", "/import/placeholder?container=1")
    response = call(fake_vidispine, "PUT", "/item/VX-1/metadata", json=body)
    assert response.status_code == 400
    assert "MetadataDocument" in response.json()["invalidInput"]["context"]


def test_metadata_of_unknown_item_gets_404(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "GET", "/item/VX-99/metadata")
    assert response.status_code == 404
    assert response.json() == {"notFound": {"type": "Item", "id": "VX-99"}}


def test_deleted_item_is_gone(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "POST", "/import/placeholder?container=1")
    assert call(fake_vidispine, "DELETE", "/item/VX-1").ok
    assert fake_vidispine.state.items == {}
    assert call(fake_vidispine, "GET", "/item/VX-1").status_code == 404
    assert call(fake_vidispine, "DELETE", "/item/VX-1").status_code == 404


# -- metadata fields, field groups, shape tags -------------------------------------------


def test_metadata_field_is_created_and_modified(fake_vidispine: FakeVidispine) -> None:
    assert call(fake_vidispine, "PUT", "/metadata-field/genre", json={"type": "string"}).ok
    assert call(fake_vidispine, "PUT", "/metadata-field/genre", json={"type": "integer"}).ok
    assert fake_vidispine.state.metadata_fields["genre"] == {"type": "integer", "name": "genre"}
    got = call(fake_vidispine, "GET", "/metadata-field/genre").json()
    assert got == {"type": "integer", "name": "genre"}
    listed = call(fake_vidispine, "GET", "/metadata-field").json()
    assert listed == {"field": [got]}


def test_metadata_field_without_type_gets_400(fake_vidispine: FakeVidispine) -> None:
    response = call(fake_vidispine, "PUT", "/metadata-field/genre", json={"name": "genre"})
    assert response.status_code == 400
    assert response.json()["invalidInput"]["context"] == "type"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_metadata_field_gets_404(fake_vidispine: FakeVidispine, method: str) -> None:
    response = call(fake_vidispine, method, "/metadata-field/genre")
    assert response.status_code == 404
    assert response.json() == {"notFound": {"type": "MetadataField", "id": "genre"}}


def test_field_group_path_is_not_read_as_a_field_name(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/metadata-field/field-group/Film")
    assert call(fake_vidispine, "GET", "/metadata-field/field-group").json() == {
        "group": [{"name": "Film"}]
    }
    response = call(fake_vidispine, "PUT", "/metadata-field/field-group", json={"type": "string"})
    assert response.status_code == 405


def test_field_is_added_to_field_group(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/metadata-field/director", json={"type": "string"})
    call(fake_vidispine, "PUT", "/metadata-field/field-group/Film")
    assert call(fake_vidispine, "PUT", "/metadata-field/field-group/Film/director").ok
    assert fake_vidispine.state.field_groups["Film"].fields == ["director"]
    got = call(fake_vidispine, "GET", "/metadata-field/field-group/Film").json()
    assert got["name"] == "Film"
    assert got["field"] == [{"type": "string", "name": "director"}]


def test_unknown_field_added_to_field_group_gets_404(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/metadata-field/field-group/Film")
    response = call(fake_vidispine, "PUT", "/metadata-field/field-group/Film/ghost")
    assert response.json() == {"notFound": {"type": "MetadataField", "id": "ghost"}}


def test_field_added_to_unknown_field_group_gets_404(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/metadata-field/director", json={"type": "string"})
    response = call(fake_vidispine, "PUT", "/metadata-field/field-group/Ghost/director")
    assert response.json() == {"notFound": {"type": "MetadataFieldGroup", "id": "Ghost"}}


def test_deleted_field_leaves_its_field_groups(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/metadata-field/director", json={"type": "string"})
    call(
        fake_vidispine,
        "PUT",
        "/metadata-field/field-group/Film",
        json={"field": [{"name": "director"}]},
    )
    assert fake_vidispine.state.field_groups["Film"].fields == ["director"]
    call(fake_vidispine, "DELETE", "/metadata-field/director")
    assert fake_vidispine.state.field_groups["Film"].fields == []


def test_deleted_field_group_is_gone(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/metadata-field/field-group/Film")
    assert call(fake_vidispine, "DELETE", "/metadata-field/field-group/Film").ok
    assert fake_vidispine.state.field_groups == {}
    assert call(fake_vidispine, "GET", "/metadata-field/field-group/Film").status_code == 404


def test_shape_tag_is_created_listed_and_deleted(fake_vidispine: FakeVidispine) -> None:
    preset = {"format": "mp4", "video": {"codec": "h264"}}
    assert call(fake_vidispine, "PUT", "/shape-tag/lowres", json=preset).ok
    assert fake_vidispine.state.shape_tags["lowres"] == {**preset, "name": "lowres"}
    assert call(fake_vidispine, "GET", "/shape-tag/lowres").json()["format"] == "mp4"
    assert call(fake_vidispine, "GET", "/shape-tag").json() == {"uri": ["lowres"]}
    assert call(fake_vidispine, "DELETE", "/shape-tag/lowres").ok
    assert call(fake_vidispine, "GET", "/shape-tag/lowres").json() == {
        "notFound": {"type": "ShapeTag", "id": "lowres"}
    }


def test_shape_tag_without_body_gets_400(fake_vidispine: FakeVidispine) -> None:
    assert call(fake_vidispine, "PUT", "/shape-tag/lowres").status_code == 400


# -- transcode jobs ----------------------------------------------------------------------


def placeholder_with_tag(fake: FakeVidispine, tag: str = "lowres") -> str:
    call(fake, "PUT", f"/shape-tag/{tag}", json={"format": "mp4"})
    item_id: str = call(fake, "POST", "/import/placeholder?container=1").json()["id"]
    return item_id


def test_transcode_returns_job_document_and_finishes(fake_vidispine: FakeVidispine) -> None:
    item_id = placeholder_with_tag(fake_vidispine)
    response = call(fake_vidispine, "POST", f"/item/{item_id}/transcode", params={"tag": "lowres"})
    assert response.status_code == 200
    job = response.json()
    assert job["type"] == "TRANSCODE"
    assert job["user"] == "admin"
    assert {"key": "itemId", "value": item_id} in job["data"]
    assert fake_vidispine.wait_for_jobs(TIMEOUT)
    finished = call(fake_vidispine, "GET", f"/job/{job['jobId']}").json()
    assert finished["status"] == "FINISHED"
    assert "finished" in finished
    assert fake_vidispine.state.items[item_id].shapes == ["original", "lowres"]


def test_transcode_to_unknown_tag_gets_404(fake_vidispine: FakeVidispine) -> None:
    item_id = placeholder_with_tag(fake_vidispine)
    response = call(fake_vidispine, "POST", f"/item/{item_id}/transcode", params={"tag": "4k"})
    assert response.json() == {"notFound": {"type": "ShapeTag", "id": "4k"}}
    assert fake_vidispine.state.jobs == {}


def test_transcode_without_tag_gets_400(fake_vidispine: FakeVidispine) -> None:
    item_id = placeholder_with_tag(fake_vidispine)
    response = call(fake_vidispine, "POST", f"/item/{item_id}/transcode")
    assert response.status_code == 400
    assert response.json()["invalidInput"]["context"] == "tag"


def test_transcode_of_unknown_item_gets_404(fake_vidispine: FakeVidispine) -> None:
    placeholder_with_tag(fake_vidispine)
    response = call(fake_vidispine, "POST", "/item/VX-99/transcode", params={"tag": "lowres"})
    assert response.json() == {"notFound": {"type": "Item", "id": "VX-99"}}


def test_transcode_runs_as_the_run_as_user(fake_vidispine: FakeVidispine) -> None:
    create_user(fake_vidispine, "alice")
    item_id = placeholder_with_tag(fake_vidispine)
    response = call(
        fake_vidispine,
        "POST",
        f"/item/{item_id}/transcode?tag=lowres",
        headers={"RunAs": "alice"},
    )
    assert response.json()["user"] == "alice"


def test_jobs_are_listed_and_unknown_job_gets_404(fake_vidispine: FakeVidispine) -> None:
    job_id = fake_vidispine.simulate_job("TRANSCODE")
    listed = call(fake_vidispine, "GET", "/job").json()
    assert [j["jobId"] for j in listed["job"]] == [job_id]
    assert call(fake_vidispine, "GET", "/job/VX-99").json() == {
        "notFound": {"type": "Job", "id": "VX-99"}
    }


# -- notifications -----------------------------------------------------------------------


def test_notification_is_registered_listed_and_read(fake_vidispine: FakeVidispine) -> None:
    notification_id = register(fake_vidispine, "http://127.0.0.1:9/cb")
    assert notification_id == "VX-1"
    assert call(fake_vidispine, "GET", "/job/notification").json() == {"uri": ["VX-1"]}
    stored = call(fake_vidispine, "GET", "/job/notification/VX-1").json()
    assert stored["action"]["http"]["url"] == "http://127.0.0.1:9/cb"
    assert fake_vidispine.state.notifications["VX-1"].triggers == frozenset({"finished"})


def test_notification_of_another_entity_is_not_found_under_job(
    fake_vidispine: FakeVidispine,
) -> None:
    register(fake_vidispine, "http://127.0.0.1:9/cb", entity="item", create="")
    assert call(fake_vidispine, "GET", "/job/notification").json() == {"uri": []}
    assert call(fake_vidispine, "GET", "/job/notification/VX-1").status_code == 404
    assert call(fake_vidispine, "GET", "/item/notification/VX-1").ok


def test_group_notification_path_is_not_a_group(fake_vidispine: FakeVidispine) -> None:
    assert call(fake_vidispine, "GET", "/group/notification").json() == {"uri": []}
    assert "notification" not in fake_vidispine.state.groups


def test_deleted_notification_is_gone(fake_vidispine: FakeVidispine) -> None:
    notification_id = register(fake_vidispine, "http://localhost:9/cb")
    assert call(fake_vidispine, "DELETE", f"/job/notification/{notification_id}").ok
    assert fake_vidispine.state.notifications == {}
    response = call(fake_vidispine, "DELETE", f"/job/notification/{notification_id}")
    assert response.json() == {"notFound": {"type": "Notification", "id": notification_id}}


@pytest.mark.parametrize(
    "url", ["http://example.org/cb", "http://10.0.0.1/cb", "ftp://127.0.0.1/cb", "not a url"]
)
def test_callback_off_loopback_is_refused(fake_vidispine: FakeVidispine, url: str) -> None:
    body = {"action": {"http": {"url": url}}, "trigger": {"job": {"finished": ""}}}
    response = call(fake_vidispine, "POST", "/job/notification", json=body)
    assert response.status_code == 400
    assert "loopback" in response.json()["invalidInput"]["explanation"]
    assert fake_vidispine.state.notifications == {}


@pytest.mark.parametrize("url", ["http://localhost:1/cb", "http://[::1]:1/cb"])
def test_callback_on_loopback_names_is_accepted(fake_vidispine: FakeVidispine, url: str) -> None:
    assert register(fake_vidispine, url) == "VX-1"


def test_delivery_to_url_moved_off_loopback_is_refused(fake_vidispine: FakeVidispine) -> None:
    notification_id = register(fake_vidispine, "http://127.0.0.1:9/cb")
    with fake_vidispine.state.lock:
        fake_vidispine.state.notifications[notification_id].url = "http://example.org/cb"
    fake_vidispine.simulate_job("TRANSCODE")
    (delivery,) = fake_vidispine.state.deliveries
    assert (delivery.status_code, delivery.error) == (
        None,
        "refused: the callback URL is not on loopback",
    )


def test_notification_without_http_action_gets_400(fake_vidispine: FakeVidispine) -> None:
    body = {"action": {"jms": {"queue": "q"}}, "trigger": {"job": {"finished": ""}}}
    response = call(fake_vidispine, "POST", "/job/notification", json=body)
    assert response.status_code == 400
    assert response.json()["invalidInput"]["context"] == "action"


def test_job_notification_without_job_trigger_gets_400(fake_vidispine: FakeVidispine) -> None:
    body = {"action": {"http": {"url": "http://127.0.0.1:9/"}}, "trigger": {"job": {"x": ""}}}
    response = call(fake_vidispine, "POST", "/job/notification", json=body)
    assert response.status_code == 400
    assert response.json()["invalidInput"]["context"] == "trigger.job"


def test_finished_transcode_is_posted_to_callback(
    fake_vidispine: FakeVidispine, callback_receiver: CallbackReceiver
) -> None:
    register(fake_vidispine, callback_receiver.url, finished="")
    item_id = placeholder_with_tag(fake_vidispine)
    job_id = call(fake_vidispine, "POST", f"/item/{item_id}/transcode?tag=lowres").json()["jobId"]
    assert callback_receiver.wait_for(1)
    received = callback_receiver.received[0]
    assert received.method == "POST"
    assert received.path == "/callback"
    assert received.headers["Content-Type"] == "application/json"
    fields = received.fields()
    assert fields["jobId"] == job_id
    assert fields["type"] == "TRANSCODE"
    assert fields["status"] == "FINISHED"
    assert fields["itemId"] == item_id
    assert fake_vidispine.wait_for_jobs(TIMEOUT)
    assert [(d.event, d.ok) for d in fake_vidispine.state.deliveries] == [("finished", True)]


def test_create_trigger_fires_when_the_job_starts(
    fake_vidispine: FakeVidispine, callback_receiver: CallbackReceiver
) -> None:
    register(fake_vidispine, callback_receiver.url, create="")
    fake_vidispine.simulate_job("TRANSCODE")
    assert [r.fields()["status"] for r in callback_receiver.received] == ["STARTED"]


def test_xml_content_type_delivers_simple_metadata_document(
    fake_vidispine: FakeVidispine, callback_receiver: CallbackReceiver
) -> None:
    register(fake_vidispine, callback_receiver.url, content_type="application/xml")
    job_id = fake_vidispine.simulate_job("TRANSCODE")
    body = callback_receiver.received[0].body
    assert body.startswith(b"<?xml")
    assert b'<SimpleMetadataDocument xmlns="http://xml.vidispine.com/schema/vidispine">' in body
    assert f"<field><key>jobId</key><value>{job_id}</value></field>".encode() in body


def test_job_type_filter_skips_other_jobs(
    fake_vidispine: FakeVidispine, callback_receiver: CallbackReceiver
) -> None:
    register(fake_vidispine, callback_receiver.url, finished="", type="AUTO_IMPORT")
    fake_vidispine.simulate_job("TRANSCODE")
    assert callback_receiver.received == []
    fake_vidispine.simulate_job("AUTO_IMPORT")
    assert [r.fields()["type"] for r in callback_receiver.received] == ["AUTO_IMPORT"]


def test_failed_job_fires_fail_not_finished(
    fake_vidispine: FakeVidispine, callback_receiver: CallbackReceiver
) -> None:
    register(fake_vidispine, callback_receiver.url, finished="")
    register(fake_vidispine, callback_receiver.url + "?on=fail", fail="")
    job_id = fake_vidispine.simulate_job("TRANSCODE", status="FAILED_TOTAL")
    assert [r.path for r in callback_receiver.received] == ["/callback?on=fail"]
    assert fake_vidispine.state.jobs[job_id].status == "FAILED_TOTAL"


def test_deleted_notification_is_not_delivered(
    fake_vidispine: FakeVidispine, callback_receiver: CallbackReceiver
) -> None:
    notification_id = register(fake_vidispine, callback_receiver.url)
    call(fake_vidispine, "DELETE", f"/job/notification/{notification_id}")
    fake_vidispine.simulate_job("TRANSCODE")
    assert callback_receiver.received == []
    assert fake_vidispine.state.deliveries == []


def test_unreachable_callback_is_recorded_as_failed(fake_vidispine: FakeVidispine) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    register(fake_vidispine, f"http://127.0.0.1:{closed_port}/cb")
    fake_vidispine.simulate_job("TRANSCODE")
    (delivery,) = fake_vidispine.state.deliveries
    assert not delivery.ok
    assert delivery.status_code is None
    assert "ConnectionError" in (delivery.error or "")


def test_error_status_from_receiver_is_recorded(fake_vidispine: FakeVidispine) -> None:
    failing = CallbackReceiver(status=503)
    try:
        register(fake_vidispine, failing.url)
        fake_vidispine.simulate_job("TRANSCODE")
    finally:
        failing.close()
    (delivery,) = fake_vidispine.state.deliveries
    assert delivery.status_code == 503
    assert delivery.error == "the receiver answered 503"


def test_auto_import_is_delivered_before_simulate_returns(
    fake_vidispine: FakeVidispine, callback_receiver: CallbackReceiver
) -> None:
    register(fake_vidispine, callback_receiver.url, finished="")
    item_id = fake_vidispine.simulate_auto_import("clip.mov")
    (received,) = callback_receiver.received
    fields = received.fields()
    assert fields["type"] == "AUTO_IMPORT"
    assert fields["status"] == "FINISHED"
    assert fields["itemId"] == item_id
    assert fields["filename"] == "clip.mov"
    assert fields["fileId"] in fake_vidispine.state.files


def test_auto_import_creates_item_with_filename_and_metadata(
    fake_vidispine: FakeVidispine,
) -> None:
    item_id = fake_vidispine.simulate_auto_import(
        "clip.mov", {"title": "Clip", "keywords": ["a", "b"]}
    )
    assert fake_vidispine.state.items[item_id].metadata == {
        "originalFilename": ["clip.mov"],
        "title": ["Clip"],
        "keywords": ["a", "b"],
    }
    (job,) = fake_vidispine.state.jobs.values()
    assert (job.type, job.status, job.data["itemId"]) == ("AUTO_IMPORT", "FINISHED", item_id)


def test_simulate_job_rejects_unknown_status(fake_vidispine: FakeVidispine) -> None:
    with pytest.raises(ValueError, match="FAILED_TOTAL"):
        fake_vidispine.simulate_job("TRANSCODE", status="DONE")


def test_callback_may_call_back_into_the_fake(fake_vidispine: FakeVidispine) -> None:
    seen: list[str] = []

    def read_job(received: Received) -> None:
        job_id = received.fields()["jobId"]
        seen.append(call(fake_vidispine, "GET", f"/job/{job_id}").json()["status"])

    reader = CallbackReceiver(on_request=read_job)
    try:
        register(fake_vidispine, reader.url)
        fake_vidispine.simulate_job("TRANSCODE")
    finally:
        reader.close()
    assert seen == ["FINISHED"]
    assert fake_vidispine.state.deliveries[0].ok


# -- concurrency -------------------------------------------------------------------------


def test_concurrent_placeholders_get_unique_ids(fake_vidispine: FakeVidispine) -> None:
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with requests.Session() as session:
                session.auth = fake_vidispine.auth
                for _ in range(10):
                    response = session.post(
                        fake_vidispine.url + "/import/placeholder?container=1",
                        json=doc("t"),
                        timeout=TIMEOUT,
                    )
                    with lock:
                        ids.append(response.json()["id"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert errors == []
    assert len(ids) == 160
    assert len(set(ids)) == 160
    assert sorted(fake_vidispine.state.items) == sorted(ids)


def test_concurrent_memberships_are_all_kept(fake_vidispine: FakeVidispine) -> None:
    call(fake_vidispine, "PUT", "/group/everyone")
    names = [f"user{i}" for i in range(40)]

    def join(name: str) -> None:
        create_user(fake_vidispine, name)
        call(fake_vidispine, "PUT", f"/group/everyone/user/{name}")

    threads = [threading.Thread(target=join, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert sorted(fake_vidispine.state.users) == sorted(names)
    assert sorted(fake_vidispine.state.groups["everyone"].users) == sorted(names)
