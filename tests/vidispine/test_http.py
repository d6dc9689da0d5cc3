"""Tests for `eventweave.vidispine._http`: instrument_http against a loopback stub server."""

from __future__ import annotations

import base64
import contextlib
import json
import linecache
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from eventweave import MASK, mark, muted, silent, woven
from eventweave._weaving import slots
from eventweave.testing import CapturedEvent, capture
from eventweave.vidispine import signals
from eventweave.vidispine._http import ROUTES, Route, instrument_http

from .conftest import OPERATION_SIGNALS, Reply, StubServer, names

pytestmark = pytest.mark.usefixtures("no_http_weavings_left")


@pytest.fixture
def events() -> Iterator[list[CapturedEvent]]:
    with capture(*OPERATION_SIGNALS) as got:
        yield got


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- what is emitted ----------------------------------------------------------------


def test_get_request_emits_pre_and_post_get(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)

    response = requests.get(f"{stub.api}/item/VX-7", timeout=5)

    assert names(events) == ["vidispine_pre_get", "vidispine_post_get"]
    pre, post = events
    assert pre.sender is requests.Session
    assert pre.kwargs["instance"] == "VX-7"
    assert pre.kwargs["method"] == "getItem"
    assert pre.kwargs["http_method"] == "GET"
    assert pre.kwargs["path"] == "/item/VX-7"
    assert pre.kwargs["url"] == f"{stub.api}/item/VX-7"
    assert pre.kwargs["path_params"] == {"item": "VX-7"}
    assert "result" not in pre.kwargs
    assert post.kwargs["status_code"] == 200
    assert post.kwargs["result"].json() == {}
    assert post.kwargs["response"] is post.kwargs["result"]
    assert response.status_code == 200


def test_put_item_metadata_emits_modify_set_item_metadata(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api)

    requests.put(f"{stub.api}/item/VX-3/metadata", json={"timespan": []}, timeout=5)

    assert names(events) == ["vidispine_pre_modify", "vidispine_post_modify"]
    assert {e.kwargs["method"] for e in events} == {"setItemMetadata"}
    assert {e.kwargs["instance"] for e in events} == {"VX-3"}
    assert events[0].kwargs["json"] == {"timespan": []}
    assert events[0].kwargs["route"] == Route(
        "PUT", "/item/{item}/metadata", "modify", "setItemMetadata", "item"
    )


def test_sessions_emit_with_their_own_class_as_sender(stub: StubServer, events: list[Any]) -> None:
    class PortalSession(requests.Session):
        pass

    instrument_http(stub.api)
    with PortalSession() as session:
        session.delete(f"{stub.api}/shape-tag/lowres", timeout=5)

    assert names(events) == ["vidispine_pre_delete", "vidispine_post_delete"]
    assert {e.sender for e in events} == {PortalSession}
    assert {e.kwargs["method"] for e in events} == {"removeShapeTag"}
    assert {e.kwargs["instance"] for e in events} == {"lowres"}


@pytest.mark.parametrize("how", ["weakly", "strongly", "for one sender", "twice over"])
def test_every_kind_of_receiver_hears_the_request(stub: StubServer, how: str) -> None:
    got: list[tuple[Any, Any, str]] = []

    def receiver(signal: Any, sender: Any, method: str, **unread: Any) -> None:
        got.append((signal, sender, method))

    def another(signal: Any, sender: Any, url: str, **named: Any) -> None:
        got.append((signal, sender, named["method"]))

    pre, post = signals.vidispine_pre_get, signals.vidispine_post_get
    options: dict[str, Any] = {
        "weakly": {},
        "strongly": {"weak": False},
        "for one sender": {"sender": requests.Session},
        "twice over": {},
    }[how]
    instrument_http(stub.api)
    try:
        for signal in (pre, post):
            signal.connect(receiver, **options)
            if how == "twice over":
                signal.connect(another)
        requests.get(f"{stub.api}/item/VX-1", timeout=5)
    finally:
        for signal in (pre, post):
            signal.disconnect(receiver, sender=options.get("sender"))
            signal.disconnect(another)

    expected = [(pre, requests.Session, "getItem"), (post, requests.Session, "getItem")]
    if how == "twice over":
        expected = [expected[0], expected[0], expected[1], expected[1]]
    assert got == expected


@pytest.mark.parametrize("weak", [True, False])
def test_receivers_get_the_names_they_take_and_only_those_sent(
    stub: StubServer, weak: bool
) -> None:
    got: list[tuple[Any, ...]] = []

    def lean(sender: Any, method: str, url: str, **unread: Any) -> None:
        got.append(("lean", sender, method, url))

    def strict(
        signal: Any,
        sender: Any,
        instance: Any,
        status_code: int = 0,
        exception: Any = None,
        **unread: Any,
    ) -> None:
        got.append(("strict", signal, instance, status_code, type(exception).__name__))

    stub.replies["/API/item/VX-2"] = Reply(status=404)
    pre, post, failed = (
        signals.vidispine_pre_get,
        signals.vidispine_post_get,
        signals.vidispine_failed,
    )
    instrument_http(stub.api)
    try:
        for signal in (pre, post):
            signal.connect(lean, weak=weak)
        requests.get(f"{stub.api}/item/VX-1", timeout=5)  # every name read is sent
        for signal in (pre, post, failed):
            signal.disconnect(lean)
            signal.connect(strict, weak=weak)
        requests.get(f"{stub.api}/item/VX-1", timeout=5)  # some names read are not sent
        requests.get(f"{stub.api}/item/VX-2", timeout=5)
    finally:
        for signal in (pre, post, failed):
            signal.disconnect(lean)
            signal.disconnect(strict)

    url = f"{stub.api}/item/VX-1"
    assert got == [
        ("lean", requests.Session, "getItem", url),
        ("lean", requests.Session, "getItem", url),
        ("strict", pre, "VX-1", 0, "NoneType"),
        ("strict", post, "VX-1", 200, "NoneType"),
        ("strict", pre, "VX-2", 0, "NoneType"),
        ("strict", failed, "VX-2", 404, "HTTPError"),
    ]


