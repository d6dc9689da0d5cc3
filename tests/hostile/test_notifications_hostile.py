"""Hostile notifications: the receivers answer only documented statuses and lose nothing.

Once an unknown or malformed ``charset`` (``punycode``, a NUL byte) made the
receiver answer 500, and so did a field named ``self`` (the Django view raised).
Now: a bad request gets 415 or 400 and emits nothing; a field whose name
clashes with an argument of ``send`` is delivered in ``fields``; a failing
receiver is logged and the notification acknowledged.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import blinker
import django.dispatch
import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventweave.testing import CapturedEvent, capture
from eventweave.vidispine import NotificationReceiver, register_notification, signals
from eventweave.vidispine._notifications import parse_notification
from eventweave.vidispine.fake import FakeVidispine

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # WebOb imports cgi

DOCUMENTED = {200, 400, 401, 405, 413, 415}
NOTIFY = "/vidispine/notify/"  # where tests/contrib/django_urls.py mounts the Django view
ALL_NOTIFICATIONS = (signals.vidispine_auto_import_ntfcn, signals.vidispine_notification)


def json_body(*pairs: tuple[str, str]) -> bytes:
    return json.dumps({"field": [{"key": k, "value": v} for k, v in pairs]}).encode()


def xml_body(*pairs: tuple[str, str]) -> bytes:
    fields = "".join(f"<field><key>{k}</key><value>{v}</value></field>" for k, v in pairs)
    return f"<SimpleMetadataDocument>{fields}</SimpleMetadataDocument>".encode()


def handle(receiver: NotificationReceiver, body: bytes, content_type: str) -> int:
    """POST ``body`` to ``receiver``'s framework-neutral core; the status."""
    return receiver.handle(
        method="POST",
        content_type=content_type,
        content_length=len(body),
        authorization=None,
        query_string="",
        read=io.BytesIO(body).read,
    ).status


@pytest.fixture
def events() -> Iterator[list[CapturedEvent]]:
    with capture(*ALL_NOTIFICATIONS) as got:
        yield got


def django_post(body: bytes, content_type: str) -> Any:
    """POST to the Django view with the test client, the body as given.

    ``Client.post`` would re-encode a bytes body in the charset named;
    ``generic`` sends it unchanged, as Vidispine does.
    """
    return Client().generic("POST", NOTIFY, body, content_type=content_type)


def post_raw(url: str, body: bytes, content_type: str) -> int:
    """POST with http.client, which sends a header value as given (a NUL byte too)."""
    split = urlsplit(url)
    connection = http.client.HTTPConnection(split.hostname or "", split.port, timeout=5)
    try:
        connection.putrequest("POST", split.path)
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# -- charsets --------------------------------------------------------------------------

BAD_CHARSETS = [
    "punycode",
    "idna",
    "undefined",
    "unicode_escape",
    "raw_unicode_escape",
    "utf\x008",
    "base64",
    "rot13",
    "no-such-charset",
    "utf-8" * 40,
    "utf-8\x01",
    "\u00e9",
]


@pytest.mark.parametrize("syntax", ["json", "xml"])
@pytest.mark.parametrize("charset", BAD_CHARSETS, ids=range(len(BAD_CHARSETS)))
def test_unknown_or_malformed_charset_gets_415_and_emits_nothing(
    events: list[CapturedEvent], charset: str, syntax: str
) -> None:
    body = json_body(("type", "TRANSCODE")) if syntax == "json" else xml_body(("a", "1"))

    status = handle(NotificationReceiver(), body, f"application/{syntax}; charset={charset}")

    assert status == 415
    assert events == []


@pytest.mark.parametrize("charset", ["punycode", "utf\x008"])
def test_unknown_charset_over_loopback_http_gets_415(
    events: list[CapturedEvent], serve: Callable[[NotificationReceiver], str], charset: str
) -> None:
    url = serve(NotificationReceiver())

    status = post_raw(url, json_body(("a", "1")), f"application/json; charset={charset}")

    assert status == 415
    assert events == []
    assert post_raw(url, json_body(("a", "1")), "application/json") == 200  # still serving


# A NUL byte is left out: Django's own WSGIRequest raises on it before any view runs.
@pytest.mark.parametrize("charset", ["punycode", "undefined", "utf\x018", "base64"])
def test_unknown_charset_gets_415_from_the_django_view(
    events: list[CapturedEvent], charset: str
) -> None:
    with override_settings(EVENTWEAVE_VIDISPINE_NOTIFICATIONS={}):
        response = django_post(json_body(("a", "1")), f"application/json; charset={charset}")

    assert response.status_code == 415
    assert events == []


