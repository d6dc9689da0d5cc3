"""A ViewSet that no module imports before a test does: for plans' lazy weaving."""

from rest_framework import viewsets

from tests.drf.models import Asset
from tests.drf.views import AssetSerializer


class CatalogueViewSet(viewsets.ModelViewSet):
    queryset = Asset.objects.all()
    serializer_class = AssetSerializer
