"""Tests for `eventweave._cli`: the `eventweave` command (`run`, `check`, `show`, help)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import eventweave
from eventweave._cli import main
from eventweave.vidispine import HELPER_METHODS

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


OURS = ("EVENTWEAVE_PLAN", "EVENTWEAVE_TRACE", "EVENTWEAVE_LOG", "DJANGO_SETTINGS_MODULE")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: eventweave importable, no plan unless given."""
    env = {k: v for k, v in os.environ.items() if k not in (*OURS, "PYTHONPATH")}
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


def test_run_refuses_a_plan_apply_would_refuse_before_starting_the_command(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    (app / "weave.toml").write_text(
        '[vidispine]\nhttp = { base_url = "http://admin:hunter22@localhost:80a80/API" }\n'
    )
    result = eventweave_cli("run", "--", sys.executable, "main.py", cwd=app)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("eventweave run: weave.toml:2: [vidispine] http: error: ")
    assert "is not a valid URL" in result.stderr
    assert "hunter22" not in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_pytest_and_warnings_as_errors(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / "tests").mkdir()
    (app / "tests" / "test_pay.py").write_text(
        textwrap.dedent(
            """
            from billing.signals import post_pay


            def test_paying_emits(capture):
                events = capture(post_pay)
                from billing.invoices import Invoice

                Invoice().pay(10)
                assert [e.kwargs["result"] for e in events] == ["paid 10 EUR"]
            """
        )
    )
    # -p no:asyncio: pytest-asyncio, which this suite installs, warns about its
    # own unset option under -W error, whatever eventweave does.
    command = [sys.executable, "-m", "pytest", "-W", "error", "-q", "-p", "no:asyncio"]
    result = eventweave_cli("run", "--", *command, "-p", "no:cacheprovider", "tests", cwd=app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


# -- trace and logging ------------------------------------------------------------

SECRET_APP = {
    **APP,
    "billing/invoices.py": """
        class Invoice:
            def pay(self, amount, currency="EUR", api_token="tok-1234", note=None):
                if amount < 0:
                    raise ValueError("negative amount")
                return f"paid {amount} {currency}"
    """,
    "main.py": """
        from billing.invoices import Invoice

        Invoice().pay(10, note="http://ada:hunter22@example.org/x?q=1")
        try:
            Invoice().pay(-1)
        except ValueError:
            pass
    """,
    "weave.toml": """
        [[weave]]
        target = "billing.invoices:Invoice.pay"
        pre = "billing.signals:pre_pay"
        post = "billing.signals:post_pay"
        error = "billing.signals:post_pay"
    """,
}


def trace_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_run_trace_writes_a_json_line_per_event_to_stderr(tmp_path: Path) -> None:
    app = make_app(tmp_path, SECRET_APP)
    result = eventweave_cli("run", "--trace", "--", sys.executable, "main.py", cwd=app)
    assert result.returncode == 0, result.stderr
    lines = trace_lines(result.stderr)
    assert [(line["event"], line["amount"]) for line in lines] == [
        ("pre_pay", 10),
        ("post_pay", 10),
        ("pre_pay", -1),
        ("post_pay", -1),
    ]
    first, second, _, failed = lines
    assert first["sender"] == "billing.invoices:Invoice"
    assert (first["method"], first["instance"], first["currency"]) == ("pay", 10, "EUR")
    assert isinstance(first["pid"], int) and str(first["time"]).endswith("Z")
    assert second["result"] == "paid 10 EUR"
    assert failed["exception"] == "ValueError: negative amount"
    assert first["api_token"] == eventweave.MASK
    assert first["note"] == "http://ada:********@example.org/x?q=1"
    assert "hunter22" not in result.stderr and "tok-1234" not in result.stderr


def test_run_trace_file_collects_the_lines_of_every_process(tmp_path: Path) -> None:
    app = make_app(tmp_path, SECRET_APP)
    trace = tmp_path / "trace.jsonl"
    code = "import subprocess, sys; subprocess.run([sys.executable, 'main.py'], check=True)"
    args = ("run", "--trace-file", str(trace), "--", sys.executable, "-c", code)
    result = eventweave_cli(*args, cwd=app)
    assert result.returncode == 0, result.stderr
    lines = trace_lines(trace.read_text())
    assert [line["event"] for line in lines] == ["pre_pay", "post_pay", "pre_pay", "post_pay"]
    assert trace_lines(result.stderr) == []


def test_trace_lines_mask_urls_in_arguments_instance_and_exception(tmp_path: Path) -> None:
    from eventweave.plan._trace import Trace

    url = "http://admin:hunter2@vs.example/API?password=qwerty7"
    masked = f"http://admin:{eventweave.MASK}@vs.example/API?password={eventweave.MASK}"

    class Remote:
        def __str__(self) -> str:
            return f"remote at {url}"

    path = tmp_path / "trace.jsonl"
    trace = Trace(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    failure = ConnectionError(f"cannot reach {url}")
    trace.event("pay_failed", url, {"url": url, "instance": Remote(), "exception": failure})
    trace.close()
    text = path.read_text()
    (line,) = trace_lines(text)
    assert (line["sender"], line["url"]) == (masked, masked)
    assert line["instance"] == f"remote at {masked}"
    assert line["exception"] == f"ConnectionError: cannot reach {masked}"
    assert "hunter2" not in text and "qwerty7" not in text


def test_run_log_info_says_when_the_plan_is_applied(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    result = eventweave_cli("run", "--log", "info", "--", sys.executable, "main.py", cwd=app)
    plan = app / "weave.toml"
    assert result.stderr.splitlines() == [
        f"eventweave: INFO plan {plan} applied: 1 weaving, 1 pending until their module "
        "is imported",
        f"eventweave: INFO plan {plan}: on import of billing.invoices, 1 weaving applied",
    ]


# -- show --json and warnings -----------------------------------------------------


def test_show_json_lists_each_entry(in_app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (in_app / "weave.toml").write_text(
        (in_app / "weave.toml").read_text()
        + '\n[vidispine]\nhttp = { base_url = "http://admin:hunter22@vs:8080/API" }\n'
    )
    assert main(["show", "--json", "weave.toml"]) == 0
    out = capsys.readouterr().out
    document = json.loads(out)
    assert (document["targets"], document["resolve"], document["pending"]) == (2, 2, 0)
    http, pay = document["entries"]
    assert http["target"] == "requests to http://admin:********@vs:8080/API"
    assert pay == {
        "section": "weave",
        "line": 2,
        "key": "weave[1].target",
        "target": "billing.invoices:Invoice.pay",
        "events": "pre_pay -> post_pay",
        "status": "ok",
        "detail": None,
    }
    assert "hunter22" not in out


def test_check_prints_warnings_and_exits_0(
    in_app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from eventweave.vidispine import client

    source = Path(client.__file__ or "").read_text()
    (in_app / "billing" / "interface.py").write_text(source.replace("def retranscode(", "def x("))
    (in_app / "weave.toml").write_text('[vidispine]\nhelpers = "billing.interface"\n')
    try:
        assert main(["check"]) == 0
    finally:
        sys.modules.pop("billing.interface", None)
    out = capsys.readouterr().out.splitlines()
    total = sum(len(methods) for methods in HELPER_METHODS.values())
    assert out[0] == f"weave.toml: {total - 1} of {total} targets resolve, 1 absent (1 warning)"
    assert out[1].startswith("weave.toml:2: [vidispine] helpers: warning: ")
    assert "has no method 'retranscode'" in out[1]


# -- Django -----------------------------------------------------------------------

DJANGO_APP = {
    "shop/__init__.py": "",
    "shop/settings.py": """
        SECRET_KEY = "tests-only"
        INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "shop"]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
        USE_TZ = True
    """,
    "shop/models.py": """
        from django.db import models


        class Item(models.Model):
            name = models.CharField(max_length=40)
    """,
    "shop/views.py": """
        from shop.models import Item


        class ItemsView:
            Model = Item

            def __init__(self, data):
                self._json_params = data
                self.context = None
                self.request = None

            def create(self):
                item = Item.objects.create(**self._json_params)
                return {"id": item.pk, "name": item.name}
    """,
    "shop/audit.py": """
        from shop.models import Item


        def item_created(event):
            print("AUDIT", type(event).__name__, event.response["name"], Item.objects.count())
    """,
    "main.py": """
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0)  # the app has no migrations
        from shop.views import ItemsView

        ItemsView({"name": "lamp"}).create()
    """,
    "weave.toml": """
        [rest]
        views = ["${SHOP_VIEWS:-shop.views}:ItemsView"]

        [[connect]]
        receiver = "shop.audit:item_created"
        events = ["AfterCreate"]
        model = "shop.models:Item"
    """,
}


def test_check_and_show_import_no_django_without_settings(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    code = (
        "import sys; from eventweave._cli import main; "
        "codes = main(['check']), main(['show', '--json']); "
        "print(codes, 'django' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=app,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.stderr == "(0, 0) False\n"


def test_check_without_django_settings_says_how_to_give_them(tmp_path: Path) -> None:
    app = make_app(tmp_path, DJANGO_APP)
    result = eventweave_cli("check", cwd=app)
    assert result.returncode == 1
    assert "ImproperlyConfigured" in result.stdout
    assert "set DJANGO_SETTINGS_MODULE, or pass --settings" in result.stdout
    assert "pending" not in result.stdout


@pytest.mark.parametrize("how", ["--settings", "DJANGO_SETTINGS_MODULE"])
def test_check_and_show_set_django_up_first(tmp_path: Path, how: str) -> None:
    app = make_app(tmp_path, DJANGO_APP)
    args, env = (["--settings", "shop.settings"], child_env())
    if how == "DJANGO_SETTINGS_MODULE":
        args, env = [], child_env(DJANGO_SETTINGS_MODULE="shop.settings")
    checked = eventweave_cli("check", *args, cwd=app, env=env)
    assert (checked.returncode, checked.stdout) == (0, "weave.toml: all 2 targets resolve\n")
    shown = eventweave_cli("show", *args, cwd=app, env=env)
    assert shown.stdout.startswith("weave.toml: 2 targets (2 resolve here)")


def test_check_with_settings_that_do_not_import_exits_2(tmp_path: Path) -> None:
    app = make_app(tmp_path, DJANGO_APP)
    result = eventweave_cli("check", "--settings", "shop.setings", cwd=app)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "eventweave check: setting Django up with DJANGO_SETTINGS_MODULE=shop.setings failed"
    )
    assert "Traceback" not in result.stderr


def test_django_project_instrumented_and_connected_by_a_plan_alone(tmp_path: Path) -> None:
    app = make_app(tmp_path, DJANGO_APP)
    env = child_env(DJANGO_SETTINGS_MODULE="shop.settings")
    checked = eventweave_cli("check", cwd=app, env=env)
    assert checked.returncode == 0, checked.stdout
    result = eventweave_cli("run", "--trace", "--", sys.executable, "main.py", cwd=app, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "AUDIT AfterCreate lamp 1\n"
    events = [(line["event"], line["sender"]) for line in trace_lines(result.stderr)]
    assert events == [
        ("BeforeCreate", "shop.views:ItemsView"),
        ("AfterCreate", "shop.views:ItemsView"),
    ]