@pytest.mark.parametrize("weak", [True, False])
def test_a_sender_passes_the_names_read_that_the_payload_holds(weak: bool) -> None:
    from eventweave import Signal
    from eventweave.vidispine._http import _sender

    seen: list[dict[str, Any]] = []

    def receiver(**named: Any) -> None:
        seen.append(named)

    signal = Signal()
    signal.connect(receiver, weak=weak)
    payload = {"method": "m", "url": "u", "status_code": 1, "path": "p"}
    reads = frozenset({"sender", "method", "url", "status_code", "not-sent"})

    _sender(reads)(signal, "S", payload)
    _sender(reads)(signal, "S", {"method": "m", "url": "u"})  # status_code is missing
    _sender(None)(signal, "S", payload)
    _sender(frozenset())(signal, "S", payload)

    assert seen == [
        {"signal": signal, "sender": "S", "method": "m", "url": "u", "status_code": 1},
        {"signal": signal, "sender": "S", "method": "m", "url": "u"},
        {"signal": signal, "sender": "S", **payload},
        {"signal": signal, "sender": "S"},
    ]


def test_no_sender_source_is_left_behind_after_the_last_unweave(stub: StubServer) -> None:

    def audit_line(sender: Any, method: str, url: str, **unread: Any) -> None:
        pass

    def sender_sources() -> set[str]:
        return {name for name in linecache.cache if name.startswith("<eventweave vidispine")}

    weaving = instrument_http(stub.api)
    with signals.vidispine_pre_get.connected_to(audit_line):
        requests.get(f"{stub.api}/item/VX-1", timeout=5)
        assert sender_sources()
    weaving.unweave()

    assert sender_sources() == set()


def test_query_parameters_from_url_and_params_are_sent(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)

    requests.post(
        f"{stub.api}/item/VX-1/transcode?priority=HIGH",
        params={"tag": ["lowres", "mp4"]},
        timeout=5,
    )

    assert events[0].kwargs["method"] == "retranscode"
    assert events[0].kwargs["params"] == {"priority": "HIGH", "tag": ["lowres", "mp4"]}


def test_create_placeholder_post_instance_is_the_new_id_from_json(
    stub: StubServer, events: list[Any]
) -> None:
    stub.replies["/API/import/placeholder"] = Reply(body=b'{"id": "VX-42"}')
    instrument_http(stub.api)

    requests.post(f"{stub.api}/import/placeholder?container=1", json={}, timeout=5)

    assert names(events) == ["vidispine_pre_create", "vidispine_post_create"]
    assert events[0].kwargs["instance"] is None
    assert events[1].kwargs["instance"] == "VX-42"
    assert events[1].kwargs["method"] == "createPlaceholder"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"VX-42\n"),
        ("text/plain", b"http://vs/API/item/VX-42"),
        (
            "application/xml",
            b'<ItemDocument xmlns="http://xml.vidispine.com/schema/vidispine" id="VX-42"/>',
        ),
        ("application/xml", b"<URIListDocument><uri>VX-42</uri></URIListDocument>"),
        ("application/json", b'{"uri": ["VX-42"]}'),
    ],
)
def test_new_id_is_read_from_text_xml_and_uri_answers(
    stub: StubServer, events: list[Any], content_type: str, body: bytes
) -> None:
    stub.replies["/API/import/placeholder"] = Reply(body=body, content_type=content_type)
    instrument_http(stub.api)

    requests.post(f"{stub.api}/import/placeholder", timeout=5)

    assert events[-1].kwargs["instance"] == "VX-42"


def test_xml_answer_with_a_doctype_is_not_read_for_the_id(
    stub: StubServer, events: list[Any]
) -> None:
    body = b'<!DOCTYPE d [<!ENTITY x "VX-1">]><ItemDocument id="&x;"/>'
    stub.replies["/API/import/placeholder"] = Reply(body=body, content_type="application/xml")
    instrument_http(stub.api)

    requests.post(f"{stub.api}/import/placeholder", timeout=5)

    assert names(events) == ["vidispine_pre_create", "vidispine_post_create"]
    assert events[-1].kwargs["instance"] is None


def test_streamed_response_is_not_read_for_the_new_id(stub: StubServer, events: list[Any]) -> None:
    stub.replies["/API/import/placeholder"] = Reply(body=b'{"id": "VX-42"}')
    instrument_http(stub.api)

    with requests.post(f"{stub.api}/import/placeholder", stream=True, timeout=5) as response:
        assert events[-1].kwargs["instance"] is None
        assert response.json() == {"id": "VX-42"}


def test_unknown_route_emits_with_path_template_as_operation(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api)

    requests.get(f"{stub.api}/item/VX-12/shape/VX-3;version=2", timeout=5)

    assert names(events) == ["vidispine_pre_get", "vidispine_post_get"]
    assert events[0].kwargs["method"] == "/item/{id}/shape/{id}"
    assert events[0].kwargs["instance"] == "VX-12"
    assert events[0].kwargs["route"] is None


@pytest.mark.parametrize(
    ("verb", "family"),
    [
        ("GET", "get"),
        ("HEAD", "get"),
        ("OPTIONS", "get"),
        ("POST", "create"),
        ("PUT", "modify"),
        ("PATCH", "modify"),
        ("DELETE", "delete"),
        ("PROPFIND", "modify"),
    ],
)
def test_unknown_route_family_comes_from_the_verb(
    stub: StubServer, events: list[Any], verb: str, family: str
) -> None:
    instrument_http(stub.api)

    requests.request(verb, f"{stub.api}/storage/1234/rescan", timeout=5)

    assert names(events) == [f"vidispine_pre_{family}", f"vidispine_post_{family}"]
    assert events[0].kwargs["method"] == "/storage/{id}/rescan"


def test_most_literal_template_wins(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)

    requests.get(f"{stub.api}/metadata-field/field-group", timeout=5)
    requests.get(f"{stub.api}/group/notification", timeout=5)

    assert [e.kwargs["method"] for e in events] == [
        "listMetadataFieldGroups",
        "listMetadataFieldGroups",
        "listNotifications",
        "listNotifications",
    ]


