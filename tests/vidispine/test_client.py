"""Tests for `eventweave.vidispine.client`: helpers -> requests -> FakeVidispine."""

from __future__ import annotations

import inspect
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
import requests

from eventweave.vidispine.client import (
    Conflict,
    GroupHelper,
    ItemHelper,
    NotFound,
    Unauthorized,
    UserHelper,
    VidispineAPI,
    VidispineError,
    metadata_document,
    metadata_values,
)
from eventweave.vidispine.fake import FakeVidispine

from .conftest import CallbackReceiver


@pytest.fixture
def users(api: VidispineAPI) -> UserHelper:
    return UserHelper(api)


@pytest.fixture
def groups(api: VidispineAPI) -> GroupHelper:
    return GroupHelper(api)


@pytest.fixture
def items(api: VidispineAPI) -> ItemHelper:
    return ItemHelper(api)


# -- VidispineAPI ------------------------------------------------------------------------


def test_get_returns_parsed_json(fake_vidispine: FakeVidispine, api: VidispineAPI) -> None:
    fake_vidispine.simulate_job("TRANSCODE")
    assert api.get("/job")["hits"] == 1


def test_empty_answer_is_none(api: VidispineAPI) -> None:
    assert api.put("/group/editors", {"description": "x"}) is None


def test_params_are_sent_as_query(fake_vidispine: FakeVidispine, api: VidispineAPI) -> None:
    api.post("/import/placeholder", {}, params={"container": 1})
    assert list(fake_vidispine.state.items) == ["VX-1"]


def test_not_found_raises_not_found_with_coordinates(api: VidispineAPI) -> None:
    with pytest.raises(NotFound) as caught:
        api.get("/item/VX-9/metadata")
    error = caught.value
    assert error.status_code == 404
    assert error.method == "GET"
    assert error.url == f"{api.url}/item/VX-9/metadata"
    assert error.body == {"notFound": {"type": "Item", "id": "VX-9"}}
    assert str(error) == f"GET {api.url}/item/VX-9/metadata failed with 404: notFound: Item 'VX-9'"


def test_conflict_raises_conflict_naming_the_fix(users: UserHelper) -> None:
    users.createUser("alice", "Alice", "pw")
    with pytest.raises(Conflict, match="already exists; remove it first"):
        users.createUser("alice", "Alice again", "pw")


def test_wrong_password_raises_unauthorized(fake_vidispine: FakeVidispine) -> None:
    api = VidispineAPI(fake_vidispine.url, "admin", "wrong")
    with api, pytest.raises(Unauthorized, match="check the user name and password") as caught:
        api.get("/user")
    assert caught.value.status_code == 401


def test_other_error_status_raises_base_error(api: VidispineAPI) -> None:
    with pytest.raises(VidispineError) as caught:
        api.put("/metadata-field/genre", {"name": "genre"})
    assert type(caught.value) is VidispineError
    assert caught.value.status_code == 400
    assert "invalidInput: a MetadataFieldDocument needs a 'type'" in str(caught.value)


def test_typed_errors_are_vidispine_errors() -> None:
    assert issubclass(NotFound, VidispineError)
    assert issubclass(Conflict, VidispineError)
    assert issubclass(Unauthorized, VidispineError)


def test_run_as_header_makes_calls_on_behalf_of_the_user(
    fake_vidispine: FakeVidispine, users: UserHelper, items: ItemHelper
) -> None:
    users.createUser("alice", "Alice", "pw")
    items.createOrModifyShapeTag("lowres", {"format": "mp4"})
    item_id = items.createPlaceholder()
    with VidispineAPI(fake_vidispine.url, *fake_vidispine.auth, run_as="alice") as as_alice:
        job_id = ItemHelper(as_alice).retranscode(item_id, "lowres")
    assert fake_vidispine.state.jobs[job_id].user == "alice"


def test_run_as_unknown_user_raises_unauthorized(fake_vidispine: FakeVidispine) -> None:
    api = VidispineAPI(fake_vidispine.url, *fake_vidispine.auth, run_as="ghost")
    with api, pytest.raises(Unauthorized, match="ghost"):
        api.get("/user")


def test_timeout_applies_to_every_request() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        api = VidispineAPI(f"http://127.0.0.1:{port}/API", "a", "b", timeout=0.2)
        with api, pytest.raises(requests.Timeout):
            api.get("/user")


def test_trailing_slash_of_url_is_ignored(fake_vidispine: FakeVidispine) -> None:
    with VidispineAPI(fake_vidispine.url + "/", *fake_vidispine.auth) as api:
        assert api.get("user") == {"hits": 0, "user": []}
    assert fake_vidispine.requests == [("GET", "/API/user")]


# -- metadata documents ------------------------------------------------------------------


