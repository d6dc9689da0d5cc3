"""Configure Django once per process for every test under tests/contrib/; OpenTelemetry
fixtures: a provider of the test's own, exporting to memory."""

import os
from collections.abc import Iterator

import django
import pytest
from django.apps import apps
from django.conf import settings
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

if not settings.configured:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.contrib.django_settings")
if not apps.ready:
    django.setup()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def tracer(provider: TracerProvider) -> Tracer:
    return provider.get_tracer("tests")
