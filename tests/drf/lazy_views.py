"""A ViewSet that no module imports before a test does: for plans' lazy weaving."""

from typing import Any

from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from tests.drf.models import Asset
from tests.drf.views import AssetSerializer


class CatalogueViewSet(viewsets.ModelViewSet):
    """Inherits its actions but retrieve, its own, which is woven in place."""

    queryset = Asset.objects.all()
    serializer_class = AssetSerializer

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)
