"""Tests for the start-up hook: `eventweave.pth`, `eventweave._bootstrap` and EVENTWEAVE_PLAN.

Each test starts a fresh interpreter, since the hook runs at interpreter start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import wrapt

import eventweave
from eventweave._version import DISTRIBUTION

REPO = Path(eventweave.__file__).resolve().parent.parent
HOOK = REPO / "eventweave.pth"
TIMEOUT = 60

APP = {
    "billing/__init__.py": "",
    "billing/invoices.py": """
        class Invoice:
            def pay(self, amount):
                return amount
    """,
    "billing/signals.py": """
        from eventweave import Signal

        post_pay = Signal()
        post_pay.connect(lambda sender, **named: print("EVENT", named["result"]), weak=False)
    """,
    "main.py": """
        import sys

        from billing.invoices import Invoice

        print("eventweave loaded:", "eventweave" in sys.modules)
        Invoice().pay(42)
    """,
    "weave.toml": """
        [[weave]]
        target = "billing.invoices:Invoice.pay"
        post = "billing.signals:post_pay"
    """,
}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    for name, text in APP.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return tmp_path


def python(
    *args: str,
    cwd: Path,
    plan: str | None = None,
    pythonpath: str | None = None,
    **variables: str,
) -> subprocess.CompletedProcess[str]:
    ours = ("EVENTWEAVE_PLAN", "EVENTWEAVE_TRACE", "EVENTWEAVE_LOG", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    if plan is not None:
        env["EVENTWEAVE_PLAN"] = plan
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    env.update(variables)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


# -- the hook file itself -----------------------------------------------------


def test_hook_is_one_import_line() -> None:
    lines = HOOK.read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("import ")  # site.py executes only lines starting so


def hook_in_site_dir(tmp_path: Path, code: str, plan: str | None, cwd: Path) -> str:
    """Run ``code`` after processing the repository's hook the way site.py does."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    shutil.copy(HOOK, site_dir / HOOK.name)
    packages = Path(wrapt.__file__).resolve().parent.parent
    script = f"import site, sys; site.addsitedir({str(site_dir)!r}); {code}"
    # -S: no site-packages .pth at start-up, only the copy processed above.
    result = python(
        "-S", "-c", script, cwd=cwd, plan=plan, pythonpath=f"{REPO}{os.pathsep}{packages}"
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_hook_does_not_import_eventweave_when_the_variable_is_unset(
    tmp_path: Path, app: Path
) -> None:
    out = hook_in_site_dir(tmp_path, "print('eventweave' in sys.modules)", None, app)
    assert out == "False\n"


def test_hook_does_nothing_for_an_empty_variable(tmp_path: Path, app: Path) -> None:
    out = hook_in_site_dir(tmp_path, "print('eventweave' in sys.modules)", "", app)
    assert out == "False\n"


def test_hook_applies_the_plan_when_the_variable_is_set(tmp_path: Path, app: Path) -> None:
    code = "import eventweave; print([w.target for w in eventweave.woven()])"
    out = hook_in_site_dir(tmp_path, code, str(app / "weave.toml"), app)
    assert out == "['billing.invoices:Invoice.pay']\n"


# -- the installed package ----------------------------------------------------


def installed_hook() -> Path:
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pytest.fail("eventweave is not installed here: run `pip install -e .` (make test does)")
    files = [f for f in dist.files or () if str(f) == HOOK.name]
    assert files, "the installed eventweave has no eventweave.pth in site-packages"
    return Path(str(dist.locate_file(files[0])))


def test_installed_package_puts_the_hook_in_site_packages() -> None:
    hook = installed_hook()
    assert hook.read_text() == HOOK.read_text()
    assert str(hook.parent) in sys.path  # a site directory, where .pth files are read


def test_plan_from_the_environment_instruments_a_program(app: Path) -> None:
    installed_hook()
    result = python("main.py", cwd=app, plan=str(app / "weave.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["eventweave loaded: True", "EVENT 42"]
    assert result.stderr == ""


def test_relative_plan_path_is_read_from_the_current_directory(app: Path) -> None:
    installed_hook()
    result = python("main.py", cwd=app, plan="weave.toml")
    assert "EVENT 42" in result.stdout.splitlines()


def test_without_the_variable_nothing_is_loaded_or_emitted(app: Path) -> None:
    installed_hook()
    result = python("main.py", cwd=app)
    assert result.stdout.splitlines() == ["eventweave loaded: False"]


def test_bad_plan_at_start_up_is_reported_and_the_program_still_runs(app: Path) -> None:
    installed_hook()
    (app / "weave.toml").write_text(
        '[[weave]]\ntarget = "billing.invoices:Invoice.pay"\nppost = 1\n'
    )
    result = python("main.py", cwd=app, plan="weave.toml")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "eventweave loaded: True"
    assert result.stderr.startswith("eventweave: weave.toml:3: [[weave]] ppost: unknown key")
    assert "Traceback" not in result.stderr


def test_missing_plan_file_does_not_stop_the_interpreter(app: Path) -> None:
    installed_hook()
    result = python("-c", "print('still here')", cwd=app, plan="absent.toml")
    assert result.returncode == 0
    assert result.stdout == "still here\n"
    assert "absent.toml: cannot read the plan" in result.stderr


def test_signal_that_does_not_import_is_logged_when_the_target_is_imported(app: Path) -> None:
    installed_hook()
    plan = app / "weave.toml"
    plan.write_text(plan.read_text().replace("billing.signals:post_pay", "billing.signals:post"))
    result = python("main.py", cwd=app, plan=str(plan))
    assert result.returncode == 0
    assert "has no attribute 'post'; did you mean 'post_pay'?" in result.stderr
    assert "EVENT" not in result.stdout


def test_trace_variable_appends_a_json_line_per_event_to_a_file(app: Path) -> None:
    installed_hook()
    trace = app / "trace.jsonl"
    result = python("main.py", cwd=app, plan="weave.toml", EVENTWEAVE_TRACE=str(trace))
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(text) for text in trace.read_text().splitlines()]
    assert (line["event"], line["sender"], line["result"]) == (
        "post_pay",
        "billing.invoices:Invoice",
        42,
    )


def test_log_variable_prints_the_eventweave_logger_from_the_start(app: Path) -> None:
    installed_hook()
    result = python("main.py", cwd=app, plan="weave.toml", EVENTWEAVE_LOG="INFO")
    assert result.stderr.splitlines() == [
        "eventweave: INFO plan weave.toml applied: 1 weaving, 1 pending until their module "
        "is imported",
        "eventweave: INFO plan weave.toml: on import of billing.invoices, 1 weaving applied",
    ]


def test_unknown_log_level_is_reported_and_the_plan_still_applied(app: Path) -> None:
    installed_hook()
    result = python("main.py", cwd=app, plan="weave.toml", EVENTWEAVE_LOG="LOUD")
    assert result.stderr == (
        "eventweave: EVENTWEAVE_LOG='LOUD' is not one of DEBUG, INFO, WARNING, ERROR; not logging\n"
    )
    assert "EVENT 42" in result.stdout.splitlines()


# -- packaging ----------------------------------------------------------------


def test_wheel_ships_the_hook_at_its_root(tmp_path: Path) -> None:
    builders = pytest.importorskip("hatchling.builders.wheel", reason="needs the build backend")
    (wheel,) = builders.WheelBuilder(str(REPO)).build(
        directory=str(tmp_path), versions=["standard"]
    )
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(HOOK.name) == HOOK.read_bytes()
        assert "eventweave/_boot/sitecustomize.py" in archive.namelist()
