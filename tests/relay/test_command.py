"""Tests for ``eventweave consume`` (``eventweave.relay._command``), run as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from relay_fixtures import Shop, order_paid

from eventweave.relay import Relay

HERE = Path(__file__).parent
CONSUME = [sys.executable, "-m", "eventweave", "consume"]


class Worker:
    """An ``eventweave consume`` process; stopped (SIGKILL) by the fixture if still running."""

    def __init__(self, *args: str, record: Path, sleep: float = 60) -> None:
        env = {**os.environ, "PYTHONPATH": str(HERE), "RELAY_RECORD": str(record)}
        env["RELAY_SLEEP"] = str(sleep)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "eventweave", "consume", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner = self._first_line(timeout=30)

    def _first_line(self, timeout: float) -> str:
        """Wait until the consumer says it runs (its signal handlers are installed by then)."""
        assert self.process.stderr is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stderr.readline()))
        reader.start()
        reader.join(timeout)
        assert found and "stop with SIGTERM" in found[0], f"consumer did not start: {found}"
        return found[0]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.communicate(timeout=10)


def lines(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.endswith("}")]


def wait_for(record: Path, count: int, key: str = "event_id", timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while sum(1 for line in lines(record) if key in line) < count:
        assert time.monotonic() < deadline, f"{count} {key!r} lines not written in time"
        time.sleep(0.02)


def test_consume_delivers_events_and_stops_cleanly_on_sigterm(
    redis_url: str, tmp_path: Path, workers: list[Worker]
) -> None:
    record = tmp_path / "record.jsonl"
    worker = Worker(
        "--url", redis_url, "--group", "audit", "--connect", "relay_fixtures:record", record=record
    )
    workers.append(worker)
    with Relay(redis_url) as relay:
        relay.forward(order_paid)
        for n in range(20):
            order_paid.send(Shop, n=n)
    wait_for(record, 20)
    status, err = worker.stop(signal.SIGTERM)
    assert status == 0
    assert "stopped (handled 20, failed 0, dead 0, reclaimed 0)" in err
    assert [line["n"] for line in lines(record)] == list(range(20))
    assert {line["signal"] for line in lines(record)} == {"relay_fixtures:order_paid"}


def test_sigint_stops_consume_cleanly_too(
    redis_url: str, tmp_path: Path, workers: list[Worker]
) -> None:
    worker = Worker(
        "--url",
        redis_url,
        "--group",
        "audit",
        "--connect",
        "relay_fixtures:record",
        record=tmp_path / "r",
    )
    workers.append(worker)
    status, err = worker.stop(signal.SIGINT)
    assert status == 0
    assert "stopped" in err


def test_an_event_of_a_killed_consumer_is_delivered_by_another(
    redis_url: str, tmp_path: Path, workers: list[Worker], client: Any
) -> None:
    record = tmp_path / "record.jsonl"
    common = ["--url", redis_url, "--group", "workers", "--idle-ms", "300"]
    slow = Worker(
        *common, "--name", "slow", "--connect", "relay_fixtures:record_slowly", record=record
    )
    workers.append(slow)
    with Relay(redis_url) as relay:
        relay.forward(order_paid)
        order_paid.send(Shop, n=1)
    wait_for(record, 1, key="started")
    slow.stop(signal.SIGKILL)  # mid-handling: the event was never acknowledged
    fast = Worker(*common, "--name", "fast", "--connect", "relay_fixtures:record", record=record)
    workers.append(fast)
    wait_for(record, 1)
    status, err = fast.stop()
    assert status == 0
    [started, handled] = lines(record)
    assert handled["event_id"] == started["started"]
    assert handled["pid"] == fast.process.pid
    assert "reclaimed 1" in err
    assert int(client.xpending("eventweave", "workers")["pending"]) == 0


def test_a_misspelled_receiver_is_reported_with_the_nearest_name(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CONSUME, "--group", "g", "--connect", "relay_fixtures:recrod"],
        env={**os.environ, "PYTHONPATH": str(HERE)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "did you mean 'record'?" in done.stderr


def test_a_receiver_without_kwargs_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CONSUME, "--group", "g", "--connect", "relay_fixtures:not_a_receiver"],
        env={**os.environ, "PYTHONPATH": str(HERE)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "must accept **kwargs" in done.stderr


def test_consume_needs_a_group() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eventweave", "consume", "--connect", "relay_fixtures:record"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--group" in done.stderr