def test_quoted_path_value_is_decoded_for_the_instance(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)

    requests.delete(f"{stub.api}/group/sales%2Feurope", timeout=5)

    assert events[0].kwargs["instance"] == "sales/europe"
    assert events[0].kwargs["path"] == "/group/sales%2Feurope"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/shape/VX-1/tag/lowres", {"item-id": "VX-1", "tag": "lowres"}),
        ("/shape/VX-1;version=2/tag/low%20res/", {"item-id": "VX-1", "tag": "low res"}),
        ("/shape//VX-1/tag/lowres", {"item-id": "VX-1", "tag": "lowres"}),
    ],
)
def test_template_names_of_any_spelling_get_their_values(
    stub: StubServer, events: list[Any], path: str, expected: dict[str, str]
) -> None:
    routes = [
        Route("GET", "/shape/{item-id}/tag/{tag}", "get", "getShapeTag", "item-id"),
        Route("GET", "/pair/{x}/{x}", "get", "getPair", "x"),
    ]
    instrument_http(stub.api, routes=routes)

    requests.get(f"{stub.api}{path}", timeout=5)
    requests.get(f"{stub.api}/pair/a/b", timeout=5)

    assert events[0].kwargs["method"] == "getShapeTag"
    assert events[0].kwargs["path_params"] == expected
    assert events[0].kwargs["instance"] == "VX-1"
    assert events[2].kwargs["path_params"] == {"x": "b"}  # a name used twice: its last value


def test_a_secret_template_value_is_masked_in_instance_and_path_params(
    stub: StubServer, events: list[Any]
) -> None:
    routes = [
        Route("GET", "/session/{token}", "get", "getSession", "token"),
        Route("PUT", "/user/{username}/key/{api_key}", "modify", "setUserKey", "username"),
    ]
    instrument_http(stub.api, routes=routes)

    requests.get(f"{stub.api}/session/tk-9f2e", timeout=5)
    requests.put(f"{stub.api}/user/alice/key/k-77ab", timeout=5)

    session, key = events[0].kwargs, events[2].kwargs
    assert session["instance"] == MASK
    assert session["path_params"] == {"token": MASK}
    assert key["instance"] == "alice"
    assert key["path_params"] == {"username": "alice", "api_key": MASK}
    assert [e.kwargs["path_params"] for e in events[1::2]] == [{"token": MASK}, key["path_params"]]
    assert [e.kwargs["path"] for e in events] == [f"/session/{MASK}"] * 2 + [
        f"/user/alice/key/{MASK}"
    ] * 2
    assert [e.kwargs["url"] for e in events] == [f"{stub.api}/session/{MASK}"] * 2 + [
        f"{stub.api}/user/alice/key/{MASK}"
    ] * 2


def test_a_secret_template_value_is_scrubbed_from_a_failure() -> None:
    got: list[tuple[BaseException, str]] = []

    def failed(sender: Any, exception: BaseException, url: str, **named: Any) -> None:
        got.append((exception, url))

    api = f"http://127.0.0.1:{closed_port()}/API"
    instrument_http(api, routes=[Route("GET", "/session/{token}", "get", "getSession")])
    with (
        signals.vidispine_failed.connected_to(failed),
        pytest.raises(requests.ConnectionError) as raised,
    ):
        requests.get(f"{api}/session/tk-9f2e;x=1?a=b", timeout=2)

    assert "tk-9f2e" in str(raised.value)  # the caller's own exception is untouched
    [(exception, url)] = got
    assert url == f"{api}/session/{MASK};x=1?a=b"
    assert "tk-9f2e" not in str(exception)
    assert "tk-9f2e" not in str(exception.request.url)  # type: ignore[attr-defined]


def test_a_secret_template_value_is_masked_in_the_views_of_an_error_answer(
    stub: StubServer,
) -> None:
    got: list[dict[str, Any]] = []

    def failed(sender: Any, **named: Any) -> None:
        got.append(named)

    stub.replies["/API/session/tk-9f2e"] = Reply(403, b'{"error": "expired"}')
    instrument_http(stub.api, routes=[Route("GET", "/session/{token}", "get", "getSession")])
    with signals.vidispine_failed.connected_to(failed):
        response = requests.get(f"{stub.api}/session/tk-9f2e", timeout=5)

    assert response.status_code == 403
    assert response.url == f"{stub.api}/session/tk-9f2e"  # the caller's own, untouched
    [named] = got
    view = named["response"]
    shown = [view.url, view.request.url, str(named["exception"]), named["url"]]
    assert all("tk-9f2e" not in text for text in shown), shown
    assert view.url == f"{stub.api}/session/{MASK}"


@pytest.mark.parametrize("token", ["tk 9f2e", "t\u00f6k9f2e", "tk|9f2e"])
def test_a_secret_segment_requests_requotes_stays_masked_in_the_views(
    stub: StubServer, token: str
) -> None:
    got: list[Any] = []

    def post(sender: Any, response: Any, **named: Any) -> None:
        got.append(response)

    instrument_http(stub.api, routes=[Route("GET", "/session/{token}", "get", "getSession")])
    with signals.vidispine_post_get.connected_to(post):
        requests.get(f"{stub.api}/session/{token}", timeout=5)

    [view] = got
    assert view.url == view.request.url == f"{stub.api}/session/{MASK}"


def test_a_credential_that_also_sits_in_the_path_is_scrubbed_from_the_views(
    stub: StubServer,
) -> None:
    got: list[Any] = []

    def post(sender: Any, response: Any, **named: Any) -> None:
        got.append(response)

    instrument_http(stub.api)
    with signals.vidispine_post_get.connected_to(post):
        requests.get(
            f"{stub.api}/item/VX-1/s3cretPW",
            headers={"Authorization": "Bearer s3cretPW"},
            timeout=5,
        )

    [view] = got
    assert "s3cretPW" not in view.url and "s3cretPW" not in view.request.url
    assert view.url.endswith(f"/item/VX-1/{MASK}")


@contextlib.contextmanager
def connected_during_the_request(pre: Any, post: Any, receiver: Any) -> Iterator[None]:
    """``receiver`` connected to ``post`` by a receiver of ``pre``, which reads only
    ``method``: what ``receiver`` reads is prepared only once the request is made."""

    def connect_it(sender: Any, method: str, **unread: Any) -> None:
        post.connect(receiver)

    try:
        with pre.connected_to(connect_it):
            yield
    finally:
        post.disconnect(receiver)


def test_a_bytes_url_gives_its_query_to_a_receiver_connected_during_the_request(
    stub: StubServer,
) -> None:
    got: list[Any] = []

    def reads_params(sender: Any, params: Any, **named: Any) -> None:
        got.append(params)

    instrument_http(stub.api)
    with connected_during_the_request(
        signals.vidispine_pre_get, signals.vidispine_post_get, reads_params
    ):
        requests.get(f"{stub.api}/item/VX-1?a=1&token=t0k3n".encode(), timeout=5)

    assert got == [{"a": "1", "token": MASK}]


