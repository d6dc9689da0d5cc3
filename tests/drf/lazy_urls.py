"""A URLconf routing only the lazily imported CatalogueViewSet (see test_plan.py)."""

from rest_framework.routers import SimpleRouter

from tests.drf.lazy_views import CatalogueViewSet

router = SimpleRouter()
router.register("catalogue", CatalogueViewSet, basename="catalogue")

urlpatterns = router.urls