@pytest.mark.parametrize("charset", ["utf-16", "utf-7", "shift_jis", "cp1252"])
def test_bytes_invalid_in_a_known_charset_get_400(
    events: list[CapturedEvent], charset: str
) -> None:
    status = handle(
        NotificationReceiver(), b"\xff\xfe\xfd{\x81", f"application/json; charset={charset}"
    )

    assert status == 400
    assert events == []


# -- field names -----------------------------------------------------------------------

CLASHING = ["self", "sender", "signal", "instance", "fields"]


@pytest.mark.parametrize("name", CLASHING)
@pytest.mark.parametrize("syntax", ["json", "xml"])
def test_field_named_like_an_argument_of_send_is_delivered_in_fields(
    events: list[CapturedEvent], name: str, syntax: str
) -> None:
    pairs = (("type", "TRANSCODE"), ("itemId", "VX-3"), (name, "clash"))
    body = json_body(*pairs) if syntax == "json" else xml_body(*pairs)

    status = handle(NotificationReceiver(), body, f"application/{syntax}")

    assert status == 200
    [event] = events
    assert event.kwargs["fields"][name] == "clash"
    assert event.kwargs["instance"] == "VX-3"
    assert event.sender is NotificationReceiver
    assert event.kwargs.get(name) != "clash"


def test_field_named_self_reaches_the_django_view_and_its_signal(
    events: list[CapturedEvent],
) -> None:
    body = json_body(("type", "AUTO_IMPORT"), ("itemId", "VX-9"), ("self", "x"), ("sender", "y"))

    with override_settings(EVENTWEAVE_VIDISPINE_NOTIFICATIONS={}):
        response = django_post(body, "application/json")

    assert response.status_code == 200
    [event] = events
    assert event.signal is signals.vidispine_auto_import_ntfcn
    assert event.kwargs["fields"]["self"] == "x"
    assert event.kwargs["fields"]["sender"] == "y"


def test_field_named_like_a_parameter_of_a_foreign_send_is_kept_from_it() -> None:
    namespace = blinker.Namespace()
    portal = types.SimpleNamespace(
        vidispine_notification=namespace.signal("notification"),
        vidispine_auto_import_ntfcn=django.dispatch.Signal(),
    )
    got: list[dict[str, Any]] = []

    def on_notification(sender: Any, **named: Any) -> None:
        got.append(named)

    portal.vidispine_notification.connect(on_notification)
    body = json_body(("type", "TRANSCODE"), ("_async_wrapper", "x"), ("jobId", "VX-1"))

    status = handle(NotificationReceiver(signals=portal), body, "application/json")

    assert status == 200
    [named] = got
    assert "_async_wrapper" not in named  # blinker's send would take it for its own
    assert named["fields"]["_async_wrapper"] == "x"
    assert named["jobId"] == "VX-1"


def test_signal_whose_send_raises_is_logged_and_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Strict:
        """Takes no unknown names: any notification makes its send raise."""

        receivers: list[Any] = []

        def send(self, sender: Any, *, instance: Any, fields: Any) -> None:
            raise AssertionError("unreachable: jobId is unexpected")

    portal = types.SimpleNamespace(vidispine_notification=Strict())
    with caplog.at_level(logging.ERROR, logger="eventweave.vidispine.notifications"):
        status = handle(
            NotificationReceiver(signals=portal), json_body(("jobId", "VX-1")), "application/json"
        )

    assert status == 200
    assert "acknowledged" in caplog.text
    assert "TypeError" in caplog.text


def test_fake_vidispine_delivers_hostile_field_names_end_to_end(
    events: list[CapturedEvent], serve: Callable[[NotificationReceiver], str]
) -> None:
    callback = serve(NotificationReceiver(token="t0k")) + "?token=t0k"
    with FakeVidispine() as fake:
        register_notification(fake.url, callback, auth=fake.auth)
        fake.simulate_job("TRANSCODE", data={"self": "a", "sender": "b", "not an id": "c"})
        deliveries = list(fake.state.deliveries)

    assert [d.status_code for d in deliveries] == [200]
    [event] = events
    assert event.kwargs["fields"]["self"] == "a"
    assert event.kwargs["fields"]["sender"] == "b"
    assert event.kwargs["fields"]["not an id"] == "c"
    assert event.sender is NotificationReceiver


# -- any body --------------------------------------------------------------------------