class CountingForm(dict[str, str]):
    """A form body that counts the lookups of its keys by name."""

    looked_up = 0

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        CountingForm.looked_up += 1
        return super().get(key, default)


def test_a_body_instance_is_not_looked_up_while_no_receiver_reads_instance(
    stub: StubServer,
) -> None:
    got: list[str] = []

    def audit(sender: Any, method: str, **named: Any) -> None:
        got.append(method)

    CountingForm.looked_up = 0
    instrument_http(stub.api)
    with signals.vidispine_pre_create.connected_to(audit):
        requests.post(f"{stub.api}/user", data=CountingForm(userName="alice"), timeout=5)

    assert got == ["createUser"]
    assert CountingForm.looked_up == 0
    assert stub.seen[-1].body == b"userName=alice"


def test_a_body_instance_reaches_a_receiver_connected_during_the_request(
    stub: StubServer,
) -> None:
    got: list[Any] = []

    def reads_instance(sender: Any, instance: Any, **named: Any) -> None:
        got.append(instance)

    instrument_http(stub.api)
    with connected_during_the_request(
        signals.vidispine_pre_create, signals.vidispine_post_create, reads_instance
    ):
        requests.post(f"{stub.api}/user", json={"userName": "alice"}, timeout=5)
        requests.post(f"{stub.api}/user", json={"userName": "bob"}, timeout=5)

    assert got == ["alice", "bob"]


# -- the same URL again ----------------------------------------------------------------


def test_requests_to_the_same_url_each_get_their_own_arguments(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api)
    url = f"{stub.api}/user"

    requests.post(url, json={"userName": "alice"}, timeout=5)
    requests.post(url, json={"userName": "bob"}, params={"a": "1"}, timeout=5)
    requests.post(url, data="userName=carol", timeout=5)

    assert [e.kwargs["instance"] for e in events] == ["alice", "alice", "bob", "bob", None, None]
    assert [e.kwargs["json"] for e in events[::2]] == [
        {"userName": "alice"},
        {"userName": "bob"},
        None,
    ]
    assert [e.kwargs["params"] for e in events[::2]] == [{}, {"a": "1"}, {}]
    assert {e.kwargs["url"] for e in events} == {url}


def test_a_receiver_changing_path_params_does_not_change_the_next_request(
    stub: StubServer, events: list[Any]
) -> None:
    def meddles(sender: Any, path_params: dict[str, str], **named: Any) -> None:
        path_params["item"] = "VX-666"
        path_params["extra"] = "1"

    instrument_http(stub.api)
    with signals.vidispine_pre_get.connected_to(meddles):
        requests.get(f"{stub.api}/item/VX-7", timeout=5)
        requests.get(f"{stub.api}/item/VX-7", timeout=5)

    assert [e.kwargs["instance"] for e in events] == ["VX-7"] * 4
    assert events[2].kwargs["path_params"] is not events[0].kwargs["path_params"]
    # each request starts afresh: what the receiver changed was its own copy
    assert stub.seen[-1].path == "/API/item/VX-7"


def test_a_receiver_connected_during_the_request_changes_only_its_own_path_params(
    stub: StubServer,
) -> None:
    # Nobody read path_params when the request started, so none was copied
    # then: the receiver connected meanwhile still gets a copy of its own.
    got: list[dict[str, str]] = []

    def meddles(sender: Any, path_params: dict[str, str], **unread: Any) -> None:
        got.append(dict(path_params))
        path_params["item"] = "VX-666"

    instrument_http(stub.api)
    with connected_during_the_request(
        signals.vidispine_pre_get, signals.vidispine_post_get, meddles
    ):
        requests.get(f"{stub.api}/item/VX-7", timeout=5)
    with signals.vidispine_post_get.connected_to(meddles):
        requests.get(f"{stub.api}/item/VX-7", timeout=5)

    assert got == [{"item": "VX-7"}, {"item": "VX-7"}]


def test_a_marker_set_between_two_requests_to_the_same_url_is_honoured(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api)
    url = f"{stub.api}/item/VX-7"

    requests.get(url, timeout=5)
    mark("requests.sessions:Session.request", trigger_instead="modify")
    try:
        requests.get(url, timeout=5)
        mark("requests.sessions:Session.request", silent=True)
        requests.get(url, timeout=5)
    finally:
        mark("requests.sessions:Session.request", silent=False, trigger_instead=False)
    requests.get(url, timeout=5)

    assert names(events) == [
        "vidispine_pre_get",
        "vidispine_post_get",
        "vidispine_pre_modify",
        "vidispine_post_modify",
        "vidispine_pre_get",
        "vidispine_post_get",
    ]


def test_a_url_holding_a_secret_is_not_kept_after_its_request(
    stub: StubServer, events: list[Any]
) -> None:
    routes = [Route("GET", "/session/{token}", "get", "getSession", "token")]
    weaving = instrument_http(stub.api, routes=routes)
    plain = f"{stub.api}/item/VX-7"
    secret_urls = [
        f"{stub.api}/item/VX-7?token=t0k3n-1",
        f"{stub.api}/item/VX-7;token=t0k3n-2",
        f"{stub.api}/session/t0k3n-3",
        f"http://admin:t0k3n-4@{stub.api.partition('://')[2]}/item/VX-7",
    ]

    for url in [plain, *secret_urls, plain, *secret_urls]:
        requests.get(url, timeout=5)

    kept = repr(weaving.advice.targets)
    assert plain in kept
    assert "t0k3n" not in kept
    assert "t0k3n" not in repr(events)
    assert [e.kwargs["url"] for e in events[10:12]] == [plain] * 2


