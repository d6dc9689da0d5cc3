"""Tests for `eventweave.contrib.otel`: events as span events and pairs as child spans.

Real OpenTelemetry SDK spans, exported to its in-memory exporter.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import blinker
import django.dispatch
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, Tracer, get_current_span

from eventweave import MASK, Emit, Signal, weave
from eventweave.contrib.otel import Tracing, trace
from eventweave.rest import (
    AFTER_EVENTS,
    BEFORE_EVENTS,
    AfterCreate,
    AfterEvent,
    BeforeCreate,
    BeforeEvent,
    instrument_view,
)
from eventweave.rest import registry as rest_registry
from eventweave.vidispine import instrument_helpers
from eventweave.vidispine.client import Conflict, UserHelper, VidispineAPI
from eventweave.vidispine.fake import FakeVidispine
from eventweave.vidispine.signals import (
    vidispine_failed,
    vidispine_post_create,
    vidispine_pre_create,
)

pre_pay = Signal()
post_pay = Signal()
pay_failed = Signal()
pre_ship = Signal()
post_ship = Signal()
audit = Signal()


class Invoice:
    def pay(self, amount: int, currency: str = "EUR", token: str = "") -> str:
        return f"{amount} {currency}"

    def ship(self, address: str) -> str:
        return address

    def pay_and_ship(self, amount: int) -> str:
        self.pay(amount)
        return self.ship("here")

    def reject(self, amount: int) -> None:
        raise ValueError(f"cannot pay {amount}")

    async def pay_later(self, amount: int) -> int:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return amount


@pytest.fixture
def woven() -> None:
    weave((Invoice, "pay"), Emit(pre=pre_pay, post=post_pay, error=pay_failed))
    weave((Invoice, "ship"), Emit(pre=pre_ship, post=post_ship))
    weave((Invoice, "reject"), Emit(pre=pre_pay, post=post_pay))
    weave((Invoice, "pay_later"), Emit(pre=pre_pay, post=post_pay))


@pytest.fixture
def traced(provider: TracerProvider) -> Iterator[list[Tracing]]:
    """trace() with the test's provider; everything traced is closed after the test."""
    made: list[Tracing] = []
    yield made
    for tracing in made:
        tracing.close()


def start(
    traced: list[Tracing], provider: TracerProvider, *sources: Any, **options: Any
) -> Tracing:
    tracing = trace(*sources, tracer_provider=provider, **options)
    traced.append(tracing)
    return tracing


