"""End to end: instrument_http on real requests traffic to FakeVidispine on loopback."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

import eventweave
from eventweave import MASK
from eventweave.testing import capture
from eventweave.vidispine import signals
from eventweave.vidispine._helpers import HELPER_METHODS, instrument_helpers
from eventweave.vidispine._http import ROUTES, instrument_http
from eventweave.vidispine._notifications import (
    NotificationReceiver,
    register_notification,
    unregister_notification,
)
from eventweave.vidispine.client import (
    GroupHelper,
    ItemHelper,
    NotFound,
    UserHelper,
    VidispineAPI,
    metadata_document,
)
from eventweave.vidispine.fake import FakeVidispine

from .conftest import OPERATION_SIGNALS, names

pytestmark = pytest.mark.usefixtures("no_http_weavings_left")

CLIENT = "eventweave.vidispine.client"


@pytest.fixture
def api(fake: FakeVidispine) -> Iterator[VidispineAPI]:
    with VidispineAPI(fake.url, *fake.auth, timeout=5) as client:
        yield client


@dataclass
class World:
    """What exists in the fake before the call under test: ids the calls refer to."""

    api: VidispineAPI
    item: str

    @property
    def users(self) -> UserHelper:
        return UserHelper(self.api)

    @property
    def groups(self) -> GroupHelper:
        return GroupHelper(self.api)

    @property
    def items(self) -> ItemHelper:
        return ItemHelper(self.api)


@pytest.fixture
def world(api: VidispineAPI) -> World:
    users, groups, items = UserHelper(api), GroupHelper(api), ItemHelper(api)
    users.createUser("alice", "Alice", "pw-alice")
    groups.createGroup("editors")
    groups.createGroup("interns")
    item = items.createPlaceholder(metadata_document(title="Intro"))
    items.createOrModifyMetadataField("title", {"type": "string"})
    items.createOrModifyMetadataField("genre", {"type": "string"})
    items.createMetadataFieldGroup("Film")
    items.createOrModifyShapeTag("lowres", {"format": "mp4"})
    return World(api, item)


# (helper, method, call, family, instance); instance None: the new id from the answer.
HelperCall = tuple[str, str, Callable[[World], Any], str, Callable[[World], Any] | None]

HELPER_CALLS: list[HelperCall] = [
    ("UserHelper", "createUser", lambda w: w.users.createUser("bob", "Bob", "pw"), "create",
     lambda w: "bob"),
    ("UserHelper", "deleteUser", lambda w: w.users.deleteUser("alice"), "delete",
     lambda w: "alice"),
    ("UserHelper", "addUserToGroup", lambda w: w.users.addUserToGroup("alice", "editors"),
     "modify", lambda w: "alice"),
    ("UserHelper", "removeUserFromGroup",
     lambda w: w.users.removeUserFromGroup("alice", "editors"), "modify", lambda w: "alice"),
    ("GroupHelper", "createGroup", lambda w: w.groups.createGroup("sales", "Sales"), "create",
     lambda w: "sales"),
    ("GroupHelper", "setChildGroupToGroup",
     lambda w: w.groups.setChildGroupToGroup("editors", "interns"), "modify",
     lambda w: "editors"),
    ("GroupHelper", "removeChildGroupFromGroup",
     lambda w: w.groups.removeChildGroupFromGroup("editors", "interns"), "modify",
     lambda w: "editors"),
    ("GroupHelper", "removeGroup", lambda w: w.groups.removeGroup("interns"), "delete",
     lambda w: "interns"),
    ("ItemHelper", "createPlaceholder",
     lambda w: w.items.createPlaceholder(metadata_document(title="New")), "create", None),
    ("ItemHelper", "setItemMetadata",
     lambda w: w.items.setItemMetadata(w.item, metadata_document(title="Outro")), "modify",
     lambda w: w.item),
    ("ItemHelper", "createOrModifyMetadataField",
     lambda w: w.items.createOrModifyMetadataField("genre", {"type": "string-exact"}),
     "modify", lambda w: "genre"),
    ("ItemHelper", "removeMetadataField", lambda w: w.items.removeMetadataField("genre"),
     "delete", lambda w: "genre"),
    ("ItemHelper", "createMetadataFieldGroup",
     lambda w: w.items.createMetadataFieldGroup("Series"), "create", lambda w: "Series"),
    ("ItemHelper", "removeMetadataFieldGroup",
     lambda w: w.items.removeMetadataFieldGroup("Film"), "delete", lambda w: "Film"),
    ("ItemHelper", "addFieldToMetadataFieldGroup",
     lambda w: w.items.addFieldToMetadataFieldGroup("Film", "title"), "modify",
     lambda w: "Film"),
    ("ItemHelper", "createOrModifyShapeTag",
     lambda w: w.items.createOrModifyShapeTag("hires", {"format": "mxf"}), "modify",
     lambda w: "hires"),
    ("ItemHelper", "removeShapeTag", lambda w: w.items.removeShapeTag("lowres"), "delete",
     lambda w: "lowres"),
    ("ItemHelper", "removeItem", lambda w: w.items.removeItem(w.item), "delete",
     lambda w: w.item),
    ("ItemHelper", "retranscode", lambda w: w.items.retranscode(w.item, "lowres"), "modify",
     lambda w: w.item),
    ("UserHelper", "getUser", lambda w: w.users.getUser("alice"), "get", lambda w: "alice"),
    ("GroupHelper", "getGroup", lambda w: w.groups.getGroup("editors"), "get",
     lambda w: "editors"),
    ("ItemHelper", "getItem", lambda w: w.items.getItem(w.item), "get", lambda w: w.item),
    ("ItemHelper", "getItemMetadata", lambda w: w.items.getItemMetadata(w.item), "get",
     lambda w: w.item),
]  # fmt: skip
HELPER_IDS = [f"{helper}.{method}" for helper, method, *_ in HELPER_CALLS]


def test_every_helper_method_is_in_the_route_table_with_its_family() -> None:
    operations = {route.operation: route.family for route in ROUTES}

    for helper, methods in HELPER_METHODS.items():
        for method, family in methods.items():
            assert operations.get(method) == family, f"{helper}.{method}"


def test_every_helper_method_has_an_end_to_end_case() -> None:
    covered = {(helper, method) for helper, method, *_ in HELPER_CALLS}

    assert covered == {(h, m) for h, methods in HELPER_METHODS.items() for m in methods}


@pytest.mark.parametrize(
    ("helper", "method", "call", "family", "instance"), HELPER_CALLS, ids=HELPER_IDS
)
def test_helper_request_emits_its_operation_over_http(
    world: World,
    fake: FakeVidispine,
    helper: str,
    method: str,
    call: Callable[[World], Any],
    family: str,
    instance: Callable[[World], Any] | None,
) -> None:
    instrument_http(fake.url)

    with capture(*OPERATION_SIGNALS) as events:
        result = call(world)

    assert names(events) == [f"vidispine_pre_{family}", f"vidispine_post_{family}"]
    pre, post = events
    assert {pre.kwargs["method"], post.kwargs["method"]} == {method}
    assert {pre.sender, post.sender} == {requests.Session}
    expected = instance(world) if instance is not None else result
    assert post.kwargs["instance"] == expected
    assert pre.kwargs["instance"] == (expected if instance is not None else None)
    assert post.kwargs["status_code"] < 400
    assert fake.wait_for_jobs()


@pytest.mark.parametrize(
    ("helper", "method", "call", "family", "instance"), HELPER_CALLS, ids=HELPER_IDS
)
def test_helpers_and_http_instrumented_together_emit_once_per_helper_call(
    world: World,
    fake: FakeVidispine,
    helper: str,
    method: str,
    call: Callable[[World], Any],
    family: str,
    instance: Callable[[World], Any] | None,
) -> None:
    instrument_helpers(CLIENT)
    instrument_http(fake.url)
    requests_before = len(fake.requests)

    with capture(*OPERATION_SIGNALS) as events:
        call(world)

    assert len(fake.requests) > requests_before
    assert names(events) == [f"vidispine_pre_{family}", f"vidispine_post_{family}"]
    assert {e.sender.__name__ for e in events} == {helper}
    assert {e.kwargs["method"] for e in events} == {method}
    assert fake.wait_for_jobs()


def test_helper_call_stays_quiet_over_http_when_only_http_signals_are_listened_to(
    world: World, fake: FakeVidispine
) -> None:
    # The helpers emit on a portal's own signals, nobody listens to them: the helper
    # call must still be known to be running, or its request would emit over HTTP.
    portal_signals = types.SimpleNamespace(
        **{name: eventweave.Signal() for name in signals.__all__}
    )
    instrument_helpers(CLIENT, signals=portal_signals)
    instrument_http(fake.url)

    with capture(*OPERATION_SIGNALS) as events:
        world.items.setItemMetadata(world.item, metadata_document(title="Outro"))
        requests.get(f"{fake.url}/item/{world.item}", auth=fake.auth, timeout=5)

    assert [e.kwargs["method"] for e in events] == ["getItem", "getItem"]


def test_failed_helper_call_emits_failed_once_with_both_instrumented(
    api: VidispineAPI, fake: FakeVidispine
) -> None:
    instrument_helpers(CLIENT)
    instrument_http(fake.url)

    with capture(*OPERATION_SIGNALS) as events, pytest.raises(NotFound):
        ItemHelper(api).removeItem("VX-404")

    assert names(events) == ["vidispine_pre_delete", "vidispine_failed"]
    assert events[1].sender is ItemHelper
    assert isinstance(events[1].kwargs["exception"], NotFound)


def test_direct_requests_next_to_instrumented_helpers_still_emit(
    world: World, fake: FakeVidispine
) -> None:
    instrument_helpers(CLIENT)
    instrument_http(fake.url)

    with capture(*OPERATION_SIGNALS) as events:
        response = requests.put(f"{fake.url}/group/editors/user/alice", auth=fake.auth, timeout=5)

    assert response.status_code == 200
    assert names(events) == ["vidispine_pre_modify", "vidispine_post_modify"]
    assert events[0].sender is requests.Session
    assert events[0].kwargs["method"] == "addUserToGroup"
    assert events[0].kwargs["instance"] == "alice"
    assert "alice" in fake.state.groups["editors"].users


def test_module_function_get_emits_get_with_vidispine_answer(
    world: World, fake: FakeVidispine
) -> None:
    instrument_http(fake.url)

    with capture(*OPERATION_SIGNALS) as events:
        requests.get(f"{fake.url}/user/alice", auth=fake.auth, timeout=5)

    assert names(events) == ["vidispine_pre_get", "vidispine_post_get"]
    assert events[1].kwargs["method"] == "getUser"
    assert events[1].kwargs["result"].json()["userName"] == "alice"


def test_not_found_from_vidispine_emits_failed_and_returns_the_answer(
    fake: FakeVidispine,
) -> None:
    instrument_http(fake.url)

    with capture(*OPERATION_SIGNALS) as events:
        response = requests.get(f"{fake.url}/item/VX-404", auth=fake.auth, timeout=5)

    assert response.status_code == 404
    assert response.json() == {"notFound": {"type": "Item", "id": "VX-404"}}
    assert names(events) == ["vidispine_pre_get", "vidispine_failed"]
    assert isinstance(events[1].kwargs["exception"], requests.HTTPError)


def test_one_session_instrumented_leaves_the_helpers_session_alone(
    world: World, fake: FakeVidispine
) -> None:
    with requests.Session() as mine:
        mine.auth = fake.auth
        instrument_http(fake.url, session=mine)

        with capture(*OPERATION_SIGNALS) as events:
            world.users.getUser("alice")
            mine.get(f"{fake.url}/group/editors", timeout=5)

    assert [e.kwargs["method"] for e in events] == ["getGroup", "getGroup"]


# -- notifications: registration over HTTP, delivery, the receiver ----------------------


def test_register_simulate_receive_end_to_end_with_http_instrumented(
    fake: FakeVidispine, serve: Callable[[NotificationReceiver], str]
) -> None:
    instrument_http(fake.url)
    callback = serve(NotificationReceiver(token="s3cret")) + "?token=s3cret"

    with capture(*OPERATION_SIGNALS, signals.vidispine_auto_import_ntfcn) as events:
        notification_id = register_notification(fake.url, callback, auth=fake.auth)
        item_id = fake.simulate_auto_import("clip.mov")
        unregister_notification(fake.url, notification_id, auth=fake.auth)

    assert names(events) == [
        "vidispine_pre_create",
        "vidispine_post_create",
        "vidispine_auto_import_ntfcn",
        "vidispine_pre_delete",
        "vidispine_post_delete",
    ]
    create, created, auto_import, delete, _ = events
    assert create.kwargs["method"] == "createNotification"
    assert create.kwargs["instance"] is None
    assert created.kwargs["instance"] == notification_id
    assert "s3cret" not in repr(create.kwargs)
    assert create.kwargs["json"]["action"]["http"]["url"].endswith(f"?token={MASK}")
    assert auto_import.kwargs["instance"] == item_id
    assert delete.kwargs["method"] == "removeNotification"
    assert delete.kwargs["instance"] == notification_id
    assert [d.status_code for d in fake.state.deliveries] == [200]


def test_receiver_of_a_vidispine_signal_may_call_vidispine(
    world: World, fake: FakeVidispine
) -> None:
    seen: list[str] = []

    def audit(sender: Any, method: str, instance: Any, **kwargs: Any) -> None:
        seen.append(method)
        world.users.getUser("alice")

    instrument_http(fake.url)
    signals.vidispine_post_modify.connect(audit)
    try:
        world.items.setItemMetadata(world.item, metadata_document(title="Outro"))
    finally:
        signals.vidispine_post_modify.disconnect(audit)

    assert seen == ["setItemMetadata"]
    assert fake.requests[-1] == ("GET", "/API/user/alice")
