"""factory_boy's own Django tests (``mute_signals`` among them), with eventweave.Signal as Django's.

``mute_signals`` saves ``signal.receivers``, assigns ``[]``, and later does
``signal.receivers += saved`` and ``signal.sender_receivers_cache.clear()``
under ``signal.lock``: the way test helpers reach into Django's dispatcher.
Fetched from factory_boy's sdist; its dependencies (Faker, Pillow for the
image-field tests) go into a cache folder of their own.
"""

from __future__ import annotations

import re
from importlib import metadata

import pytest

from . import _sdist

VERSION = "3.3.3"


def test_factory_boys_django_suite_passes_on_eventweaves_signal() -> None:
    root = _sdist.fetch("factory_boy", VERSION, ["factory", "tests", "factory_boy.egg-info"])
    deps = _sdist.dependencies("factory_boy", ["Faker", "Pillow"])
    result = _sdist.run(
        "module",
        "unittest",
        ["tests.test_django", "-v"],
        cwd=root,
        path=[root, deps],
        env={"DJANGO_SETTINGS_MODULE": "tests.djapp.settings"},
    )
    output = result.stdout + result.stderr
    ran = re.search(r"^Ran (\d+) tests?", output, re.MULTILINE)
    assert ran is not None, output[-3000:]
    assert result.returncode == 0, output[-5000:]
    assert "skipped" not in output.splitlines()[-1]
    muted = re.findall(r"\(tests\.test_django\.PreventSignalsTestCase[.\w]*\) \.\.\. ok", output)
    assert len(muted) >= 8, output[-5000:]
    assert "ORM signals on eventweave.Signal: True" in output


def test_factory_boy_is_not_installed_in_the_test_environment() -> None:
    # The suite must run the sdist's own factory package, not an installed one.
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("factory_boy")
