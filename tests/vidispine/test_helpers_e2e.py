"""End to end: instrumented helpers -> requests -> FakeVidispine on loopback.

Each helper call is checked twice: the signals it sent (exactly one pre and one
post, with Cantemo's arguments) and what the server holds afterwards.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from eventweave import MASK, unweave_all, woven
from eventweave.testing import CapturedEvent, capture
from eventweave.vidispine import HELPER_METHODS, instrument_helpers, signals
from eventweave.vidispine.client import (
    Conflict,
    GroupHelper,
    ItemHelper,
    NotFound,
    Unauthorized,
    UserHelper,
    VidispineAPI,
    metadata_document,
    metadata_values,
)
from eventweave.vidispine.fake import FakeState, FakeVidispine

from .conftest import names

ALL_SIGNALS = tuple(getattr(signals, name) for name in signals.__all__)
FAMILY = {method: family for row in HELPER_METHODS.values() for method, family in row.items()}


@pytest.fixture(autouse=True)
def clean_weavings() -> Iterator[None]:
    unweave_all()
    yield
    unweave_all()
    assert not woven()


@pytest.fixture
def helpers(api: VidispineAPI) -> SimpleNamespace:
    """The reference helpers, instrumented, talking to the fake server."""
    instrument_helpers("eventweave.vidispine.client")
    return SimpleNamespace(user=UserHelper(api), group=GroupHelper(api), item=ItemHelper(api))


@pytest.fixture
def events() -> Iterator[list[CapturedEvent]]:
    with capture(*ALL_SIGNALS) as recorded:
        yield recorded


# -- one scenario per helper method -------------------------------------------


@dataclass
class Scenario:
    """Arrange (not recorded), act, and the identifier and server state to expect."""

    helper: type
    call: Callable[[SimpleNamespace, dict[str, Any]], Any]
    instance: Callable[[dict[str, Any]], Any]
    check: Callable[[FakeState, dict[str, Any], Any], bool]
    setup: Callable[[SimpleNamespace, dict[str, Any]], None] = lambda h, ctx: None


def _user(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    h.user.createUser("alice", "Alice Liddell", "s3cret")


def _group(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    h.group.createGroup("editors")


def _user_and_group(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    _user(h, ctx)
    _group(h, ctx)


def _member(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    _user_and_group(h, ctx)
    h.user.addUserToGroup("alice", "editors")


def _two_groups(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    _group(h, ctx)
    h.group.createGroup("juniors")


def _child(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    _two_groups(h, ctx)
    h.group.setChildGroupToGroup("editors", "juniors")


def _item(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    ctx["item"] = h.item.createPlaceholder(metadata_document(title="Intro"))


def _field(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    h.item.createOrModifyMetadataField("director", {"type": "string"})


def _field_group(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    h.item.createMetadataFieldGroup("Film")


def _field_and_group(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    _field(h, ctx)
    _field_group(h, ctx)


def _tag(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    h.item.createOrModifyShapeTag("lowres", {"format": "mp4"})


def _item_and_tag(h: SimpleNamespace, ctx: dict[str, Any]) -> None:
    _item(h, ctx)
    _tag(h, ctx)


SCENARIOS: dict[str, Scenario] = {
    "createUser": Scenario(
        UserHelper,
        lambda h, ctx: h.user.createUser("alice", "Alice Liddell", "s3cret"),
        lambda ctx: "alice",
        lambda state, ctx, result: state.users["alice"].check_password("s3cret"),
    ),
    "deleteUser": Scenario(
        UserHelper,
        lambda h, ctx: h.user.deleteUser("alice"),
        lambda ctx: "alice",
        lambda state, ctx, result: "alice" not in state.users,
        _user,
    ),
    "addUserToGroup": Scenario(
        UserHelper,
        lambda h, ctx: h.user.addUserToGroup("alice", "editors"),
        lambda ctx: "alice",
        lambda state, ctx, result: state.groups["editors"].users == ["alice"],
        _user_and_group,
    ),
    "removeUserFromGroup": Scenario(
        UserHelper,
        lambda h, ctx: h.user.removeUserFromGroup("alice", "editors"),
        lambda ctx: "alice",
        lambda state, ctx, result: state.groups["editors"].users == [],
        _member,
    ),
    "createGroup": Scenario(
        GroupHelper,
        lambda h, ctx: h.group.createGroup("editors", "Edit desk"),
        lambda ctx: "editors",
        lambda state, ctx, result: state.groups["editors"].description == "Edit desk",
    ),
    "setChildGroupToGroup": Scenario(
        GroupHelper,
        lambda h, ctx: h.group.setChildGroupToGroup("editors", "juniors"),
        lambda ctx: "editors",
        lambda state, ctx, result: state.groups["editors"].children == ["juniors"],
        _two_groups,
    ),
    "removeChildGroupFromGroup": Scenario(
        GroupHelper,
        lambda h, ctx: h.group.removeChildGroupFromGroup("editors", "juniors"),
        lambda ctx: "editors",
        lambda state, ctx, result: state.groups["editors"].children == [],
        _child,
    ),
    "removeGroup": Scenario(
        GroupHelper,
        lambda h, ctx: h.group.removeGroup("editors"),
        lambda ctx: "editors",
        lambda state, ctx, result: "editors" not in state.groups,
        _group,
    ),
    "createPlaceholder": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.createPlaceholder(metadata_document(title="Intro")),
        lambda ctx: None,  # not known before the call; the post signal has the new id
        lambda state, ctx, result: state.items[result].metadata["title"] == ["Intro"],
    ),
    "createMetadataFieldGroup": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.createMetadataFieldGroup("Film"),
        lambda ctx: "Film",
        lambda state, ctx, result: "Film" in state.field_groups,
    ),
    "setItemMetadata": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.setItemMetadata(ctx["item"], metadata_document(title="Outro")),
        lambda ctx: ctx["item"],
        lambda state, ctx, result: state.items[ctx["item"]].metadata["title"] == ["Outro"],
        _item,
    ),
    "createOrModifyMetadataField": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.createOrModifyMetadataField("director", {"type": "string"}),
        lambda ctx: "director",
        lambda state, ctx, result: state.metadata_fields["director"]["type"] == "string",
    ),
    "addFieldToMetadataFieldGroup": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.addFieldToMetadataFieldGroup("Film", "director"),
        lambda ctx: "Film",
        lambda state, ctx, result: state.field_groups["Film"].fields == ["director"],
        _field_and_group,
    ),
    "createOrModifyShapeTag": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.createOrModifyShapeTag("lowres", {"format": "mp4"}),
        lambda ctx: "lowres",
        lambda state, ctx, result: state.shape_tags["lowres"]["format"] == "mp4",
    ),
    "retranscode": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.retranscode(ctx["item"], "lowres"),
        lambda ctx: ctx["item"],
        lambda state, ctx, result: (
            state.jobs[result].data == {"itemId": ctx["item"], "tag": "lowres"}
        ),
        _item_and_tag,
    ),
    "removeMetadataField": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.removeMetadataField("director"),
        lambda ctx: "director",
        lambda state, ctx, result: "director" not in state.metadata_fields,
        _field,
    ),
    "removeMetadataFieldGroup": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.removeMetadataFieldGroup("Film"),
        lambda ctx: "Film",
        lambda state, ctx, result: "Film" not in state.field_groups,
        _field_group,
    ),
    "removeItem": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.removeItem(ctx["item"]),
        lambda ctx: ctx["item"],
        lambda state, ctx, result: ctx["item"] not in state.items,
        _item,
    ),
    "removeShapeTag": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.removeShapeTag("lowres"),
        lambda ctx: "lowres",
        lambda state, ctx, result: "lowres" not in state.shape_tags,
        _tag,
    ),
    "getUser": Scenario(
        UserHelper,
        lambda h, ctx: h.user.getUser("alice"),
        lambda ctx: "alice",
        lambda state, ctx, result: result["realName"] == state.users["alice"].real_name,
        _user,
    ),
    "getGroup": Scenario(
        GroupHelper,
        lambda h, ctx: h.group.getGroup("editors"),
        lambda ctx: "editors",
        lambda state, ctx, result: result["userList"] == {"user": [{"userName": "alice"}]},
        _member,
    ),
    "getItem": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.getItem(ctx["item"], content={"content": ["metadata"]}),
        lambda ctx: ctx["item"],
        lambda state, ctx, result: (
            metadata_values(result["metadata"]) == state.items[ctx["item"]].metadata
        ),
        _item,
    ),
    "getItemMetadata": Scenario(
        ItemHelper,
        lambda h, ctx: h.item.getItemMetadata(ctx["item"]),
        lambda ctx: ctx["item"],
        lambda state, ctx, result: metadata_values(result) == {"title": ["Intro"]},
        _item,
    ),
}


def test_every_method_of_the_table_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(FAMILY)


@pytest.mark.parametrize("method", sorted(SCENARIOS))
def test_helper_call_sends_one_pre_and_one_post_and_changes_the_server(
    method: str, helpers: SimpleNamespace, fake_vidispine: FakeVidispine
) -> None:
    scenario, family = SCENARIOS[method], FAMILY[method]
    ctx: dict[str, Any] = {}
    scenario.setup(helpers, ctx)

    with capture(*ALL_SIGNALS) as events:
        result = scenario.call(helpers, ctx)

    notice = ["vidispine_get_item_ntfcn"] if method == "getItem" else []
    assert names(events) == [f"vidispine_pre_{family}", f"vidispine_post_{family}", *notice]
    pre, post = events[:2]
    assert pre.sender is post.sender is scenario.helper
    assert pre.kwargs["method"] == post.kwargs["method"] == method
    assert pre.kwargs["instance"] == scenario.instance(ctx)
    assert post.kwargs["instance"] == (
        result if method == "createPlaceholder" else pre.kwargs["instance"]
    )
    assert post.kwargs["result"] == result
    assert fake_vidispine.wait_for_jobs()
    with fake_vidispine.state.lock:
        assert scenario.check(fake_vidispine.state, ctx, result)


def test_create_user_sends_cantemos_parameters_with_the_password_masked(
    helpers: SimpleNamespace, events: list[CapturedEvent]
) -> None:
    helpers.user.createUser("alice", "Alice Liddell", "s3cret", groups=None, email="a@x.org")

    pre = events[0]
    assert pre.kwargs["newUserName"] == "alice"
    assert pre.kwargs["newRealName"] == "Alice Liddell"
    assert pre.kwargs["newPassword"] == MASK
    assert pre.kwargs["email"] == "a@x.org"
    assert "s3cret" not in repr([e.kwargs for e in events])


def test_pre_signal_is_sent_before_the_server_changes_and_post_after(
    helpers: SimpleNamespace, fake_vidispine: FakeVidispine
) -> None:
    item_id = helpers.item.createPlaceholder(metadata_document(title="Intro"))
    present: list[tuple[str, bool]] = []

    def pre(instance: str, **kwargs: Any) -> None:
        present.append(("pre", instance in fake_vidispine.state.items))

    def post(instance: str, **kwargs: Any) -> None:
        present.append(("post", instance in fake_vidispine.state.items))

    with (
        signals.vidispine_pre_delete.connected_to(pre),
        signals.vidispine_post_delete.connected_to(post),
    ):
        helpers.item.removeItem(item_id)

    assert present == [("pre", True), ("post", False)]


# -- failures -----------------------------------------------------------------


def test_not_found_sends_pre_then_failed_and_reaches_the_caller(
    helpers: SimpleNamespace, events: list[CapturedEvent], fake_vidispine: FakeVidispine
) -> None:
    with pytest.raises(NotFound) as raised:
        helpers.item.removeItem("VX-999")

    assert names(events) == ["vidispine_pre_delete", "vidispine_failed"]
    assert events[1].kwargs["exception"] is raised.value
    assert events[1].kwargs["instance"] == "VX-999"
    assert raised.value.status_code == 404
    assert fake_vidispine.state.items == {}


def test_conflict_sends_failed_and_leaves_the_existing_user(
    helpers: SimpleNamespace, fake_vidispine: FakeVidispine
) -> None:
    helpers.user.createUser("alice", "Alice Liddell", "s3cret")

    with capture(*ALL_SIGNALS) as events, pytest.raises(Conflict):
        helpers.user.createUser("alice", "Another Alice", "other")

    assert names(events) == ["vidispine_pre_create", "vidispine_failed"]
    assert fake_vidispine.state.users["alice"].real_name == "Alice Liddell"


def test_wrong_password_sends_failed_with_unauthorized(
    fake_vidispine: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_helpers("eventweave.vidispine.client")
    with (
        VidispineAPI(fake_vidispine.url, "admin", "wrong", timeout=5) as api,
        pytest.raises(Unauthorized),
    ):
        GroupHelper(api).createGroup("editors")

    assert names(events) == ["vidispine_pre_create", "vidispine_failed"]
    assert isinstance(events[1].kwargs["exception"], Unauthorized)
    assert "editors" not in fake_vidispine.state.groups


# -- Cantemo's listeners, unchanged apart from imports ------------------------


def test_cantemo_plugin_template_listener_sees_the_metadata_document(
    helpers: SimpleNamespace,
) -> None:
    from eventweave.vidispine.signals import vidispine_post_modify

    seen = []

    def handler(instance, method, **kwargs):  # type: ignore[no-untyped-def]
        if method == "setItemMetadata":
            seen.append((instance, kwargs["metadata_document"]))

    vidispine_post_modify.connect(handler)
    try:
        item_id = helpers.item.createPlaceholder()
        document = metadata_document(title="Outro")
        helpers.item.setItemMetadata(item_id, document)
        helpers.user.createUser("alice", "Alice", "pw")
        helpers.group.createGroup("editors")
        helpers.user.addUserToGroup("alice", "editors")  # another modify: ignored by method
    finally:
        vidispine_post_modify.disconnect(handler)

    assert seen == [(item_id, document)]


def test_cantemo_remove_item_listener_on_post_delete(
    helpers: SimpleNamespace, fake_vidispine: FakeVidispine
) -> None:
    from eventweave.vidispine.signals import vidispine_post_delete

    removed = []

    def item_removed(sender, instance, method, **kwargs):  # type: ignore[no-untyped-def]
        if method == "removeItem":
            removed.append((sender.__name__, instance))

    vidispine_post_delete.connect(item_removed)
    try:
        keep = helpers.item.createPlaceholder()
        gone = helpers.item.createPlaceholder()
        helpers.item.removeItem(gone)
        helpers.item.createOrModifyShapeTag("lowres", {"format": "mp4"})
        helpers.item.removeShapeTag("lowres")  # another delete: ignored by method
    finally:
        vidispine_post_delete.disconnect(item_removed)

    assert removed == [("ItemHelper", gone)]
    assert list(fake_vidispine.state.items) == [keep]


# -- a legacy portal module, instrumented before it is imported ----------------


@pytest.fixture
def portal_interface(
    fixture_portal: Callable[[str], ModuleType],
) -> Callable[[], ModuleType]:
    """Import ``portal.vidispine.interface`` from the fixtures, pointed at the fake server."""
    return lambda: fixture_portal("portal.vidispine.interface")


def test_legacy_portal_instrumented_before_import_sends_and_changes_the_server(
    portal_interface: Callable[[], ModuleType],
    fake_vidispine: FakeVidispine,
    events: list[CapturedEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    weavings = instrument_helpers()  # the default: "portal.vidispine.interface"
    assert weavings and all(w.pending for w in weavings)

    with caplog.at_level(logging.WARNING, logger="eventweave.vidispine"):
        interface = portal_interface()

    skipped = {"createOrModifyShapeTag", "removeShapeTag", "retranscode"}
    assert {w.target.rpartition(".")[2] for w in weavings if w.applied} == set(FAMILY) - skipped
    assert all("is not instrumented" in r.getMessage() for r in caplog.records)
    assert len(caplog.records) == len(skipped)

    interface.UserHelper().createUser("alice", "Alice Liddell", "s3cret")
    item_id = interface.ItemHelper().createPlaceholder(metadata_document(title="Intro"))
    interface.ItemHelper().setItemMetadata(item_id, metadata_document(title="Outro"))
    interface.ItemHelper().removeItem(item_id)

    assert names(events) == [
        "vidispine_pre_create",
        "vidispine_post_create",
        "vidispine_pre_create",
        "vidispine_post_create",
        "vidispine_pre_modify",
        "vidispine_post_modify",
        "vidispine_pre_delete",
        "vidispine_post_delete",
    ]
    assert events[0].sender is interface.UserHelper
    assert [e.kwargs["instance"] for e in events[2:]] == [None, item_id] + [item_id] * 4
    assert fake_vidispine.state.users["alice"].check_password("s3cret")
    assert item_id not in fake_vidispine.state.items


def test_legacy_portal_failure_sends_failed_with_its_own_exception(
    portal_interface: Callable[[], ModuleType], events: list[CapturedEvent]
) -> None:
    interface = portal_interface()
    instrument_helpers("portal.vidispine.interface")  # after import this time

    with pytest.raises(interface.VSNotFound) as raised:
        interface.GroupHelper().removeGroup("nobody")

    assert names(events) == ["vidispine_pre_delete", "vidispine_failed"]
    assert events[1].kwargs["exception"] is raised.value


# -- concurrency, and the HTTP layer ------------------------------------------


def test_concurrent_helper_calls_each_send_one_pre_and_one_post(
    fake_vidispine: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_helpers("eventweave.vidispine.client")
    count = 8
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def create(n: int) -> None:
        try:
            with VidispineAPI(fake_vidispine.url, *fake_vidispine.auth, timeout=5) as api:
                start.wait(timeout=5)
                UserHelper(api).createUser(f"user{n}", f"User {n}", "pw")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert not errors
    expected = {f"user{n}" for n in range(count)}
    pre = [e.kwargs["instance"] for e in events if e.signal is signals.vidispine_pre_create]
    post = [e.kwargs["instance"] for e in events if e.signal is signals.vidispine_post_create]
    assert sorted(pre) == sorted(post) == sorted(expected)
    assert len(events) == 2 * count
    assert set(fake_vidispine.state.users) == expected


@pytest.mark.parametrize("http_first", [False, True], ids=["helpers-first", "http-first"])
def test_helper_call_with_http_instrumented_too_sends_once(
    api: VidispineAPI, fake_vidispine: FakeVidispine, http_first: bool
) -> None:
    from eventweave.vidispine import instrument_http

    if http_first:
        instrument_http(fake_vidispine.url)
    instrument_helpers("eventweave.vidispine.client")
    if not http_first:
        instrument_http(fake_vidispine.url)
    item_id = ItemHelper(api).createPlaceholder()

    with capture(*ALL_SIGNALS) as events:
        ItemHelper(api).setItemMetadata(item_id, metadata_document(title="Outro"))

    assert names(events) == ["vidispine_pre_modify", "vidispine_post_modify"]
    assert events[0].sender is ItemHelper
    assert fake_vidispine.state.items[item_id].metadata["title"] == ["Outro"]