def finished(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def only(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = finished(exporter, name)
    return span


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


# -- span events -----------------------------------------------------------------------------


@pytest.mark.usefixtures("woven")
def test_events_become_span_events_on_the_current_span(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, pre_pay, post_pay)
    with tracer.start_as_current_span("request"):
        Invoice().pay(10, currency="USD", token="t0k3n")
    request = only(exporter, "request")
    assert [event.name for event in request.events] == ["pre_pay", "post_pay"]
    pre, post = (dict(event.attributes or {}) for event in request.events)
    assert pre == {
        "sender": f"{__name__}:Invoice",
        "method": "pay",
        "instance": 10,
        "amount": 10,
        "currency": "USD",
        "token": MASK,
    }
    assert post == {**pre, "result": "10 USD"}
    assert len(exporter.get_finished_spans()) == 1


def test_secret_arguments_are_masked_whoever_sends_them(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, audit)
    with tracer.start_as_current_span("request"):
        audit.send("me", password="hunter2", api_key="k", user="ann", data={"password": "x"})
    (event,) = only(exporter, "request").events
    assert dict(event.attributes or {}) == {
        "sender": "me",
        "password": MASK,
        "api_key": MASK,
        "user": "ann",
    }


SECRET_URL = "http://admin:hunter2@vs.example/API?password=qwerty7"
SECRET_VALUES = ("hunter2", "qwerty7")


def all_attributes(exporter: InMemorySpanExporter) -> str:
    """Every attribute, event attribute and status of the finished spans, as one text."""
    texts = []
    for span in exporter.get_finished_spans():
        texts += [repr(dict(span.attributes or {})), repr(span.status.description)]
        texts += [repr((event.name, dict(event.attributes or {}))) for event in span.events]
    return "\n".join(texts)


class _Remote:
    def __str__(self) -> str:
        return f"remote at {SECRET_URL}"


def test_urls_in_arguments_instance_and_exception_lose_their_secrets(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, audit)
    failure = ConnectionError(f"cannot reach {SECRET_URL}")
    with tracer.start_as_current_span("request"):
        audit.send(SECRET_URL, url=SECRET_URL, instance=_Remote(), exception=failure)
    (event,) = only(exporter, "request").events
    attributes = dict(event.attributes or {})
    masked = f"http://admin:{MASK}@vs.example/API?password={MASK}"
    assert attributes["sender"] == masked
    assert attributes["url"] == masked
    assert attributes["instance"] == f"remote at {masked}"
    assert attributes["exception.message"] == f"cannot reach {masked}"
    text = all_attributes(exporter)
    assert not [secret for secret in SECRET_VALUES if secret in text]


def test_a_failed_span_records_its_exception_without_the_secrets(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, pre_pay, post_pay, pay_failed, spans=True)
    with tracer.start_as_current_span("request"):
        pre_pay.send(Invoice, method="pay", instance=_Remote(), note=SECRET_URL)
        try:
            try:
                raise KeyError(SECRET_URL)
            except KeyError as cause:
                raise ConnectionError(f"cannot reach {SECRET_URL}") from cause
        except ConnectionError as exc:
            pay_failed.send(Invoice, method="pay", exception=exc)
    pay = only(exporter, "pay")
    masked = f"http://admin:{MASK}@vs.example/API?password={MASK}"
    assert pay.status.description == f"ConnectionError: cannot reach {masked}"
    (recorded,) = pay.events
    attributes = dict(recorded.attributes or {})
    assert attributes["exception.message"] == f"cannot reach {masked}"
    stacktrace = str(attributes["exception.stacktrace"])
    assert f"ConnectionError: cannot reach {masked}" in stacktrace
    assert f"KeyError: 'http://admin:{MASK}@vs.example" in stacktrace
    assert dict(pay.attributes or {})["note"] == masked
    text = all_attributes(exporter)
    assert not [secret for secret in SECRET_VALUES if secret in text]


def test_an_instance_that_is_no_scalar_is_given_as_its_text(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    class User:
        def __str__(self) -> str:
            return "ann"

    start(traced, provider, audit)
    with tracer.start_as_current_span("request"):
        audit.send(Invoice, instance=User())
    (event,) = only(exporter, "request").events
    assert (event.attributes or {})["instance"] == "ann"


def test_without_a_current_span_events_are_dropped_quietly(
    provider: TracerProvider, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, audit)
    assert audit.send("me", value=1)
    assert exporter.get_finished_spans() == ()


def test_a_failure_event_carries_the_exception_type_and_message(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, vidispine_failed)
    with tracer.start_as_current_span("request"):
        vidispine_failed.send(UserHelper, method="createUser", exception=PermissionError("taken"))
    (event,) = only(exporter, "request").events
    assert event.name == "vidispine_failed"
    attributes = dict(event.attributes or {})
    assert attributes["exception.type"] == "PermissionError"
    assert attributes["exception.message"] == "taken"
    assert only(exporter, "request").status.status_code is StatusCode.UNSET


def test_django_and_blinker_signals_are_traced_by_their_names(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, django.dispatch.Signal(), blinker_order_placed)
    with tracer.start_as_current_span("request"):
        blinker_order_placed.send("shop", order=7)
    (event,) = only(exporter, "request").events
    assert (event.name, dict(event.attributes or {})) == (
        "order-placed",
        {"sender": "shop", "order": 7},
    )


blinker_order_placed = blinker.Namespace().signal("order-placed")


class PortalSignal:
    """A portal's own signal class: unhashable, with just connect, disconnect and send."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self.receivers: list[Any] = []

    def connect(self, receiver: Any, weak: bool = True) -> None:
        self.receivers.append(receiver)

    def disconnect(self, receiver: Any) -> None:
        self.receivers.remove(receiver)

    def send(self, sender: Any, **named: Any) -> None:
        for receiver in self.receivers:
            receiver(signal=self, sender=sender, **named)


item_archived = PortalSignal()


def test_any_signal_with_connect_is_traced_even_unhashable(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, item_archived)
    with tracer.start_as_current_span("request"):
        item_archived.send("portal", instance="VX-1")
    (event,) = only(exporter, "request").events
    assert (event.name, dict(event.attributes or {})) == (
        "item_archived",
        {"sender": "portal", "instance": "VX-1"},
    )


def test_close_disconnects_every_receiver(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    tracing = trace(audit, AfterCreate, tracer_provider=provider)
    assert audit.receivers and rest_registry.receivers
    tracing.close()
    tracing.close()
    assert not audit.receivers
    assert not rest_registry.receivers
    with tracer.start_as_current_span("request"):
        audit.send("me")
    assert only(exporter, "request").events == ()


def test_tracing_is_a_context_manager(provider: TracerProvider) -> None:
    with trace(audit, tracer_provider=provider) as tracing:
        assert audit.receivers
        assert "span events (open)" in repr(tracing)
    assert not audit.receivers


# -- child spans -----------------------------------------------------------------------------


@pytest.mark.usefixtures("woven")
def test_a_pre_post_pair_becomes_a_child_span_of_the_current_span(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, pre_pay, post_pay, spans=True)
    with tracer.start_as_current_span("request") as request:
        Invoice().pay(10)
        assert get_current_span() is request
    pay = only(exporter, "pay")
    assert parent_of(pay) == span_id(only(exporter, "request"))
    assert dict(pay.attributes or {}) == {
        "sender": f"{__name__}:Invoice",
        "method": "pay",
        "instance": 10,
        "amount": 10,
        "currency": "EUR",
        "token": MASK,
        "result": "10 EUR",
    }
    assert pay.status.status_code is StatusCode.UNSET
    assert only(exporter, "request").events == ()


@pytest.mark.usefixtures("woven")
def test_pairs_inside_a_pair_nest(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    weave((Invoice, "pay_and_ship"), Emit(pre=pre_pay, post=post_pay))
    start(traced, provider, pre_pay, post_pay, pre_ship, post_ship, spans=True)
    with tracer.start_as_current_span("request"):
        Invoice().pay_and_ship(3)
    outer, inner = sorted(finished(exporter, "pay"), key=lambda s: s.start_time or 0)
    ship = only(exporter, "ship")
    assert parent_of(outer) == span_id(only(exporter, "request"))
    assert parent_of(inner) == span_id(outer)
    assert parent_of(ship) == span_id(outer)
    assert dict(outer.attributes or {})["method"] == "pay_and_ship"


def test_spans_started_inside_a_pair_are_its_children(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    class Worker:
        def work(self) -> None:
            with tracer.start_as_current_span("query"):
                pass

    weave((Worker, "work"), Emit(pre=pre_pay, post=post_pay))
    start(traced, provider, pre_pay, post_pay, spans=True)
    with tracer.start_as_current_span("request"):
        Worker().work()
    assert parent_of(only(exporter, "query")) == span_id(only(exporter, "pay"))


@pytest.mark.usefixtures("woven")
def test_a_failure_ends_the_span_with_status_error_and_the_exception(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, pre_pay, post_pay, pay_failed, spans=True)
    with tracer.start_as_current_span("request"), pytest.raises(ZeroDivisionError):
        Invoice().pay(1, currency=_Explodes())  # type: ignore[arg-type]
    pay = only(exporter, "pay")
    assert pay.status.status_code is StatusCode.ERROR
    assert pay.status.description == "ZeroDivisionError: division by zero"
    assert [event.name for event in pay.events] == ["exception"]
    assert (pay.events[0].attributes or {})["exception.type"] == "ZeroDivisionError"
    assert parent_of(pay) == span_id(only(exporter, "request"))


class _Explodes:
    def __format__(self, spec: str) -> str:
        return str(1 / 0)


def test_a_failing_vidispine_call_ends_its_span_with_status_error(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    instrument_helpers("eventweave.vidispine.client")
    start(
        traced, provider, vidispine_pre_create, vidispine_post_create, vidispine_failed, spans=True
    )
    with FakeVidispine() as fake, tracer.start_as_current_span("request"):
        users = UserHelper(VidispineAPI(fake.url, *fake.auth))
        users.createUser("ann", "Ann", "pw")
        with pytest.raises(Conflict):
            users.createUser("ann", "Ann again", "pw")
    created, refused = sorted(
        finished(exporter, "vidispine_create"), key=lambda s: s.start_time or 0
    )
    assert created.status.status_code is StatusCode.UNSET
    assert dict(created.attributes or {})["newPassword"] == MASK
    assert refused.status.status_code is StatusCode.ERROR
    assert (refused.status.description or "").startswith("Conflict: ")
    assert [event.name for event in refused.events] == ["exception"]
    assert dict(refused.attributes or {})["instance"] == "ann"


@pytest.mark.usefixtures("woven")
def test_a_pair_whose_post_never_came_ends_with_the_pair_around_it(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    # reject() raises and its advice has no error signal: pre_pay is never closed.
    class Flow:
        def around(self) -> None:
            with pytest.raises(ValueError):
                Invoice().reject(1)

    weave((Flow, "around"), Emit(pre=pre_ship, post=post_ship))
    start(traced, provider, pre_pay, post_pay, pre_ship, post_ship, spans=True)
    with tracer.start_as_current_span("request") as request:
        Flow().around()
        assert get_current_span() is request
    rejected = only(exporter, "pay")
    assert rejected.status.status_code is StatusCode.ERROR
    assert rejected.status.description == "ended without its post event"
    assert only(exporter, "ship").status.status_code is StatusCode.UNSET


@pytest.mark.usefixtures("woven")
def test_a_post_without_its_pre_is_a_span_event(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, pre_pay, post_pay, spans=True)
    with tracer.start_as_current_span("request"):
        post_pay.send(Invoice, result=1)
    assert [event.name for event in only(exporter, "request").events] == ["post_pay"]


@pytest.mark.usefixtures("woven")
def test_pairs_in_threads_match_in_their_own_thread(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    # Both pre signals are sent before either post: pairs interleave across threads.
    both_started = threading.Barrier(2, timeout=10)

    def pay(self: Invoice, amount: int) -> int:
        both_started.wait()
        return amount

    class Slow(Invoice):
        pass

    Slow.pay = pay  # type: ignore[method-assign, assignment]
    weave((Slow, "pay"), Emit(pre=pre_pay, post=post_pay))
    start(traced, provider, pre_pay, post_pay, spans=True)
    errors: list[BaseException] = []

    def request(name: str, amount: int) -> None:
        try:
            with tracer.start_as_current_span(name):
                Slow().pay(amount)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=request, args=(f"request-{i}", i)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    for i in (1, 2):
        (pay_span,) = [s for s in finished(exporter, "pay") if (s.attributes or {})["amount"] == i]
        assert parent_of(pay_span) == span_id(only(exporter, f"request-{i}"))
        assert (pay_span.attributes or {})["result"] == i  # ended by its own post
        assert pay_span.status.status_code is StatusCode.UNSET


@pytest.mark.usefixtures("woven")
async def test_pairs_in_asyncio_tasks_match_in_their_own_task_after_the_await(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, pre_pay, post_pay, spans=True)

    async def request(amount: int) -> int:
        with tracer.start_as_current_span(f"request-{amount}"):
            return await Invoice().pay_later(amount)

    assert await asyncio.gather(*(request(i) for i in range(5))) == list(range(5))
    spans = finished(exporter, "pay")
    assert len(spans) == 5
    for span in spans:
        amount = (span.attributes or {})["amount"]
        assert (span.attributes or {})["result"] == amount
        assert parent_of(span) == span_id(only(exporter, f"request-{amount}"))
        request_span = only(exporter, f"request-{amount}")
        assert (span.end_time or 0) <= (request_span.end_time or 0)


# -- REST event classes ----------------------------------------------------------------------


class Story:
    pass


class StoriesView:
    Model = Story

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._json_params = data or {}
        self.context = None
        self.request = None

    def create(self) -> dict[str, Any]:
        if self._json_params.get("title") == "boom":
            raise ValueError("refused")
        return {"id": 1, **self._json_params}


@pytest.fixture
def rest_view() -> None:
    instrument_view(StoriesView)


@pytest.mark.usefixtures("rest_view")
def test_rest_events_become_span_events(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, AfterEvent)
    with tracer.start_as_current_span("request"):
        StoriesView({"title": "t", "body": "b"}).create()
    (event,) = only(exporter, "request").events
    assert event.name == "AfterCreate"
    assert dict(event.attributes or {}) == {
        "sender": f"{__name__}:StoriesView",
        "model": f"{__name__}:Story",
        "fields": ("body", "title"),
    }


@pytest.mark.usefixtures("rest_view")
def test_a_before_after_pair_becomes_a_child_span_named_after_the_action(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, BeforeCreate, AfterCreate, spans=True)
    with tracer.start_as_current_span("request"):
        StoriesView({"title": "t"}).create()
    create = only(exporter, "Create")
    assert parent_of(create) == span_id(only(exporter, "request"))
    assert create.status.status_code is StatusCode.UNSET


class BeforeArchive(BeforeEvent):
    """An event class of the application's own: it pairs by name."""


class AfterArchive(AfterEvent):
    pass


@pytest.mark.parametrize(
    ("before", "after"),
    [(BEFORE_EVENTS[action], AFTER_EVENTS[action]) for action in sorted(BEFORE_EVENTS)]
    + [(BeforeArchive, AfterArchive)],  # the application's own classes pair by name
    ids=lambda cls: cls.__name__,
)
def test_each_before_event_pairs_with_the_after_event_of_its_action(
    before: type[BeforeEvent],
    after: type[AfterEvent],
    provider: TracerProvider,
    tracer: Tracer,
    exporter: InMemorySpanExporter,
    traced: list[Tracing],
) -> None:
    with pytest.raises(ValueError, match=f"{before.__name__} opens a span .* {after.__name__}"):
        trace(before, spans=True, tracer_provider=provider)
    start(traced, provider, before, after, spans=True)
    with tracer.start_as_current_span("request"):
        rest_registry.notify(before(Story, None))
        rest_registry.notify(after(Story, None))
    span = only(exporter, before.__name__.removeprefix("Before"))
    assert span.status.status_code is StatusCode.UNSET
    assert parent_of(span) == span_id(only(exporter, "request"))


@pytest.mark.usefixtures("rest_view")
def test_a_rest_action_that_raises_ends_its_span_with_status_error(
    provider: TracerProvider, tracer: Tracer, exporter: InMemorySpanExporter, traced: list[Tracing]
) -> None:
    start(traced, provider, BeforeEvent, AfterEvent, spans=True)
    with tracer.start_as_current_span("request") as request:
        with pytest.raises(ValueError, match="refused"):
            StoriesView({"title": "boom"}).create()
        gc.collect()  # the failed request's view is gone
        StoriesView({"title": "next"}).create()
        assert get_current_span() is request
    failed, ok = sorted(finished(exporter, "Create"), key=lambda s: s.start_time or 0)
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "BeforeCreate had no After event: the action raised"
    assert ok.status.status_code is StatusCode.UNSET
    assert parent_of(ok) == span_id(only(exporter, "request"))


# -- what trace() refuses --------------------------------------------------------------------


def test_spans_need_the_post_signal_of_each_pre_signal(provider: TracerProvider) -> None:
    with pytest.raises(
        ValueError, match=r"pre_pay opens a span .* trace its post signal \(post_pay\)"
    ):
        trace(pre_pay, spans=True, tracer_provider=provider)
    assert not pre_pay.receivers


def test_spans_need_the_after_class_of_each_before_class(provider: TracerProvider) -> None:
    with pytest.raises(ValueError, match=r"BeforeCreate opens a span .* trace AfterCreate too"):
        trace(BeforeCreate, spans=True, tracer_provider=provider)
    assert not rest_registry.receivers


def test_trace_refuses_what_is_no_signal(provider: TracerProvider) -> None:
    with pytest.raises(TypeError, match=r"trace\(\): expected a signal .* got 'pre_pay'"):
        trace(audit, "pre_pay", tracer_provider=provider)
    assert not audit.receivers


def test_without_opentelemetry_the_import_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "try:\n    import eventweave.contrib.otel\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install eventweave-aop[otel]" in done.stdout


def test_trace_needs_something_to_trace() -> None:
    with pytest.raises(TypeError, match="at least one signal"):
        trace()
