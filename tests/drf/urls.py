"""URLs of the DRF test project, mounted under /drf/ by tests/contrib/django_urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from tests.drf import views

router = SimpleRouter()
router.register("assets", views.AssetViewSet, basename="asset")
router.register("paged", views.PagedAssetViewSet, basename="paged")
router.register("videos", views.VideoViewSet, basename="video")
router.register("by-method", views.ByQuerysetMethodViewSet, basename="by-method")
router.register("archive", views.ArchiveViewSet, basename="archive")
router.register("members", views.MembersOnlyViewSet, basename="members")
router.register("basic", views.BasicAuthViewSet, basename="basic")
router.register("throttled", views.ThrottledViewSet, basename="throttled")

urlpatterns = [
    *router.urls,
    path("plain/assets/", views.AssetListView.as_view()),
    path("plain/assets/<int:pk>/", views.AssetDetailView.as_view()),
    path("generic/assets/<int:pk>/", views.AssetGenericView.as_view()),
]
