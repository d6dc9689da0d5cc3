"""Fixtures of the DRF tests: one Django (shared with tests/contrib), a database, a client.

Each test runs inside a transaction rolled back afterwards, subscribes a
recorder to every REST event on the default registry, and leaves the registry
and the throttling cache as it found them.
"""

from __future__ import annotations

from collections.abc import Iterator

import tests.contrib.django_setup  # noqa: F401  (configures Django on import: first)

# isort: split

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from eventweave.rest import RequestEvent, registry
from tests.drf.models import Asset


@pytest.fixture(scope="session", autouse=True)
def database() -> None:
    call_command("migrate", run_syncdb=True, verbosity=0)


@pytest.fixture(autouse=True)
def rollback() -> Iterator[None]:
    atomic = transaction.atomic()
    atomic.__enter__()
    try:
        yield
    finally:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)
        cache.clear()


@pytest.fixture
def seen() -> Iterator[list[RequestEvent]]:
    """Every REST event notified on the default registry during the test, in order."""
    got: list[RequestEvent] = []
    registry.subscribe(got.append, RequestEvent)
    yield got
    registry.unsubscribe(got.append)
    assert not registry.receivers


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def asset() -> Asset:
    return Asset.objects.create(title="Trailer", kind="video", tags="new")
