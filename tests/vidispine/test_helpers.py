"""Tests for `eventweave.vidispine._helpers`: HELPER_METHODS and instrument_helpers."""

from __future__ import annotations

import importlib
import itertools
import logging
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django.dispatch
import pytest

import eventweave
from eventweave import MASK, WeaveError, mark, unweave_all, woven
from eventweave._weaving import slots
from eventweave.testing import CapturedEvent, capture
from eventweave.vidispine import HELPER_METHODS, instrument_helpers, signals
from eventweave.vidispine._scope import inside_helper, register_http_gate

from .conftest import OPERATION_SIGNALS, names

HELPERS_SOURCE = """
ITEMS = {"VX-1": {"title": ["Intro"]}}


class UserHelper:
    def createUser(self, newUserName, newRealName, newPassword, groups=None):
        return None

    def deleteUser(self, username):
        return None

    def addUserToGroup(self, username, group_name):
        return None

    def removeUserFromGroup(self, username, group_name):
        return None

    def getUser(self, username):
        return {"userName": username}


class GroupHelper:
    def createGroup(self, group_name, description=None):
        return None

    def setChildGroupToGroup(self, group_name, child_group_name):
        return None

    def removeChildGroupFromGroup(self, group_name, child_group_name):
        return None

    def removeGroup(self, group_name):
        return None

    def getGroup(self, group_name):
        return {"groupName": group_name}


class ItemHelper:
    def createPlaceholder(self, metadata_document=None, container=1):
        item_id = "VX-%d" % (len(ITEMS) + 1)
        ITEMS[item_id] = {}
        return item_id

    def setItemMetadata(self, item_id, metadata_document):
        if item_id not in ITEMS:
            raise LookupError("no item " + item_id)
        ITEMS[item_id].update(metadata_document)
        return {"id": item_id}

    def getItemMetadata(self, item_id):
        return ITEMS[item_id]

    def getItem(self, item_id, content=None):
        return {"id": item_id, "metadata": ITEMS[item_id]}

    def searchItems(self, query):
        return [item_id for item_id in ITEMS if query in item_id]

    def createMetadataFieldGroup(self, group_name, document=None):
        return None

    def createOrModifyMetadataField(self, field_name, field_document):
        return None

    def addFieldToMetadataFieldGroup(self, group_name, field_name):
        return None

    def createOrModifyShapeTag(self, tag_name, tag_document):
        return None

    def retranscode(self, item_id, tag_name):
        return "VX-900"

    def removeMetadataField(self, field_name):
        return None

    def removeMetadataFieldGroup(self, group_name):
        return None

    def removeItem(self, item_id):
        ITEMS.pop(item_id, None)

    def removeShapeTag(self, tag_name):
        return None

    def insideHelper(self, item_id):
        from eventweave.vidispine._scope import inside_helper

        return inside_helper()


class MyItemHelper(ItemHelper):
    pass
"""

OLD_HELPERS_SOURCE = """
class UserHelper:
    def createUser(self, newUserName, newRealName, newPassword):
        return None

    def deleteUser(self, username):
        return None


class ItemHelper:
    def setItemMetadata(self, item_id, metadata_document):
        return {"id": item_id}
"""

# Arguments for every method of the table, as a portal would pass them.
CALLS: dict[str, tuple[Any, ...]] = {
    "createUser": ("alice", "Alice Liddell", "s3cret"),
    "deleteUser": ("alice",),
    "addUserToGroup": ("alice", "editors"),
    "removeUserFromGroup": ("alice", "editors"),
    "createGroup": ("editors",),
    "setChildGroupToGroup": ("editors", "juniors"),
    "removeChildGroupFromGroup": ("editors", "juniors"),
    "removeGroup": ("editors",),
    "createPlaceholder": ({"title": ["New"]},),
    "createMetadataFieldGroup": ("Film",),
    "setItemMetadata": ("VX-1", {"title": ["Outro"]}),
    "createOrModifyMetadataField": ("director", {"type": "string"}),
    "addFieldToMetadataFieldGroup": ("Film", "director"),
    "createOrModifyShapeTag": ("lowres", {"format": "mp4"}),
    "retranscode": ("VX-1", "lowres"),
    "removeMetadataField": ("director",),
    "removeMetadataFieldGroup": ("Film",),
    "removeItem": ("VX-1",),
    "removeShapeTag": ("lowres",),
    "getUser": ("alice",),
    "getGroup": ("editors",),
    "getItem": ("VX-1",),
    "getItemMetadata": ("VX-1",),
}

TABLE = [
    (helper, method, family)
    for helper, row in HELPER_METHODS.items()
    for method, family in row.items()
]

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def clean_weavings() -> Iterator[None]:
    unweave_all()
    yield
    unweave_all()
    assert not woven()
    assert not list(slots())


