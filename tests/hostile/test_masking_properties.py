"""Property: no secret value ever reaches an HTTP signal receiver, in any body shape.

Bodies are generated as forms, JSON and XML, given as ``str`` or ``bytes``
(or as the objects ``data=`` and ``json=`` take), with secret values under
secret names, in URLs (``user:password@``, ``?token=``) and behind escapes.
Every secret value starts with ``Q``; no other generated text holds a ``Q``, so
a ``Q`` anywhere in what receivers get is a leak. The fast properties check
the maskers themselves; the others send real requests to a FakeVidispine on
loopback and search everything the receivers got.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus, urlencode
from xml.parsers import expat

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from vidispine.conftest import OPERATION_SIGNALS

from eventweave.testing import capture
from eventweave.vidispine import instrument_http
from eventweave.vidispine._masking import mask_json, mask_text
from eventweave.vidispine.fake import FakeVidispine

from .conftest import reachable_text

SECRET_NAMES = [
    "password",
    "Password",
    "newPassword",
    "passwd",
    "pwd",
    "api_key",
    "X-Api-Key",
    "apiKey",
    "token",
    "access_token",
    "client_secret",
    "privateKey",
    "credentials",
]
PLAIN_NAMES = ["userName", "title", "itemId", "realName", "note", "url", "value", "key", "a"]
PLAIN_TAGS = ["UserDocument", "field", "name", "value", "metadata", "vs:item"]

_NO_Q = "".join(c for c in string.printable if c not in "Q\x0b\x0c")
plain_text = st.text(alphabet=_NO_Q, max_size=12)
secret_text = st.text(alphabet=_NO_Q, max_size=10).map(lambda text: "Q" + text)
_URL_SAFE = st.text(alphabet=string.ascii_letters.replace("Q", "") + string.digits, max_size=8)
secret_word = _URL_SAFE.map(lambda text: "Q" + text)  # a value a URL carries as is


@st.composite
def urls(draw: st.DrawFn) -> str:
    """A URL with secrets where URLs carry them: userinfo, query, fragment, matrix."""
    host = draw(st.sampled_from(["portal.example", "127.0.0.1:8080"]))
    userinfo = draw(st.one_of(st.just(""), secret_word.map(lambda pw: f"user:{pw}@")))
    path = "/notify"
    if draw(st.booleans()):
        path += f";{draw(st.sampled_from(SECRET_NAMES))}={draw(secret_word)}"
    params = draw(
        st.lists(
            st.one_of(
                st.tuples(st.sampled_from(SECRET_NAMES), secret_word),
                st.tuples(st.sampled_from(PLAIN_NAMES), _URL_SAFE),
            ),
            max_size=3,
        )
    )
    query = "?" + "&".join(f"{k}={v}" for k, v in params) if params else ""
    fragment = f"#access_token={draw(secret_word)}" if draw(st.booleans()) else ""
    return f"http://{userinfo}{host}{path}{query}{fragment}"


plain_values = st.one_of(plain_text, urls())


# -- forms -------------------------------------------------------------------------


@st.composite
def forms(draw: st.DrawFn) -> str:
    pairs = draw(
        st.lists(
            st.one_of(
                st.tuples(st.sampled_from(SECRET_NAMES), secret_text),
                st.tuples(st.sampled_from(PLAIN_NAMES), plain_values),
            ),
            max_size=5,
        )
    )
    quote_via = draw(st.sampled_from([quote, quote_plus]))
    fields = [urlencode([pair], quote_via=quote_via) for pair in pairs]
    for _ in range(draw(st.integers(0, 2))):  # bare keys and empty fields
        fields.insert(draw(st.integers(0, len(fields))), draw(st.sampled_from(["flag", ""])))
    separator = draw(st.sampled_from(["&", "&", ";"]))
    return separator.join(fields) + draw(st.sampled_from(["", "&"]))


# -- JSON --------------------------------------------------------------------------

secret_json = st.recursive(
    secret_text,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=2)
        | st.dictionaries(st.sampled_from(PLAIN_NAMES), inner, min_size=1, max_size=2)
    ),
    max_leaves=4,
)


def _json_objects(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    entries = st.one_of(
        st.tuples(st.sampled_from(SECRET_NAMES), secret_json),
        st.tuples(st.sampled_from(PLAIN_NAMES), inner),
    )
    return st.lists(entries, max_size=4).map(dict)


json_documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-9, 9), plain_values),
    lambda inner: st.lists(inner, max_size=3) | _json_objects(inner),
    max_leaves=12,
).filter(lambda document: isinstance(document, (dict, list)))


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    document = draw(json_documents)
    text = json.dumps(
        document, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1]))
    )
    if draw(st.booleans()):  # names behind escapes: "\u0070assword"
        text = text.replace('"p', '"\\u0070').replace('"t', '"\\u0074')
    return text


# -- XML ---------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_text() -> st.SearchStrategy[str]:
    return plain_text.map(lambda t: "".join(c for c in t if c in string.printable[:-2]))


@st.composite
def secret_contents(draw: st.DrawFn) -> str:
    value = draw(secret_text)
    shape = draw(st.sampled_from(["text", "cdata", "comment", "child"]))
    if shape == "cdata":
        return f"<![CDATA[{value.replace(']]>', '')}]]>"
    if shape == "comment":
        middle = len(value) // 2
        return f"{_escape(value[:middle])}<!-- x -->{_escape(value[middle:])}"
    if shape == "child":
        return f"<value>{_escape(value)}</value>"
    return _escape(value)


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> str:
    if draw(st.booleans()):
        name = draw(st.sampled_from(SECRET_NAMES).map(lambda n: n.replace("-", "_")))
        prefix = draw(st.sampled_from(["", "vs:"]))
        return f"<{prefix}{name}>{draw(secret_contents())}</{prefix}{name}>"
    name = draw(st.sampled_from(PLAIN_TAGS))
    attributes = ""
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            attr, value = draw(st.sampled_from(SECRET_NAMES)).replace("-", "_"), draw(secret_text)
        else:
            attr, value = draw(st.sampled_from(["id", "lang", "href"])), draw(plain_values)
        if f" {attr}=" not in attributes:
            quote_char = draw(st.sampled_from(['"', "'"]))
            escaped = _escape(value).replace(
                quote_char, "&quot;" if quote_char == '"' else "&apos;"
            )
            attributes += f" {attr}={quote_char}{escaped}{quote_char}"
    if depth < 3 and draw(st.booleans()):
        children = "".join(draw(st.lists(elements(depth + 1), max_size=3)))
    else:
        children = _escape(draw(st.one_of(_xml_text(), urls())))
    return f"<{name}{attributes}>{children}</{name}>"


@st.composite
def xml_texts(draw: st.DrawFn) -> str:
    root = draw(elements())
    namespace = ' xmlns:vs="http://xml.vidispine.com/schema/vidispine"'
    document = f"<Document{namespace}>{root}</Document>"
    if draw(st.booleans()):
        document = "<?xml version='1.0' encoding='UTF-8'?>\n<!-- generated -->" + document
    return document


# -- the maskers -------------------------------------------------------------------

ENCODINGS = ["str", "utf-8", "utf-16", "latin-1"]


def encode(text: str, encoding: str) -> str | bytes:
    if encoding == "str":
        return text
    if text.startswith("<?xml") and encoding != "utf-8":  # the declaration tells the truth
        text = text.replace("UTF-8", "ISO-8859-1" if encoding == "latin-1" else "UTF-16")
    return text.encode(encoding, "xmlcharrefreplace" if text.startswith("<") else "strict")


def shown(value: Any) -> str:
    return reachable_text(value)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(body=forms(), encoding=st.sampled_from(ENCODINGS[:2]))
def test_no_secret_survives_masking_a_form(body: str, encoding: str) -> None:
    assert "Q" not in shown(mask_text(encode(body, encoding)))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(body=json_texts(), encoding=st.sampled_from(ENCODINGS[:3]))
def test_no_secret_survives_masking_a_json_text(body: str, encoding: str) -> None:
    masked = mask_text(encode(body, encoding))

    assert "Q" not in shown(masked)
    json.loads(masked)  # still JSON


@settings(derandomize=True, max_examples=300, deadline=None)
@given(document=json_documents)
def test_no_secret_survives_masking_a_json_object(document: Any) -> None:
    masked = mask_json(document)

    assert "Q" not in shown(masked)
    assert "Q" in shown(document) or masked == document


@settings(derandomize=True, max_examples=300, deadline=None)
@given(body=xml_texts(), encoding=st.sampled_from(ENCODINGS))
def test_no_secret_survives_masking_xml(body: str, encoding: str) -> None:
    given_body = encode(body, encoding)
    masked = mask_text(given_body)

    assert "Q" not in shown(masked)
    assert type(masked) is type(given_body)
    parser = expat.ParserCreate()
    parser.Parse(masked, True)  # still well-formed


@settings(derandomize=True, max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from(SECRET_NAMES + PLAIN_NAMES), plain_text)))
def test_bodies_without_secrets_are_passed_as_given(pairs: list[tuple[str, str]]) -> None:
    plain = [(k, v) for k, v in pairs if k in PLAIN_NAMES]
    body = urlencode(plain)
    document = json.dumps(dict(plain))

    assert mask_text(body) is body
    assert mask_text(document) is document


# -- end to end: real requests, everything the receivers got ------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVidispine]:
    with FakeVidispine() as server:
        yield server


bodies = st.one_of(
    st.tuples(st.just("data"), forms()),
    st.tuples(st.just("data"), json_texts()),
    st.tuples(st.just("data"), xml_texts()),
    st.tuples(st.just("json"), json_documents),
    st.tuples(
        st.just("data"),
        st.dictionaries(
            st.sampled_from(SECRET_NAMES).map(str.encode), secret_text.map(str.encode), max_size=2
        ),
    ),
)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(body=bodies, encoding=st.sampled_from(ENCODINGS[:3]), url=urls())
def test_no_secret_reaches_receivers_of_a_real_request(
    fake: FakeVidispine, body: tuple[str, Any], encoding: str, url: str
) -> None:
    keyword, value = body
    if isinstance(value, str):
        value = encode(value, encoding)
    instrument_http(fake.url)
    query = url.partition("?")[2]

    with capture(*OPERATION_SIGNALS) as events:
        requests.post(
            f"{fake.url}/item/VX-1/metadata?{query}",
            **{keyword: value},
            headers={"Referer": url, "X-Api-Key": "Qkey"},
            cookies={"session": "Qcookie"},
            auth=fake.auth,
            timeout=5,
        )

    assert len(events) == 2
    assert "Q" not in reachable_text([e.kwargs for e in events], repr(events))
