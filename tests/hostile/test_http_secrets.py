"""Secrets in every shape a ``requests`` call can carry them never reach HTTP signal receivers.

Each case once leaked (issue "Hardening"): a URL's password in ``response.url``,
a token in an exception's message, form bodies in uncommon shapes, bytes names,
XML secrets in CDATA, split by a comment, or in attributes. The caller's own
response and exception stay as they were.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from traceback import extract_tb
from typing import Any

import pytest
import requests
from vidispine.conftest import OPERATION_SIGNALS, Reply, StubServer, names

from eventweave import MASK
from eventweave.testing import CapturedEvent, capture
from eventweave.vidispine import instrument_http, signals
from eventweave.vidispine.fake import FakeVidispine

from .conftest import closed_port, reachable_text

PASSWORD = "pw-S3CRET-1"
TOKEN = "tk-S3CRET-2"


@pytest.fixture
def fake() -> Iterator[FakeVidispine]:
    with FakeVidispine(password=PASSWORD) as server:
        yield server


@pytest.fixture
def events() -> Iterator[list[CapturedEvent]]:
    with capture(*OPERATION_SIGNALS) as got:
        yield got


def leaked(events: list[CapturedEvent], *secrets: str) -> list[str]:
    """The secrets found anywhere in what the receivers got."""
    text = reachable_text([e.kwargs for e in events], repr(events))
    return [secret for secret in secrets if secret in text]


def leaked_from(root: Any, *secrets: str) -> list[str]:
    """The secrets found anywhere reachable from ``root``."""
    text = reachable_text(root)
    return [secret for secret in secrets if secret in text]


def with_userinfo(url: str, user: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{password}@{rest}"


# -- URLs ------------------------------------------------------------------------------


def test_response_url_keeps_no_password_nor_secret_query_value(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_http(fake.url)
    url = with_userinfo(fake.url, "admin", PASSWORD) + f"/user?token={TOKEN}&first=1"

    response = requests.get(url, timeout=5)

    assert names(events) == ["vidispine_pre_get", "vidispine_post_get"]
    post = events[1].kwargs
    assert post["result"].url == post["response"].url
    assert PASSWORD not in post["result"].url
    assert TOKEN not in post["result"].url
    assert post["result"].url.endswith(f"/user?token={MASK}&first=1")
    assert leaked(events, PASSWORD, TOKEN) == []
    assert PASSWORD in response.url  # the caller's response is its own
    assert TOKEN in response.url


def test_error_response_url_keeps_no_password(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_http(fake.url)

    requests.get(with_userinfo(fake.url, "admin", PASSWORD) + "/item/VX-404", timeout=5)

    assert names(events) == ["vidispine_pre_get", "vidispine_failed"]
    failed = events[1].kwargs
    assert PASSWORD not in failed["response"].url
    assert PASSWORD not in str(failed["exception"])
    assert leaked(events, PASSWORD) == []


def test_redirects_keep_no_secret_in_urls_headers_or_requests(
    stub: StubServer, events: list[CapturedEvent]
) -> None:
    location = f"/API/item/VX-2?token={TOKEN}"
    redirect = Reply(302, b"", headers={"Location": location, "Set-Cookie": f"s={PASSWORD}"})
    stub.replies["/API/item/VX-1"] = redirect
    instrument_http(stub.api)

    response = requests.get(
        f"{stub.api}/item/VX-1?token={TOKEN}", auth=("admin", PASSWORD), timeout=5
    )

    assert response.status_code == 200
    result = events[-1].kwargs["result"]
    assert [r.status_code for r in result.history] == [302]
    assert result.history[0].headers["Location"] == f"/API/item/VX-2?token={MASK}"
    assert result.history[0].headers["Set-Cookie"] == MASK
    assert result.history[0].request.headers["Authorization"] == MASK
    assert leaked(events, PASSWORD, TOKEN) == []
    assert TOKEN in response.history[0].headers["Location"]


def test_matrix_and_fragment_secrets_are_masked_in_url_and_path(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_http(fake.url)

    requests.get(
        f"{fake.url}/item/VX-1;token={TOKEN}/metadata#access_token={TOKEN}",
        auth=fake.auth,
        timeout=5,
    )

    pre = events[0].kwargs
    assert pre["path"] == f"/item/VX-1;token={MASK}/metadata"
    assert pre["url"].endswith(f";token={MASK}/metadata#access_token={MASK}")
    assert leaked(events, TOKEN) == []


def test_a_short_secret_value_masks_its_parameter_but_garbles_no_text(
    stub: StubServer, events: list[CapturedEvent]
) -> None:
    stub.replies["/API/item/VX-1"] = Reply(404, b"{}", headers={"X-Served-By": "node-1"})
    instrument_http(stub.api)

    requests.get(f"{stub.api}/item/VX-1", params={"token": "1"}, timeout=5)

    failed = events[-1].kwargs
    view = failed["response"]
    assert view.url == f"{stub.api}/item/VX-1?token={MASK}"  # masked where it is named
    assert view.request.url == view.url
    assert view.headers["X-Served-By"] == "node-1"  # a "1" of free text is left as it is
    assert view.headers["Content-Length"] == "2"
    assert stub.api in str(failed["exception"])
    assert "VX-1" in str(failed["exception"])


def test_secrets_shorter_than_the_minimum_are_not_scrubbed_from_text() -> None:
    from eventweave._advice import SHORTEST_SCRUBBED
    from eventweave.plan._errors import Scrubber
    from eventweave.vidispine._masking import Secrets

    short, long_enough = "x" * (SHORTEST_SCRUBBED - 1), "y" * SHORTEST_SCRUBBED
    secrets = Secrets()
    secrets.add(short)
    assert not secrets
    secrets.add(long_enough)
    assert secrets.scrub(f"{short} {long_enough}") == f"{short} {MASK}"
    assert Scrubber.SHORTEST == SHORTEST_SCRUBBED  # one minimum for every scrubber


# -- exceptions ------------------------------------------------------------------------


def test_refused_connection_sends_an_exception_without_the_token(
    events: list[CapturedEvent],
) -> None:
    api = f"http://127.0.0.1:{closed_port()}/API"
    instrument_http(api)

    with pytest.raises(requests.ConnectionError) as raised:
        requests.get(f"{api}/item/VX-1?token={TOKEN}", timeout=2)

    assert names(events) == ["vidispine_pre_get", "vidispine_failed"]
    sent = events[1].kwargs["exception"]
    assert type(sent) is type(raised.value)
    assert TOKEN not in str(sent)
    assert f"token={MASK}" in str(sent)
    assert leaked(events, TOKEN) == []
    assert TOKEN in str(raised.value)  # the caller's exception is unchanged
    # the traceback is kept: it ends where the original was raised
    assert extract_tb(sent.__traceback__)[-1] == extract_tb(raised.value.__traceback__)[-1]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f" Bearer {TOKEN}"},
        {"X-Api-Key": f"{TOKEN}\n"},
        {b"Authorization": f"Bearer {TOKEN}\r\n".encode()},
    ],
    ids=["leading-space", "newline", "bytes"],
)
def test_invalid_header_sends_an_exception_without_the_value(
    fake: FakeVidispine, events: list[CapturedEvent], headers: dict[Any, Any]
) -> None:
    instrument_http(fake.url)

    with pytest.raises(requests.exceptions.InvalidHeader) as raised:
        requests.get(f"{fake.url}/user", headers=headers, timeout=5)

    assert names(events) == ["vidispine_pre_get", "vidispine_failed"]
    sent = events[1].kwargs["exception"]
    assert isinstance(sent, requests.exceptions.InvalidHeader)
    assert leaked(events, TOKEN) == []
    assert TOKEN in str(raised.value)


def test_exception_with_its_own_str_is_sent_scrubbed_as_a_subclass(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    class Refused(Exception):
        def __init__(self, url: str) -> None:
            super().__init__()
            self._url = url

        def __str__(self) -> str:
            return f"refused {self._url}"

    def hook(response: requests.Response, **kwargs: Any) -> None:
        response.close()  # unread, it would hold its connection
        raise Refused(response.request.url or "")

    instrument_http(fake.url)

    with pytest.raises(Refused):
        requests.get(
            f"{fake.url}/user?token={TOKEN}", auth=fake.auth, hooks={"response": hook}, timeout=5
        )

    sent = events[1].kwargs["exception"]
    assert isinstance(sent, Refused)
    assert str(sent).startswith("refused ")
    assert leaked(events, TOKEN) == []


# -- bodies and headers ----------------------------------------------------------------


def form_bodies() -> list[Any]:
    return [
        f"userName=bob&password={PASSWORD}&",  # trailing &
        f"flag&password={PASSWORD}",  # a bare key
        f"a=1;password={PASSWORD}",  # ; as a separator
        f"url=http%3A%2F%2Fu%3A{PASSWORD}%40host%2F",  # a URL with a password, encoded
        {b"password": PASSWORD.encode()},  # bytes keys
        [(b"password", PASSWORD.encode()), (b"userName", b"bob")],
        {"password": [PASSWORD, PASSWORD]},
    ]


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@pytest.mark.parametrize("body", form_bodies(), ids=range(len(form_bodies())))
def test_form_bodies_of_every_shape_are_masked(
    fake: FakeVidispine, events: list[CapturedEvent], body: Any, as_bytes: bool
) -> None:
    if as_bytes and isinstance(body, str):
        body = body.encode()
    instrument_http(fake.url)

    requests.post(f"{fake.url}/user", data=body, auth=fake.auth, timeout=5)

    assert len(events) == 2
    assert leaked(events, PASSWORD) == []


def test_form_fields_without_secrets_keep_their_spelling(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_http(fake.url)
    body = f"a=%7E1&flag&password={PASSWORD}&b=x+y&"

    requests.post(f"{fake.url}/user", data=body, auth=fake.auth, timeout=5)

    assert events[0].kwargs["data"] == f"a=%7E1&flag&password={MASK}&b=x+y&"


XML_BODIES = [
    f"<UserDocument><password><![CDATA[{PASSWORD}]]></password></UserDocument>",
    f"<UserDocument><password>{PASSWORD[:4]}<!-- -->{PASSWORD[4:]}</password></UserDocument>",
    f'<UserDocument><user password="{PASSWORD}" name="bob"/></UserDocument>',
    f"<UserDocument><vs:password xmlns:vs='urn:x'>{PASSWORD}</vs:password></UserDocument>",
    f"<UserDocument><password><value>{PASSWORD}</value></password></UserDocument>",
    f"<N><url>http://user:{PASSWORD}@portal/notify?token={PASSWORD}&amp;x=1</url></N>",
    f"<N><http url='http://portal/notify?token={PASSWORD}'/></N>",
]


@pytest.mark.parametrize("encoding", [None, "utf-8", "utf-16"], ids=["str", "utf-8", "utf-16"])
@pytest.mark.parametrize("body", XML_BODIES, ids=range(len(XML_BODIES)))
def test_xml_secrets_in_cdata_comments_attributes_and_urls_are_masked(
    fake: FakeVidispine, events: list[CapturedEvent], body: str, encoding: str | None
) -> None:
    instrument_http(fake.url)
    data = body if encoding is None else body.encode(encoding)

    requests.post(
        f"{fake.url}/user",
        data=data,
        headers={"Content-Type": "application/xml"},
        auth=fake.auth,
        timeout=5,
    )

    assert len(events) == 2
    assert leaked(events, PASSWORD) == []
    sent = events[0].kwargs["data"]
    assert type(sent) is type(data)
    text = sent if isinstance(sent, str) else sent.decode(encoding or "utf-8")
    assert MASK in text
    assert text.startswith(body[:3])  # masked in place, the rest as written


def test_xml_outside_secret_elements_is_kept_as_written(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_http(fake.url)
    body = (
        "<?xml version='1.0'?>\n<!-- a user -->"
        "<UserDocument a='1'><userName>bob &amp; co</userName>"
        f'<password a="x>y">{PASSWORD}</password><x/></UserDocument>'
    )

    requests.post(f"{fake.url}/user", data=body, auth=fake.auth, timeout=5)

    assert events[0].kwargs["data"] == body.replace(PASSWORD, MASK)


@pytest.mark.parametrize(
    "body",
    ['{"password": "' + PASSWORD + '", }', "<UserDocument><password>" + PASSWORD],
    ids=["json", "xml"],
)
def test_unreadable_json_or_xml_naming_a_secret_is_masked_whole(
    fake: FakeVidispine, events: list[CapturedEvent], body: str
) -> None:
    instrument_http(fake.url)

    requests.post(f"{fake.url}/user", data=body, auth=fake.auth, timeout=5)

    assert events[0].kwargs["data"] == MASK
    assert leaked(events, PASSWORD) == []


def test_json_secrets_behind_escapes_are_masked(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_http(fake.url)
    body = json.dumps({"userName": "bob", "password": PASSWORD}).replace(
        "password", "\\u0070assword"
    )

    requests.post(f"{fake.url}/user", data=body.encode("utf-16"), auth=fake.auth, timeout=5)

    assert leaked(events, PASSWORD) == []
    assert json.loads(events[0].kwargs["data"]) == {"userName": "bob", "password": MASK}


@pytest.mark.parametrize(
    "headers",
    [
        {b"Authorization": f"Bearer {TOKEN}".encode()},
        {b"X-Api-Key": TOKEN.encode()},
        {"Referer": f"http://portal/page?token={TOKEN}"},
    ],
    ids=["bytes-authorization", "bytes-api-key", "url-value"],
)
def test_headers_of_every_shape_are_masked(
    fake: FakeVidispine, events: list[CapturedEvent], headers: Any
) -> None:
    instrument_http(fake.url)

    response = requests.get(f"{fake.url}/user", headers=headers, auth=fake.auth, timeout=5)

    assert response.status_code in (200, 401)
    assert len(events) == 2
    assert leaked(events, TOKEN) == []


def test_headers_requests_refuses_fail_as_without_instrumentation_and_leak_nothing(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    headers = [("Authorization", f"Bearer {TOKEN}")]  # requests takes a mapping only
    with pytest.raises(AttributeError) as bare:
        requests.get(f"{fake.url}/user", headers=headers, timeout=5)  # type: ignore[arg-type]
    instrument_http(fake.url)

    with pytest.raises(AttributeError) as woven:
        requests.get(f"{fake.url}/user", headers=headers, timeout=5)  # type: ignore[arg-type]

    assert str(woven.value) == str(bare.value)
    assert names(events) == ["vidispine_pre_get", "vidispine_failed"]
    assert leaked(events, TOKEN) == []


def test_cookies_and_auth_objects_never_reach_receivers(
    fake: FakeVidispine, events: list[CapturedEvent]
) -> None:
    instrument_http(fake.url)

    requests.get(
        f"{fake.url}/user",
        auth=requests.auth.HTTPBasicAuth("admin", PASSWORD),
        cookies={"session": TOKEN},
        timeout=5,
    )

    assert len(events) == 2
    assert leaked(events, PASSWORD, TOKEN) == []


@pytest.mark.parametrize("status", [200, 401])
def test_digest_auth_hooks_of_the_request_never_reach_receivers(
    stub: StubServer, events: list[CapturedEvent], status: int
) -> None:
    # HTTPDigestAuth hooks its own bound methods into the prepared request:
    # through them (hook.__self__.password) a copied request would hand over
    # the password.
    stub.replies["/API/item/VX-1"] = Reply(status)
    instrument_http(stub.api)

    response = requests.get(
        f"{stub.api}/item/VX-1",
        auth=requests.auth.HTTPDigestAuth("admin", PASSWORD),
        timeout=5,
    )

    assert response.status_code == status
    assert response.request.hooks["response"]  # the caller's request keeps its hooks
    view = events[-1].kwargs["response"]
    assert view.request.hooks == requests.hooks.default_hooks()
    assert leaked(events, PASSWORD) == []


def test_nothing_a_response_view_holds_hands_back_the_unmasked_response(
    stub: StubServer, events: list[CapturedEvent]
) -> None:
    stub.replies["/API/item/VX-1"] = Reply(302, b"", headers={"Location": "/API/item/VX-2"})
    instrument_http(stub.api)

    requests.get(f"{stub.api}/item/VX-1?token={TOKEN}", auth=("admin", PASSWORD), timeout=5)

    view = events[-1].kwargs["response"]
    assert not hasattr(view, "_original")
    for value in vars(view).values():
        if not callable(value):
            continue
        for name in ("url", "headers", "request", "history", "_next"):
            assert leaked_from(value(name), PASSWORD, TOKEN) == []
        for name in ("raw", "cookies", "connection", "__dict__"):
            with pytest.raises(AttributeError):
                value(name)


def test_instrument_http_error_never_quotes_a_password() -> None:
    with pytest.raises(ValueError, match="not a valid URL") as raised:
        instrument_http(f"http://admin:{PASSWORD}@[::1/API")

    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize("reads_data", [False, True], ids=["method-and-url", "data"])
def test_a_body_naming_a_secret_is_parsed_only_for_a_receiver_reading_it(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch, reads_data: bool
) -> None:
    from eventweave.vidispine import _masking

    seen: list[tuple[str, Any]] = []
    parsed: list[str] = []
    mask_xml = _masking._mask_xml

    def recording(text: str, found: Any) -> str | None:
        parsed.append(text)
        return mask_xml(text, found)

    monkeypatch.setattr(_masking, "_mask_xml", recording)
    body = f"<MetadataDocument><password>{PASSWORD}</password></MetadataDocument>"

    def reads_method_and_url(sender: Any, method: str, url: str, **kwargs: Any) -> None:
        seen.append((method, url))

    def reads_the_data(sender: Any, method: str, data: Any, **kwargs: Any) -> None:
        seen.append((method, data))

    receiver = reads_the_data if reads_data else reads_method_and_url
    instrument_http(stub.api)
    signals.vidispine_post_modify.connect(receiver)
    try:
        requests.put(f"{stub.api}/item/VX-1/metadata", data=body, timeout=5)
    finally:
        signals.vidispine_post_modify.disconnect(receiver)

    assert [method for method, _ in seen] == ["setItemMetadata"]
    if reads_data:
        assert parsed != []
        assert seen[0][1] == f"<MetadataDocument><password>{MASK}</password></MetadataDocument>"
    else:
        assert parsed == []  # nobody reads the body: not even parsed
        assert seen[0][1] == f"{stub.api}/item/VX-1/metadata"


def test_notification_errors_never_quote_the_password_of_the_api_url(fake: FakeVidispine) -> None:
    from eventweave.vidispine import register_notification
    from eventweave.vidispine._notifications import NotificationError

    url = with_userinfo(fake.url, "admin", PASSWORD)

    with pytest.raises(NotificationError) as raised:
        register_notification(url, "http://127.0.0.1:9/notify", auth=("admin", "wrong"))

    assert raised.value.status == 401
    assert PASSWORD not in str(raised.value)
    assert PASSWORD not in raised.value.url


def test_concurrent_requests_each_reach_receivers_once_masked_and_their_own(
    fake: FakeVidispine,
) -> None:
    threads, requests_per_thread = 6, 15
    got: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def audit(signal: Any, sender: Any, params: Any, **named: Any) -> None:
        response = named.get("response")
        url = response.url if response is not None else ""
        with lock:
            got.append((params["token"], url, params["tag"]))

    def client(number: int) -> None:
        with requests.Session() as session:
            for index in range(requests_per_thread):
                session.get(
                    f"{fake.url}/user",
                    params={"tag": f"{number}-{index}", "token": f"{TOKEN}-{number}"},
                    auth=("admin", PASSWORD),
                    timeout=5,
                )

    instrument_http(fake.url)
    for signal in (signals.vidispine_pre_get, signals.vidispine_post_get):
        signal.connect(audit)
    try:
        workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert not any(worker.is_alive() for worker in workers)
    finally:
        for signal in (signals.vidispine_pre_get, signals.vidispine_post_get):
            signal.disconnect(audit)

    assert len(got) == 2 * threads * requests_per_thread
    tags = [tag for _, _, tag in got]
    assert sorted(set(tags)) == sorted(f"{n}-{i}" for n in range(threads) for i in range(15))
    assert all(tags.count(tag) == 2 for tag in set(tags))  # one pre and one post each
    assert {token for token, _, _ in got} == {MASK}
    posts = [(url, tag) for _, url, tag in got if url]
    assert len(posts) == threads * requests_per_thread
    assert all(f"tag={tag}&token={MASK}" in url for url, tag in posts)  # each its own request
