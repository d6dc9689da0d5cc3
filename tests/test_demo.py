"""Tests for `eventweave demo` (`eventweave._demo`): the bundled portal, its plan, the session."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eventweave
from eventweave._cli import main
from eventweave._demo import PLAN, run_demo

REPO = Path(eventweave.__file__).resolve().parent.parent
PORTAL = Path(PLAN).parent / "portal"
TIMEOUT = 60

EVENT = re.compile(
    r"^ {0,7}\d+\.\d  (?P<name>\S+) +(?P<sender>\S+) +(?P<instance>\S+) +(?P<method>.+)$"
)

# The session, in order; the transcode job's notification arrives on another
# thread while retranscode returns, so it is checked apart.
EXPECTED = [
    ("portal_pre_authenticate", "LoginView", "-", "authenticate"),
    ("portal_post_authenticate", "LoginView", "-", "authenticate"),
    ("portal_pre_authenticate", "LoginView", "-", "authenticate"),
    ("portal_post_authenticate", "LoginView", "admin", "authenticate"),
    ("portal_pre_login", "LoginView", "admin", "login"),
    ("portal_post_login", "LoginView", "admin", "login"),
    ("vidispine_pre_create", "UserHelper", "ada", "createUser"),
    ("vidispine_post_create", "UserHelper", "ada", "createUser"),
    ("vidispine_pre_create", "GroupHelper", "editors", "createGroup"),
    ("vidispine_post_create", "GroupHelper", "editors", "createGroup"),
    ("vidispine_pre_modify", "UserHelper", "ada", "addUserToGroup"),
    ("vidispine_post_modify", "UserHelper", "ada", "addUserToGroup"),
    ("vidispine_pre_create", "ItemHelper", "-", "createPlaceholder"),
    ("vidispine_post_create", "ItemHelper", "VX-1", "createPlaceholder"),
    ("vidispine_pre_modify", "ItemHelper", "VX-1", "setItemMetadata"),
    ("vidispine_post_modify", "ItemHelper", "VX-1", "setItemMetadata"),
    ("vidispine_pre_modify", "ItemHelper", "lowres", "createOrModifyShapeTag"),
    ("vidispine_post_modify", "ItemHelper", "lowres", "createOrModifyShapeTag"),
    ("vidispine_pre_modify", "ItemHelper", "VX-1", "retranscode"),
    ("vidispine_post_modify", "ItemHelper", "VX-1", "retranscode"),
    ("BeforeIndex", "ItemsView", "-", "index"),
    ("AfterIndex", "ItemsView", "-", "index"),
    ("BeforeShow", "ItemsView", "VX-1", "show"),
    ("vidispine_pre_get", "ItemHelper", "VX-1", "getItemMetadata"),
    ("vidispine_post_get", "ItemHelper", "VX-1", "getItemMetadata"),
    ("AfterShow", "ItemsView", "VX-1", "show"),
    ("BeforeCreate", "ItemsView", "-", "create"),
    ("quota_checked", "QuotaPolicy", "admin", "allows"),
    ("vidispine_pre_create", "ItemHelper", "-", "createPlaceholder"),
    ("vidispine_post_create", "ItemHelper", "VX-2", "createPlaceholder"),
    ("AfterCreate", "ItemsView", "-", "create"),
    ("BeforeUpdate", "ItemsView", "VX-2", "reindex"),
    ("vidispine_pre_modify", "ItemHelper", "VX-2", "setItemMetadata"),
    ("vidispine_post_modify", "ItemHelper", "VX-2", "setItemMetadata"),
    ("AfterUpdate", "ItemsView", "VX-2", "reindex"),
    ("vidispine_auto_import_ntfcn", "NotificationReceiver", "VX-3", "AUTO_IMPORT job VX-2"),
    ("vidispine_pre_delete", "ItemHelper", "VX-1", "removeItem"),
    ("vidispine_post_delete", "ItemHelper", "VX-1", "removeItem"),
    ("vidispine_pre_delete", "ItemHelper", "VX-1", "removeItem"),
    ("vidispine_failed", "ItemHelper", "VX-1", "removeItem: NotFound"),
    ("portal_pre_logout", "LogoutView", "admin", "logout"),
    ("portal_post_logout", "LogoutView", "admin", "logout"),
]
TRANSCODE_NOTIFICATION = (
    "vidispine_notification",
    "NotificationReceiver",
    "VX-1",
    "TRANSCODE job VX-1",
)


def run_demo_process(**extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """`python -m eventweave demo` in a fresh interpreter, and how long it took."""
    env = {k: v for k, v in os.environ.items() if k != "EVENTWEAVE_PLAN"}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "eventweave", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def demo() -> tuple[subprocess.CompletedProcess[str], float]:
    return run_demo_process()


def events(output: str) -> list[tuple[str, str, str, str]]:
    found = []
    for line in output.splitlines():
        match = EVENT.match(line)
        if match:
            found.append((match["name"], match["sender"], match["instance"], match["method"]))
    return found


def test_demo_finishes_by_itself_in_seconds(
    demo: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    result, seconds = demo
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert seconds < 30


def test_demo_traces_the_session_in_order(
    demo: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    traced = events(demo[0].stdout)
    assert traced.count(TRANSCODE_NOTIFICATION) == 1
    assert [e for e in traced if e != TRANSCODE_NOTIFICATION] == EXPECTED


def test_demo_traces_the_same_session_through_the_wrapt_wrapper() -> None:
    result, _ = run_demo_process(EVENTWEAVE_DISABLE_CODEGEN="1")
    assert result.returncode == 0, result.stderr
    traced = events(result.stdout)
    assert [e for e in traced if e != TRANSCODE_NOTIFICATION] == EXPECTED


def test_transcode_notification_arrives_within_the_retranscode_step(
    demo: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    traced = events(demo[0].stdout)
    notified = traced.index(TRANSCODE_NOTIFICATION)
    started = traced.index(("vidispine_pre_modify", "ItemHelper", "VX-1", "retranscode"))
    assert started < notified < traced.index(("BeforeIndex", "ItemsView", "-", "index"))


def test_trace_lines_are_aligned_in_columns(
    demo: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    lines = [line for line in demo[0].stdout.splitlines() if EVENT.match(line)]
    header = next(line for line in demo[0].stdout.splitlines() if "signal / event" in line)
    for column in ("signal / event", "sender", "instance", "method"):
        start = header.index(column)
        assert all(line[start - 1] == " " and line[start] != " " for line in lines), column


def test_silent_health_view_emits_nothing(
    demo: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo[0].stdout
    step = out.split("polls the silent health view")[1].split("\n-- ")[0]
    assert step.strip() == "(no events: the plan marks HealthView silent)"


def test_summary_counts_every_traced_event(
    demo: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo[0].stdout
    summary = out.split("\nsummary\n")[1]
    counts = dict(re.findall(r"^  (\w+) +(\d+)$", summary, re.MULTILINE))
    traced = events(out)
    assert int(counts.pop("total")) == len(traced) == len(EXPECTED) + 1
    assert {name: int(n) for name, n in counts.items()} == {
        name: sum(1 for e in traced if e[0] == name) for name in {e[0] for e in traced}
    }


def test_summary_reports_the_cost_measured_live(
    demo: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = demo[0].stdout
    assert re.search(r"the plan made \d+ weavings in \d+\.\d ms", out)
    times = dict(
        re.findall(r"^  (bare call|woven, nobody listening)\S* .*?(\d+) ns", out, re.MULTILINE)
    )
    assert set(times) == {"bare call", "woven, nobody listening"}
    assert all(int(ns) > 0 for ns in times.values())


def test_demo_talks_to_loopback_only() -> None:
    # An audit hook refuses every connection that is not to 127.0.0.1.
    code = (
        "import sys\n"
        "def guard(event, args):\n"
        "    if event == 'socket.connect' and isinstance(args[1], tuple):\n"
        "        assert args[1][0] == '127.0.0.1', args[1]\n"
        "sys.addaudithook(guard)\n"
        "from eventweave._cli import main\n"
        "sys.exit(main(['demo']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EVENTWEAVE_PLAN"}
    env["PYTHONPATH"] = str(REPO)
    env["NO_PROXY"] = "*"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "vidispine_auto_import_ntfcn" in result.stdout


def test_run_demo_in_process_leaves_nothing_woven_or_subscribed() -> None:
    from eventweave._demo import hooks

    out = io.StringIO()
    assert run_demo(out) == 0
    assert "portal_post_logout" in out.getvalue()
    assert not eventweave.woven()
    assert not hooks.rest_events.receivers
    assert not hooks.quota_checked.receivers


def test_portal_code_knows_nothing_of_events() -> None:
    for source in PORTAL.glob("*.py"):
        imports = re.findall(r"^(?:from|import) (eventweave\S*)", source.read_text(), re.MULTILINE)
        assert set(imports) <= {"eventweave.vidispine.client"}, source.name


def test_bundled_plan_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", PLAN]) == 0
    assert capsys.readouterr().out.endswith("targets resolve\n")


def test_show_lists_the_bundled_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", PLAN]) == 0
    out = capsys.readouterr().out
    assert "[rest] eventweave._demo.portal.api" in out
    assert re.search(r"HealthView +nothing \(silent\)", out)
    assert re.search(r"ItemsView\.reindex +BeforeUpdate -> AfterUpdate instead of its own", out)
    assert re.search(r"QuotaPolicy\.allows +post quota_checked", out)
