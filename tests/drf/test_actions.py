"""Which DRF requests fire which REST events (`eventweave.contrib.drf`).

Requests go through the test project's router and views with DRF's
APIClient; views are instrumented the way a user does it, with
``instrument_view`` and no adapter.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIClient

import eventweave
from eventweave.contrib.drf import AFTER_EVENTS_DRF, BEFORE_EVENTS_DRF, DRFAdapter
from eventweave.relay._entry import path_of, resolve
from eventweave.rest import (
    AfterShow,
    BeforeEvent,
    BeforeShow,
    RequestEvent,
    instrument_view,
    registry,
)
from eventweave.rest._adapter import adapter_for
from tests.drf.models import Asset
from tests.drf.recorded import attributes, names
from tests.drf.views import (
    AssetDetailView,
    AssetGenericView,
    AssetListView,
    AssetViewSet,
    ByQuerysetMethodViewSet,
    PagedAssetViewSet,
)

NEW = {"title": "Teaser", "kind": "clip", "tags": "draft"}

VIEWSET_REQUESTS = [
    ("get", "list", None, "Index"),
    ("get", "detail", None, "Show"),
    ("post", "list", NEW, "Create"),
    ("put", "detail", NEW, "Replace"),
    ("patch", "detail", {"title": "Renamed"}, "Update"),
    ("delete", "detail", None, "Delete"),
    ("options", "detail", None, "ItemOptions"),
    ("options", "list", None, "CollectionOptions"),
]


def send(client: APIClient, verb: str, url: str, data: Any = None) -> Any:
    if data is None:
        return getattr(client, verb)(url)
    return getattr(client, verb)(url, data, format="json")


def url_of(route: str, prefix: str, asset: Asset) -> str:
    return f"{prefix}{asset.pk}/" if route == "detail" else prefix


@pytest.mark.parametrize(("verb", "route", "data", "event"), VIEWSET_REQUESTS)
def test_each_viewset_request_fires_one_before_after_pair_of_its_action(
    client: APIClient,
    seen: list[RequestEvent],
    asset: Asset,
    verb: str,
    route: str,
    data: Any,
    event: str,
) -> None:
    instrument_view(AssetViewSet)

    response = send(client, verb, url_of(route, "/drf/assets/", asset), data)

    assert response.status_code < 300, response.content
    assert names(seen) == [f"Before{event}", f"After{event}"]


def test_partial_update_fires_update_once_though_it_calls_update(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)

    client.patch(f"/drf/assets/{asset.pk}/", {"title": "Renamed"}, format="json")

    assert names(seen) == ["BeforeUpdate", "AfterUpdate"]


def test_events_are_the_standard_classes_and_reach_their_subscribers(
    client: APIClient, asset: Asset
) -> None:
    instrument_view(AssetViewSet)
    got: list[RequestEvent] = []
    registry.subscribe(got.append, [BeforeShow, AfterShow])
    try:
        client.get(f"/drf/assets/{asset.pk}/")
    finally:
        registry.unsubscribe(got.append)

    before, after = got
    assert isinstance(before, BeforeShow) and isinstance(after, AfterShow)
    assert repr(before) == "<BeforeShow model=Asset fields=[]>"


def test_events_carry_the_view_the_drf_request_and_the_model(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)

    client.get(f"/drf/assets/{asset.pk}/")

    before, after = seen
    assert isinstance(before.view, AssetViewSet) and after.view is before.view
    assert isinstance(before.request, Request)
    assert before.model is Asset and after.model is Asset


def test_after_event_response_is_the_response_data(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)

    response = client.get(f"/drf/assets/{asset.pk}/")

    assert seen[0].response is None
    assert (
        seen[1].response
        == response.json()
        == {
            "id": asset.pk,
            "title": "Trailer",
            "kind": "video",
            "tags": "new",
        }
    )


def test_model_comes_from_get_queryset_when_the_view_has_no_queryset(
    client: APIClient, seen: list[RequestEvent]
) -> None:
    instrument_view(ByQuerysetMethodViewSet)

    client.get("/drf/by-method/")

    assert [event.model for event in seen] == [Asset, Asset]


@pytest.mark.parametrize(
    ("verb", "url", "data", "event"),
    [
        ("get", "/drf/plain/assets/", None, "Index"),
        ("post", "/drf/plain/assets/", NEW, "Create"),
        ("options", "/drf/plain/assets/", None, "CollectionOptions"),
        ("get", "/drf/plain/assets/{pk}/", None, "Show"),
        ("put", "/drf/plain/assets/{pk}/", NEW, "Replace"),
        ("patch", "/drf/plain/assets/{pk}/", {"kind": "clip"}, "Update"),
        ("delete", "/drf/plain/assets/{pk}/", None, "Delete"),
        ("options", "/drf/plain/assets/{pk}/", None, "ItemOptions"),
    ],
)
def test_apiview_handlers_fire_the_action_of_their_method_and_route(
    client: APIClient,
    seen: list[RequestEvent],
    asset: Asset,
    verb: str,
    url: str,
    data: Any,
    event: str,
) -> None:
    instrument_view(AssetListView)
    instrument_view(AssetDetailView)

    response = send(client, verb, url.format(pk=asset.pk), data)

    assert response.status_code < 300, response.content
    assert names(seen) == [f"Before{event}", f"After{event}"]


@pytest.mark.parametrize(
    ("verb", "data", "event"),
    [
        ("get", None, "Show"),
        ("put", NEW, "Replace"),
        ("patch", {"kind": "clip"}, "Update"),
        ("delete", None, "Delete"),
    ],
)
def test_generic_view_fires_once_per_request_through_its_mixin_actions(
    client: APIClient, seen: list[RequestEvent], asset: Asset, verb: str, data: Any, event: str
) -> None:
    instrument_view(AssetGenericView)

    response = send(client, verb, f"/drf/generic/assets/{asset.pk}/", data)

    assert response.status_code < 300, response.content
    assert names(seen) == [f"Before{event}", f"After{event}"]


def test_head_fires_the_events_of_get(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)

    client.head(f"/drf/assets/{asset.pk}/")

    assert names(seen) == ["BeforeShow", "AfterShow"]


def test_drf_views_get_the_drf_adapter_without_asking() -> None:
    assert isinstance(adapter_for(AssetViewSet), DRFAdapter)
    assert isinstance(adapter_for(AssetListView), DRFAdapter)
    assert adapter_for(AssetViewSet) is adapter_for(AssetGenericView)


def test_explicit_drf_adapter_fires_the_same_events(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet, adapter=DRFAdapter())

    client.patch(f"/drf/assets/{asset.pk}/", {"title": "Renamed"}, format="json")

    assert names(seen) == ["BeforeUpdate", "AfterUpdate"]
    assert seen[0].fields["title"].new_value == "Renamed"


def test_instrumenting_a_viewset_twice_fires_one_pair(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)
    instrument_view(AssetViewSet)
    instrument_view("tests.drf.views:AssetViewSet")

    client.get(f"/drf/assets/{asset.pk}/")

    assert names(seen) == ["BeforeShow", "AfterShow"]


def test_instrumenting_a_viewset_with_and_without_the_adapter_fires_one_pair(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)
    instrument_view(AssetViewSet, adapter=DRFAdapter())

    client.get(f"/drf/assets/{asset.pk}/")
    client.patch(f"/drf/assets/{asset.pk}/", {"title": "Renamed"}, format="json")

    assert names(seen) == ["BeforeShow", "AfterShow", "BeforeUpdate", "AfterUpdate"]


def test_instrumented_subclass_of_an_instrumented_viewset_fires_one_pair(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)
    instrument_view(PagedAssetViewSet)  # a subclass, routed at /drf/paged/

    client.get(f"/drf/paged/{asset.pk}/")
    client.get("/drf/paged/")

    assert names(seen) == ["BeforeShow", "AfterShow", "BeforeIndex", "AfterIndex"]


def test_woven_methods_are_the_actions_options_and_marked_methods() -> None:
    weavings = instrument_view("tests.drf.views:AssetViewSet")

    woven = sorted(weaving.target.rpartition(".")[2] for weaving in weavings)

    # count is a custom action left unmarked; publish is marked trigger_instead.
    assert woven == [
        "create",
        "destroy",
        "list",
        "options",
        "partial_update",
        "publish",
        "retrieve",
        "update",
    ]


def test_generic_view_handlers_are_left_to_the_mixin_actions() -> None:
    weavings = instrument_view("tests.drf.views:AssetGenericView")

    woven = sorted(weaving.target.rpartition(".")[2] for weaving in weavings)

    assert woven == ["destroy", "options", "partial_update", "retrieve", "update"]


def test_unweave_restores_the_viewset_class_exactly(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    before = attributes(AssetViewSet)
    instrument_view(AssetViewSet)  # publish is its own: woven in place, unless disabled
    woven = attributes(AssetViewSet)
    assert woven != before
    assert woven["publish"][1] is not before["publish"][1]  # seen listens: other code

    eventweave.unweave_all()

    assert attributes(AssetViewSet) == before
    assert client.get(f"/drf/assets/{asset.pk}/").status_code == 200
    assert seen == []


def test_instrumented_viewset_answers_as_before_while_nobody_listens(
    client: APIClient, asset: Asset
) -> None:
    plain = client.get("/drf/assets/").json()
    instrument_view(AssetViewSet)

    assert client.get("/drf/assets/").json() == plain
    assert not registry.receivers


def test_before_subscriber_that_raises_vetoes_the_action(client: APIClient, asset: Asset) -> None:
    def refuse(event: BeforeEvent) -> None:
        raise ValidationError({"title": "frozen"})

    instrument_view(AssetViewSet)
    registry.subscribe(refuse, BeforeEvent)
    try:
        response = client.patch(f"/drf/assets/{asset.pk}/", {"title": "X"}, format="json")
    finally:
        registry.unsubscribe(refuse)

    assert response.status_code == 400
    assert response.json() == {"title": "frozen"}
    asset.refresh_from_db()
    assert asset.title == "Trailer"


def test_event_classes_are_found_by_their_import_path(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)
    client.get(f"/drf/assets/{asset.pk}/")
    fired = type(seen[0])
    flavours = [*BEFORE_EVENTS_DRF.values(), *AFTER_EVENTS_DRF.values()]
    assert fired in flavours

    for flavour in flavours:
        path = path_of(flavour)
        assert path == f"eventweave.contrib.drf:DRFEvents.{flavour.__name__}"
        assert resolve(path) is flavour
        assert pickle.loads(pickle.dumps(flavour)) is flavour
