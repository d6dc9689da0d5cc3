"""Tests for `eventweave.testing._plugin`: fixtures, and what it keeps between tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from eventweave.testing import CapturedEvent
from eventweave.vidispine import instrument_helpers
from eventweave.vidispine.client import UserHelper, VidispineAPI
from eventweave.vidispine.fake import FakeVidispine
from eventweave.vidispine.signals import vidispine_post_create, vidispine_pre_create

pytest_plugins = ("pytester",)

REPO = Path(__file__).resolve().parent.parent

# What every test file below starts from: a module woven at start-up, as a plan
# applied by `eventweave run -- pytest` leaves it, and a REST subscription made then.
START_UP_CONFTEST = """
    import eventweave
    from eventweave import Emit, Signal, weave
    from eventweave.rest import AfterCreate, registry

    import billing

    paid = Signal()
    plan = weave("billing:Invoice.pay", Emit(post=paid))

    def audit(event):
        pass

    registry.subscribe(audit, AfterCreate)
"""

BILLING = """
    class Invoice:
        def pay(self, amount):
            return amount

        def refund(self, amount):
            return -amount
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project with the start-up conftest, running only the plugin under test."""
    pytester.makepyfile(billing=BILLING)
    pytester.makeconftest(START_UP_CONFTEST)
    pytester.syspathinsert()
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest("-p", "eventweave.testing._plugin", "-p", "no:cacheprovider", *args)


def test_eventweave_isolated_undoes_a_tests_weavings_and_keeps_the_start_up_ones(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        import pytest
        import eventweave
        from eventweave import Emit, Signal, mark, weave
        from eventweave.testing import capture

        from conftest import paid, plan

        @pytest.fixture(autouse=True)
        def _isolated(eventweave_isolated):
            pass

        def test_a_weaves_and_marks_more():
            weave("billing:Invoice.refund", Emit(post=Signal()))
            mark("billing:Invoice.pay", silent=True)
            assert len(eventweave.woven()) == 2

        def test_b_sees_only_the_start_up_weaving_and_it_still_emits():
            import billing
            assert eventweave.woven() == [plan]
            with capture(paid) as events:
                billing.Invoice().pay(3)
            assert [e.kwargs["result"] for e in events] == [3]
        """
    )
    run(suite).assert_outcomes(passed=2)


def test_unweave_all_in_a_fixture_removes_the_start_up_weaving_which_isolated_keeps(
    suite: pytest.Pytester,
) -> None:
    # Why the docs recommend eventweave_isolated over an unweave_all() fixture.
    suite.makepyfile(
        """
        import pytest
        import eventweave

        @pytest.fixture(autouse=True)
        def _reset():
            yield
            eventweave.unweave_all()

        def test_first():
            assert eventweave.woven()

        def test_second():
            assert eventweave.woven()
        """
    )
    run(suite).assert_outcomes(passed=1, failed=1)


def test_rest_subscriptions_made_by_a_test_are_gone_after_it(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        """
        from eventweave.rest import BeforeCreate, registry

        from conftest import audit

        def test_subscribes():
            registry.subscribe(print, BeforeCreate)
            registry.unsubscribe(audit)
            assert [s.subscriber for s in registry.receivers] == [print]

        def test_sees_the_start_up_subscription_only():
            assert [s.subscriber for s in registry.receivers] == [audit]
        """
    )
    run(suite).assert_outcomes(passed=2)


def test_plan_applied_by_two_tests_subscribes_in_each(suite: pytest.Pytester) -> None:
    suite.makefile(
        ".toml",
        weave='[[connect]]\nreceiver = "conftest:audit"\nevents = ["BeforeCreate"]\n',
    )
    suite.makepyfile(
        """
        import pytest

        from eventweave.plan import load
        from eventweave.rest import registry

        from conftest import audit

        @pytest.mark.parametrize("run", [1, 2])
        def test_applies_the_plan(run):
            load("weave.toml").apply()
            assert len(registry.receivers) == 2
        """
    )
    run(suite).assert_outcomes(passed=2)


def test_fake_vidispine_fixture_unweaves_its_http_instrumentation(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        """
        import eventweave
        from conftest import plan

        def test_uses_the_fake(fake_vidispine):
            assert len(eventweave.woven()) == 2

        def test_after_it():
            assert eventweave.woven() == [plan]
        """
    )
    run(suite).assert_outcomes(passed=2)


def test_requests_to_the_fake_vidispine_fixture_emit_the_vidispine_signals(
    capture: Callable[..., list[CapturedEvent]], fake_vidispine: FakeVidispine
) -> None:
    events = capture(vidispine_pre_create, vidispine_post_create)
    UserHelper(VidispineAPI(fake_vidispine.url, *fake_vidispine.auth)).createUser(
        "ann", "Ann", "s3cret"
    )
    assert [(e.signal, e.kwargs["instance"]) for e in events] == [
        (vidispine_pre_create, "ann"),
        (vidispine_post_create, "ann"),
    ]
    assert "ann" in fake_vidispine.state.users


def test_instrumented_helpers_against_the_fixture_emit_once(
    capture: Callable[..., list[CapturedEvent]], fake_vidispine: FakeVidispine
) -> None:
    instrument_helpers("eventweave.vidispine.client")
    events = capture(vidispine_post_create)
    UserHelper(VidispineAPI(fake_vidispine.url, *fake_vidispine.auth)).createUser(
        "ann", "Ann", "s3cret"
    )
    assert [(e.sender, e.kwargs["method"]) for e in events] == [(UserHelper, "createUser")]


# -- a plan kept across a real pytest run ------------------------------------------------


def test_plan_applied_by_eventweave_run_stays_for_every_test_under_w_error(
    tmp_path: Path,
) -> None:
    files = {
        "billing.py": BILLING,
        "audit.py": """
            from eventweave import Signal

            paid = Signal()
        """,
        "weave.toml": """
            [[weave]]
            target = "billing:Invoice.pay"
            post = "audit:paid"
        """,
        "pytest.ini": """
            [pytest]
            asyncio_default_fixture_loop_scope = function
        """,
        "conftest.py": """
            import pytest

            @pytest.fixture(autouse=True)
            def _isolated(eventweave_isolated):
                pass
        """,
        "test_suite.py": """
            import eventweave
            from eventweave import Emit, Signal, weave
            from eventweave.testing import capture

            import audit
            import billing

            def test_plan_is_applied():
                assert [w.target for w in eventweave.woven()] == ["billing:Invoice.pay"]

            def test_a_test_weaves_more():
                weave("billing:Invoice.refund", Emit(post=Signal()))
                assert len(eventweave.woven()) == 2

            def test_plan_still_emits_afterwards():
                assert [w.target for w in eventweave.woven()] == ["billing:Invoice.pay"]
                with capture(audit.paid) as events:
                    billing.Invoice().pay(5)
                assert [e.kwargs["result"] for e in events] == [5]
        """,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTWEAVE_PLAN", "PYTHONPATH")}
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{REPO}"
    pytest_command = [sys.executable, "-m", "pytest", "-W", "error", "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(
        [sys.executable, "-m", "eventweave", "run", "--plan", "weave.toml", "--", *pytest_command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
