"""Tests for `eventweave._cli`: the `eventweave` command (`run`, `check`, `show`, help)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import eventweave
from eventweave._cli import main

REPO = Path(eventweave.__file__).resolve().parent.parent
TIMEOUT = 60

APP = {
    "billing/__init__.py": "",
    "billing/invoices.py": """
        class Invoice:
            def pay(self, amount, currency="EUR"):
                return f"paid {amount} {currency}"
    """,
    "billing/signals.py": """
        from eventweave import Signal

        pre_pay = Signal()
        post_pay = Signal()


        def report(signal, sender, **named):
            role = "pre" if signal is pre_pay else "post"
            print("EVENT", role, sender.__name__, named["amount"], named.get("result"), flush=True)


        pre_pay.connect(report, weak=False)
        post_pay.connect(report, weak=False)
    """,
    "main.py": """
        import sys

        print("imported before main:", "billing.invoices" in sys.modules, "billing" in sys.modules)
        from billing.invoices import Invoice

        print(Invoice().pay(10))
    """,
    "weave.toml": """
        [[weave]]
        target = "billing.invoices:Invoice.pay"
        pre = "billing.signals:pre_pay"
        post = "billing.signals:post_pay"
    """,
}


def make_app(root: Path, files: dict[str, str] = APP) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: eventweave importable, no plan unless given."""
    env = {k: v for k, v in os.environ.items() if k not in ("EVENTWEAVE_PLAN", "PYTHONPATH")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def eventweave_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventweave", *args],
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture
def in_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The sample application as the current directory, sys.path restored afterwards."""
    make_app(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name in [m for m in sys.modules if m == "billing" or m.startswith("billing.")]:
        del sys.modules[name]


# -- help ---------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["run"], ["check"], ["show"], ["demo"]])
def test_help_says_what_it_does_with_an_example(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text
    assert f"eventweave {command[0] if command else 'run'}" in text


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: eventweave" in capsys.readouterr().err


def test_python_dash_m_eventweave_runs_the_cli(tmp_path: Path) -> None:
    result = eventweave_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "eventweave run --plan weave.toml -- python manage.py runserver" in result.stdout


# -- check --------------------------------------------------------------------


def test_check_exits_0_when_every_target_resolves(
    in_app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "weave.toml"]) == 0
    assert capsys.readouterr().out == "weave.toml: its target resolves\n"


def test_check_suggests_nearest_method_name(
    in_app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = in_app / "weave.toml"
    plan.write_text(plan.read_text().replace("Invoice.pay", "Invoice.pya"))
    assert main(["check", "weave.toml"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "weave.toml: 1 error (1 target in the plan)",
        "weave.toml:2: [[weave]] target: error: cannot weave 'billing.invoices:Invoice.pya': "
        "Invoice has no attribute 'pya'; did you mean 'pay'?",
    ]


def test_check_reports_a_module_that_cannot_be_imported_as_pending(
    in_app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_app / "weave.toml").write_text('[rest]\nviews = ["notinstalled_portal.views:UsersView"]\n')
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "1 pending" in out
    assert "pending: no module named 'notinstalled_portal'" in out


def test_bad_plan_exits_2_with_file_line_and_key_and_no_traceback(
    in_app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_app / "weave.toml").write_text(
        '[rest]\nviews = ["myapi.views:UsersView"]\n'
        'trigger_instead = { "myapi.views:UsersView.index" = "updte" }\n'
    )
    assert main(["check", "weave.toml"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(
        "eventweave check: weave.toml:3: [rest] trigger_instead: unknown action 'updte'"
    )
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_unimportable_signal_is_an_error_with_exit_1(
    in_app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = in_app / "weave.toml"
    plan.write_text(plan.read_text().replace("billing.signals:post_pay", "billing.signal:post_pay"))
    assert main(["check", "weave.toml"]) == 1
    out = capsys.readouterr().out
    assert "weave.toml:4: [[weave]] post: error: cannot import 'billing.signal:post_pay'" in out
    assert "did you mean 'billing.signals'?" in out


def test_check_in_a_subprocess_imports_from_the_current_directory(in_app: Path) -> None:
    result = eventweave_cli("check", cwd=in_app)
    assert (result.returncode, result.stdout) == (0, "weave.toml: its target resolves\n")


# -- show ---------------------------------------------------------------------


def test_show_prints_target_and_signals(in_app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "weave.toml"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "weave.toml: 1 target (1 resolve here)"
    assert "[[weave]] billing.invoices" in out
    assert out[-1].split() == ["2", "Invoice.pay", "pre_pay", "->", "post_pay"]


def test_show_marks_pending_targets(in_app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (in_app / "weave.toml").write_text(
        '[rest]\nviews = ["notinstalled_portal.views:UsersView"]\n'
        'silent = ["notinstalled_portal.views:HealthView"]\n'
    )
    assert main(["show"]) == 0
    out = capsys.readouterr().out
    assert "2 pending" in out
    assert "nothing (silent)" in out
    assert "pending: no module named 'notinstalled_portal'" in out


# -- run ----------------------------------------------------------------------


def test_run_applies_the_plan_before_the_applications_first_import(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    result = eventweave_cli("run", "--", sys.executable, "main.py", cwd=app)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "imported before main: False False",
        "EVENT pre Invoice 10 None",
        "EVENT post Invoice 10 paid 10 EUR",
        "paid 10 EUR",
    ]


def test_run_takes_a_plan_elsewhere_and_a_module_command(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    plan = tmp_path / "plans" / "billing.toml"
    plan.parent.mkdir()
    plan.write_text((app / "weave.toml").read_text())
    result = eventweave_cli("run", "--plan", str(plan), "--", sys.executable, "-m", "main", cwd=app)
    assert "EVENT post Invoice 10 paid 10 EUR" in result.stdout.splitlines()


def test_run_passes_on_the_commands_exit_status(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    result = eventweave_cli("run", "--", sys.executable, "-c", "raise SystemExit(3)", cwd=app)
    assert result.returncode == 3


def test_run_keeps_an_existing_sitecustomize(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['OWN_SITECUSTOMIZE'] = 'ran'\n")
    code = "import os; print(os.environ.get('OWN_SITECUSTOMIZE'))"
    env = child_env(PYTHONPATH=f"{own}{os.pathsep}{REPO}")
    result = eventweave_cli("run", "--", sys.executable, "-c", code, cwd=app, env=env)
    assert result.stdout == "ran\n", result.stderr


def test_run_with_a_bad_plan_exits_2_and_does_not_start_the_command(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / "weave.toml").write_text('[[weave]]\ntarget = "billing.invoices:Invoice.pay"\n')
    result = eventweave_cli("run", "--", sys.executable, "main.py", cwd=app)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "weave.toml:2: [[weave]] target:" in result.stderr
    assert "gets no signal" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_reports_a_command_that_does_not_exist(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    result = eventweave_cli("run", "--", "no-such-command-xyz", cwd=app)
    assert result.returncode == 127
    assert "command not found: no-such-command-xyz" in result.stderr


def test_run_without_a_command_is_a_usage_error(
    in_app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--plan", "weave.toml", "--"])
    assert info.value.code == 2
    assert "run needs a command" in capsys.readouterr().err