def test_the_urls_kept_are_bounded(stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventweave.vidispine import _http

    monkeypatch.setattr(_http, "_TARGETS_KEPT", 3)
    got: list[Any] = []

    def reads_instance(sender: Any, instance: Any, **named: Any) -> None:
        got.append(instance)

    weaving = instrument_http(stub.api)
    with signals.vidispine_pre_get.connected_to(reads_instance):
        for number in range(10):
            requests.get(f"{stub.api}/item/VX-{number}", timeout=5)

    assert got == [f"VX-{number}" for number in range(10)]
    assert 0 < len(weaving.advice.targets) <= 3


def test_a_long_url_is_not_kept(stub: StubServer, events: list[Any]) -> None:
    weaving = instrument_http(stub.api)
    long_url = f"{stub.api}/item/VX-1?q={'x' * 4000}"
    requests.get(long_url, timeout=5)
    requests.get(f"{stub.api}/item/VX-2", timeout=5)

    assert [key[1] for key in weaving.advice.targets] == [f"{stub.api}/item/VX-2"]
    assert events[0].kwargs["url"] == long_url


# -- where it emits -------------------------------------------------------------------


def test_request_to_another_host_emits_nothing(stub: StubServer, events: list[Any]) -> None:
    other = StubServer().start()
    try:
        instrument_http(other.api)
        requests.get(f"{stub.api}/item/VX-1", timeout=5)
    finally:
        other.stop()

    assert events == []


@pytest.mark.parametrize("path", ["/APIX/item/VX-1", "/other/API/item/VX-1", "/item/VX-1"])
def test_request_outside_the_api_root_emits_nothing(
    stub: StubServer, events: list[Any], path: str
) -> None:
    instrument_http(stub.api)

    requests.get(f"{stub.root}{path}", timeout=5)

    assert stub.seen
    assert events == []


def test_api_root_matches_whatever_the_host_case_and_default_port() -> None:
    from eventweave.vidispine._http import _parse_base

    base = _parse_base("HTTP://VS.example/API/")

    assert base.relative("http://vs.example:80/API/item/VX-1") == "/item/VX-1"
    assert base.relative("http://vs.example/API") == "/"
    assert base.relative("https://vs.example/API/item/VX-1") is None
    assert base.relative("http://vs.example:8080/API/item/VX-1") is None


_URL_PIECES = ["http://", "HTTP://", "https://", "vs", "VS", "vsx", ":80", ":8080", "/API", "/api"]
_URL_PIECES += ["/APIX", "/", "?", "#", "x", "//", "u:p@", "[::1]", ";m=1", "\t", " ", "%2F"]


@settings(derandomize=True, max_examples=500, deadline=None, database=None)
@given(
    base_url=st.sampled_from(
        ["http://vs/API", "http://VS:80/API/", "https://vs/API", "http://vs:8080/API", "http://vs"]
    ),
    pieces=st.lists(st.sampled_from(_URL_PIECES), max_size=8),
)
def test_api_root_is_recognised_alike_whatever_the_spelling(
    base_url: str, pieces: list[str]
) -> None:
    from eventweave.vidispine._http import _parse_base

    base, url = _parse_base(base_url), "".join(pieces)

    assert base.relative(url) == base.relative_parsed(url)


def test_session_weaving_affects_only_that_session(stub: StubServer, events: list[Any]) -> None:
    with requests.Session() as mine, requests.Session() as other:
        instrument_http(stub.api, session=mine)

        other.get(f"{stub.api}/user/alice", timeout=5)
        requests.get(f"{stub.api}/user/alice", timeout=5)
        assert events == []
        mine.get(f"{stub.api}/user/alice", timeout=5)

    assert names(events) == ["vidispine_pre_get", "vidispine_post_get"]
    assert events[0].kwargs["method"] == "getUser"


def test_unweave_restores_session_request_exactly(stub: StubServer, events: list[Any]) -> None:
    original = vars(requests.Session)["request"]
    code = original.__code__
    weaving = instrument_http(stub.api)
    assert any(owner is requests.Session for owner, _, _ in slots())

    weaving.unweave()
    requests.get(f"{stub.api}/user/alice", timeout=5)

    assert vars(requests.Session)["request"] is original
    assert original.__code__ is code
    assert not any(owner is requests.Session for owner, _, _ in slots())
    assert events == []


def test_unweave_of_a_session_weaving_leaves_no_attribute_on_it(stub: StubServer) -> None:
    with requests.Session() as session:
        weaving = instrument_http(stub.api, session=session)
        assert "request" in vars(session)

        weaving.unweave()

        assert "request" not in vars(session)
        assert session.request.__func__ is vars(requests.Session)["request"]  # type: ignore[attr-defined]


def test_instrumenting_twice_returns_the_same_weaving(stub: StubServer, events: list[Any]) -> None:
    first = instrument_http(stub.api)
    second = instrument_http(stub.api + "/")

    requests.get(f"{stub.api}/job/VX-1", timeout=5)

    assert first is second
    assert names(events) == ["vidispine_pre_get", "vidispine_post_get"]


def test_nothing_is_emitted_inside_muted(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)

    with muted():
        requests.get(f"{stub.api}/job/VX-1", timeout=5)

    assert events == []
    assert len(stub.seen) == 1


def test_silent_session_class_emits_nothing(stub: StubServer, events: list[Any]) -> None:
    @silent
    class QuietSession(requests.Session):
        pass

    instrument_http(stub.api)
    with QuietSession() as session:
        session.get(f"{stub.api}/job/VX-1", timeout=5)

    assert events == []


def test_a_session_class_marked_silent_between_requests_is_honoured(
    stub: StubServer, events: list[Any]
) -> None:
    class PortalSession(requests.Session):
        pass

    class QuietSession(PortalSession):
        _silent = True  # set by hand, as nefertari's own marker does

    instrument_http(stub.api)
    with PortalSession() as session, QuietSession() as quiet:
        session.get(f"{stub.api}/job/VX-1", timeout=5)
        quiet.get(f"{stub.api}/job/VX-2", timeout=5)
        silent(PortalSession)
        session.get(f"{stub.api}/job/VX-3", timeout=5)

    assert [e.kwargs["instance"] for e in events] == ["VX-1", "VX-1"]


def test_a_silent_marker_set_by_hand_on_the_woven_function_is_honoured(
    stub: StubServer, events: list[Any]
) -> None:
    from eventweave._advice import marker_host

    instrument_http(stub.api)
    host = marker_host(requests.Session.request)
    requests.get(f"{stub.api}/job/VX-1", timeout=5)
    host._silent = True  # as nefertari's own marker does
    try:
        requests.get(f"{stub.api}/job/VX-2", timeout=5)
    finally:
        del host._silent
    requests.get(f"{stub.api}/job/VX-3", timeout=5)

    assert [e.kwargs["instance"] for e in events] == ["VX-1", "VX-1", "VX-3", "VX-3"]


def test_receiver_calling_vidispine_does_not_emit_again(stub: StubServer) -> None:
    calls: list[str] = []

    def on_pre_get(sender: Any, method: str, **kwargs: Any) -> None:
        calls.append(method)
        requests.get(f"{stub.api}/user/audit", timeout=5)

    instrument_http(stub.api)
    signals.vidispine_pre_get.connect(on_pre_get)
    try:
        requests.get(f"{stub.api}/user/alice", timeout=5)
    finally:
        signals.vidispine_pre_get.disconnect(on_pre_get)

    assert calls == ["getUser"]
    assert [s.path for s in stub.seen] == ["/API/user/audit", "/API/user/alice"]


# -- failures ------------------------------------------------------------------------


def test_error_status_emits_failed_with_http_error_and_returns_the_response(
    stub: StubServer, events: list[Any]
) -> None:
    stub.replies["/API/item/VX-9"] = Reply(404, b'{"notFound": {"type": "Item", "id": "VX-9"}}')
    instrument_http(stub.api)

    response = requests.get(f"{stub.api}/item/VX-9", timeout=5)

    assert names(events) == ["vidispine_pre_get", "vidispine_failed"]
    failed = events[1].kwargs
    assert isinstance(failed["exception"], requests.HTTPError)
    assert "404" in str(failed["exception"])
    assert failed["exception"].response.status_code == 404
    assert failed["status_code"] == 404
    assert failed["instance"] == "VX-9"
    assert response.status_code == 404
    assert response.json() == {"notFound": {"type": "Item", "id": "VX-9"}}


def test_connection_error_emits_pre_then_failed_and_reraises(events: list[Any]) -> None:
    api = f"http://127.0.0.1:{closed_port()}/API"
    instrument_http(api)

    with pytest.raises(requests.ConnectionError) as raised:
        requests.delete(f"{api}/item/VX-1", timeout=2)

    assert names(events) == ["vidispine_pre_delete", "vidispine_failed"]
    sent = events[1].kwargs["exception"]
    assert type(sent) is type(raised.value)
    assert str(sent) == str(raised.value)
    assert events[1].kwargs["method"] == "removeItem"


def test_pre_receiver_that_raises_vetoes_the_request(stub: StubServer, events: list[Any]) -> None:
    def veto(**kwargs: Any) -> None:
        raise PermissionError("item deletion is frozen")

    instrument_http(stub.api)
    signals.vidispine_pre_delete.connect(veto)
    try:
        with pytest.raises(PermissionError, match="frozen"):
            requests.delete(f"{stub.api}/item/VX-1", timeout=5)
    finally:
        signals.vidispine_pre_delete.disconnect(veto)

    assert stub.seen == []
    assert names(events) == ["vidispine_pre_delete"]


def test_failed_receiver_that_raises_is_logged_and_the_caller_gets_the_response(
    stub: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("audit log is down")

    stub.replies["/API/item/VX-9"] = Reply(404, b"{}")
    instrument_http(stub.api)
    signals.vidispine_failed.connect(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="eventweave.vidispine.http"):
            response = requests.get(f"{stub.api}/item/VX-9", timeout=5)
    finally:
        signals.vidispine_failed.disconnect(broken)

    assert response.status_code == 404
    assert "vidispine_failed" in caplog.text
    assert "audit log is down" in caplog.text


# -- secrets -------------------------------------------------------------------------


def test_basic_auth_never_reaches_receivers(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)

    response = requests.get(
        f"{stub.api}/user/alice",
        auth=("admin", "s3cret"),
        headers={"Authorization-Extra": "x", "RunAs": "bob"},
        timeout=5,
    )

    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert stub.seen[0].headers["Authorization"] == expected
    assert response.request.headers["Authorization"] == expected
    sent = events[1].kwargs["response"]
    assert sent.request.headers["Authorization"] == MASK
    assert events[0].kwargs["headers"]["RunAs"] == "bob"
    assert "auth" not in events[0].kwargs
    assert "s3cret" not in repr(events)


def test_authorization_and_cookie_headers_are_masked(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)

    requests.get(
        f"{stub.api}/user/alice",
        headers={"Authorization": "Bearer t0ken", "Cookie": "s=1", "X-Api-Key": "k3y"},
        timeout=5,
    )

    assert events[0].kwargs["headers"] == {
        "Authorization": MASK,
        "Cookie": MASK,
        "X-Api-Key": MASK,
    }
    assert stub.seen[0].headers["X-Api-Key"] == "k3y"


def test_password_in_json_body_is_masked_and_sent_unchanged(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api)
    document = {"userName": "alice", "password": "pw1", "metadata": {"apiToken": "t"}}

    requests.post(f"{stub.api}/user", json=document, timeout=5)

    assert events[0].kwargs["instance"] == "alice"
    assert events[0].kwargs["method"] == "createUser"
    assert events[0].kwargs["json"] == {
        "userName": "alice",
        "password": MASK,
        "metadata": {"apiToken": MASK},
    }
    assert json.loads(stub.seen[0].body) == document
    assert document["password"] == "pw1"
    sent = json.loads(events[1].kwargs["response"].request.body)
    assert sent == {**document, "password": MASK, "metadata": {"apiToken": MASK}}


def test_password_in_xml_body_is_masked(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)
    body = (
        '<UserDocument xmlns="http://xml.vidispine.com/schema/vidispine">'
        "<userName>alice</userName><password>pw1</password></UserDocument>"
    )

    requests.post(
        f"{stub.api}/user", data=body, headers={"Content-Type": "application/xml"}, timeout=5
    )

    assert events[0].kwargs["data"] == body.replace("pw1", MASK)
    assert stub.seen[0].body == body.encode()


def test_password_in_form_data_is_masked(stub: StubServer, events: list[Any]) -> None:
    instrument_http(stub.api)

    requests.post(f"{stub.api}/user", data={"userName": "alice", "password": "pw1"}, timeout=5)
    requests.post(f"{stub.api}/user", data="userName=bob&password=pw2", timeout=5)

    assert events[0].kwargs["data"] == {"userName": "alice", "password": MASK}
    assert events[2].kwargs["data"] == f"userName=bob&password={MASK}"
    assert "pw1" not in repr(events)
    assert "pw2" not in repr(events)


def test_url_with_credentials_inside_a_json_body_is_masked(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api)
    callback = "http://vidispine:pw1@portal.example/notify?token=t0k&mode=fast"

    requests.post(f"{stub.api}/job/notification", json={"url": callback}, timeout=5)

    assert events[0].kwargs["json"] == {
        "url": f"http://vidispine:{MASK}@portal.example/notify?token={MASK}&mode=fast"
    }
    assert json.loads(stub.seen[0].body) == {"url": callback}


def test_password_in_url_and_secret_query_values_are_masked(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api)
    host = stub.api.removeprefix("http://")

    requests.get(f"http://admin:pw1@{host}/user/alice?token=t0k&x=1", timeout=5)

    pre = events[0].kwargs
    assert "pw1" not in pre["url"]
    assert "t0k" not in pre["url"]
    assert pre["params"] == {"token": MASK, "x": "1"}
    assert "pw1" not in repr(events)


def test_exception_sent_to_receivers_has_its_request_masked(events: list[Any]) -> None:
    api = f"http://127.0.0.1:{closed_port()}/API"
    instrument_http(api)

    with pytest.raises(requests.ConnectionError) as raised:
        requests.get(f"{api}/user/alice", auth=("admin", "pw1"), timeout=2)

    assert raised.value.request is not None
    assert raised.value.request.headers["Authorization"] != MASK
    sent = events[1].kwargs["exception"]
    assert sent.request.headers["Authorization"] == MASK


# -- routes= -------------------------------------------------------------------------


def test_routes_extend_the_default_table(stub: StubServer, events: list[Any]) -> None:
    instrument_http(
        stub.api, routes=[("POST", "/collection/{collection}/item", "modify", "addToCollection")]
    )

    requests.post(f"{stub.api}/collection/VX-5/item", timeout=5)
    requests.get(f"{stub.api}/item/VX-1", timeout=5)

    assert [e.kwargs["method"] for e in events] == [
        "addToCollection",
        "addToCollection",
        "getItem",
        "getItem",
    ]
    assert events[0].kwargs["instance"] is None
    assert events[0].kwargs["path_params"] == {"collection": "VX-5"}


def test_route_with_the_same_verb_and_template_replaces_the_default(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api, routes=[Route("PUT", "/group/{group}", "modify", "updateGroup")])

    requests.put(f"{stub.api}/group/editors", timeout=5)

    assert names(events) == ["vidispine_pre_modify", "vidispine_post_modify"]
    assert events[0].kwargs["method"] == "updateGroup"


def test_replace_routes_drops_the_defaults(stub: StubServer, events: list[Any]) -> None:
    instrument_http(
        stub.api,
        routes=[Route("GET", "/item/{item}", "get", "fetch", "item")],
        replace_routes=True,
    )

    requests.get(f"{stub.api}/item/VX-1", timeout=5)
    requests.get(f"{stub.api}/user/alice", timeout=5)

    assert [e.kwargs["method"] for e in events] == ["fetch", "fetch", "/user/alice", "/user/alice"]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (("GET", "item/{item}", "get", "getItem"), "must be a path starting with '/'"),
        (("GET", "/item/{item}", "read", "getItem"), "unknown family 'read'"),
        (("GET", "/item/{item}", "get", "getItem", "id"), "instance 'id' is not a {name}"),
        (("GET", "/item/VX-{n}", "get", "getItem"), "must be a whole path segment"),
        (("GET /", "/item", "get", "getItem"), "the verb must be an HTTP method"),
        (("GET", "/item", "get", ""), "the operation must be a non-empty name"),
        (("GET", "/item", "get", "x", "body:"), "'body:' needs the key"),
    ],
)
def test_malformed_route_is_refused_naming_it(route: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match="route .*" + message.replace("{", r"\{")):
        instrument_http("http://vs:8080/API", routes=[route])
    assert not woven()


