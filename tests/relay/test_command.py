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

    def __init__(self, *args: str, record: Path, sleep: float = 60, **env_vars: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(HERE), "RELAY_RECORD": str(record), **env_vars}
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


# -- consume --plan ------------------------------------------------------------------

PORTAL_PLAN = """\
[relay]
url = "${REDIS_URL}"
stream = "portal"
forward = ["relay_fixtures:order_paid", "relay_fixtures:order_refunded", "AfterCreate"]
"""

PORTAL_PROGRAM = """\
from relay_fixtures import Item, Shop, order_paid, order_refunded
from eventweave import rest

for n in range(5):
    order_paid.send(Shop, n=n)
order_refunded.send(Shop, n=99)
for data in ({"title": "Dune"}, {"pages": 3}):
    rest.registry.notify(rest.AfterCreate(Item, None, fields=rest._events.build_fields(data)))
"""  # and exits without closing anything: the plan's relay publishes at exit

WORKER_PLAN = """\
[relay]
url = "${REDIS_URL}"
stream = "portal"

[[connect]]
receiver = "relay_fixtures:record"
signals = ["relay_fixtures:order_paid"]

[[connect]]
receiver = "relay_fixtures:record"
events = ["AfterCreate"]
field = "title"
"""


def run_cli(*args: str, cwd: Path, **env_vars: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTWEAVE_")}
    env.update(PYTHONPATH=str(HERE), **env_vars)
    return subprocess.run(
        [sys.executable, "-m", "eventweave", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_plan_forwards_and_a_workers_plan_consumes_end_to_end(
    redis_url: str, tmp_path: Path, workers: list[Worker]
) -> None:
    (tmp_path / "portal.toml").write_text(PORTAL_PLAN)
    (tmp_path / "worker.toml").write_text(WORKER_PLAN)
    (tmp_path / "portal.py").write_text(PORTAL_PROGRAM)
    record = tmp_path / "record.jsonl"
    worker = Worker(
        "--plan",
        str(tmp_path / "worker.toml"),
        "--group",
        "audit",
        record=record,
        REDIS_URL=redis_url,
    )
    workers.append(worker)
    assert "in group 'audit' reading 'portal'" in worker.banner
    assert "2 receiver(s) from " in worker.banner
    portal = run_cli(
        "run",
        "--plan",
        "portal.toml",
        "--",
        sys.executable,
        "portal.py",
        cwd=tmp_path,
        REDIS_URL=redis_url,
    )
    assert portal.returncode == 0, portal.stderr
    wait_for(record, 6)
    status, err = worker.stop(signal.SIGTERM)
    assert status == 0, err
    assert "stopped (handled 8, failed 0, dead 0, reclaimed 0)" in err  # 6 + 2 for no one
    got = [(line["signal"], line.get("n"), line.get("fields")) for line in lines(record)]
    assert got == [
        *(("relay_fixtures:order_paid", n, None) for n in range(5)),
        ("eventweave.rest:AfterCreate", None, {"title": "Dune"}),
    ]


def test_consume_check_says_the_workers_receivers_are_ready(tmp_path: Path) -> None:
    (tmp_path / "worker.toml").write_text(WORKER_PLAN)
    done = run_cli(
        "consume",
        "--plan",
        "worker.toml",
        "--group",
        "audit",
        "--check",
        cwd=tmp_path,
        REDIS_URL="redis://:pw-s3cr3t@127.0.0.1:1/0",
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "eventweave consume: 2 receiver(s) from worker.toml ready for group 'audit' on "
        "'portal' at redis://:***@127.0.0.1:1/0\n"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("relay_fixtures:record", "relay_fixtures:recrod"),
            "worker.toml:6: [[connect]] receiver: relay_fixtures has no attribute 'recrod'; "
            "did you mean 'record'?",
        ),
        (
            ("relay_fixtures:record", "relay_fixtures:not_a_receiver"),
            "worker.toml:6: [[connect]] receiver: receiver relay_fixtures:not_a_receiver must "
            "accept **kwargs",
        ),
        (('"${REDIS_URL}"', '"redis://h:port/0"'), "worker.toml:2: [relay] url: Relay(url="),
        (("[relay]", "[relays]"), "worker.toml:1: [relays]: unknown section"),
        (("REDIS_URL", "UNSET_URL_X"), "worker.toml:2: [relay] url: the environment variable"),
    ],
)
def test_a_wrong_workers_plan_exits_2_with_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    (tmp_path / "worker.toml").write_text(WORKER_PLAN.replace(*change))
    done = run_cli(
        "consume", "--plan", "worker.toml", "--group", "g", cwd=tmp_path, REDIS_URL="redis://x/0"
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"eventweave consume: {message}"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_workers_plan_without_receivers_says_how_to_give_some(tmp_path: Path) -> None:
    (tmp_path / "worker.toml").write_text(WORKER_PLAN.split("[[connect]]")[0])
    done = run_cli(
        "consume", "--plan", "worker.toml", "--group", "g", cwd=tmp_path, REDIS_URL="redis://x/0"
    )
    assert done.returncode == 2
    assert "worker.toml has no [[connect]] receivers; add one, or give --connect" in done.stderr


def test_consume_needs_receivers_from_a_plan_or_connect(tmp_path: Path) -> None:
    done = run_cli("consume", "--group", "g", cwd=tmp_path)
    assert done.returncode == 2
    assert "give receivers: --plan PLAN (its [[connect]] tables) or --connect" in done.stderr