def test_metadata_document_has_vidispine_shape() -> None:
    assert metadata_document(title="Intro", year=2024, tags=["a", "b"]) == {
        "timespan": [
            {
                "field": [
                    {"name": "title", "value": [{"value": "Intro"}]},
                    {"name": "year", "value": [{"value": "2024"}]},
                    {"name": "tags", "value": [{"value": "a"}, {"value": "b"}]},
                ],
                "start": "-INF",
                "end": "+INF",
            }
        ]
    }


def test_metadata_values_reverses_metadata_document() -> None:
    document = metadata_document(title="Intro", tags=["a", "b"])
    assert metadata_values(document) == {"title": ["Intro"], "tags": ["a", "b"]}


def test_metadata_values_reads_fields_in_groups() -> None:
    document = {"timespan": [{"group": [{"field": [{"name": "d", "value": [{"value": "X"}]}]}]}]}
    assert metadata_values(document) == {"d": ["X"]}


# -- helper signatures -------------------------------------------------------------------

SIGNATURES = {
    UserHelper.createUser: ["newUserName", "newRealName", "newPassword", "groups", "email"],
    UserHelper.deleteUser: ["username"],
    UserHelper.addUserToGroup: ["username", "group_name"],
    UserHelper.removeUserFromGroup: ["username", "group_name"],
    UserHelper.getUser: ["username"],
    GroupHelper.createGroup: ["group_name", "description"],
    GroupHelper.setChildGroupToGroup: ["group_name", "child_group_name"],
    GroupHelper.removeChildGroupFromGroup: ["group_name", "child_group_name"],
    GroupHelper.removeGroup: ["group_name"],
    GroupHelper.getGroup: ["group_name"],
    ItemHelper.createPlaceholder: ["metadata_document", "container"],
    ItemHelper.setItemMetadata: ["item_id", "metadata_document"],
    ItemHelper.getItemMetadata: ["item_id"],
    ItemHelper.getItem: ["item_id", "content"],
    ItemHelper.removeMetadataField: ["field_name"],
    ItemHelper.createMetadataFieldGroup: ["group_name", "document"],
    ItemHelper.removeMetadataFieldGroup: ["group_name"],
    ItemHelper.createOrModifyMetadataField: ["field_name", "field_document"],
    ItemHelper.addFieldToMetadataFieldGroup: ["group_name", "field_name"],
    ItemHelper.removeItem: ["item_id"],
    ItemHelper.removeShapeTag: ["tag_name"],
    ItemHelper.createOrModifyShapeTag: ["tag_name", "tag_document"],
    ItemHelper.retranscode: ["item_id", "tag_name"],
}


@pytest.mark.parametrize("method", SIGNATURES, ids=lambda m: m.__qualname__)
def test_helper_parameters_keep_cantemo_names(method: object) -> None:
    parameters = list(inspect.signature(method).parameters)  # type: ignore[arg-type]
    assert parameters == ["self", *SIGNATURES[method]]  # type: ignore[index]


# -- UserHelper --------------------------------------------------------------------------


def test_create_user_stores_name_password_groups_and_email(
    fake_vidispine: FakeVidispine, users: UserHelper, groups: GroupHelper
) -> None:
    groups.createGroup("editors")
    users.createUser("alice", "Alice A", "pw", groups=["editors"], email="a@x.org")
    user = fake_vidispine.state.users["alice"]
    assert user.real_name == "Alice A"
    assert user.check_password("pw")
    assert user.metadata == {"email": "a@x.org"}
    assert fake_vidispine.state.groups["editors"].users == ["alice"]


def test_get_user_returns_user_document(users: UserHelper) -> None:
    users.createUser("alice", "Alice A", "pw")
    got = users.getUser("alice")
    assert (got["userName"], got["realName"]) == ("alice", "Alice A")


def test_delete_user_removes_it(fake_vidispine: FakeVidispine, users: UserHelper) -> None:
    users.createUser("alice", "Alice", "pw")
    users.deleteUser("alice")
    assert fake_vidispine.state.users == {}
    with pytest.raises(NotFound):
        users.getUser("alice")


def test_delete_unknown_user_raises_not_found(users: UserHelper) -> None:
    with pytest.raises(NotFound, match="User 'ghost'"):
        users.deleteUser("ghost")


def test_user_is_added_to_and_removed_from_group(
    fake_vidispine: FakeVidispine, users: UserHelper, groups: GroupHelper
) -> None:
    users.createUser("alice", "Alice", "pw")
    groups.createGroup("editors")
    users.addUserToGroup("alice", "editors")
    assert users.getUser("alice")["groupList"] == {"group": [{"groupName": "editors"}]}
    users.removeUserFromGroup("alice", "editors")
    assert fake_vidispine.state.groups["editors"].users == []


