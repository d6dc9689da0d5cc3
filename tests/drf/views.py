"""Views of the DRF test project: ViewSets, plain APIViews and a generic view.

Nothing here is instrumented: each test instruments what it exercises, and
the autouse fixture of tests/conftest.py unweaves it afterwards.
"""

from __future__ import annotations

from typing import Any

from rest_framework import mixins, serializers, viewsets
from rest_framework.authentication import BasicAuthentication
from rest_framework.decorators import action
from rest_framework.generics import RetrieveUpdateDestroyAPIView, get_object_or_404
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from eventweave import silent, trigger_instead
from tests.drf.models import Asset, Video


class AssetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Asset
        fields = ["id", "title", "kind", "tags"]


class AssetViewSet(viewsets.ModelViewSet):
    """Every action of a ModelViewSet, plus two custom actions."""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer

    @action(detail=True, methods=["post"])
    @trigger_instead("update")
    def publish(self, request: Request, pk: str | None = None) -> Response:
        """A custom action that fires the events of update (PATCH)."""
        asset = self.get_object()
        asset.kind = "published"
        asset.save()
        return Response(self.get_serializer(asset).data)

    @action(detail=False, methods=["get"])
    def count(self, request: Request) -> Response:
        """A custom action left unmarked: it fires nothing."""
        return Response({"count": self.get_queryset().count()})


class Pages(PageNumberPagination):
    page_size = 2


class PagedAssetViewSet(AssetViewSet):
    """A subclass of AssetViewSet whose list is paginated as {"count", ..., "results"}."""

    pagination_class = Pages


class VideoViewSet(viewsets.ModelViewSet):
    """Serves the proxy model Video (a subclass of Asset)."""

    queryset = Video.objects.all()
    serializer_class = AssetSerializer


class ByQuerysetMethodViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """No queryset attribute: the model comes from get_queryset()."""

    serializer_class = AssetSerializer

    def get_queryset(self) -> Any:
        return Asset.objects.filter(kind="video")


@silent
class ArchiveViewSet(viewsets.ModelViewSet):
    """Marked silent: fires nothing."""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer


class MembersOnlyViewSet(viewsets.ModelViewSet):
    """Refuses anonymous requests (permissions)."""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer
    permission_classes = [IsAuthenticated]


class BasicAuthViewSet(viewsets.ModelViewSet):
    """Refuses wrong Basic credentials (authentication)."""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer
    authentication_classes = [BasicAuthentication]


class OncePerDay(AnonRateThrottle):
    rate = "1/day"


class ThrottledViewSet(viewsets.ModelViewSet):
    """Answers one anonymous request a day (throttling)."""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer
    throttle_classes = [OncePerDay]


class AssetListView(APIView):
    """A plain APIView on the list route: get lists, post creates."""

    def get(self, request: Request) -> Response:
        return Response(AssetSerializer(Asset.objects.all(), many=True).data)

    def post(self, request: Request) -> Response:
        serializer = AssetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=201)


class AssetDetailView(APIView):
    """A plain APIView on the detail route: get, put, patch, delete."""

    def get(self, request: Request, pk: int) -> Response:
        return Response(AssetSerializer(get_object_or_404(Asset, pk=pk)).data)

    def put(self, request: Request, pk: int) -> Response:
        return self._save(request, pk, partial=False)

    def patch(self, request: Request, pk: int) -> Response:
        return self._save(request, pk, partial=True)

    def delete(self, request: Request, pk: int) -> Response:
        get_object_or_404(Asset, pk=pk).delete()
        return Response(status=204)

    def _save(self, request: Request, pk: int, partial: bool) -> Response:
        asset = get_object_or_404(Asset, pk=pk)
        serializer = AssetSerializer(asset, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class AssetGenericView(RetrieveUpdateDestroyAPIView):
    """DRF's generic view: its get/put/patch/delete call the mixin actions."""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer
