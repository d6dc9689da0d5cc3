"""Tests for `eventweave.vidispine.fake` as a server: a chosen port, and its command line."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from eventweave.vidispine.client import UserHelper, VidispineAPI
from eventweave.vidispine.fake import FakeVidispine

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 5
URL_LINE = re.compile(r"FakeVidispine serving (http://\S+/API)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


# -- FakeVidispine(host=..., port=...) ------------------------------------------------------


def test_fake_listens_on_the_port_it_is_given() -> None:
    port = free_port()
    with FakeVidispine(port=port) as fake:
        assert fake.port == port
        assert fake.url == f"http://127.0.0.1:{port}/API"
        response = requests.get(f"http://127.0.0.1:{port}/API/user", auth=fake.auth, timeout=5)
        assert response.status_code == 200


def test_fake_serves_its_port_again_after_a_restart() -> None:
    fake = FakeVidispine(port=free_port())
    fake.start()
    fake.stop()
    with fake:
        assert requests.get(fake.url + "/user", auth=fake.auth, timeout=TIMEOUT).ok


def test_port_in_use_is_an_error_naming_the_address_and_the_fix(occupied_port: int) -> None:
    fake = FakeVidispine(port=occupied_port)
    with pytest.raises(OSError, match=rf"127\.0\.0\.1:{occupied_port}: .*0 picks a free one"):
        fake.start()
    assert not fake.running


@pytest.mark.parametrize("port", [-1, 65536, "8080", 80.0, True])
def test_port_must_be_a_tcp_port_number(port: object) -> None:
    with pytest.raises(ValueError, match=r"port=\.\.\.\): expected a TCP port from 1 to 65535"):
        FakeVidispine(port=port)  # type: ignore[arg-type]


def test_host_must_be_an_address() -> None:
    with pytest.raises(TypeError, match=r"expected an address such as '127\.0\.0\.1'"):
        FakeVidispine(host="")


# -- python -m eventweave.vidispine.fake ----------------------------------------------------


def start_cli(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTWEAVE_PLAN", "PYTHONPATH")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "eventweave.vidispine.fake", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def first_line(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """The first line the server prints, or a failure with what it printed instead."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            pytest.fail(f"the fake printed nothing in {timeout} s")
    return process.stdout.readline()


@pytest.fixture
def served() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; killed after it if still running."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_cli_serves_until_interrupted_and_exits_cleanly(
    served: list[subprocess.Popen[str]],
) -> None:
    process = start_cli("--port", "0", "--user", "root", "--password", "s3cret")
    served.append(process)
    found = URL_LINE.search(first_line(process))
    assert found, "the fake did not print its URL"
    url = found.group(1)
    assert url.startswith("http://127.0.0.1:")
    api = VidispineAPI(url, "root", "s3cret", timeout=TIMEOUT)
    UserHelper(api).createUser("ann", "Ann", "pw")
    assert UserHelper(api).getUser("ann")["userName"] == "ann"
    assert requests.get(url + "/user", auth=("admin", "admin"), timeout=TIMEOUT).status_code == 401
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err
    assert "s3cret" not in out + err


def test_cli_listens_on_the_port_given(served: list[subprocess.Popen[str]]) -> None:
    port = free_port()
    process = start_cli("--port", str(port))
    served.append(process)
    assert f"http://127.0.0.1:{port}/API" in first_line(process)
    assert requests.get(f"http://127.0.0.1:{port}/API/user", auth=("admin", "admin"), timeout=5).ok
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 0


def test_cli_stops_listening_once_it_exits(served: list[subprocess.Popen[str]]) -> None:
    process = start_cli("--port", "0")
    served.append(process)
    found = URL_LINE.search(first_line(process))
    assert found
    port = int(found.group(1).rsplit(":", 1)[1].split("/")[0])
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


def test_cli_reports_a_port_in_use_without_a_traceback(occupied_port: int) -> None:
    process = start_cli("--port", str(occupied_port))
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{occupied_port}" in err
    assert "Traceback" not in err


NO_PORT = "argument --port: expected a TCP port from 1 to 65535, or 0 for a free one, got"


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("http", "argument --port: invalid int value: 'http'"),
        ("70000", f"{NO_PORT} 70000"),
        ("-1", f"{NO_PORT} -1"),
    ],
)
def test_cli_rejects_a_port_that_is_no_port_number(port: str, message: str) -> None:
    process = start_cli("--port", port)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert message in err
    assert "Traceback" not in err


def test_cli_help_names_every_option() -> None:
    process = start_cli("--help")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    for option in ("--host", "--port", "--user", "--password"):
        assert option in out