def test_adding_user_to_unknown_group_raises_not_found(users: UserHelper) -> None:
    users.createUser("alice", "Alice", "pw")
    with pytest.raises(NotFound, match="Group 'ghosts'"):
        users.addUserToGroup("alice", "ghosts")


# -- GroupHelper -------------------------------------------------------------------------


def test_create_group_stores_description(
    fake_vidispine: FakeVidispine, groups: GroupHelper
) -> None:
    groups.createGroup("editors", description="People who edit")
    assert fake_vidispine.state.groups["editors"].description == "People who edit"
    assert groups.getGroup("editors")["description"] == "People who edit"


def test_child_group_is_set_and_removed(fake_vidispine: FakeVidispine, groups: GroupHelper) -> None:
    groups.createGroup("staff")
    groups.createGroup("editors")
    groups.setChildGroupToGroup("staff", "editors")
    assert groups.getGroup("staff")["childGroupList"] == {"group": [{"groupName": "editors"}]}
    groups.removeChildGroupFromGroup("staff", "editors")
    assert fake_vidispine.state.groups["staff"].children == []


def test_remove_group_deletes_it(fake_vidispine: FakeVidispine, groups: GroupHelper) -> None:
    groups.createGroup("editors")
    groups.removeGroup("editors")
    assert fake_vidispine.state.groups == {}
    with pytest.raises(NotFound):
        groups.removeGroup("editors")


def test_group_names_are_quoted_in_paths(
    fake_vidispine: FakeVidispine, groups: GroupHelper
) -> None:
    groups.createGroup("sales/emea team")
    assert "sales/emea team" in fake_vidispine.state.groups
    assert groups.getGroup("sales/emea team")["groupName"] == "sales/emea team"


# -- ItemHelper --------------------------------------------------------------------------


def test_create_placeholder_returns_new_item_id_with_metadata(
    fake_vidispine: FakeVidispine, items: ItemHelper
) -> None:
    item_id = items.createPlaceholder(metadata_document(title="Intro"))
    assert item_id == "VX-1"
    assert fake_vidispine.state.items[item_id].metadata == {"title": ["Intro"]}
    assert items.createPlaceholder() == "VX-2"


def test_create_placeholder_sends_container_count(api: VidispineAPI, items: ItemHelper) -> None:
    sent: list[str] = []
    api.session.hooks["response"].append(lambda response, **_: sent.append(response.url))
    items.createPlaceholder(container=3)
    assert sent == [f"{api.url}/import/placeholder?container=3"]


@pytest.mark.parametrize(
    ("call", "path", "what"),
    [
        (lambda items: items.createPlaceholder(), "/import/placeholder", "an item id"),
        (lambda items: items.retranscode("VX-1", "lowres"), "/item/VX-1/transcode", "a job id"),
    ],
    ids=["createPlaceholder", "retranscode"],
)
def test_answer_without_the_new_id_raises_naming_the_call(
    callback_receiver: CallbackReceiver,
    call: Callable[[ItemHelper], object],
    path: str,
    what: str,
) -> None:
    # The receiver answers every POST with an empty 200.
    api = VidispineAPI(callback_receiver.url, "a", "b", timeout=5)
    with api, pytest.raises(VidispineError) as caught:
        call(ItemHelper(api))
    url = f"{callback_receiver.url}{path}"
    assert str(caught.value) == f"POST {url} answered without {what}: None"
    error = caught.value
    assert (error.status_code, error.method, error.url, error.body) == (200, "POST", url, None)


def test_set_item_metadata_keeps_other_fields(
    fake_vidispine: FakeVidispine, items: ItemHelper
) -> None:
    item_id = items.createPlaceholder(metadata_document(title="Old", genre="news"))
    items.setItemMetadata(item_id, metadata_document(title="New"))
    assert fake_vidispine.state.items[item_id].metadata == {"title": ["New"], "genre": ["news"]}


def test_get_item_metadata_returns_metadata_document(items: ItemHelper) -> None:
    item_id = items.createPlaceholder(metadata_document(title="Intro", tags=["a", "b"]))
    document = items.getItemMetadata(item_id)
    assert metadata_values(document) == {"title": ["Intro"], "tags": ["a", "b"]}


def test_get_item_returns_item_document_with_its_metadata(items: ItemHelper) -> None:
    item_id = items.createPlaceholder(metadata_document(title="Intro"))
    document = items.getItem(item_id)
    assert document["id"] == item_id
    assert metadata_values(document["metadata"]) == {"title": ["Intro"]}


