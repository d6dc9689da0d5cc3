"""Tests for `eventweave.contrib.django._auth`: the portal signals on a real Django project.

Settings, URLconf and views are in tests/contrib (django_settings, django_urls,
django_auth_views); users live in the project's sqlite database and requests go
through Django's test client, middleware and all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django.contrib.auth
import django.contrib.auth.forms
import django.contrib.auth.views
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client
from django.urls import resolve

import eventweave
from eventweave import MASK
from eventweave.contrib.django import instrument_auth
from eventweave.portal import signals
from eventweave.testing import CapturedEvent, capture

PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parent.parent.parent

ALL = tuple(getattr(signals, name) for name in signals.__all__)


@pytest.fixture(scope="module", autouse=True)
def database() -> None:
    call_command("migrate", verbosity=0)


@pytest.fixture
def user() -> Iterator[User]:
    admin = User.objects.create_user("admin", password=PASSWORD)
    yield admin
    admin.delete()


@pytest.fixture
def instrumented() -> Iterator[list[eventweave.Weaving]]:
    yield instrument_auth()
    eventweave.unweave_all()
    assert not eventweave.woven()


@pytest.fixture
def events() -> Iterator[list[CapturedEvent]]:
    with capture(*ALL) as got:
        yield got
    assert all(not signal.receivers for signal in ALL)


def names(events: list[CapturedEvent]) -> list[str]:
    by_signal = {id(getattr(signals, name)): name for name in signals.__all__}
    return [by_signal[id(event.signal)] for event in events]


def log_in(client: Client, password: str = PASSWORD, url: str = "/accounts/login/") -> Any:
    return client.post(url, {"username": "admin", "password": password})


def test_login_sends_authenticate_then_login_signals(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    response = log_in(Client())
    assert response.status_code == 302
    assert names(events) == [
        "portal_pre_authenticate",
        "portal_post_authenticate",
        "portal_pre_login",
        "portal_post_login",
    ]


def test_login_signals_carry_the_user(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    log_in(Client())
    instances = [event.kwargs["instance"] for event in events]
    assert instances[0] is None
    assert instances[1:] == [user, user, user]
    assert all(type(instance) is User for instance in instances[1:])


def test_login_sender_is_django_login_view(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    log_in(Client())
    assert {event.sender for event in events} == {django.contrib.auth.views.LoginView}


def test_login_view_subclass_is_the_sender(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    team_login_view = resolve("/accounts/team-login/").func.view_class
    assert issubclass(team_login_view, django.contrib.auth.views.LoginView)
    response = log_in(Client(), url="/accounts/team-login/")
    assert response.status_code == 302
    assert len(events) == 4
    assert {event.sender for event in events} == {team_login_view}


def test_wrong_password_sends_authenticate_signals_only(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    response = log_in(Client(), password="guess")
    assert response.status_code == 200  # the form again, with its error
    assert names(events) == ["portal_pre_authenticate", "portal_post_authenticate"]
    assert events[1].kwargs["instance"] is None


def test_password_is_masked_and_username_sent_by_name(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    log_in(Client())
    pre = events[0].kwargs
    assert pre["username"] == "admin"
    assert pre["password"] == MASK
    assert pre["kwargs"] == {"username": "admin", "password": MASK}
    sent = [value for event in events for value in event.kwargs.values()]
    assert PASSWORD not in sent


def test_authenticate_signals_send_request_and_credentials_by_their_real_names(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    # django.contrib.auth.authenticate is wrapped by sensitive_variables(), whose
    # wrapper takes *func_args, **func_kwargs: parameters are sent by the names
    # inspect.signature shows, authenticate(request=None, **credentials).
    log_in(Client())
    for event in events[:2]:
        sent = event.kwargs
        assert isinstance(sent["request"], HttpRequest)
        assert sent["username"] == "admin"
        assert sent["password"] == MASK
        assert "func_args" not in sent and "func_kwargs" not in sent
        assert "credentials" not in sent  # **credentials is expanded, as named arguments are
    assert events[0].kwargs["request"] is events[1].kwargs["request"]


def test_logout_sends_logout_signals_with_the_user_who_was_logged_in(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    client = Client()
    client.force_login(user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 200
    assert names(events) == ["portal_pre_logout", "portal_post_logout"]
    assert [event.kwargs["instance"] for event in events] == [user, user]
    assert all(type(event.kwargs["instance"]) is User for event in events)
    assert {event.sender for event in events} == {django.contrib.auth.views.LogoutView}
    assert "_auth_user_id" not in client.session


def test_anonymous_logout_sends_no_user(instrumented: Any, events: list[CapturedEvent]) -> None:
    Client().post("/accounts/logout/")
    assert [event.kwargs["instance"] for event in events] == [None, None]


def test_auth_functions_called_elsewhere_send_nothing(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    client = Client()
    response = client.post("/api/token/", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 200
    client.force_login(user)
    assert django.contrib.auth.authenticate(None, username="admin", password=PASSWORD) == user
    form = django.contrib.auth.forms.AuthenticationForm(
        None, {"username": "admin", "password": PASSWORD}
    )
    assert form.is_valid()
    assert events == []


def test_plugin_listener_from_the_docs_works_unchanged(
    user: User, instrumented: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # As a Cantemo plugin writes it; only the import line of the signal changed.
    from django.contrib.auth.views import LoginView

    from eventweave.portal.signals import portal_post_login

    def post_login_handler(instance, **kwargs):  # type: ignore[no-untyped-def]
        if issubclass(kwargs["sender"], LoginView):
            print(instance)
            print(kwargs["sender"])

    portal_post_login.connect(post_login_handler)
    try:
        log_in(Client(), url="/accounts/team-login/")
    finally:
        portal_post_login.disconnect(post_login_handler)
    assert capsys.readouterr().out.splitlines() == [
        "admin",
        "<class 'tests.contrib.django_auth_views.TeamLoginView'>",
    ]


def test_pre_login_receiver_that_raises_vetoes_the_login(
    user: User, instrumented: Any, events: list[CapturedEvent]
) -> None:
    def refuse(**kwargs: Any) -> None:
        raise PermissionError("logins are closed")

    client = Client()
    with signals.portal_pre_login.connected_to(refuse), pytest.raises(PermissionError):
        log_in(client)
    assert "_auth_user_id" not in client.session
    assert names(events) == [
        "portal_pre_authenticate",
        "portal_post_authenticate",
        "portal_pre_login",
    ]


def test_weavings_are_listed_and_unweave_restores_django(user: User) -> None:
    views, forms = django.contrib.auth.views, django.contrib.auth.forms
    dispatch = vars(views.LoginView)["dispatch"]
    weavings = instrument_auth()
    assert eventweave.woven() == weavings
    assert [w.target for w in weavings] == [
        "django.contrib.auth.forms:authenticate",
        "django.contrib.auth.views:auth_login",
        "django.contrib.auth.views:auth_logout",
    ]
    for weaving in weavings:
        weaving.unweave()
    assert forms.authenticate is django.contrib.auth.authenticate
    assert views.auth_login is django.contrib.auth.login
    assert views.auth_logout is django.contrib.auth.logout
    assert vars(views.LoginView)["dispatch"] is dispatch
    with capture(*ALL) as events:
        log_in(Client())
    assert events == []


# Instrumented before Django is set up: Django's auth views are imported later,
# by the URLconf, and ``authenticate`` lives in a module those views import.
BEFORE_SETUP = """
    import os
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.contrib.django_settings"
    import sys
    import eventweave
    from eventweave.contrib.django import instrument_auth
    from eventweave.portal import signals
    from eventweave.testing import capture

    weavings = instrument_auth()
    assert "django.contrib.auth.views" not in sys.modules
    print("pending", [w.pending for w in eventweave.woven()])

    import django
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    User.objects.create_user("admin", password="pw")
    client = Client()
    by_id = {id(getattr(signals, name)): name for name in signals.__all__}
    with capture(*(getattr(signals, name) for name in signals.__all__)) as events:
        client.post("/accounts/login/", {"username": "admin", "password": "pw"})
        client.post("/accounts/logout/")
    print("applied", [w.applied for w in weavings])
    for event in events:
        print(by_id[id(event.signal)], event.sender.__name__, event.kwargs["instance"])
"""


def test_instrument_before_django_setup_applies_when_views_are_imported() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BEFORE_SETUP)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert completed.stdout.splitlines() == [
        "pending [True, True, True]",
        "applied [True, True, True]",
        "portal_pre_authenticate LoginView None",
        "portal_post_authenticate LoginView admin",
        "portal_pre_login LoginView admin",
        "portal_post_login LoginView admin",
        "portal_pre_logout LogoutView admin",
        "portal_post_logout LogoutView admin",
    ]