def _module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> Iterator[str]:
    name = f"vidhelpers_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.fixture
def module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a fresh helper module, not imported yet."""
    yield from _module_name(tmp_path, monkeypatch, HELPERS_SOURCE)


@pytest.fixture
def old_module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A helper module of an older portal: no GroupHelper, few methods."""
    yield from _module_name(tmp_path, monkeypatch, OLD_HELPERS_SOURCE)


@pytest.fixture
def helpers(module_name: str) -> types.ModuleType:
    return importlib.import_module(module_name)


@pytest.fixture
def events() -> Iterator[list[CapturedEvent]]:
    with capture(*OPERATION_SIGNALS) as recorded:
        yield recorded


def call(module: types.ModuleType, helper: str, method: str) -> Any:
    return getattr(getattr(module, helper)(), method)(*CALLS[method])


# -- the table ----------------------------------------------------------------


def test_helper_methods_table_is_cantemos_method_to_family_table() -> None:
    assert {h: dict(row) for h, row in HELPER_METHODS.items()} == {
        "UserHelper": {
            "createUser": "create",
            "deleteUser": "delete",
            "addUserToGroup": "modify",
            "removeUserFromGroup": "modify",
            "getUser": "get",
        },
        "GroupHelper": {
            "createGroup": "create",
            "setChildGroupToGroup": "modify",
            "removeChildGroupFromGroup": "modify",
            "removeGroup": "delete",
            "getGroup": "get",
        },
        "ItemHelper": {
            "createPlaceholder": "create",
            "createMetadataFieldGroup": "create",
            "setItemMetadata": "modify",
            "createOrModifyMetadataField": "modify",
            "addFieldToMetadataFieldGroup": "modify",
            "createOrModifyShapeTag": "modify",
            "retranscode": "modify",
            "removeMetadataField": "delete",
            "removeMetadataFieldGroup": "delete",
            "removeItem": "delete",
            "removeShapeTag": "delete",
            "getItem": "get",
            "getItemMetadata": "get",
        },
    }


def test_helper_methods_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        HELPER_METHODS["ItemHelper"]["removeItem"] = "modify"  # type: ignore[index]


def test_package_exports_exactly_the_contracts_names() -> None:
    import eventweave.vidispine as package

    assert sorted(package.__all__) == sorted(
        [
            "signals",
            "HELPER_METHODS",
            "instrument_helpers",
            "instrument_http",
            "parse_notification",
            "NotificationReceiver",
            "register_notification",
            "unregister_notification",
        ]
    )
    assert all(getattr(package, name) is not None for name in package.__all__)
    assert package.signals is signals


# -- what is sent -------------------------------------------------------------


@pytest.mark.parametrize(("helper", "method", "family"), TABLE)
def test_each_method_sends_one_pre_and_one_post_of_its_family(
    helpers: types.ModuleType, events: list[CapturedEvent], helper: str, method: str, family: str
) -> None:
    instrument_helpers(helpers.__name__)

    call(helpers, helper, method)

    assert names(events) == [f"vidispine_pre_{family}", f"vidispine_post_{family}"]
    assert [e.sender for e in events] == [getattr(helpers, helper)] * 2
    assert [e.kwargs["method"] for e in events] == [method, method]


def test_instance_is_the_identifier_the_call_is_about(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)

    helpers.UserHelper().addUserToGroup("alice", "editors")

    assert [e.kwargs["instance"] for e in events] == ["alice", "alice"]


def test_parameters_are_sent_by_name_with_args_and_kwargs(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)
    document = {"title": ["Outro"]}

    helpers.ItemHelper().setItemMetadata("VX-1", document)

    pre, post = events
    assert pre.kwargs == {
        "instance": "VX-1",
        "method": "setItemMetadata",
        "item_id": "VX-1",
        "metadata_document": document,
        "args": ("VX-1", document),
        "kwargs": {},
    }
    assert post.kwargs == {**pre.kwargs, "result": {"id": "VX-1"}}


def test_create_placeholder_post_instance_is_the_new_item_id(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)

    item_id = helpers.ItemHelper().createPlaceholder({"title": ["New"]})

    assert [e.kwargs["instance"] for e in events] == [None, item_id]
    assert item_id in helpers.ITEMS


def test_new_password_is_masked(helpers: types.ModuleType, events: list[CapturedEvent]) -> None:
    instrument_helpers(helpers.__name__)

    helpers.UserHelper().createUser("alice", "Alice Liddell", "s3cret")

    for event in events:
        assert event.kwargs["newPassword"] == MASK
        assert event.kwargs["args"][:3] == ("alice", "Alice Liddell", MASK)
        assert "s3cret" not in repr(event.kwargs)