def test_route_that_is_no_tuple_is_refused() -> None:
    with pytest.raises(TypeError, match="routes= takes Route"):
        instrument_http("http://vs:8080/API", routes=["GET /item"])  # type: ignore[list-item]


def test_replace_routes_without_routes_is_refused() -> None:
    with pytest.raises(ValueError, match="needs routes="):
        instrument_http("http://vs:8080/API", replace_routes=True)


@pytest.mark.parametrize("base_url", ["vs:8080/API", "ftp://vs/API", "http:///API", "http://vs:x/"])
def test_bad_base_url_is_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="instrument_http"):
        instrument_http(base_url)
    assert not woven()


def test_session_must_be_a_requests_session() -> None:
    with pytest.raises(TypeError, match=r"takes a requests\.Session"):
        instrument_http("http://vs:8080/API", session=object())  # type: ignore[arg-type]


def test_default_table_routes_are_well_formed_and_distinct() -> None:
    keys = [(r.verb, r.template) for r in ROUTES]

    assert len(keys) == len(set(keys))
    assert all(r.family == "get" for r in ROUTES if r.verb == "GET")


# -- only what a receiver reads is prepared ------------------------------------------

audit_lines: list[tuple[str, str]] = []


def audit(sender: Any, method: str, url: str, **named: Any) -> None:
    """A common receiver: an audit line, reading ``method`` and ``url`` only."""
    audit_lines.append((method, url))


