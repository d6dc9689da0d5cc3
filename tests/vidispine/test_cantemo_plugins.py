"""Cantemo's published plugin receivers, run against eventweave with only the import changed.

Each receiver below is written anew, in this project's words, to rely on exactly
what a published Cantemo Portal plugin's receiver relies on: how it imports the
signals, how it connects (a module function, a bound method, ``sender=``), which
arguments it reads by name (``instance``, ``method``, ``metadata_document``) and
that everything else arrives in ``**kwargs``. The comment on each names the
published receiver it stands for.

The portal is laid out as Cantemo Portal is, one module per helper class
(``portal.vidispine.iitem``, ``igroup``, ``iuser``, from ``tests/fixtures``), and
instrumented with ``instrument_helpers`` given that mapping; its helpers talk
to a FakeVidispine on loopback.
"""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from eventweave import unweave_all, woven
from eventweave.testing import capture
from eventweave.vidispine import instrument_helpers, signals
from eventweave.vidispine.client import metadata_document, metadata_values
from eventweave.vidispine.fake import FakeVidispine

from .conftest import names

CANTEMO_LAYOUT = {
    "ItemHelper": "portal.vidispine.iitem",
    "GroupHelper": "portal.vidispine.igroup",
    "UserHelper": "portal.vidispine.iuser",
}


@pytest.fixture
def portal(
    fixture_portal: Callable[[str], ModuleType],
) -> Iterator[Callable[[], dict[str, ModuleType]]]:
    """``load()`` imports the per-class portal from the fixtures, pointed at the fake server.

    Instrumenting before ``load()`` is what a plan applied at start-up does.
    """
    yield lambda: {cls: fixture_portal(name) for cls, name in CANTEMO_LAYOUT.items()}
    unweave_all()
    assert not woven()


@pytest.fixture
def helpers(portal: Callable[[], dict[str, ModuleType]]) -> dict[str, Any]:
    """The portal's helper classes, instrumented from outside before the portal is imported."""
    instrument_helpers(CANTEMO_LAYOUT)
    modules = portal()
    return {cls: getattr(module, cls) for cls, module in modules.items()}


# -- the layout itself ---------------------------------------------------------


