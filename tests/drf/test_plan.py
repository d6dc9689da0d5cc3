"""DRF views instrumented from a plan (``[rest] views``), and detection without importing DRF."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

import eventweave
from eventweave.plan import loads
from eventweave.rest import RequestEvent
from tests.drf.models import Asset
from tests.drf.recorded import attributes, names

LAZY_MODULES = ("tests.drf.lazy_views", "tests.drf.lazy_urls")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def not_imported() -> Iterator[None]:
    """The lazy views module is imported by the test itself, and forgotten afterwards."""
    forget()
    yield
    forget()


def forget() -> None:
    package = sys.modules["tests.drf"]
    for name in LAZY_MODULES:
        sys.modules.pop(name, None)
        vars(package).pop(name.rpartition(".")[2], None)


def test_plan_weaves_a_viewset_once_its_module_is_imported(
    client: APIClient, seen: list[RequestEvent], asset: Asset, not_imported: None
) -> None:
    plan = loads('[rest]\nviews = ["tests.drf.lazy_views:CatalogueViewSet"]\n')

    (weaving,) = plan.apply()
    assert weaving.pending and "tests.drf.lazy_views" not in sys.modules

    with override_settings(ROOT_URLCONF="tests.drf.lazy_urls"):
        response = client.patch(f"/catalogue/{asset.pk}/", {"title": "Cut"}, format="json")

    assert response.status_code == 200
    assert weaving.applied
    assert names(seen) == ["BeforeUpdate", "AfterUpdate"]
    assert seen[0].model is Asset and seen[0].fields["title"].new_value == "Cut"


def test_unweaving_a_planned_viewset_leaves_its_class_as_defined(
    client: APIClient, seen: list[RequestEvent], asset: Asset, not_imported: None
) -> None:
    lazy_views = importlib.import_module("tests.drf.lazy_views")
    defined = attributes(lazy_views.CatalogueViewSet)
    weavings = loads('[rest]\nviews = ["tests.drf.lazy_views:CatalogueViewSet"]\n').apply()
    woven = attributes(lazy_views.CatalogueViewSet)
    assert woven != defined
    # retrieve is its own: woven in place (unless disabled), listening for seen.
    assert woven["retrieve"][1] is not defined["retrieve"][1]

    for weaving in weavings:
        weaving.unweave()

    assert attributes(lazy_views.CatalogueViewSet) == defined
    assert not eventweave.woven()
    with override_settings(ROOT_URLCONF="tests.drf.lazy_urls"):
        assert client.get(f"/catalogue/{asset.pk}/").status_code == 200
    assert seen == []


def test_plan_trigger_instead_marks_a_custom_action_of_a_viewset(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    target = "tests.drf.views:AssetViewSet.count"
    plan = loads(
        textwrap.dedent(f"""
        [rest]
        views = ["tests.drf.views:AssetViewSet"]
        trigger_instead = {{ "{target}" = "index" }}
        """)
    )
    try:
        plan.apply()
        client.get("/drf/assets/count/")
    finally:
        eventweave.mark(target, trigger_instead=False)

    assert names(seen) == ["BeforeIndex", "AfterIndex"]


def test_instrumenting_other_views_imports_neither_drf_nor_its_adapter() -> None:
    code = textwrap.dedent("""
        import sys
        from eventweave.rest import instrument_view, registry, RequestEvent

        @instrument_view
        class UsersView:
            def index(self):
                return []

        registry.subscribe(print, RequestEvent)
        UsersView().index()
        loaded = ("rest_framework", "django", "eventweave.contrib.drf")
        print(sorted(name for name in loaded if name in sys.modules))
        """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_show_names_the_events_a_drf_view_fires_by_drfs_actions() -> None:
    plan = loads(
        '[rest]\nviews = ["tests.drf.views:AssetViewSet", "tests.drf.views:AssetListView"]\n'
    )
    viewset, listing = (entry.events for entry in plan.entries())
    assert viewset.startswith("Before/After Index, Show, Create, Replace, Update, Delete")
    assert listing.startswith("Before/After get (by route), Create")
