"""``silent``, ``trigger_instead``, ``mark`` and ``muted`` on DRF views."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

import eventweave
from eventweave.rest import RequestEvent, instrument_view
from tests.drf.models import Asset
from tests.drf.recorded import names
from tests.drf.views import ArchiveViewSet, AssetViewSet


@pytest.fixture
def unmark() -> Iterator[list[str]]:
    """Targets marked by the test, unmarked afterwards."""
    marked: list[str] = []
    yield marked
    for target in marked:
        eventweave.mark(target, silent=False, trigger_instead=False)


def test_silent_viewset_fires_nothing_and_still_answers(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(ArchiveViewSet)

    response = client.get(f"/drf/archive/{asset.pk}/")

    assert response.json()["title"] == "Trailer"
    assert seen == []


def test_silent_action_fires_nothing_while_the_others_fire(
    client: APIClient, seen: list[RequestEvent], asset: Asset, unmark: list[str]
) -> None:
    instrument_view(AssetViewSet)
    unmark.append("tests.drf.views:AssetViewSet.list")
    eventweave.mark("tests.drf.views:AssetViewSet.list", silent=True)

    assert client.get("/drf/assets/").status_code == 200
    client.get(f"/drf/assets/{asset.pk}/")

    assert names(seen) == ["BeforeShow", "AfterShow"]


def test_custom_action_marked_trigger_instead_fires_that_action(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)

    response = client.post(f"/drf/assets/{asset.pk}/publish/")

    assert response.json()["kind"] == "published"
    assert names(seen) == ["BeforeUpdate", "AfterUpdate"]
    assert seen[1].instance == asset
    assert seen[1].response["kind"] == "published"


def test_unmarked_custom_action_fires_nothing(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)

    response = client.get("/drf/assets/count/")

    assert response.json() == {"count": 1}
    assert seen == []


def test_custom_action_marked_from_outside_fires_once_instrumented(
    client: APIClient, seen: list[RequestEvent], asset: Asset, unmark: list[str]
) -> None:
    unmark.append("tests.drf.views:AssetViewSet.count")
    eventweave.mark("tests.drf.views:AssetViewSet.count", trigger_instead="index")
    instrument_view(AssetViewSet)

    client.get("/drf/assets/count/")

    assert names(seen) == ["BeforeIndex", "AfterIndex"]


def test_woven_custom_actions_keep_the_routes_the_router_finds() -> None:
    instrument_view(AssetViewSet)

    extra = sorted(method.__name__ for method in AssetViewSet.get_extra_actions())

    assert extra == ["count", "publish"]


def test_muted_requests_fire_nothing(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)

    with eventweave.muted():
        client.get(f"/drf/assets/{asset.pk}/")

    assert seen == []
