"""What DRF events carry and change: model and field predicates, fields,
``set_field_value`` before and after the action, and the lazy ``instance``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory

from eventweave.rest import (
    AfterEvent,
    AfterIndex,
    AfterShow,
    BeforeCreate,
    BeforeEvent,
    BeforeShow,
    BeforeUpdate,
    RequestEvent,
    add_field_processors,
    instrument_view,
    registry,
)
from tests.drf.models import Asset, Video
from tests.drf.recorded import names
from tests.drf.views import AssetViewSet, PagedAssetViewSet, VideoViewSet

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def instrumented() -> None:
    instrument_view(AssetViewSet)
    instrument_view(PagedAssetViewSet)
    instrument_view(VideoViewSet)


@pytest.fixture
def subscribed() -> Iterator[list[tuple[Any, Any]]]:
    """Subscribe with ``subscribe(fn, events, **predicates)``; all undone afterwards."""
    made: list[tuple[Any, Any]] = []
    yield made
    for subscriber, _ in made:
        assert registry.unsubscribe(subscriber)


def subscribe(made: list[tuple[Any, Any]], subscriber: Any, events: Any, **predicates: Any) -> Any:
    registry.subscribe(subscriber, events, **predicates)
    made.append((subscriber, events))
    return subscriber


def assets(*titles: str) -> list[Asset]:
    return [Asset.objects.create(title=title) for title in titles]


# -- predicates ------------------------------------------------------------------


def test_model_predicate_matches_the_viewsets_model_and_its_subclasses(
    client: APIClient, subscribed: list[Any]
) -> None:
    about_assets: list[RequestEvent] = []
    about_videos: list[RequestEvent] = []
    subscribe(subscribed, about_assets.append, BeforeCreate, model=Asset)
    subscribe(subscribed, about_videos.append, BeforeCreate, model=Video)

    client.post("/drf/videos/", {"title": "Clip"}, format="json")
    client.post("/drf/assets/", {"title": "Still"}, format="json")

    assert [event.model for event in about_assets] == [Video, Asset]
    assert [event.model for event in about_videos] == [Video]


def test_field_predicate_matches_requests_that_send_the_field(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")
    titles: list[Any] = []
    subscribe(subscribed, lambda event: titles.append(event.field), BeforeUpdate, field="title")

    client.patch(f"/drf/assets/{asset.pk}/", {"kind": "clip"}, format="json")
    client.patch(f"/drf/assets/{asset.pk}/", {"title": "Renamed"}, format="json")

    assert [(field.name, field.new_value) for field in titles] == [("title", "Renamed")]


# -- fields ----------------------------------------------------------------------


def test_fields_come_from_a_json_body(client: APIClient, seen: list[RequestEvent]) -> None:
    client.post("/drf/assets/", {"title": "Teaser", "kind": "clip"}, format="json")

    assert {n: f.new_value for n, f in seen[0].fields.items()} == {
        "title": "Teaser",
        "kind": "clip",
    }


def test_fields_come_from_a_form_body_with_repeated_keys_as_lists(
    client: APIClient, seen: list[RequestEvent]
) -> None:
    response = client.post("/drf/assets/", "title=Teaser&tags=a&tags=b", content_type=FORM)

    assert {n: f.new_value for n, f in seen[0].fields.items()} == {
        "title": "Teaser",
        "tags": ["a", "b"],
    }
    # The serializer's tags field holds one value: it reads the last one sent.
    assert response.json()["tags"] == "b"


def test_fields_come_from_a_multipart_body_files_included(
    client: APIClient, seen: list[RequestEvent]
) -> None:
    upload = SimpleUploadedFile("notes.txt", b"shot list", content_type="text/plain")

    client.post("/drf/assets/", {"title": "Teaser", "notes": upload}, format="multipart")

    fields = seen[0].fields
    assert fields["title"].new_value == "Teaser"
    assert fields["notes"].new_value.name == "notes.txt"


def test_after_event_has_the_fields_of_the_request(
    client: APIClient, seen: list[RequestEvent]
) -> None:
    client.post("/drf/assets/", {"title": "Teaser"}, format="json")

    assert names(seen) == ["BeforeCreate", "AfterCreate"]
    assert seen[1].fields["title"].new_value == "Teaser"


# -- set_field_value before the action ----------------------------------------------


def set_kind(event: BeforeEvent) -> None:
    event.set_field_value("kind", "archived")


@pytest.mark.parametrize(
    ("body", "options"),
    [
        ({"title": "Teaser"}, {"format": "json"}),
        ("title=Teaser", {"content_type": FORM}),
        ({"title": "Teaser"}, {"format": "multipart"}),
        (
            {"title": "Teaser", "notes": SimpleUploadedFile("n.txt", b"x")},
            {"format": "multipart"},
        ),
    ],
    ids=["json", "form", "multipart", "multipart-with-file"],
)
def test_before_set_field_value_changes_what_the_serializer_saves(
    client: APIClient, subscribed: list[Any], body: Any, options: dict[str, Any]
) -> None:
    subscribe(subscribed, set_kind, BeforeCreate)

    response = client.post("/drf/assets/", body, **options)

    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "archived"
    assert Asset.objects.get(pk=response.json()["id"]).kind == "archived"


def test_before_set_field_value_on_a_form_leaves_request_data_edited(
    client: APIClient, subscribed: list[Any]
) -> None:
    data: list[Any] = []
    subscribe(subscribed, set_kind, BeforeCreate)
    subscribe(subscribed, lambda event: data.append(event.request.data), AfterEvent)

    client.post("/drf/assets/", "title=Teaser&kind=clip", content_type=FORM)

    assert data[0]["kind"] == "archived"
    assert data[0]["title"] == "Teaser"


def test_before_set_field_value_of_a_list_sets_every_value_of_a_form_key(
    client: APIClient, subscribed: list[Any]
) -> None:
    data: list[Any] = []
    subscribe(subscribed, lambda event: event.set_field_value("tags", ["x", "y"]), BeforeCreate)
    subscribe(subscribed, lambda event: data.append(event.request.data), AfterEvent)

    client.post("/drf/assets/", "title=Teaser&tags=a", content_type=FORM)

    assert data[0].getlist("tags") == ["x", "y"]


def test_field_set_before_reaches_field_subscribers_called_later(
    client: APIClient, subscribed: list[Any]
) -> None:
    kinds: list[Any] = []
    subscribe(subscribed, set_kind, BeforeCreate)
    subscribe(subscribed, lambda e: kinds.append(e.field.new_value), BeforeCreate, field="kind")

    client.post("/drf/assets/", {"title": "Teaser"}, format="json")

    assert kinds == ["archived"]


def test_field_processors_rewrite_a_field_before_it_is_saved(client: APIClient) -> None:
    def shout(new_value: str, **others: Any) -> str:
        return new_value.upper()

    processor = add_field_processors(registry, [shout], model=Asset, field="title")
    try:
        response = client.post("/drf/videos/", {"title": "teaser"}, format="json")
    finally:
        registry.unsubscribe(processor)

    assert response.json()["title"] == "TEASER"
    assert Asset.objects.get().title == "TEASER"


def test_before_set_field_value_on_a_json_list_body_names_the_problem(
    client: APIClient, subscribed: list[Any]
) -> None:
    errors: list[Exception] = []

    def try_set(event: BeforeEvent) -> None:
        try:
            event.set_field_value("kind", "x")
        except TypeError as exc:
            errors.append(exc)

    subscribe(subscribed, try_set, BeforeCreate)

    client.post("/drf/assets/", [{"title": "a"}], format="json")

    assert "request.data is list, not an object of fields: no field" in str(errors[0])


def test_before_set_field_value_on_a_get_says_it_has_no_data(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")
    errors: list[Exception] = []

    def try_set(event: BeforeEvent) -> None:
        assert event.fields == {}
        try:
            event.set_field_value("kind", "x")
        except TypeError as exc:
            errors.append(exc)

    subscribe(subscribed, try_set, BeforeShow)

    assert client.get(f"/drf/assets/{asset.pk}/").status_code == 200
    assert "a GET request has no data" in str(errors[0])


BAD_BODIES = {
    "malformed JSON": ("{not json", "application/json"),
    "an unsupported media type": ("<asset/>", "application/xml"),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=list(BAD_BODIES))
@pytest.mark.parametrize(("method", "status"), [("DELETE", 204), ("GET", 200), ("OPTIONS", 200)])
def test_a_body_drf_cannot_parse_changes_no_answer_of_an_action_that_ignores_it(
    client: APIClient, seen: list[RequestEvent], method: str, status: int, body: tuple[str, str]
) -> None:
    (asset,) = assets("Trailer")
    content, content_type = body

    response = client.generic(method, f"/drf/assets/{asset.pk}/", content, content_type)

    assert response.status_code == status
    assert len(seen) == 2
    assert [event.fields for event in seen] == [{}, {}]


@pytest.mark.parametrize("listening", [False, True], ids=["nobody listening", "listening"])
@pytest.mark.parametrize(
    ("body", "status"),
    list(zip(BAD_BODIES.values(), [400, 415], strict=True)),
    ids=list(BAD_BODIES),
)
def test_a_body_drf_cannot_parse_gets_the_same_answer_from_an_action_that_reads_it(
    client: APIClient, subscribed: list[Any], listening: bool, body: tuple[str, str], status: int
) -> None:
    (asset,) = assets("Trailer")
    got: list[RequestEvent] = []
    if listening:
        subscribe(subscribed, got.append, RequestEvent)
    content, content_type = body

    response = client.patch(f"/drf/assets/{asset.pk}/", content, content_type=content_type)

    assert response.status_code == status
    assert got == []


# -- set_field_value after the action -----------------------------------------------


def stamp(event: AfterEvent) -> None:
    event.set_field_value("source", "eventweave")


def test_after_set_field_value_edits_the_object_of_a_detail_response(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")
    subscribe(subscribed, stamp, AfterShow)

    body = client.get(f"/drf/assets/{asset.pk}/").json()

    assert body == {
        "id": asset.pk,
        "title": "Trailer",
        "kind": "video",
        "tags": "",
        "source": "eventweave",
    }


def test_after_set_field_value_edits_every_object_of_a_list(
    client: APIClient, subscribed: list[Any]
) -> None:
    assets("One", "Two", "Three")
    subscribe(subscribed, stamp, AfterIndex)

    body = client.get("/drf/assets/").json()

    assert [item["source"] for item in body] == ["eventweave"] * 3


def test_after_set_field_value_edits_every_object_of_a_paginated_page(
    client: APIClient, subscribed: list[Any]
) -> None:
    assets("One", "Two", "Three")
    subscribe(subscribed, stamp, AfterIndex)

    body = client.get("/drf/paged/").json()

    assert body["count"] == 3 and "source" not in body
    assert [item["source"] for item in body["results"]] == ["eventweave"] * 2


def test_after_set_field_value_leaves_an_empty_delete_response_alone(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")
    subscribe(subscribed, stamp, AfterEvent)

    response = client.delete(f"/drf/assets/{asset.pk}/")

    assert response.status_code == 204 and response.content == b""


def test_after_subscriber_may_replace_the_response_data(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")

    def summarise(event: AfterEvent) -> None:
        event.response = {"title": event.response["title"]}

    subscribe(subscribed, summarise, AfterShow)

    assert client.get(f"/drf/assets/{asset.pk}/").json() == {"title": "Trailer"}


def test_after_subscriber_may_replace_the_whole_response(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")

    def gone(event: AfterEvent) -> None:
        event.response = HttpResponse("gone", status=410)

    subscribe(subscribed, gone, AfterShow)

    response = client.get(f"/drf/assets/{asset.pk}/")

    assert (response.status_code, response.content) == (410, b"gone")


# -- instance --------------------------------------------------------------------


def asset_queries(context: CaptureQueriesContext) -> int:
    return sum('FROM "drf_asset"' in query["sql"] for query in context.captured_queries)


class ShowWithoutLookup(AssetViewSet):
    """A detail action that never calls get_object(); get_object() counts its calls."""

    fetched = 0

    def get_object(self) -> Any:
        type(self).fetched += 1
        return super().get_object()

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return Response({"pk": kwargs["pk"]})


@pytest.mark.parametrize(("reads", "fetched"), [(False, 0), (True, 1)])
def test_instance_is_fetched_only_when_a_subscriber_reads_it(
    subscribed: list[Any], monkeypatch: pytest.MonkeyPatch, reads: bool, fetched: int
) -> None:
    (asset,) = assets("Trailer")
    monkeypatch.setattr(ShowWithoutLookup, "fetched", 0)
    instrument_view(ShowWithoutLookup)
    read: list[Any] = []
    subscribe(
        subscribed,
        lambda event: read.append(event.instance if reads else None),
        [BeforeShow, AfterShow],
    )
    view = ShowWithoutLookup.as_view({"get": "retrieve"})

    response = view(APIRequestFactory().get(f"/assets/{asset.pk}/"), pk=str(asset.pk))

    assert response.status_code == 200
    assert len(read) == 2
    assert ShowWithoutLookup.fetched == fetched
    assert read == ([asset, asset] if reads else [None, None])


def test_instance_read_before_the_action_costs_the_view_no_second_query(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")
    read: list[Any] = []
    subscribe(subscribed, lambda event: read.append(event.instance), [BeforeShow, AfterShow])

    with CaptureQueriesContext(connection) as context:
        response = client.get(f"/drf/assets/{asset.pk}/")

    assert response.status_code == 200
    assert asset_queries(context) == 1
    assert read[0] == asset and read[1] is read[0]


def test_instance_read_after_an_update_is_the_object_the_view_saved(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")
    read: list[Any] = []
    subscribe(subscribed, lambda event: read.append(event.instance.title), AfterEvent)

    with CaptureQueriesContext(connection) as context:
        client.patch(f"/drf/assets/{asset.pk}/", {"title": "Renamed"}, format="json")

    assert read == ["Renamed"]
    assert sum(q["sql"].startswith("SELECT") for q in context.captured_queries) == 1


def test_instance_after_a_delete_is_the_deleted_object(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")
    read: list[Any] = []
    subscribe(subscribed, lambda event: read.append(event.instance), AfterEvent)

    client.delete(f"/drf/assets/{asset.pk}/")

    assert read[0].title == "Trailer"
    assert not Asset.objects.filter(pk=asset.pk).exists()


def test_instance_of_a_missing_object_is_none_and_the_view_answers_404(
    client: APIClient, seen: list[RequestEvent], subscribed: list[Any]
) -> None:
    read: list[Any] = []
    subscribe(subscribed, lambda event: read.append(event.instance), BeforeShow)

    response = client.get("/drf/assets/999/")

    assert response.status_code == 404
    assert read == [None]
    assert names(seen) == ["BeforeShow"]


def test_instance_is_none_on_list_routes(client: APIClient, seen: list[RequestEvent]) -> None:
    assets("One")

    client.get("/drf/assets/")
    client.post("/drf/assets/", {"title": "Two"}, format="json")

    assert [event.instance for event in seen] == [None, None, None, None]


def test_a_subscriber_may_set_the_instance_later_subscribers_read(
    client: APIClient, subscribed: list[Any]
) -> None:
    (asset,) = assets("Trailer")
    read: list[Any] = []

    def replace(event: BeforeEvent) -> None:
        event.instance = "stand-in"

    subscribe(subscribed, replace, BeforeShow)
    subscribe(subscribed, lambda event: read.append(event.instance), [BeforeShow, AfterShow])

    assert client.get(f"/drf/assets/{asset.pk}/").status_code == 200
    assert read == ["stand-in", "stand-in"]