def test_get_item_sends_cantemos_content_dict_as_vidispine_query(
    fake_vidispine: FakeVidispine, items: ItemHelper
) -> None:
    # Cantemo's plugins pass getItem a dict of lists, e.g. {"content": ["metadata"]}.
    item_id = items.createPlaceholder(metadata_document(title="Intro"))
    only_shapes = items.getItem(item_id, {"content": ["shape"]})
    both = items.getItem(item_id, content={"content": ["metadata", "shape"]})
    assert only_shapes == {"id": item_id, "shape": [{"tag": ["original"]}]}
    assert metadata_values(both["metadata"]) == {"title": ["Intro"]}
    assert both["shape"] == only_shapes["shape"]


def test_get_unknown_item_raises_not_found(items: ItemHelper) -> None:
    with pytest.raises(NotFound, match="Item 'VX-404'"):
        items.getItem("VX-404")


def test_remove_item_deletes_it(fake_vidispine: FakeVidispine, items: ItemHelper) -> None:
    item_id = items.createPlaceholder()
    items.removeItem(item_id)
    assert fake_vidispine.state.items == {}
    with pytest.raises(NotFound, match="Item 'VX-1'"):
        items.getItemMetadata(item_id)


def test_metadata_field_is_created_modified_and_removed(
    fake_vidispine: FakeVidispine, items: ItemHelper
) -> None:
    items.createOrModifyMetadataField("genre", {"type": "string"})
    items.createOrModifyMetadataField("genre", {"type": "string-exact"})
    assert fake_vidispine.state.metadata_fields["genre"]["type"] == "string-exact"
    items.removeMetadataField("genre")
    assert fake_vidispine.state.metadata_fields == {}


def test_metadata_field_group_gets_fields_and_is_removed(
    fake_vidispine: FakeVidispine, items: ItemHelper
) -> None:
    items.createOrModifyMetadataField("director", {"type": "string"})
    items.createMetadataFieldGroup("Film")
    items.addFieldToMetadataFieldGroup("Film", "director")
    assert fake_vidispine.state.field_groups["Film"].fields == ["director"]
    items.removeMetadataFieldGroup("Film")
    assert fake_vidispine.state.field_groups == {}


def test_metadata_field_group_document_is_sent(
    fake_vidispine: FakeVidispine, items: ItemHelper
) -> None:
    items.createOrModifyMetadataField("director", {"type": "string"})
    items.createMetadataFieldGroup("Film", {"field": [{"name": "director"}], "schema": {}})
    group = fake_vidispine.state.field_groups["Film"]
    assert (group.fields, group.document) == (["director"], {"schema": {}})


def test_adding_unknown_field_to_group_raises_not_found(items: ItemHelper) -> None:
    items.createMetadataFieldGroup("Film")
    with pytest.raises(NotFound, match="MetadataField 'ghost'"):
        items.addFieldToMetadataFieldGroup("Film", "ghost")


def test_shape_tag_is_created_and_removed(fake_vidispine: FakeVidispine, items: ItemHelper) -> None:
    items.createOrModifyShapeTag("lowres", {"format": "mp4"})
    assert fake_vidispine.state.shape_tags["lowres"] == {"name": "lowres", "format": "mp4"}
    items.removeShapeTag("lowres")
    assert fake_vidispine.state.shape_tags == {}


def test_retranscode_returns_job_id_of_a_transcode(
    fake_vidispine: FakeVidispine, items: ItemHelper
) -> None:
    items.createOrModifyShapeTag("lowres", {"format": "mp4"})
    item_id = items.createPlaceholder()
    job_id = items.retranscode(item_id, "lowres")
    assert fake_vidispine.wait_for_jobs(5)
    job = fake_vidispine.state.jobs[job_id]
    assert (job.type, job.status, job.data) == (
        "TRANSCODE",
        "FINISHED",
        {"itemId": item_id, "tag": "lowres"},
    )
    assert "lowres" in fake_vidispine.state.items[item_id].shapes


def test_retranscode_to_unknown_tag_raises_not_found(items: ItemHelper) -> None:
    item_id = items.createPlaceholder()
    with pytest.raises(NotFound, match="ShapeTag '4k'"):
        items.retranscode(item_id, "4k")


def test_helpers_work_from_many_threads(fake_vidispine: FakeVidispine) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with VidispineAPI(fake_vidispine.url, *fake_vidispine.auth, timeout=5) as api:
                UserHelper(api).createUser(f"user{n}", f"User {n}", "pw")
                ItemHelper(api).createPlaceholder(metadata_document(owner=f"user{n}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(fake_vidispine.state.users) == 20
    owners = sorted(i.metadata["owner"][0] for i in fake_vidispine.state.items.values())
    assert owners == sorted(f"user{n}" for n in range(20))


@pytest.fixture(autouse=True)
def _no_server_errors(fake_vidispine: FakeVidispine) -> Iterator[None]:
    yield
    assert fake_vidispine.state.server_errors == []
