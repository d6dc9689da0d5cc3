"""Django's own dispatch and signals tests, against eventweave.Signal in Django's place.

Fetched from the sdist of the Django that is installed, run with Django's
runtests.py. ``eventweave.Signal`` stands in for ``django.dispatch.Signal``
before Django defines any signal, so the ORM's model signals run on it too.
One test is expected to fail, and only that one: it checks that
``send_robust`` logs under Django's logger name, ``django.dispatch``;
eventweave logs under its own, ``eventweave``.
"""

from __future__ import annotations

import re

import django

from . import _sdist

EXPECTED_FAILURES = {"test_send_robust_fail"}


def test_djangos_dispatch_and_signals_suites_pass_on_eventweaves_signal() -> None:
    root = _sdist.fetch(
        "django",
        django.__version__,
        [
            "tests/runtests.py",
            "tests/test_sqlite.py",
            "tests/urls.py",
            "tests/dispatch",
            "tests/signals",
        ],
    )
    tests = root / "tests"
    result = _sdist.run(
        "script",
        str(tests / "runtests.py"),
        ["dispatch", "signals", "--settings=test_sqlite", "--parallel=1", "-v", "2"],
        cwd=tests,
        path=[tests],
        env={},
    )
    output = result.stdout + result.stderr
    ran = re.search(r"^Ran (\d+) tests?", output, re.MULTILINE)
    assert ran is not None, output[-3000:]
    assert int(ran.group(1)) >= 30  # dispatch, model signal (and, from Django 5, async) tests
    failed = set(re.findall(r"^(?:FAIL|ERROR): (\w+) ", output, re.MULTILINE))
    assert failed == EXPECTED_FAILURES, output[-5000:]
    assert "no logs of level ERROR or higher triggered on django.dispatch" in output
    assert "ORM signals on eventweave.Signal: True" in output