def test_per_class_layout_instrumented_before_import_sends_and_changes_the_server(
    portal: Callable[[], dict[str, ModuleType]],
    fake_vidispine: FakeVidispine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    weavings = instrument_helpers(CANTEMO_LAYOUT)
    assert weavings and all(w.pending for w in weavings)

    with caplog.at_level(logging.WARNING, logger="eventweave.vidispine"):
        modules = portal()
    item_helper = modules["ItemHelper"].ItemHelper
    with capture(
        signals.vidispine_pre_create,
        signals.vidispine_post_create,
        signals.vidispine_pre_modify,
        signals.vidispine_post_modify,
        signals.vidispine_post_get,
        signals.vidispine_get_item_ntfcn,
    ) as events:
        modules["GroupHelper"].GroupHelper().createGroup("editors")
        modules["UserHelper"].UserHelper().createUser("ada", "Ada L.", "s3cret")
        modules["UserHelper"].UserHelper().addUserToGroup("ada", "editors")
        item_id = item_helper().createPlaceholder(metadata_document(title="Intro"))
        item = item_helper().getItem(item_id)

    assert names(events) == [
        "vidispine_pre_create",
        "vidispine_post_create",
        "vidispine_pre_create",
        "vidispine_post_create",
        "vidispine_pre_modify",
        "vidispine_post_modify",
        "vidispine_pre_create",
        "vidispine_post_create",
        "vidispine_post_get",
        "vidispine_get_item_ntfcn",
    ]
    assert [e.sender.__name__ for e in events[::2]] == [
        "GroupHelper",
        "UserHelper",
        "UserHelper",
        "ItemHelper",
        "ItemHelper",
    ]
    assert events[-1].kwargs["instance"] == item["id"] == item_id
    assert fake_vidispine.state.groups["editors"].users == ["ada"]
    # Only default-table methods these small helpers lack are reported, never a class.
    assert all("has no method" in r.getMessage() for r in caplog.records)


# -- Cantemo/PortalPluginTemplate, vmysignallisteners.py -----------------------


class LastVisited:
    """Stands for LastVisitedItems: a bound method on vidispine_get_item_ntfcn.

    It imports the signals module (``from portal.vidispine import signals``),
    connects ``self.receiver`` (a weakly held bound method, so the plugin object
    keeps it alive), and reads only ``instance``, the item id.
    """

    def __init__(self) -> None:
        self.items: list[str] = []

    def register(self) -> None:
        from eventweave.vidispine import signals  # was: from portal.vidispine import signals

        signals.vidispine_get_item_ntfcn.connect(self.item_page_visited)

    def item_page_visited(self, instance: str, **kwargs: Any) -> None:
        if instance not in self.items:
            self.items.append(instance)


def test_plugin_template_records_each_item_fetched(
    helpers: dict[str, Any], fake_vidispine: FakeVidispine
) -> None:
    item_helper = helpers["ItemHelper"]
    helpers["UserHelper"]().createUser("ada", "Ada L.", "pw")
    first = item_helper().createPlaceholder(metadata_document(title="One"))
    second = item_helper().createPlaceholder(metadata_document(title="Two"))
    plugin = LastVisited()
    plugin.register()
    try:
        item_helper().getItem(first)
        item_helper(runas="ada").getItem(second, {"content": ["metadata"]})
        item_helper().getItem(first)
        item_helper().getItemMetadata(second)  # a read, but not an item page visit
        with pytest.raises(Exception, match="404"):
            item_helper().getItem("VX-404")
    finally:
        signals.vidispine_get_item_ntfcn.disconnect(plugin.item_page_visited)

    assert plugin.items == [first, second]


class MetadataAboutToChange:
    """Stands for PreMetadataUpdate: a bound method on vidispine_pre_modify.

    It tests ``kwargs.get("method") == "setItemMetadata"``, reads ``instance``
    and ``kwargs["metadata_document"]``, and calls ``ItemHelper().getItem(instance,
    content)`` from inside the pre receiver to compare the stored values with
    the ones about to be written.
    """

    def __init__(self, item_helper: type) -> None:
        self.item_helper = item_helper
        self.changes: list[tuple[str, str, str]] = []

    def register(self) -> None:
        from eventweave.vidispine import signals  # was: from portal.vidispine import signals

        signals.vidispine_pre_modify.connect(self.metadata_updated)

    def metadata_updated(self, instance: str, **kwargs: Any) -> None:
        if kwargs.get("method") != "setItemMetadata":
            return
        item = self.item_helper().getItem(instance, {"content": ["metadata"]})
        stored = metadata_values(item["metadata"])
        for timespan in kwargs["metadata_document"]["timespan"]:
            if (timespan["start"], timespan["end"]) != ("-INF", "+INF"):
                continue  # time-based metadata is left out, as the plugin does
            for field in timespan["field"]:
                new = field["value"][0]["value"]
                old = stored.get(field["name"], [""])[0]
                if new != old:
                    self.changes.append((field["name"], old, new))


def test_plugin_template_sees_the_metadata_about_to_change(
    helpers: dict[str, Any], fake_vidispine: FakeVidispine
) -> None:
    item_helper = helpers["ItemHelper"]
    item_id = item_helper().createPlaceholder(metadata_document(title="Intro", genre="news"))
    plugin = MetadataAboutToChange(item_helper)
    plugin.register()
    try:
        with capture(signals.vidispine_pre_modify, signals.vidispine_post_modify) as events:
            item_helper().setItemMetadata(item_id, metadata_document(title="Outro", genre="news"))
        helpers["UserHelper"]().createUser("ada", "Ada", "pw")
        helpers["GroupHelper"]().createGroup("editors")
        helpers["UserHelper"]().addUserToGroup("ada", "editors")  # another modify: skipped
    finally:
        signals.vidispine_pre_modify.disconnect(plugin.metadata_updated)

    assert plugin.changes == [("title", "Intro", "Outro")]
    assert names(events) == ["vidispine_pre_modify", "vidispine_post_modify"]
    assert fake_vidispine.state.items[item_id].metadata["title"] == ["Outro"]


# -- ProductionsAutrementDit/PortalTaxonomyPlugin, plugin.py and plistner.py ---


def test_taxonomy_plugin_indexes_terms_on_modify_and_drops_them_on_delete(
    helpers: dict[str, Any],
) -> None:
    # Module functions taking (instance, method, **kwargs); the modify handler is
    # connected to vidispine_post_modify and vidispine_post_create alike, the
    # delete handler to vidispine_post_delete, each filtering on ``method``; the
    # modify handler fetches the item again with getItem(instance).
    from eventweave.vidispine.signals import (  # was: from portal.vidispine.signals import ...
        vidispine_post_create,
        vidispine_post_delete,
        vidispine_post_modify,
    )

    item_helper = helpers["ItemHelper"]
    terms: dict[str, list[str]] = {}

    def item_post_modify_handler(instance: str, method: str, **kwargs: Any) -> None:
        if method == "setItemMetadata":
            item = item_helper().getItem(instance)
            terms[instance] = metadata_values(item["metadata"]).get("keywords", [])

    def item_post_delete_handler(instance: str, method: str, **kwargs: Any) -> None:
        if method == "removeItem":
            terms.pop(instance, None)

    vidispine_post_modify.connect(item_post_modify_handler)
    vidispine_post_create.connect(item_post_modify_handler)
    vidispine_post_delete.connect(item_post_delete_handler)
    try:
        kept = item_helper().createPlaceholder(metadata_document(title="Kept"))
        gone = item_helper().createPlaceholder(metadata_document(title="Gone"))
        assert terms == {}  # createPlaceholder reached the handler and was filtered out
        item_helper().setItemMetadata(kept, metadata_document(keywords=["alps", "snow"]))
        item_helper().setItemMetadata(gone, metadata_document(keywords=["sea"]))
        helpers["GroupHelper"]().createGroup("editors")  # another create: filtered out
        item_helper().removeItem(gone)
    finally:
        vidispine_post_modify.disconnect(item_post_modify_handler)
        vidispine_post_create.disconnect(item_post_modify_handler)
        vidispine_post_delete.disconnect(item_post_delete_handler)

    assert terms == {kept: ["alps", "snow"]}


# -- ProductionsAutrementDit/PortalSynonymPlugin, plistner.py ------------------


def test_synonym_plugin_rewrites_the_item_from_inside_its_post_modify_receiver(
    helpers: dict[str, Any], fake_vidispine: FakeVidispine
) -> None:
    # The receiver re-reads the item, replaces tags by their preferred synonym,
    # and writes back with setItemMetadata(instance, document, skipForbidden=True)
    # from inside vidispine_post_modify: the nested call sends its own pair and
    # the receiver, called again for it, finds nothing left to change.
    from eventweave.vidispine.signals import vidispine_post_modify

    item_helper = helpers["ItemHelper"]
    preferred = {"car": "automobile"}

    def synonyms_item_post_modify_handler(instance: str, method: str, **kwargs: Any) -> None:
        if method != "setItemMetadata":
            return
        tags = metadata_values(item_helper().getItem(instance)["metadata"]).get("tags", [])
        better = [preferred.get(tag, tag) for tag in tags]
        if better != tags:
            item_helper().setItemMetadata(
                instance, metadata_document(tags=better), skipForbidden=True
            )

    item_id = item_helper().createPlaceholder()
    vidispine_post_modify.connect(synonyms_item_post_modify_handler)
    try:
        with capture(signals.vidispine_pre_modify, signals.vidispine_post_modify) as events:
            item_helper().setItemMetadata(item_id, metadata_document(tags=["car", "red"]))
    finally:
        vidispine_post_modify.disconnect(synonyms_item_post_modify_handler)

    assert names(events) == [
        "vidispine_pre_modify",
        "vidispine_pre_modify",  # the receiver's own write, nested in the first post
        "vidispine_post_modify",
        "vidispine_post_modify",
    ]
    assert events[1].kwargs["skipForbidden"] is True
    assert fake_vidispine.state.items[item_id].metadata["tags"] == ["automobile", "red"]


# -- ProductionsAutrementDit/Cantemo-TapelessIngest, plistner.py and ingest ----

TAPELESS_PLISTNER = """
import logging

from eventweave.vidispine.signals import vidispine_post_delete  # was: portal.vidispine.signals

log = logging.getLogger(__name__)
CLIPS = {"clip-A": None, "clip-B": None}


def reset_clip_of(item_id):
    for clip, ingested in CLIPS.items():
        if ingested == item_id:
            CLIPS[clip] = None


def item_post_delete_handler(instance, method, **kwargs):
    if method == "removeItem":
        reset_clip_of(instance)


vidispine_post_delete.connect(item_post_delete_handler)
"""


@pytest.fixture
def tapeless_plistner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A plugin module that connects its receiver when it is imported, as TapelessIngest's does."""
    (tmp_path / "tapeless_plistner.py").write_text(textwrap.dedent(TAPELESS_PLISTNER))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("tapeless_plistner")
    yield module
    signals.vidispine_post_delete.disconnect(module.item_post_delete_handler)
    del sys.modules["tapeless_plistner"]


def test_tapeless_ingest_resets_the_clip_whose_item_was_removed(
    helpers: dict[str, Any], tapeless_plistner: ModuleType
) -> None:
    item_helper = helpers["ItemHelper"]
    clips = tapeless_plistner.CLIPS
    clips["clip-A"] = item_helper().createPlaceholder()
    clips["clip-B"] = item_helper().createPlaceholder()

    item_helper().removeItem(clips["clip-A"])
    helpers["GroupHelper"]().createGroup("x")
    helpers["GroupHelper"]().removeGroup("x")  # another delete: filtered out by method

    assert clips["clip-A"] is None
    assert clips["clip-B"] is not None


def test_tapeless_ingest_sends_the_ingest_signals_itself(helpers: dict[str, Any]) -> None:
    # The plugin's clip import sends vidispine_pre_ingest / vidispine_post_ingest
    # itself, with sender=ItemHelper, instance, method and (pre only) query;
    # a receiver connected with a sender= filter gets exactly those.
    from eventweave.vidispine import signals  # was: from portal.vidispine import signals

    item_helper, group_helper = helpers["ItemHelper"], helpers["GroupHelper"]
    item_id = item_helper().createPlaceholder()
    received: list[tuple[str, dict[str, Any]]] = []

    def on_ingest(signal: Any, sender: type, **kwargs: Any) -> None:
        received.append(("pre" if signal is signals.vidispine_pre_ingest else "post", kwargs))

    def never(**kwargs: Any) -> None:
        raise AssertionError("a receiver for another sender was called")

    signals.vidispine_pre_ingest.connect(on_ingest, sender=item_helper)
    signals.vidispine_post_ingest.connect(on_ingest, sender=item_helper)
    signals.vidispine_pre_ingest.connect(never, sender=group_helper)
    try:
        query = {"fileId": "VX-9", "tag": "lowres"}
        signals.vidispine_pre_ingest.send(
            sender=item_helper, instance=item_id, method="importFileToPlaceholder", query=query
        )
        signals.vidispine_post_ingest.send(
            sender=item_helper, instance=item_id, method="importFileToPlaceholder"
        )
    finally:
        signals.vidispine_pre_ingest.disconnect(on_ingest, sender=item_helper)
        signals.vidispine_post_ingest.disconnect(on_ingest, sender=item_helper)
        signals.vidispine_pre_ingest.disconnect(never, sender=group_helper)

    assert received == [
        ("pre", {"instance": item_id, "method": "importFileToPlaceholder", "query": query}),
        ("post", {"instance": item_id, "method": "importFileToPlaceholder"}),
    ]


def test_every_signal_the_published_plugins_import_exists() -> None:
    # The names Cantemo's plugin template, TapelessIngest, PortalTaxonomyPlugin and
    # PortalSynonymPlugin import from portal.vidispine.signals.
    imported_by_plugins = {
        "vidispine_get_item_ntfcn",
        "vidispine_pre_modify",
        "vidispine_post_modify",
        "vidispine_post_create",
        "vidispine_post_delete",
        "vidispine_pre_ingest",
        "vidispine_post_ingest",
    }
    missing = {name for name in imported_by_plugins if not hasattr(signals, name)}
    assert missing == set()
    assert imported_by_plugins <= set(signals.__all__)
    for name in imported_by_plugins:
        assert callable(getattr(signals, name).connect)
        assert getattr(signals, name).send(sender=None) == []