def test_sender_is_the_runtime_class_of_the_helper(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)

    helpers.MyItemHelper().removeItem("VX-1")

    assert [e.sender for e in events] == [helpers.MyItemHelper] * 2


def test_result_is_returned_unchanged(helpers: types.ModuleType) -> None:
    instrument_helpers(helpers.__name__)
    seen: list[Any] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs["result"])

    with signals.vidispine_post_modify.connected_to(receiver):
        result = helpers.ItemHelper().retranscode("VX-1", "lowres")

    assert result == "VX-900"
    assert seen == ["VX-900"]


def test_failed_call_sends_pre_then_failed_never_post(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)

    with pytest.raises(LookupError) as raised:
        helpers.ItemHelper().setItemMetadata("VX-404", {"title": ["x"]})

    assert names(events) == ["vidispine_pre_modify", "vidispine_failed"]
    failed = events[1]
    assert failed.kwargs["exception"] is raised.value
    assert failed.kwargs["instance"] == "VX-404"
    assert failed.kwargs["method"] == "setItemMetadata"
    assert failed.kwargs["metadata_document"] == {"title": ["x"]}


def test_failed_call_raises_the_original_exception_even_if_a_failed_receiver_raises(
    helpers: types.ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    instrument_helpers(helpers.__name__)

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.vidispine_failed.connect(broken)
    try:
        with caplog.at_level(logging.ERROR), pytest.raises(LookupError):
            helpers.ItemHelper().setItemMetadata("VX-404", {})
    finally:
        signals.vidispine_failed.disconnect(broken)
    assert "receiver bug" in caplog.text


def test_pre_receiver_that_raises_vetoes_the_helper_call(helpers: types.ModuleType) -> None:
    instrument_helpers(helpers.__name__)

    def veto(**kwargs: Any) -> None:
        raise PermissionError("items are read-only today")

    signals.vidispine_pre_delete.connect(veto)
    try:
        with pytest.raises(PermissionError):
            helpers.ItemHelper().removeItem("VX-1")
    finally:
        signals.vidispine_pre_delete.disconnect(veto)
    assert "VX-1" in helpers.ITEMS


def test_robust_logs_receiver_errors_and_the_call_goes_on(
    helpers: types.ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    instrument_helpers(helpers.__name__, robust=True)

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.vidispine_pre_delete.connect(broken)
    try:
        with caplog.at_level(logging.ERROR):
            helpers.ItemHelper().removeItem("VX-1")
    finally:
        signals.vidispine_pre_delete.disconnect(broken)
    assert "VX-1" not in helpers.ITEMS
    assert "receiver bug" in caplog.text


def test_nothing_is_sent_without_instrumentation(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    helpers.ItemHelper().removeItem("VX-1")

    assert events == []


def test_methods_outside_the_table_send_nothing(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)

    helpers.ItemHelper().searchItems("VX")

    assert events == []


# -- getItem: the get pair, then vidispine_get_item_ntfcn ----------------------


def test_get_item_sends_the_get_pair_then_the_item_notice(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)

    with capture(*OPERATION_SIGNALS, signals.vidispine_get_item_ntfcn) as everything:
        item = helpers.ItemHelper().getItem("VX-1", content={"content": ["metadata"]})

    assert names(everything) == [
        "vidispine_pre_get",
        "vidispine_post_get",
        "vidispine_get_item_ntfcn",
    ]
    notice = everything[2]
    assert notice.sender is helpers.ItemHelper
    assert notice.kwargs["instance"] == "VX-1"
    assert notice.kwargs["method"] == "getItem"
    assert notice.kwargs["content"] == {"content": ["metadata"]}
    assert notice.kwargs["result"] is item


def test_item_notice_reaches_a_receiver_connected_to_it_alone(helpers: types.ModuleType) -> None:
    # Nobody listens to the get pair: the woven call must still send the notice.
    instrument_helpers(helpers.__name__)
    visited: list[str] = []

    def record(instance: str, **kwargs: Any) -> None:
        visited.append(instance)

    signals.vidispine_get_item_ntfcn.connect(record)
    try:
        helpers.ItemHelper().getItem("VX-1")
        helpers.ItemHelper().getItemMetadata("VX-1")  # another read: no notice
        helpers.ItemHelper().getItem("VX-1")
    finally:
        signals.vidispine_get_item_ntfcn.disconnect(record)

    assert visited == ["VX-1", "VX-1"]


def test_get_item_that_raises_sends_failed_and_no_notice(
    helpers: types.ModuleType,
) -> None:
    instrument_helpers(helpers.__name__)

    with (
        capture(*OPERATION_SIGNALS, signals.vidispine_get_item_ntfcn) as events,
        pytest.raises(KeyError),
    ):
        helpers.ItemHelper().getItem("VX-404")

    assert names(events) == ["vidispine_pre_get", "vidispine_failed"]


def test_silent_or_muted_get_item_sends_no_notice(helpers: types.ModuleType) -> None:
    instrument_helpers(helpers.__name__)
    eventweave.silent(helpers.MyItemHelper)

    with capture(signals.vidispine_get_item_ntfcn) as notices:
        helpers.MyItemHelper().getItem("VX-1")
        with eventweave.muted():
            helpers.ItemHelper().getItem("VX-1")

    assert notices == []


def test_item_notice_goes_on_the_portals_own_signal_when_it_has_one(
    helpers: types.ModuleType,
) -> None:
    own = _portal_signals(*CANTEMO_NAMES, "vidispine_get_item_ntfcn")
    instrument_helpers(helpers.__name__, signals=own)

    with (
        capture(own.vidispine_get_item_ntfcn) as theirs,
        capture(signals.vidispine_get_item_ntfcn) as ours,
    ):
        helpers.ItemHelper().getItem("VX-1")

    assert [e.kwargs["instance"] for e in theirs] == ["VX-1"]
    assert ours == []


def test_get_item_marked_trigger_instead_still_sends_the_item_notice(
    helpers: types.ModuleType,
) -> None:
    instrument_helpers(helpers.__name__)
    mark(f"{helpers.__name__}:ItemHelper.getItem", trigger_instead="modify")
    try:
        with capture(signals.vidispine_get_item_ntfcn) as notices:  # nobody else listens
            helpers.ItemHelper().getItem("VX-1")
    finally:
        mark(f"{helpers.__name__}:ItemHelper.getItem", trigger_instead=False)

    assert [e.kwargs["instance"] for e in notices] == ["VX-1"]


def test_unweaving_get_item_stops_the_notice(helpers: types.ModuleType) -> None:
    weavings = instrument_helpers(helpers.__name__)
    for weaving in weavings:
        weaving.unweave()

    with capture(signals.vidispine_get_item_ntfcn) as notices:
        helpers.ItemHelper().getItem("VX-1")

    assert notices == []


# -- methods= -----------------------------------------------------------------


def test_methods_override_changes_a_family(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__, methods={"ItemHelper": {"retranscode": "create"}})

    helpers.ItemHelper().retranscode("VX-1", "lowres")

    assert names(events) == ["vidispine_pre_create", "vidispine_post_create"]


def test_methods_override_keeps_the_rest_of_the_table(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__, methods={"ItemHelper": {"retranscode": "create"}})

    helpers.ItemHelper().removeItem("VX-1")

    assert names(events) == ["vidispine_pre_delete", "vidispine_post_delete"]


def test_methods_adds_a_get_method(helpers: types.ModuleType, events: list[CapturedEvent]) -> None:
    instrument_helpers(helpers.__name__, methods={"ItemHelper": {"searchItems": "get"}})

    found = helpers.ItemHelper().searchItems("VX")

    assert names(events) == ["vidispine_pre_get", "vidispine_post_get"]
    assert events[1].kwargs["instance"] == "VX"
    assert events[1].kwargs["result"] is found


def test_methods_none_leaves_a_method_alone(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    weavings = instrument_helpers(helpers.__name__, methods={"ItemHelper": {"removeItem": None}})

    helpers.ItemHelper().removeItem("VX-1")

    assert events == []
    assert f"{helpers.__name__}:ItemHelper.removeItem" not in [w.target for w in weavings]


def test_methods_none_leaves_a_class_alone(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    weavings = instrument_helpers(helpers.__name__, methods={"GroupHelper": None})

    helpers.GroupHelper().removeGroup("editors")

    assert events == []
    assert len(weavings) == sum(len(row) for row in HELPER_METHODS.values()) - len(
        HELPER_METHODS["GroupHelper"]
    )


def test_methods_tuple_gives_the_instance_rule(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(
        helpers.__name__, methods={"ItemHelper": {"retranscode": ("modify", "tag_name")}}
    )

    helpers.ItemHelper().retranscode("VX-1", "lowres")

    assert [e.kwargs["instance"] for e in events] == ["lowres", "lowres"]


def test_methods_tuple_with_result_sends_the_return_value_after(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(
        helpers.__name__, methods={"ItemHelper": {"retranscode": ("create", "result")}}
    )

    helpers.ItemHelper().retranscode("VX-1", "lowres")

    assert [e.kwargs["instance"] for e in events] == [None, "VX-900"]


def test_unknown_family_is_an_error_listing_the_families(module_name: str) -> None:
    with pytest.raises(ValueError, match="expected one of create, modify, delete, get") as raised:
        instrument_helpers(module_name, methods={"ItemHelper": {"setItemMetadata": "modfy"}})
    assert "did you mean 'modify'?" in str(raised.value)
    assert not woven()


def test_family_in_capitals_suggests_the_lower_case_name(module_name: str) -> None:
    with pytest.raises(ValueError, match=r"did you mean 'get'\?"):
        instrument_helpers(module_name, methods={"ItemHelper": {"getItemMetadata": "GET"}})
    assert not woven()


def test_methods_of_the_wrong_shape_is_an_error(module_name: str) -> None:
    with pytest.raises(TypeError, match="shaped like HELPER_METHODS"):
        instrument_helpers(module_name, methods=["ItemHelper"])  # type: ignore[arg-type]


def test_unknown_method_in_methods_is_an_error_listing_the_class_methods(
    helpers: types.ModuleType,
) -> None:
    with pytest.raises(WeaveError) as raised:
        instrument_helpers(helpers.__name__, methods={"ItemHelper": {"setItemMetadta": "modify"}})
    message = str(raised.value)
    assert "has no method 'setItemMetadta'; did you mean 'setItemMetadata'?" in message
    assert "removeShapeTag" in message  # lists what the class has
    assert not woven()


def test_missing_helper_class_is_an_error_listing_the_module_classes(
    helpers: types.ModuleType,
) -> None:
    with pytest.raises(WeaveError) as raised:
        instrument_helpers(
            helpers.__name__, methods={"CollectionHelper": {"createCollection": "create"}}
        )
    message = str(raised.value)
    assert "has no class 'CollectionHelper'" in message
    assert "it defines GroupHelper, ItemHelper, MyItemHelper, UserHelper" in message
    assert "methods={'CollectionHelper': None}" in message
    assert not woven()


def test_default_class_missing_from_the_module_is_logged_and_left_out(
    old_module_name: str, caplog: pytest.LogCaptureFixture, events: list[CapturedEvent]
) -> None:
    old = importlib.import_module(old_module_name)

    with caplog.at_level(logging.WARNING, logger="eventweave.vidispine"):
        weavings = instrument_helpers(old_module_name)

    assert not [w for w in weavings if ":GroupHelper." in w.target]
    warnings = [m for r in caplog.records if "no class 'GroupHelper'" in (m := r.getMessage())]
    assert len(warnings) == 1  # one line for the class, not one per method
    assert "map it there (module={..., 'GroupHelper': 'igroup'})" in warnings[0]
    old.UserHelper().deleteUser("alice")
    assert names(events) == ["vidispine_pre_delete", "vidispine_post_delete"]


def test_default_method_missing_from_a_class_is_logged_and_skipped(
    old_module_name: str, caplog: pytest.LogCaptureFixture, events: list[CapturedEvent]
) -> None:
    old = importlib.import_module(old_module_name)

    with caplog.at_level(logging.WARNING, logger="eventweave.vidispine"):
        weavings = instrument_helpers(old_module_name, methods={"GroupHelper": None})

    assert sorted(w.target.rpartition(":")[2] for w in weavings) == [
        "ItemHelper.setItemMetadata",
        "UserHelper.createUser",
        "UserHelper.deleteUser",
    ]
    assert f"{old_module_name}.ItemHelper has no method 'removeItem'" in caplog.text
    assert "(it has setItemMetadata)" in caplog.text
    old.ItemHelper().setItemMetadata("VX-1", {})
    assert names(events) == ["vidispine_pre_modify", "vidispine_post_modify"]


def test_malformed_module_name_is_an_error() -> None:
    with pytest.raises(WeaveError, match="is not a module name"):
        instrument_helpers("portal/vidispine")


# -- one module per class (Cantemo Portal's own layout) -----------------------

# Cantemo Portal keeps each helper class in a module of its own; IngestHelper
# sits beside ItemHelper in iitem.
PER_CLASS_SOURCES = {
    "iitem": """
class ItemHelper:
    def setItemMetadata(self, item_id, metadata_document):
        return {"id": item_id}

    def getItem(self, item_id, content=None):
        return {"id": item_id}


class IngestHelper:
    def importFileToPlaceholder(self, item_id, file_id, tags=None):
        return "VX-77"
""",
    "igroup": """
class GroupHelper:
    def removeGroup(self, group_name):
        return None
""",
    "iuser": """
class UserHelper:
    def deleteUser(self, username):
        return None
""",
}


@pytest.fixture
def per_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh package laid out as Cantemo's: class name -> its module's name (not imported)."""
    package = f"cantemo_{next(_names)}"
    (tmp_path / package / "vidispine").mkdir(parents=True)
    for name, source in PER_CLASS_SOURCES.items():
        (tmp_path / package / "vidispine" / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield {
        "ItemHelper": f"{package}.vidispine.iitem",
        "GroupHelper": f"{package}.vidispine.igroup",
        "UserHelper": f"{package}.vidispine.iuser",
    }
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def _quiet_missing_methods(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings that are not about default-table methods the small classes lack."""
    return [r.getMessage() for r in caplog.records if "has no method" not in r.getMessage()]


@pytest.mark.parametrize("imported_first", [True, False], ids=["imported", "pending"])
def test_mapping_instruments_each_class_in_its_own_module(
    per_class: dict[str, str],
    events: list[CapturedEvent],
    caplog: pytest.LogCaptureFixture,
    imported_first: bool,
) -> None:
    if imported_first:
        for name in per_class.values():
            importlib.import_module(name)

    with caplog.at_level(logging.WARNING, logger="eventweave.vidispine"):
        weavings = instrument_helpers(per_class)
        modules = {cls: importlib.import_module(name) for cls, name in per_class.items()}

    assert sorted(w.target for w in weavings if w.applied) == sorted(
        [
            f"{per_class['ItemHelper']}:ItemHelper.getItem",
            f"{per_class['ItemHelper']}:ItemHelper.setItemMetadata",
            f"{per_class['GroupHelper']}:GroupHelper.removeGroup",
            f"{per_class['UserHelper']}:UserHelper.deleteUser",
        ]
    )
    assert _quiet_missing_methods(caplog) == []
    modules["UserHelper"].UserHelper().deleteUser("alice")
    modules["GroupHelper"].GroupHelper().removeGroup("editors")
    modules["ItemHelper"].ItemHelper().setItemMetadata("VX-1", {})
    assert names(events) == [
        "vidispine_pre_delete",
        "vidispine_post_delete",
        "vidispine_pre_delete",
        "vidispine_post_delete",
        "vidispine_pre_modify",
        "vidispine_post_modify",
    ]
    assert [e.sender.__name__ for e in events[::2]] == ["UserHelper", "GroupHelper", "ItemHelper"]


def test_mapping_takes_module_objects(per_class: dict[str, str]) -> None:
    modules = {cls: importlib.import_module(name) for cls, name in per_class.items()}

    weavings = instrument_helpers(modules, methods={"ItemHelper": None, "UserHelper": None})

    assert [w.target for w in weavings] == [f"{per_class['GroupHelper']}:GroupHelper.removeGroup"]


def test_classes_the_mapping_leaves_out_are_left_alone(
    per_class: dict[str, str], events: list[CapturedEvent]
) -> None:
    iuser = importlib.import_module(per_class["UserHelper"])

    weavings = instrument_helpers({"GroupHelper": per_class["GroupHelper"]})

    assert {w.target.partition(":")[2] for w in weavings} == {
        f"GroupHelper.{method}" for method in HELPER_METHODS["GroupHelper"]
    }  # pending: igroup is not imported yet
    iuser.UserHelper().deleteUser("alice")
    assert events == []


def test_mapping_with_methods_for_a_class_it_does_not_place_is_an_error(
    per_class: dict[str, str],
) -> None:
    with pytest.raises(ValueError, match="module= does not say where IngestHelper lives") as raised:
        instrument_helpers(
            {"ItemHelper": per_class["ItemHelper"]},
            methods={"IngestHelper": {"importFileToPlaceholder": "ingest"}},
        )
    assert "add 'IngestHelper': 'its.module' to module= (it maps ItemHelper)" in str(raised.value)
    assert not woven()


def test_class_mapped_to_a_module_that_lacks_it_is_logged_not_fatal(
    per_class: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = dict(per_class, GroupHelper=per_class["UserHelper"])  # iuser has no GroupHelper
    importlib.import_module(per_class["UserHelper"])

    with caplog.at_level(logging.WARNING, logger="eventweave.vidispine"):
        weavings = instrument_helpers(wrong)

    assert not [w for w in weavings if "GroupHelper" in w.target]
    (warning,) = _quiet_missing_methods(caplog)
    assert f"module {per_class['UserHelper']!r} has no class 'GroupHelper'" in warning
    assert "(it defines UserHelper)" in warning
    package = per_class["GroupHelper"].rpartition(".")[0]
    assert f"'GroupHelper': '{package}.igroup'" in warning


def test_ingest_family_sends_the_ingest_pair(
    per_class: dict[str, str], events: list[CapturedEvent]
) -> None:
    with capture(signals.vidispine_pre_ingest, signals.vidispine_post_ingest) as ingest:
        instrument_helpers(
            {"IngestHelper": per_class["ItemHelper"]},
            methods={"IngestHelper": {"importFileToPlaceholder": "ingest"}},
        )
        iitem = importlib.import_module(per_class["ItemHelper"])
        job = iitem.IngestHelper().importFileToPlaceholder("VX-1", "VX-9", tags=["lowres"])

    pre, post = ingest
    assert pre.signal is signals.vidispine_pre_ingest
    assert post.signal is signals.vidispine_post_ingest
    assert pre.sender is post.sender is iitem.IngestHelper
    assert pre.kwargs["instance"] == post.kwargs["instance"] == "VX-1"
    assert pre.kwargs["method"] == "importFileToPlaceholder"
    assert pre.kwargs["tags"] == ["lowres"]
    assert post.kwargs["result"] == job == "VX-77"
    assert events == []  # no other family's signals


@pytest.mark.parametrize(
    "module",
    [{}, {"ItemHelper": 3}, {"item helper": "x.iitem"}, {"ItemHelper": "portal/iitem"}],
    ids=["empty", "not-a-name", "bad-class-name", "bad-module-name"],
)
def test_malformed_mapping_is_an_error_and_weaves_nothing(module: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError, WeaveError)) as raised:
        instrument_helpers(module)
    assert "module" in str(raised.value)
    assert not woven()


# -- before the module is imported --------------------------------------------


def test_instrumenting_before_import_applies_when_imported(
    module_name: str, events: list[CapturedEvent]
) -> None:
    weavings = instrument_helpers(module_name)
    assert all(w.pending for w in weavings)
    assert {w.target for w in woven()} == {w.target for w in weavings}

    helpers = importlib.import_module(module_name)

    assert all(w.applied for w in weavings)
    helpers.ItemHelper().setItemMetadata("VX-1", {"title": ["x"]})
    assert names(events) == ["vidispine_pre_modify", "vidispine_post_modify"]


def test_default_method_missing_at_import_is_logged_and_skipped(
    old_module_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    weavings = instrument_helpers(old_module_name, methods={"GroupHelper": None})

    with caplog.at_level(logging.WARNING):
        importlib.import_module(old_module_name)

    applied = sorted(w.target.rpartition(":")[2] for w in weavings if w.applied)
    assert applied == [
        "ItemHelper.setItemMetadata",
        "UserHelper.createUser",
        "UserHelper.deleteUser",
    ]
    assert {w.target for w in woven()} == {w.target for w in weavings if w.applied}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(weavings) - 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "ItemHelper has no method 'removeItem'" in caplog.text


def test_default_class_missing_at_import_is_logged_and_its_weavings_dropped(
    old_module_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    weavings = instrument_helpers(old_module_name)

    with caplog.at_level(logging.WARNING):
        importlib.import_module(old_module_name)  # the import itself succeeds

    group = [w for w in weavings if ":GroupHelper." in w.target]
    assert len(group) == len(HELPER_METHODS["GroupHelper"])
    assert not any(w.applied or w.pending or w.error for w in group)
    assert not [w for w in woven() if ":GroupHelper." in w.target]
    assert len([r for r in caplog.records if "no class 'GroupHelper'" in r.getMessage()]) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("helper", "method", "family"),
    [("GroupHelper", "removeGroup", "delete"), ("ItemHelper", "getItemMetadata", "get")],
    ids=["class-missing", "method-missing"],
)
def test_what_methods_names_and_is_missing_at_import_is_reported_on_the_weaving(
    old_module_name: str, caplog: pytest.LogCaptureFixture, helper: str, method: str, family: str
) -> None:
    # Only helper.method is named; every other method of the table is left alone.
    methods: dict[str, Any] = {name: None for name in HELPER_METHODS}
    methods[helper] = dict.fromkeys(HELPER_METHODS[helper]) | {method: family}
    (weaving,) = instrument_helpers(old_module_name, methods=methods)

    with caplog.at_level(logging.ERROR):
        importlib.import_module(old_module_name)  # the import itself succeeds

    assert isinstance(weaving.error, WeaveError) and not weaving.applied
    assert method in str(weaving.error)
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_reinstrumenting_after_unweaving_a_pending_module_keeps_the_helper_scope(
    module_name: str,
) -> None:
    scoped = {"ItemHelper": {"insideHelper": "get"}}
    instrument_helpers(module_name, methods=scoped)
    unweave_all()  # before the module was ever imported
    instrument_helpers(module_name, methods=scoped)
    helpers = importlib.import_module(module_name)
    release = register_http_gate(lambda: None)  # an HTTP layer that always listens
    try:
        assert helpers.ItemHelper().insideHelper("VX-1") is True
    finally:
        release()


# -- signals= -----------------------------------------------------------------


def _portal_signals(*names: str) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: django.dispatch.Signal() for name in names})


CANTEMO_NAMES = tuple(
    f"vidispine_{when}_{family}"
    for family in ("create", "modify", "delete", "get")
    for when in ("pre", "post")
)


def test_signals_option_sends_on_the_portals_own_django_signals(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    own = _portal_signals(*CANTEMO_NAMES)
    instrument_helpers(helpers.__name__, signals=own)

    with capture(own.vidispine_pre_modify, own.vidispine_post_modify) as seen:
        helpers.ItemHelper().setItemMetadata("VX-1", {"title": ["x"]})

    assert [e.signal for e in seen] == [own.vidispine_pre_modify, own.vidispine_post_modify]
    assert seen[1].kwargs["instance"] == "VX-1"
    assert events == []  # eventweave's own signals stay quiet


def test_signals_option_without_failed_falls_back_to_ours(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    own = _portal_signals(*CANTEMO_NAMES)
    instrument_helpers(helpers.__name__, signals=own)

    with capture(own.vidispine_pre_modify) as seen, pytest.raises(LookupError):
        helpers.ItemHelper().setItemMetadata("VX-404", {})

    assert len(seen) == 1
    assert names(events) == ["vidispine_failed"]


def test_signals_option_takes_a_mapping(helpers: types.ModuleType) -> None:
    own = dict(vars(_portal_signals(*CANTEMO_NAMES)))
    instrument_helpers(helpers.__name__, signals=own)

    with capture(own["vidispine_post_delete"]) as seen:
        helpers.ItemHelper().removeItem("VX-1")

    assert len(seen) == 1


def test_signals_option_lacking_a_needed_signal_is_an_error(helpers: types.ModuleType) -> None:
    own = _portal_signals("vidispine_pre_create", "vidispine_post_create")

    with pytest.raises(TypeError, match="lacks vidispine_pre_modify") as raised:
        instrument_helpers(helpers.__name__, signals=own)
    assert "vidispine_post_delete" in str(raised.value)
    assert not woven()


def test_signals_option_holding_no_signal_is_an_error(helpers: types.ModuleType) -> None:
    own = types.SimpleNamespace(**{name: "not a signal" for name in CANTEMO_NAMES})

    with pytest.raises(TypeError, match="has no send"):
        instrument_helpers(helpers.__name__, signals=own)


# -- markers, idempotence, unweaving ------------------------------------------


def test_trigger_instead_sends_another_familys_signals(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)
    mark(f"{helpers.__name__}:ItemHelper.retranscode", trigger_instead="delete")
    try:
        helpers.ItemHelper().retranscode("VX-1", "lowres")
    finally:
        mark(f"{helpers.__name__}:ItemHelper.retranscode", trigger_instead=False)

    assert names(events) == ["vidispine_pre_delete", "vidispine_post_delete"]


def test_silent_helper_class_sends_nothing(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    instrument_helpers(helpers.__name__)
    eventweave.silent(helpers.MyItemHelper)

    helpers.MyItemHelper().removeItem("VX-1")

    assert events == []


def test_instrumenting_twice_alike_returns_the_same_weavings_and_sends_once(
    helpers: types.ModuleType, events: list[CapturedEvent]
) -> None:
    first = instrument_helpers(helpers.__name__)
    second = instrument_helpers(helpers.__name__)

    helpers.ItemHelper().removeItem("VX-1")

    assert second == first
    assert len(events) == 2


def test_unweave_restores_the_original_methods(helpers: types.ModuleType) -> None:
    originals = {
        (helper, method): vars(getattr(helpers, helper))[method] for helper, method, _ in TABLE
    }
    codes = {key: function.__code__ for key, function in originals.items()}
    weavings = instrument_helpers(helpers.__name__)
    assert any(owner is helpers.ItemHelper and name == "removeItem" for owner, name, _ in slots())

    for weaving in weavings:
        weaving.unweave()

    for (helper, method), original in originals.items():
        assert vars(getattr(helpers, helper))[method] is original
        assert original.__code__ is codes[helper, method]
    assert not list(slots())  # the helper scope marks are gone too


def test_woven_signature_is_the_helpers(helpers: types.ModuleType) -> None:
    import inspect

    before = inspect.signature(helpers.UserHelper.createUser)
    instrument_helpers(helpers.__name__)

    assert inspect.signature(helpers.UserHelper.createUser) == before
    assert helpers.UserHelper.createUser.__name__ == "createUser"


# -- the helper scope ---------------------------------------------------------


def test_helper_call_runs_inside_the_helper_scope(helpers: types.ModuleType) -> None:
    instrument_helpers(helpers.__name__, methods={"ItemHelper": {"insideHelper": "get"}})
    release = register_http_gate(lambda: None)  # an HTTP layer that always listens
    try:
        assert helpers.ItemHelper().insideHelper("VX-1") is True
        assert inside_helper() is False
    finally:
        release()


def test_unwoven_helper_no_longer_opens_the_helper_scope(helpers: types.ModuleType) -> None:
    weavings = instrument_helpers(helpers.__name__, methods={"ItemHelper": {"insideHelper": "get"}})
    release = register_http_gate(lambda: None)
    try:
        for weaving in weavings:
            weaving.unweave()
        assert helpers.ItemHelper().insideHelper("VX-1") is False
    finally:
        release()
