"""Tests for `eventweave.testing._capture`: capture() and the pytest plugin's fixture."""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blinker
import django.dispatch
import pytest

from eventweave import Emit, Signal, weave
from eventweave.rest import AfterCreate, AfterEvent, AfterIndex, BeforeCreate, instrument_view
from eventweave.rest import registry as rest_registry
from eventweave.testing import CapturedEvent, _plugin, capture

pytest_plugins = ("pytester",)

# The plugin's fixture, collected here as the ``capture`` fixture of this module
# whether or not the installed distribution registered its entry point.
capture_fixture = _plugin.capture

ROOT = Path(__file__).resolve().parent.parent


class Service:
    def create(self, name: str, size: int = 1) -> str:
        return name


def test_capture_records_emissions_in_order_with_signal_sender_and_arguments() -> None:
    pre, post = Signal(), Signal()
    weave((Service, "create"), Emit(pre, post))
    with capture(pre, post) as events:
        Service().create("a")
        Service().create("b", size=2)
    assert [(event.signal, event.sender, event.kwargs["name"]) for event in events] == [
        (pre, Service, "a"),
        (post, Service, "a"),
        (pre, Service, "b"),
        (post, Service, "b"),
    ]
    assert all(isinstance(event, CapturedEvent) for event in events)


def test_captured_kwargs_are_every_named_argument_but_signal_and_sender() -> None:
    signal = Signal()
    with capture(signal) as events:
        signal.send("me", instance=1, method="m")
    assert events == [CapturedEvent(signal, "me", {"instance": 1, "method": "m"})]


def test_capture_disconnects_its_receivers_on_exit() -> None:
    signal = Signal()
    with capture(signal):
        assert signal.receivers
    assert not signal.receivers


def test_capture_disconnects_its_receivers_when_the_block_raises() -> None:
    signal = Signal()
    with pytest.raises(RuntimeError), capture(signal):
        raise RuntimeError("test body failed")
    assert not signal.receivers


def test_capture_stops_recording_after_the_block() -> None:
    signal = Signal()
    with capture(signal) as events:
        signal.send("inside")
    signal.send("after")
    assert [event.sender for event in events] == ["inside"]


def test_capture_records_a_django_signal() -> None:
    signal = django.dispatch.Signal()
    with capture(signal) as events:
        signal.send(sender="me", value=1)
    assert events == [CapturedEvent(signal, "me", {"value": 1})]
    assert not signal.receivers


def test_capture_records_a_blinker_signal() -> None:
    signal = blinker.Signal()
    with capture(signal) as events:
        signal.send("me", value=1)
    assert events == [CapturedEvent(signal, "me", {"value": 1})]
    assert not signal.receivers


def test_capture_records_emissions_from_several_threads() -> None:
    signal = Signal()
    with capture(signal) as events:
        threads = [
            threading.Thread(target=lambda i=i: [signal.send(i) for _ in range(200)])
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    assert len(events) == 800
    assert sorted({event.sender for event in events}) == [0, 1, 2, 3]


def test_capture_needs_a_signal() -> None:
    with pytest.raises(TypeError, match="capture\\(\\) needs at least one signal"), capture():
        pass


def test_capture_refuses_what_is_not_a_signal_and_leaves_nothing_connected() -> None:
    signal = Signal()
    refused = pytest.raises(TypeError, match="capture\\(\\): expected a signal")
    with refused, capture(signal, object()):
        pass
    assert not signal.receivers


def test_capture_fixture_records_until_the_test_ends(
    capture: Callable[..., list[CapturedEvent]],
) -> None:
    signal = Signal()
    events = capture(signal)
    signal.send("me", value=1)
    assert events == [CapturedEvent(signal, "me", {"value": 1})]
    assert signal.receivers


def test_plugin_offers_the_capture_fixture(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        from eventweave import Signal

        signal = Signal()

        def test_records(capture):
            events = capture(signal)
            signal.send("me", value=1)
            assert [(e.sender, e.kwargs) for e in events] == [("me", {"value": 1})]

        def test_disconnected_after_the_test():
            assert not signal.receivers
        """
    )
    # Only the plugin under test: whether or not the package is installed with
    # its entry point, this run loads it once, by module name.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest("-p", "eventweave.testing._plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_installed_package_registers_the_plugin_through_its_pytest11_entry_point(
    pytester: pytest.Pytester,
) -> None:
    # The suite runs against the installed project (make test installs it),
    # so plugin autoload must find the fixtures with no -p at all.
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "eventweave"
    ]
    assert entry.value == "eventweave.testing._plugin"
    pytester.makepyfile(
        """
        def test_fixtures_are_there(capture, fake_vidispine):
            assert fake_vidispine.url.startswith("http://127.0.0.1:")
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


# -- REST event classes ----------------------------------------------------------------


class Story:
    pass


class StoriesView:
    """A Nefertari-shaped view: Model, _json_params, context, request."""

    Model = Story

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._json_params = data or {}
        self.context = None
        self.request = None

    def create(self) -> dict[str, Any]:
        return {"id": 1, **self._json_params}

    def index(self) -> list[Any]:
        return []


@pytest.fixture(autouse=True)
def _instrumented_view() -> None:
    # Per test: the suite's conftest unweaves everything after each one.
    instrument_view(StoriesView)


def test_capture_records_rest_events_with_their_class_view_and_event() -> None:
    with capture(BeforeCreate, AfterCreate) as events:
        StoriesView({"title": "t"}).create()
    assert [(e.signal, e.sender) for e in events] == [
        (BeforeCreate, StoriesView),
        (AfterCreate, StoriesView),
    ]
    before, after = (e.kwargs["event"] for e in events)
    assert before.fields["title"].new_value == "t"
    assert after.response == {"id": 1, "title": "t"}
    assert list(events[0].kwargs) == ["event"]


def test_capturing_a_base_event_class_records_each_subclass_notified() -> None:
    with capture(AfterEvent) as events:
        StoriesView().index()
        StoriesView().create()
    assert [e.signal for e in events] == [AfterIndex, AfterCreate]


def test_capture_interleaves_signals_and_rest_events_in_emission_order() -> None:
    signal = Signal()
    weave((StoriesView, "create"), Emit(pre=signal))
    with capture(signal, AfterCreate) as events:
        StoriesView().create()
    assert [e.signal for e in events] == [signal, AfterCreate]


def test_capture_unsubscribes_from_the_rest_registry_on_exit() -> None:
    before = rest_registry.receivers
    with pytest.raises(RuntimeError), capture(AfterCreate):
        assert len(rest_registry.receivers) == len(before) + 1
        raise RuntimeError("test body failed")
    assert rest_registry.receivers == before


def test_capture_refuses_an_event_instance_naming_what_it_takes() -> None:
    refused = pytest.raises(TypeError, match=r"capture\(\): .* REST event class such as")
    with refused, capture(AfterCreate(Story, None)):
        pass
    assert not rest_registry.receivers


def test_capture_fixture_takes_rest_event_classes(
    capture: Callable[..., list[CapturedEvent]],
) -> None:
    events = capture(AfterCreate)
    StoriesView().create()
    assert [e.signal for e in events] == [AfterCreate]
