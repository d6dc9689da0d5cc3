"""Fixtures for the Vidispine tests: the fake server, a stub server, a client, a callback receiver.

Also what the helper and HTTP tests share: the operation signals, their names.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

import eventweave
from eventweave.testing import CapturedEvent
from eventweave.vidispine import _scope, signals
from eventweave.vidispine.client import VidispineAPI
from eventweave.vidispine.fake import FakeVidispine, fake_vidispine_fixture

fake_vidispine = pytest.fixture(fake_vidispine_fixture, name="fake_vidispine")

OPERATION_SIGNALS = (
    signals.vidispine_pre_create,
    signals.vidispine_post_create,
    signals.vidispine_pre_modify,
    signals.vidispine_post_modify,
    signals.vidispine_pre_delete,
    signals.vidispine_post_delete,
    signals.vidispine_pre_get,
    signals.vidispine_post_get,
    signals.vidispine_failed,
)
"""What helper and HTTP operations send: each family's pre/post pair, and failed."""

_SIGNAL_NAMES = {id(getattr(signals, name)): name for name in signals.__all__}


def names(events: list[CapturedEvent]) -> list[str]:
    """The names of the signals captured, in order (a foreign signal by its repr)."""
    return [_SIGNAL_NAMES.get(id(e.signal), repr(e.signal)) for e in events]


FIXTURE_PORTAL = Path(__file__).resolve().parent.parent / "fixtures" / "portal_vidispine"


@pytest.fixture
def fixture_portal(
    monkeypatch: pytest.MonkeyPatch, fake_vidispine: FakeVidispine
) -> Iterator[Callable[[str], ModuleType]]:
    """``load("portal.vidispine.iitem")`` imports a module of the fixture portal, afresh.

    The portal's helpers (tests/fixtures/portal_vidispine) talk to the fake server.
    Any ``portal`` package imported before is set aside for the test and put back after.
    """
    stashed = {
        name: sys.modules.pop(name)
        for name in list(sys.modules)
        if name == "portal" or name.startswith("portal.")
    }
    monkeypatch.syspath_prepend(str(FIXTURE_PORTAL))

    def load(name: str) -> ModuleType:
        general = importlib.import_module("portal.vidispine.igeneral")
        general.VIDISPINE_URL = fake_vidispine.url  # type: ignore[attr-defined]
        general.VIDISPINE_USERNAME, general.VIDISPINE_PASSWORD = fake_vidispine.auth  # type: ignore[attr-defined]
        return importlib.import_module(name)

    yield load
    for name in [n for n in sys.modules if n == "portal" or n.startswith("portal.")]:
        del sys.modules[name]
    sys.modules.update(stashed)


@pytest.fixture
def no_http_weavings_left() -> Iterator[None]:
    """After the test: nothing woven, every HTTP gate released, no receiver left."""
    yield
    eventweave.unweave_all()
    assert not eventweave.woven()
    assert not _scope._http_gates  # every instrument_http released its gate
    for signal in OPERATION_SIGNALS:
        assert not signal.receivers


@pytest.fixture
def fake() -> Iterator[FakeVidispine]:
    """A started FakeVidispine that must end the test without a server error."""
    with FakeVidispine() as server:
        yield server
    assert not server.state.server_errors


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """``serve(wsgi_app)`` serves it on a loopback port in a thread and returns its URL.

    The servers are shut down, and their threads joined, after the test.
    """
    running: list[tuple[WSGIServer, threading.Thread]] = []

    def start(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}/vidispine/notify"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StubServer:
    """A loopback HTTP server answering every method with the reply set for its path."""

    replies: dict[str, Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def start(self) -> StubServer:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                stub.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                reply = stub.replies.get(self.path.split("?")[0], Reply())
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer
            do_OPTIONS = do_PROPFIND = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}
        )
        self.thread.start()
        return self

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api(self) -> str:
        return f"{self.root}/API"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture
def api(fake_vidispine: FakeVidispine) -> Iterator[VidispineAPI]:
    with VidispineAPI(fake_vidispine.url, *fake_vidispine.auth, timeout=5) as client:
        yield client


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def fields(self) -> dict[str, str]:
        return {f["key"]: f["value"] for f in self.json()["field"]}


class CallbackReceiver:
    """A loopback HTTP server that records every request and answers with ``status``.

    ``on_request`` runs in the server thread for each request, before the answer.
    """

    def __init__(
        self, status: int = 200, on_request: Callable[[Received], None] | None = None
    ) -> None:
        self.status = status
        self.received: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                record = Received(
                    self.command, self.path, dict(self.headers), self.rfile.read(length)
                )
                if on_request is not None:
                    on_request(record)
                with receiver._changed:
                    receiver.received.append(record)
                    receiver._changed.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/callback"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.received) >= count, timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    callback = CallbackReceiver()
    yield callback
    callback.close()
