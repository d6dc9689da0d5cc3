"""DRF requests that are refused, or whose action fails, and the events they fire.

A request refused before the action runs (authentication, permissions,
throttling: DRF's ``initial()``) fires nothing; an action that raises fires
its Before event and no After event.
"""

from __future__ import annotations

import base64

from rest_framework.test import APIClient

from eventweave.rest import RequestEvent, instrument_view
from tests.drf.models import Asset
from tests.drf.recorded import names
from tests.drf.views import (
    AssetViewSet,
    BasicAuthViewSet,
    MembersOnlyViewSet,
    ThrottledViewSet,
)


def test_request_refused_by_permissions_fires_nothing(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(MembersOnlyViewSet)

    response = client.get(f"/drf/members/{asset.pk}/")

    assert response.status_code == 403
    assert seen == []


def test_request_refused_by_authentication_fires_nothing(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(BasicAuthViewSet)
    wrong = base64.b64encode(b"nobody:wrong").decode()

    response = client.get(f"/drf/basic/{asset.pk}/", HTTP_AUTHORIZATION=f"Basic {wrong}")

    assert response.status_code == 401
    assert seen == []


def test_request_refused_by_throttling_fires_nothing(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(ThrottledViewSet)

    first = client.get(f"/drf/throttled/{asset.pk}/")
    second = client.get(f"/drf/throttled/{asset.pk}/")

    assert (first.status_code, second.status_code) == (200, 429)
    assert names(seen) == ["BeforeShow", "AfterShow"]


def test_missing_object_fires_before_and_no_after(
    client: APIClient, seen: list[RequestEvent]
) -> None:
    instrument_view(AssetViewSet)

    response = client.delete("/drf/assets/999/")

    assert response.status_code == 404
    assert names(seen) == ["BeforeDelete"]


def test_validation_error_fires_before_and_no_after(
    client: APIClient, seen: list[RequestEvent]
) -> None:
    instrument_view(AssetViewSet)

    response = client.post("/drf/assets/", {"kind": "clip"}, format="json")

    assert response.status_code == 400
    assert names(seen) == ["BeforeCreate"]
    assert seen[0].fields["kind"].new_value == "clip"


def test_failed_action_lets_the_next_request_fire_again(
    client: APIClient, seen: list[RequestEvent], asset: Asset
) -> None:
    instrument_view(AssetViewSet)

    client.get("/drf/assets/999/")
    client.get(f"/drf/assets/{asset.pk}/")

    assert names(seen) == ["BeforeShow", "BeforeShow", "AfterShow"]


def test_body_drf_cannot_parse_gets_drfs_400_and_fires_nothing(
    client: APIClient, seen: list[RequestEvent]
) -> None:
    instrument_view(AssetViewSet)

    response = client.post("/drf/assets/", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert seen == []
