"""URLconf for the Django tests under tests/contrib/."""

from django.contrib.auth.views import LoginView, LogoutView
from django.urls import include, path

from eventweave.contrib.django import vidispine_notification_view

from .django_auth_views import TeamLoginView, token_login

urlpatterns = [
    path("vidispine/notify/", vidispine_notification_view, name="vidispine-notify"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/team-login/", TeamLoginView.as_view(), name="team-login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("api/token/", token_login, name="api-token"),
    path("drf/", include("tests.drf.urls")),
]