names = st.one_of(
    st.sampled_from([*CLASHING, "type", "itemId", "jobId", "_async_wrapper", "class", ""]),
    st.text(max_size=12),
)
values = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none())
json_documents = st.one_of(
    st.fixed_dictionaries(
        {"field": st.lists(st.fixed_dictionaries({"key": names, "value": values}), max_size=6)}
    ),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
        max_leaves=10,
    ),
)
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
charsets = st.one_of(
    st.none(),
    st.sampled_from(["utf-8", "UTF-16", "latin-1", "ascii", "utf-7", *BAD_CHARSETS]),
    st.text(max_size=10),
)
media_types = st.sampled_from(
    ["application/json", "text/xml", "application/xml", "application/vnd+json", "text/plain", ""]
)


@st.composite
def xml_bodies(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(names, xml_text), max_size=5))
    fields = "".join(
        f"<field><key>{escape(k)}</key><value>{escape(v)}</value></field>" for k, v in pairs
    )
    root = draw(st.sampled_from(["SimpleMetadataDocument", "Other"]))
    text = f"<{root}>{fields}</{root}>"
    mangle = draw(st.sampled_from(["", "truncate", "doctype"]))
    if mangle == "truncate":
        text = text[: len(text) // 2]
    elif mangle == "doctype":
        text = f'<!DOCTYPE d [<!ENTITY e "x">]>{text}'
    return text.encode("utf-8", "surrogatepass")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


bodies = st.one_of(
    json_documents.map(lambda d: json.dumps(d).encode()),
    xml_bodies(),
    st.binary(max_size=64),
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(body=bodies, media_type=media_types, charset=charsets)
def test_any_body_gets_a_documented_status_and_emits_only_when_accepted(
    body: bytes, media_type: str, charset: str | None
) -> None:
    content_type = media_type if charset is None else f"{media_type}; charset={charset}"
    with capture(*ALL_NOTIFICATIONS) as got:
        status = handle(NotificationReceiver(max_body=4096), body, content_type)

    assert status in DOCUMENTED
    if status == 200:
        [event] = got
        assert event.kwargs["fields"] == parse_notification(body, content_type)
        assert not {"self", "signal", "sender"} & (set(event.kwargs) - {"fields"})
    else:
        assert got == []


@settings(
    derandomize=True,
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=bodies, media_type=media_types, charset=charsets)
def test_any_body_gets_a_documented_status_from_the_django_view(
    body: bytes, media_type: str, charset: str | None
) -> None:
    content_type = media_type if charset is None else f"{media_type}; charset={charset}"
    # No header splitting, and no NUL byte, on which Django's own WSGIRequest raises
    # before any view runs.
    content_type = "".join(c for c in content_type if c not in "\r\n\x00")
    with (
        override_settings(EVENTWEAVE_VIDISPINE_NOTIFICATIONS={"max_body": 4096}),
        capture(*ALL_NOTIFICATIONS) as got,
    ):
        response = django_post(body, content_type)

    assert response.status_code in DOCUMENTED
    assert len(got) == (1 if response.status_code == 200 else 0)


# -- many clients at once --------------------------------------------------------------


def test_concurrent_good_and_bad_notifications_are_each_answered_and_counted(
    serve: Callable[[NotificationReceiver], str],
) -> None:
    url = serve(NotificationReceiver())
    requests_per_thread, threads = 15, 6
    cases = [
        (json_body(("jobId", "VX-1"), ("self", "x")), "application/json", 200),
        (b"{not json", "application/json", 400),
        (json_body(("a", "1")), "application/json; charset=punycode", 415),
        (xml_body(("itemId", "VX-2")), "application/xml", 200),
    ]
    answers: list[tuple[int, int]] = []
    lock = threading.Lock()
    received: list[str] = []

    def on_notification(sender: Any, fields: Any, **named: Any) -> None:
        with lock:
            received.append(fields.get("jobId") or fields.get("itemId"))

    def client(offset: int) -> None:
        for index in range(requests_per_thread):
            body, content_type, expected = cases[(offset + index) % len(cases)]
            status = post_raw(url, body, content_type)
            with lock:
                answers.append((status, expected))

    signals.vidispine_notification.connect(on_notification)
    try:
        workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        assert not any(worker.is_alive() for worker in workers)
    finally:
        signals.vidispine_notification.disconnect(on_notification)

    assert len(answers) == requests_per_thread * threads
    assert all(status == expected for status, expected in answers)
    assert len(received) == sum(1 for status, _ in answers if status == 200)