def reads_json(sender: Any, json: Any = None, **named: Any) -> None:
    audit_lines.append(("json", json))


def _count_calls(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> list[str]:
    """The names of those functions of the HTTP module, each time one of them is called."""
    from eventweave.vidispine import _http

    calls: list[str] = []
    for name in names:
        original = getattr(_http, name)

        def counting(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(_http, name, counting)
    return calls


@pytest.fixture
def masking_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bodies and parameters the instrumentation masked, by kind."""
    return _count_calls(monkeypatch, ("mask_json", "mask_value", "mask_headers"))


def test_bodies_nobody_reads_are_not_masked_and_not_sent(
    stub: StubServer, masking_calls: list[str]
) -> None:
    audit_lines.clear()
    instrument_http(stub.api)
    pre, post = signals.vidispine_pre_modify, signals.vidispine_post_modify
    with pre.connected_to(audit), post.connected_to(audit):
        requests.put(
            f"{stub.api}/item/VX-3/metadata",
            json={"password": "s3cret"},
            headers={"X-Trace": "1"},
            timeout=5,
        )

    url = f"{stub.api}/item/VX-3/metadata"
    assert audit_lines == [("setItemMetadata", url), ("setItemMetadata", url)]
    assert masking_calls == []
    assert json.loads(stub.seen[0].body) == {"password": "s3cret"}  # the request itself unchanged


@pytest.mark.parametrize("weavings", [1, 2])
def test_arguments_reach_receivers_masked_whichever_form_runs(
    stub: StubServer, events: list[Any], weavings: int
) -> None:
    # One HTTP weaving gets its own listening form, passing the arguments by
    # value; a second one on the same function makes the engine's general
    # form run both, passing them by name. Receivers see the same either way,
    # and after the second weaving goes, the first still reports.
    document = {"userName": "alice", "password": "pw1"}
    instrument_http(stub.api)
    second = None
    if weavings == 2:
        second = instrument_http(stub.api, routes=[Route("GET", "/extra", "get", "getExtra")])
    requests.post(f"{stub.api}/user?token=t0k", json=document, auth=("admin", "pw2"), timeout=5)

    assert [e.signal for e in events] == [
        signals.vidispine_pre_create,
        signals.vidispine_post_create,
    ]
    pre, post = (e.kwargs for e in events)
    assert pre["instance"] == "alice" and pre["method"] == "createUser"
    assert pre["json"] == {"userName": "alice", "password": MASK}
    assert pre["params"] == {"token": MASK}
    assert post["response"].request.headers["Authorization"] == MASK
    assert "pw1" not in post["response"].request.body.decode()
    if second is not None:
        second.unweave()
        events.clear()
        requests.post(f"{stub.api}/user", json=document, timeout=5)
        assert [e.kwargs["json"] for e in events] == [{"userName": "alice", "password": MASK}] * 2


def test_a_receiver_that_reads_a_body_gets_it_masked(
    stub: StubServer, masking_calls: list[str]
) -> None:
    audit_lines.clear()
    instrument_http(stub.api)
    pre = signals.vidispine_pre_modify
    with pre.connected_to(audit), pre.connected_to(reads_json):
        requests.put(f"{stub.api}/item/VX-3/metadata", json={"password": "s3cret"}, timeout=5)

    assert ("json", {"password": MASK}) in audit_lines
    assert masking_calls == ["mask_json"]


def test_a_receiver_reading_kwargs_gets_every_field(stub: StubServer, events: list[Any]) -> None:
    # capture() reads **kwargs: everything is prepared, as for any such receiver
    instrument_http(stub.api)

    requests.put(f"{stub.api}/item/VX-3/metadata", json={"a": 1}, headers={"X": "1"}, timeout=5)

    expected = {"instance", "method", "http_method", "url", "path", "path_params", "params"}
    expected |= {"headers", "json", "data", "route"}
    assert set(events[0].kwargs) == expected
    assert set(events[1].kwargs) == expected | {"result", "response", "status_code"}


def test_a_receiver_connected_during_the_request_gets_what_it_reads_after_it(
    stub: StubServer,
) -> None:
    audit_lines.clear()
    instrument_http(stub.api)

    with connected_during_the_request(
        signals.vidispine_pre_modify, signals.vidispine_post_modify, reads_json
    ):
        requests.put(f"{stub.api}/item/VX-3/metadata", json={"token": "t0k"}, timeout=5)

    assert audit_lines == [("json", {"token": MASK})]


@pytest.fixture
def failure_views(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the instrumentation built to report a failure, by kind."""
    return _count_calls(monkeypatch, ("ResponseView", "exception_view", "request_secrets"))


def failed_reading_status(sender: Any, method: str, status_code: int = 0, **named: Any) -> None:
    audit_lines.append((method, str(status_code)))


def failed_reading_exception(sender: Any, method: str, exception: Any, **named: Any) -> None:
    audit_lines.append((method, type(exception).__name__))


@pytest.mark.parametrize(
    ("receiver", "expected", "views"),
    [
        (failed_reading_status, ("getItem", "404"), []),
        (failed_reading_exception, ("getItem", "HTTPError"), ["ResponseView", "request_secrets"]),
    ],
    ids=["status", "exception"],
)
def test_an_error_status_builds_the_error_only_for_a_receiver_reading_it(
    stub: StubServer,
    failure_views: list[str],
    receiver: Any,
    expected: tuple[str, str],
    views: list[str],
) -> None:
    audit_lines.clear()
    stub.replies["/API/item/VX-9"] = Reply(404, b"{}")
    instrument_http(stub.api)

    with signals.vidispine_failed.connected_to(receiver):
        response = requests.get(f"{stub.api}/item/VX-9", timeout=5)

    assert response.status_code == 404
    assert audit_lines == [expected]
    assert failure_views == views


@pytest.mark.parametrize(
    ("receiver", "expected", "views"),
    [
        (failed_reading_status, ("removeItem", "0"), []),
        (
            failed_reading_exception,
            ("removeItem", "ConnectionError"),
            ["request_secrets", "exception_view"],
        ),
    ],
    ids=["status", "exception"],
)
def test_a_raised_exception_is_copied_only_for_a_receiver_reading_it(
    failure_views: list[str], receiver: Any, expected: tuple[str, str], views: list[str]
) -> None:
    audit_lines.clear()
    api = f"http://127.0.0.1:{closed_port()}/API"
    instrument_http(api)

    with signals.vidispine_failed.connected_to(receiver), pytest.raises(requests.ConnectionError):
        requests.delete(f"{api}/item/VX-1", timeout=2)

    assert audit_lines == [expected]
    assert failure_views == views


def test_a_bytes_verb_emits_and_an_unhashable_one_gets_requests_own_error(
    stub: StubServer, events: list[Any]
) -> None:
    instrument_http(stub.api)
    url = f"{stub.api}/item/VX-1"
    with requests.Session() as session:
        session.get(url, timeout=5)  # the str verb's target is kept
        session.request(b"GET", url, timeout=5)  # type: ignore[arg-type]
        with pytest.raises(AttributeError, match="upper"):
            session.request(["GET"], url, timeout=5)  # type: ignore[arg-type]

    assert [e.kwargs["http_method"] for e in events] == ["GET"] * 4
    assert len(stub.seen) == 2
