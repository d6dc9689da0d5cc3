"""Tests for `eventweave.plan`: reading, validating, applying and checking plans."""

from __future__ import annotations

import gc
import logging
import re
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import eventweave
from eventweave._advice import is_silent, triggered_action
from eventweave.plan import PlanError, load
from eventweave.testing import capture
from eventweave.vidispine import signals as vs
from eventweave.vidispine.fake import FakeVidispine

BILLING = """
    class Invoice:
        def pay(self, amount, currency="EUR"):
            if amount < 0:
                raise ValueError("negative amount")
            return f"paid {amount} {currency}"

        def refund(self, amount):
            return -amount


    class Ledger:
        def post(self, invoice):
            return invoice.pay(1)
"""

SIGNALS = """
    from eventweave import Signal

    pre_pay = Signal()
    post_pay = Signal()
    pay_failed = Signal()
    not_a_signal = 42


    def invoice_number(call):
        return f"invoice for {call.arguments['amount']}"
"""

VIEWS = """
    class User:
        pass


    class UsersView:
        Model = User

        def __init__(self, data=None):
            self._json_params = dict(data or {})
            self.context = None
            self.request = None

        def index(self):
            return {"data": [{"name": "ada"}]}

        def create(self):
            return {"name": self._json_params.get("name")}

        def refresh(self):
            return {"refreshed": True}


    class HealthView(UsersView):
        pass


    def create_view(request):
        return None
"""

AUDIT = """
    calls = []


    def on_pay(signal, sender, **named):
        calls.append((sender.__name__, named.get("amount"), named.get("result")))


    def on_create(event):
        calls.append((type(event).__name__, event.field.name if event.field else None))


    def no_kwargs(sender):
        pass
"""


@dataclass
class App:
    """A throwaway package with a unique name, importable while the test runs."""

    name: str
    root: Path
    write_plan: Callable[[str], Path]

    def module(self, module: str, source: str) -> None:
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))

    def __getitem__(self, module: str) -> object:
        return sys.modules[f"{self.name}.{module}"]

    def load(self, module: str) -> object:
        __import__(f"{self.name}.{module}")
        return self[module]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    name = f"planapp_{uuid.uuid4().hex[:10]}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    def write_plan(text: str) -> Path:
        path = tmp_path / "weave.toml"
        path.write_text(textwrap.dedent(text).replace("APP", name))
        return path

    application = App(name, root, write_plan)
    application.module("billing", BILLING)
    application.module("signals", SIGNALS)
    application.module("views", VIEWS)
    application.module("audit", AUDIT)
    yield application
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


PAY_PLAN = """
    [[weave]]
    target = "APP.billing:Invoice.pay"
    pre = "APP.signals:pre_pay"
    post = "APP.signals:post_pay"
    error = "APP.signals:pay_failed"
"""


# -- reading and validating ---------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "weave.toml"
    path.write_text(textwrap.dedent(text))
    return path


def load_error(tmp_path: Path, text: str) -> PlanError:
    with pytest.raises(PlanError) as info:
        load(write(tmp_path, text))
    return info.value


def test_load_reads_every_section(tmp_path: Path) -> None:
    plan = load(
        write(
            tmp_path,
            """
            [portal]
            views = "portal.authentication.views"

            [vidispine]
            helpers = "portal.vidispine.interface"
            http = { base_url = "http://localhost:8080/API" }

            [rest]
            views = ["myapi.views:UsersView", "myapi.views:ItemsView"]
            silent = ["myapi.views:HealthView"]
            trigger_instead = { "myapi.views:UsersView.index" = "update" }

            [[weave]]
            target = "billing.invoices:Invoice.pay"
            pre = "billing.signals:pre_pay"
            post = "billing.signals:post_pay"
            """,
        )
    )
    assert repr(plan).endswith("portal, vidispine, rest, 1 [[weave]]>")


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[rest]\nviews = ["a:B"\nsilent = 3\n')
    assert error.file.endswith("weave.toml")
    assert error.line == 3
    assert "invalid TOML" in str(error)
    assert str(error).startswith(f"{error.file}:3: ")


def test_unknown_section_suggests_the_nearest(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[portal]\nviews = "a.b"\n\n[rests]\nviews = ["a:B"]\n')
    assert (error.line, error.key) == (4, "rests")
    assert "unknown section" in str(error)
    assert "did you mean [rest]?" in str(error)


def test_unknown_top_level_key_is_located_on_its_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, "# plan\n\nrestt = 1\n[portal]\n")
    assert (error.line, error.key) == (3, "restt")


def test_unknown_key_names_section_key_and_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[rest]\nviews = ["a:B"]\nsilnt = ["a:C"]\n')
    assert (error.line, error.key) == (3, "rest.silnt")
    assert "[rest] silnt: unknown key" in str(error)
    assert "did you mean 'silent'?" in str(error)


def test_bad_action_name_is_reported_with_its_line(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """\
        [rest]
        views = ["myapi.views:UsersView"]

        [rest.trigger_instead]
        "myapi.views:UsersView.index" = "update"
        "myapi.views:UsersView.show" = "updte"
        """,
    )
    assert str(error).startswith(f"{error.file}:6: [rest] trigger_instead: unknown action 'updte'")
    assert "expected one of collection_options, create, delete" in str(error)
    assert "did you mean 'update'?" in str(error)


def test_vidispine_trigger_instead_takes_a_vidispine_family(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """\
        [vidispine]
        helpers = "portal.vidispine.interface"
        trigger_instead = { "portal.vidispine.interface:ItemHelper.retranscode" = "update" }
        """,
    )
    assert error.line == 3
    assert "expected one of create, delete, get, ingest, modify" in str(error)


def test_bad_family_in_methods_is_reported(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """\
        [vidispine]
        helpers = "portal.vidispine.interface"

        [vidispine.methods.ItemHelper]
        setItemMetadata = "modify"
        getItemMetadata = "read"
        """,
    )
    assert (error.line, error.key) == (6, "vidispine.methods")
    assert "unknown action 'read'" in str(error)


def test_signal_path_without_colon_suggests_the_right_form(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """\
        [[weave]]
        target = "billing.invoices:Invoice.pay"

        pre = "billing.signals.pre_pay"
        """,
    )
    assert (error.line, error.key) == (4, "weave[1].pre")
    assert "[[weave]] pre:" in str(error)
    assert "did you mean 'billing.signals:pre_pay'?" in str(error)


def test_malformed_target_is_reported(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[[weave]]\ntarget = "billing.invoices.Invoice"\npre = "a:b"\n')
    assert (error.line, error.key) == (2, "weave[1].target")
    assert "did you mean 'billing.invoices:Invoice'?" in str(error)


def test_second_weave_entry_is_located(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        """\
        [[weave]]
        target = "a:f"
        pre = "a:s"

        [[weave]]
        target = "a:g"
        prre = "a:s"
        """,
    )
    assert (error.line, error.key) == (7, "weave[2].prre")


def test_weave_without_signal_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[[weave]]\ntarget = "a:f"\n')
    assert "gets no signal" in str(error)


def test_wrong_type_is_reported(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[portal]\nrobust = 'yes'\n")
    assert (error.line, error.key) == (2, "portal.robust")
    assert "must be true or false" in str(error)


def test_weave_written_as_a_table_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, '[weave]\ntarget = "a:f"\n')
    assert "[[weave]]" in str(error)


def test_empty_vidispine_section_says_what_to_add(tmp_path: Path) -> None:
    error = load_error(tmp_path, "[vidispine]\nrobust = true\n")
    assert "helpers" in str(error) and "base_url" in str(error)


def test_missing_file_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="cannot read the plan"):
        load(tmp_path / "absent.toml")


def test_python_310_without_tomli_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 10, 13, "final", 0))
    monkeypatch.setitem(sys.modules, "tomli", None)
    error = load_error(tmp_path, "[portal]\n")
    assert "Python 3.11+" in str(error) and "pip install tomli" in str(error)


# -- applying [[weave]] -------------------------------------------------------


def test_weave_entry_emits_its_signals_when_module_is_already_imported(app: App) -> None:
    billing = app.load("billing")
    signals = app.load("signals")
    load(app.write_plan(PAY_PLAN)).apply()
    with capture(signals.pre_pay, signals.post_pay) as events:  # type: ignore[attr-defined]
        assert billing.Invoice().pay(5) == "paid 5 EUR"  # type: ignore[attr-defined]
    assert [e.signal for e in events] == [signals.pre_pay, signals.post_pay]  # type: ignore[attr-defined]
    assert events[0].sender is billing.Invoice  # type: ignore[attr-defined]
    assert events[0].kwargs["amount"] == 5
    assert events[1].kwargs["result"] == "paid 5 EUR"


def test_pending_weave_imports_nothing_until_its_target_is_imported(app: App) -> None:
    (weaving,) = load(app.write_plan(PAY_PLAN)).apply()
    assert weaving.pending
    assert f"{app.name}.billing" not in sys.modules
    assert f"{app.name}.signals" not in sys.modules
    billing = app.load("billing")
    assert weaving.applied
    signals = app["signals"]
    with capture(signals.post_pay) as events:  # type: ignore[attr-defined]
        billing.Invoice().pay(7, currency="CHF")  # type: ignore[attr-defined]
    assert events[0].kwargs["result"] == "paid 7 CHF"


def test_error_signal_carries_the_exception(app: App) -> None:
    billing = app.load("billing")
    signals = app.load("signals")
    load(app.write_plan(PAY_PLAN)).apply()
    with capture(signals.pay_failed) as events, pytest.raises(ValueError):  # type: ignore[attr-defined]
        billing.Invoice().pay(-1)  # type: ignore[attr-defined]
    assert isinstance(events[0].kwargs["exception"], ValueError)


def test_applying_a_plan_twice_changes_nothing(app: App) -> None:
    app.load("billing")
    plan = load(app.write_plan(PAY_PLAN))
    first = plan.apply()
    again = load(app.write_plan(PAY_PLAN)).apply()
    assert first == again
    assert len(eventweave.woven()) == 1


def test_misspelled_method_of_an_imported_module_is_a_plan_error(app: App) -> None:
    app.load("billing")
    plan = load(app.write_plan(PAY_PLAN.replace("Invoice.pay", "Invoice.pya")))
    with pytest.raises(PlanError) as info:
        plan.apply()
    assert info.value.key == "weave[1].target"
    assert info.value.line == 3
    assert "did you mean 'pay'?" in str(info.value)


def test_unimportable_signal_of_an_imported_target_is_a_plan_error(app: App) -> None:
    app.load("billing")
    plan = load(app.write_plan(PAY_PLAN.replace("APP.signals:pre_pay", "APP.signalz:pre_pay")))
    with pytest.raises(PlanError) as info:
        plan.apply()
    assert (info.value.line, info.value.key) == (4, "weave[1].pre")
    assert "did you mean" in str(info.value) and ".signals'" in str(info.value)
    assert not eventweave.woven()


def test_object_that_is_not_a_signal_is_refused(app: App) -> None:
    app.load("billing")
    plan = load(app.write_plan(PAY_PLAN.replace("signals:post_pay", "signals:not_a_signal")))
    with pytest.raises(PlanError, match="not a signal"):
        plan.apply()


def test_bad_signal_found_at_import_time_is_logged_not_raised(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    plan = load(app.write_plan(PAY_PLAN.replace("signals:pre_pay", "signals:pre_pya")))
    (weaving,) = plan.apply()
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        billing = app.load("billing")  # must not raise into the application's import
    assert weaving.error is not None
    assert "has no attribute 'pre_pya'; did you mean 'pre_pay'?" in caplog.text
    assert billing.Invoice().pay(1) == "paid 1 EUR"  # type: ignore[attr-defined]


def test_instance_sender_and_within_options(app: App) -> None:
    billing = app.load("billing")
    signals = app.load("signals")
    load(
        app.write_plan(
            """
            [[weave]]
            target = "APP.billing:Invoice.pay"
            pre = "APP.signals:pre_pay"
            instance = "APP.signals:invoice_number"
            sender = "APP.billing:Ledger"
            within = "APP.billing:Ledger.post"
            """
        )
    ).apply()
    with capture(signals.pre_pay) as events:  # type: ignore[attr-defined]
        billing.Invoice().pay(3)  # type: ignore[attr-defined] # not within Ledger.post
        billing.Ledger().post(billing.Invoice())  # type: ignore[attr-defined]
    assert len(events) == 1
    assert events[0].sender is billing.Ledger  # type: ignore[attr-defined]
    assert events[0].kwargs["instance"] == "invoice for 1"


def test_redact_empty_sends_secrets_as_they_are(app: App) -> None:
    app.module("accounts", "def login(username, password):\n    return username\n")
    accounts = app.load("accounts")
    signals = app.load("signals")
    load(
        app.write_plan(
            """
            [[weave]]
            target = "APP.accounts:login"
            pre = "APP.signals:pre_pay"
            redact = []
            """
        )
    ).apply()
    with capture(signals.pre_pay) as events:  # type: ignore[attr-defined]
        accounts.login("ada", "s3cret")  # type: ignore[attr-defined]
    assert events[0].kwargs["password"] == "s3cret"


# -- applying the domain sections ---------------------------------------------


def test_rest_section_marks_and_instruments_views(app: App) -> None:
    from eventweave.rest import AfterCreate, AfterIndex, AfterUpdate, BeforeIndex, BeforeUpdate

    app.module("events", "from eventweave.rest import EventRegistry\nregistry = EventRegistry()\n")
    plan = load(
        app.write_plan(
            """
            [rest]
            views = ["APP.views:UsersView", "APP.views:HealthView"]
            silent = ["APP.views:HealthView"]
            trigger_instead = { "APP.views:UsersView.refresh" = "update" }
            registry = "APP.events:registry"
            """
        )
    )
    plan.apply()
    views = app.load("views")
    registry = app["events"].registry  # type: ignore[attr-defined]
    seen: list[str] = []
    registry.subscribe(
        lambda event: seen.append(type(event).__name__),
        [BeforeIndex, AfterIndex, AfterCreate, BeforeUpdate, AfterUpdate],
    )
    views.UsersView().index()  # type: ignore[attr-defined]
    views.UsersView({"name": "ada"}).create()  # type: ignore[attr-defined]
    views.UsersView().refresh()  # type: ignore[attr-defined]
    views.HealthView().index()  # type: ignore[attr-defined]
    assert seen == ["BeforeIndex", "AfterIndex", "AfterCreate", "BeforeUpdate", "AfterUpdate"]
    assert eventweave.woven()


def test_apply_returns_the_weaving_of_each_rest_view(app: App) -> None:
    plan = load(app.write_plan('[rest]\nviews = ["APP.views:UsersView", "APP.views:HealthView"]\n'))
    weavings = plan.apply()
    assert weavings == eventweave.woven()
    assert [w.target for w in weavings] == [
        f"{app.name}.views:UsersView",
        f"{app.name}.views:HealthView",
    ]
    assert all(w.pending for w in weavings)


def test_vidispine_section_instruments_the_helpers(app: App) -> None:
    plan = load(
        app.write_plan(
            """
            [vidispine]
            helpers = "eventweave.vidispine.client"
            methods = { GroupHelper = false }
            """
        )
    )
    weavings = plan.apply()
    from eventweave.vidispine.client import UserHelper, VidispineAPI

    assert weavings and all(w.applied for w in weavings)
    assert not any("GroupHelper" in w.target for w in weavings)

    with (
        FakeVidispine() as fake,
        VidispineAPI(fake.url, *fake.auth) as api,
        capture(vs.vidispine_pre_create, vs.vidispine_post_create) as events,
    ):
        UserHelper(api).createUser("ada", "Ada Lovelace", "secret-password")
    assert [e.signal for e in events] == [vs.vidispine_pre_create, vs.vidispine_post_create]
    assert events[0].kwargs["instance"] == "ada"
    assert events[0].kwargs["newPassword"] == eventweave.MASK


# -- entries and check --------------------------------------------------------


def test_entries_list_each_target_with_its_signals(app: App) -> None:
    (entry,) = load(app.write_plan(PAY_PLAN)).entries()
    assert entry.target == f"{app.name}.billing:Invoice.pay"
    assert entry.events == "pre_pay -> post_pay (or pay_failed)"
    assert entry.ok and entry.line == 3


def test_entries_report_a_module_that_cannot_be_imported_as_pending(tmp_path: Path) -> None:
    plan = load(
        write(tmp_path, '[[weave]]\ntarget = "nowhere_xyz.billing:Invoice.pay"\npre = "a:b"\n')
    )
    (entry,) = plan.entries()
    assert entry.status.startswith("pending: no module named 'nowhere_xyz'")


def test_check_suggests_nearest_method_name(app: App) -> None:
    plan = load(app.write_plan(PAY_PLAN.replace("Invoice.pay", "Invoice.pya")))
    (error,) = plan.check().errors
    assert error.message.endswith("Invoice has no attribute 'pya'; did you mean 'pay'?")
    assert (error.line, error.key) == (3, "weave[1].target")


def test_check_suggests_nearest_module_name(app: App) -> None:
    plan = load(app.write_plan(PAY_PLAN.replace("billing:", "biling:")))
    (error,) = plan.check().errors
    assert "no module named" in error.message
    assert f"did you mean '{app.name}.billing'?" in error.message


def test_check_warns_of_default_helper_methods_renamed_by_an_upgrade(app: App) -> None:
    from eventweave.vidispine import client

    source = Path(client.__file__ or "").read_text()
    app.module("interface", source.replace("def setItemMetadata(", "def setItemMetaData("))
    plan = load(app.write_plan('[vidispine]\nhelpers = "APP.interface"\n'))
    report = plan.check()
    assert report.ok and not report.errors
    (warning,) = report.warnings
    assert (warning.line, warning.key) == (2, "vidispine.helpers")
    assert "has no method 'setItemMetadata'; did you mean 'setItemMetaData'?" in warning.message
    (entry,) = [e for e in report.entries if not e.ok]
    assert entry.target == f"{app.name}.interface:ItemHelper.setItemMetadata"
    assert entry.status.startswith("absent: ")


def test_check_refuses_a_helper_method_the_plan_names_and_the_code_lacks(app: App) -> None:
    plan = load(
        app.write_plan(
            '[vidispine]\nhelpers = "eventweave.vidispine.client"\n'
            'methods = { ItemHelper = { getItemMetadat = "get" } }\n'
        )
    )
    (error,) = plan.check().errors
    assert "has no method 'getItemMetadat'; did you mean 'getItemMetadata'?" in error.message


def test_check_reports_a_signal_that_does_not_import(app: App) -> None:
    plan = load(app.write_plan(PAY_PLAN.replace("signals:post_pay", "signals:post_pya")))
    (error,) = plan.check().errors
    assert (error.key, error.line) == ("weave[1].post", 5)
    assert "did you mean 'post_pay'?" in error.message


def test_check_and_entries_weave_nothing(app: App) -> None:
    plan = load(app.write_plan(PAY_PLAN))
    report = plan.check()
    assert report.ok and not report.errors and not report.warnings
    assert not eventweave.woven()
    assert plan.entries() == report.entries
    assert not eventweave.woven()


def test_check_reports_an_instance_that_is_no_parameter(app: App) -> None:
    plan = load(app.write_plan(PAY_PLAN + 'instance = "amont"\n'))
    (error,) = plan.check().errors
    assert error.message.endswith(
        "instance='amont' is not a parameter of it; it takes amount, currency"
    )


AUTH_VIEWS = """
    def authenticate(request=None, **credentials):
        return credentials.get("username") if credentials.get("password") == "right" else None


    def login(request, user):
        request.user = user


    def logout(request):
        request.user = None


    class Request:
        def __init__(self, **post):
            self.POST = post
            self.user = None


    class LoginView:
        def post(self, request):
            user = authenticate(request, **request.POST)
            if user is not None:
                login(request, user)
            return user


    class KioskLoginView(LoginView):
        pass


    class LogoutView:
        def post(self, request):
            logout(request)
"""

PORTAL_SIGNALS = """
    from eventweave import Signal

    portal_pre_authenticate = Signal()
    portal_post_authenticate = Signal()
    portal_pre_login = Signal()
    portal_post_login = Signal()
    portal_pre_logout = Signal()
    portal_post_logout = Signal()
"""


def test_portal_section_emits_on_the_portals_own_signals_named_by_the_plan(app: App) -> None:
    app.module("auth", AUTH_VIEWS)
    app.module("portal_signals", PORTAL_SIGNALS)
    plan = load(
        app.write_plan(
            """
            [portal]
            views = "APP.auth"
            signals = "APP.portal_signals"
            silent = ["APP.auth:KioskLoginView"]
            """
        )
    )
    plan.apply()
    assert f"{app.name}.portal_signals" not in sys.modules  # imported with the views, not before
    auth = app.load("auth")
    signals = app["portal_signals"]
    with capture(signals.portal_post_authenticate, signals.portal_post_login) as events:  # type: ignore[attr-defined]
        auth.LoginView().post(auth.Request(username="ada", password="right"))  # type: ignore[attr-defined]
        auth.KioskLoginView().post(auth.Request(username="bob", password="right"))  # type: ignore[attr-defined]
    assert [(e.sender, e.kwargs["instance"]) for e in events] == [
        (auth.LoginView, "ada"),  # type: ignore[attr-defined]
        (auth.LoginView, "ada"),  # type: ignore[attr-defined]
    ]
    assert eventweave.woven()


def test_portal_section_with_a_missing_signals_module_is_logged_when_the_views_import(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    app.module("auth", AUTH_VIEWS)
    plan = load(app.write_plan('[portal]\nviews = "APP.auth"\nsignals = "APP.portal_signalz"\n'))
    assert plan.apply() == []
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        app.load("auth")
    assert "weave.toml:3: [portal] signals: cannot import" in caplog.text
    assert not eventweave.woven()


def test_marking_a_missing_view_of_an_imported_module_is_a_plan_error(app: App) -> None:
    app.load("views")
    plan = load(app.write_plan('[rest]\nsilent = ["APP.views:HelthView"]\n'))
    with pytest.raises(PlanError) as info:
        plan.apply()
    assert (info.value.line, info.value.key) == (2, "rest.silent")
    assert "did you mean 'HealthView'?" in str(info.value)


def test_check_reports_an_instance_path_that_is_not_a_function(app: App) -> None:
    plan = load(app.write_plan(PAY_PLAN + 'instance = "APP.signals:not_a_signal"\n'))
    (error,) = plan.check().errors
    assert error.key == "weave[1].instance"
    assert "must be a function taking an eventweave.Call" in error.message


# -- ${NAME} from the environment ----------------------------------------------

HTTP_PLAN = '[vidispine]\nhttp = { base_url = "BASE" }\n'


def http_plan(tmp_path: Path, base_url: str, environ: dict[str, str]) -> eventweave.plan.Plan:
    return load(write(tmp_path, HTTP_PLAN.replace("BASE", base_url)), environ=environ)


def test_string_values_read_the_environment(tmp_path: Path) -> None:
    plan = http_plan(tmp_path, "http://${VS_HOST}:${VS_PORT:-8080}/API", {"VS_HOST": "vs.example"})
    (entry,) = plan.entries()
    assert entry.target == "requests to http://vs.example:8080/API"


def test_default_is_taken_when_the_variable_is_empty(tmp_path: Path) -> None:
    plan = http_plan(tmp_path, "http://h:${VS_PORT:-8080}/API", {"VS_PORT": ""})
    assert plan.entries()[0].target == "requests to http://h:8080/API"


def test_unset_variable_without_default_names_file_line_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[portal]\nviews = "a.b"\n\n[rest]\nviews = ["${API}.views:Users"]\n')
    with pytest.raises(PlanError) as info:
        load(path, environ={})
    assert (info.value.line, info.value.key) == (5, "rest.views")
    assert "the environment variable API is not set" in info.value.reason
    assert "${API:-...}" in info.value.reason


def test_double_dollar_keeps_a_literal_brace(tmp_path: Path) -> None:
    plan = http_plan(tmp_path, "http://h/API?q=$${x}&cost=$5", {})
    assert plan.entries()[0].target == "requests to http://h/API?q=${x}&cost=$5"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("${1X}", "is not ${NAME} or ${NAME:-default}"), ("${X", "is never closed")],
)
def test_malformed_reference_is_a_plan_error(tmp_path: Path, value: str, reason: str) -> None:
    with pytest.raises(PlanError, match=re.escape(reason)) as info:
        http_plan(tmp_path, f"http://h/{value}", {"X": "x"})
    assert (info.value.line, info.value.key) == (2, "vidispine.http")


def test_password_from_the_environment_never_shows_in_an_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as info:
        http_plan(tmp_path, "${VS_URL}", {"VS_URL": "ftp://admin:hunter22@vs/API"})
    assert "hunter22" not in str(info.value)
    assert "ftp://admin:********@vs/API" in str(info.value)


def test_secret_variables_are_masked_wherever_they_show(tmp_path: Path) -> None:
    plan = http_plan(tmp_path, "http://h/API?token=${VS_TOKEN}", {"VS_TOKEN": "tok-123456"})
    (entry,) = plan.entries()
    assert entry.target == "requests to http://h/API?token=********"


# -- secrets in what check, show and apply say -----------------------------------


def test_entries_mask_the_password_of_a_url(tmp_path: Path) -> None:
    plan = http_plan(tmp_path, "http://admin:hunter22@vs:8080/API", {})
    assert plan.entries()[0].target == "requests to http://admin:********@vs:8080/API"


def test_a_password_equal_to_the_user_name_masks_the_password_only(tmp_path: Path) -> None:
    plan = http_plan(tmp_path, "http://admin:admin@vs:8080/API", {})
    assert plan.entries()[0].target == "requests to http://admin:********@vs:8080/API"


def test_error_messages_mask_the_password_of_a_url(tmp_path: Path) -> None:
    plan = http_plan(tmp_path, "http://admin:hunter22@vs:80a80/API", {})
    with pytest.raises(PlanError) as info:
        plan.apply()
    assert "is not a valid URL" in str(info.value)
    assert "hunter22" not in str(info.value)
    (error,) = plan.check().errors
    assert error.message == info.value.reason


# -- check refuses what apply refuses -------------------------------------------

REFUSED = {
    "a REST view that is a function": (
        '[rest]\nviews = ["APP.views:create_view"]\n',
        "it is a function; ViewEvents() weaves classes",
    ),
    "a REST view that defines no action": (
        '[rest]\nviews = ["APP.views:User"]\n',
        "User defines none of the view actions",
    ),
    "a malformed base_url": (
        '[vidispine]\nhttp = { base_url = "http://localhost:80a80/API" }\n',
        "is not a valid URL",
    ),
    "a signals module lacking the portal's signals": (
        '[portal]\nviews = "APP.auth"\nsignals = "APP.signals"\n',
        "lacks portal_pre_authenticate",
    ),
    "a signal path naming no signal": (
        PAY_PLAN.replace("signals:post_pay", "signals:not_a_signal"),
        "is 42 (int), not a signal",
    ),
    "a misspelled receiver": (
        '[[connect]]\nreceiver = "APP.audit:on_pya"\nsignals = ["APP.signals:post_pay"]\n',
        "has no attribute 'on_pya'; did you mean 'on_pay'?",
    ),
    "a receiver without **kwargs": (
        '[[connect]]\nreceiver = "APP.audit:no_kwargs"\nsignals = ["APP.signals:post_pay"]\n',
        "must accept keyword arguments (**kwargs)",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_check_refuses_what_apply_refuses_with_the_same_message(app: App, case: str) -> None:
    text, fragment = REFUSED[case]
    app.module("auth", AUTH_VIEWS)
    report = load(app.write_plan(text)).check()
    (error,) = report.errors
    assert fragment in error.message
    assert not eventweave.woven()
    # check imported what the plan names, so apply now meets the same problem at once
    with pytest.raises(PlanError) as info:
        load(app.write_plan(text)).apply()
    assert (info.value.reason, info.value.line, info.value.key) == (
        error.message,
        error.line,
        error.key,
    )


def test_default_table_method_the_code_lacks_is_a_warning_in_check_and_in_apply(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    from eventweave.vidispine import client

    source = Path(client.__file__ or "").read_text()
    app.module("interface", source.replace("def retranscode(", "def retranscodeItem("))
    plan = load(app.write_plan('[vidispine]\nhelpers = "APP.interface"\n'))
    (warning,) = plan.check().warnings
    with caplog.at_level(logging.WARNING, logger="eventweave"):
        weavings = load(app.write_plan('[vidispine]\nhelpers = "APP.interface"\n')).apply()
    assert weavings  # the others are woven
    assert warning.message in caplog.text
    assert "did you mean 'retranscodeItem'?" in warning.message


def test_check_leaves_no_marker_behind(app: App) -> None:
    views = app.load("views")
    eventweave.mark(f"{app.name}.views:UsersView.index", silent=True)  # the application's own
    plan = load(
        app.write_plan(
            """
            [rest]
            views = ["APP.views:UsersView"]
            silent = ["APP.views:HealthView", "APP.views:UsersView.index"]
            trigger_instead = { "APP.views:UsersView.refresh" = "update" }
            """
        )
    )
    assert plan.check().ok
    assert not is_silent(views.HealthView)  # type: ignore[attr-defined]
    assert triggered_action(views.UsersView.refresh) is None  # type: ignore[attr-defined]
    assert is_silent(views.UsersView.index)  # type: ignore[attr-defined]
    assert not eventweave.woven()


def test_check_leaves_no_receiver_connected(app: App) -> None:
    signals = app.load("signals")
    text = '[[connect]]\nreceiver = "APP.audit:on_pay"\nsignals = ["APP.signals:post_pay"]\n'
    assert load(app.write_plan(text)).check().ok
    assert not signals.post_pay.receivers  # type: ignore[attr-defined]


def test_check_reports_a_part_whose_module_is_not_installed_as_pending(tmp_path: Path) -> None:
    report = load(write(tmp_path, '[rest]\nviews = ["nowhere_xyz.views:Users"]\n')).check()
    (pending,) = report.pending
    assert pending.message == "no module named 'nowhere_xyz'"
    assert not report.ok and not report.errors


# -- [[connect]] -----------------------------------------------------------------

CONNECT_PAY = """
    [[connect]]
    receiver = "APP.audit:on_pay"
    signals = ["APP.signals:post_pay"]
"""


def test_connected_receiver_is_imported_when_the_first_event_comes(app: App) -> None:
    load(app.write_plan(PAY_PLAN + CONNECT_PAY)).apply()
    assert f"{app.name}.signals" not in sys.modules
    billing = app.load("billing")
    assert f"{app.name}.signals" in sys.modules  # imported by the weaving, then connected
    assert f"{app.name}.audit" not in sys.modules
    billing.Invoice().pay(5)  # type: ignore[attr-defined]
    assert app["audit"].calls == [("Invoice", 5, "paid 5 EUR")]  # type: ignore[attr-defined]


def test_receiver_connects_at_once_when_its_signal_is_imported(app: App) -> None:
    signals = app.load("signals")
    load(app.write_plan(CONNECT_PAY)).apply()
    signals.post_pay.send(sender=str, amount=1, result=2)  # type: ignore[attr-defined]
    assert app["audit"].calls == [("str", 1, 2)]  # type: ignore[attr-defined]


def test_sender_restricts_the_receiver_to_one_sender(app: App) -> None:
    signals = app.load("signals")
    billing = app.load("billing")
    load(app.write_plan(CONNECT_PAY + 'sender = "APP.billing:Invoice"\n')).apply()
    signals.post_pay.send(sender=billing.Ledger, amount=1)  # type: ignore[attr-defined]
    signals.post_pay.send(sender=billing.Invoice, amount=2)  # type: ignore[attr-defined]
    assert app["audit"].calls == [("Invoice", 2, None)]  # type: ignore[attr-defined]


def test_applying_a_plan_twice_connects_its_receiver_once(app: App) -> None:
    signals = app.load("signals")
    load(app.write_plan(CONNECT_PAY)).apply()
    load(app.write_plan(CONNECT_PAY)).apply()
    signals.post_pay.send(sender=str, amount=1)  # type: ignore[attr-defined]
    assert len(app["audit"].calls) == 1  # type: ignore[attr-defined]


def test_plan_holds_its_receiver_strongly(app: App) -> None:
    signals = app.load("signals")
    load(app.write_plan(CONNECT_PAY)).apply()
    gc.collect()
    signals.post_pay.send(sender=str, amount=1)  # type: ignore[attr-defined]
    assert app["audit"].calls  # type: ignore[attr-defined]


def test_rest_events_reach_a_receiver_by_model_and_field(app: App) -> None:
    app.module("events", "from eventweave.rest import EventRegistry\nregistry = EventRegistry()\n")
    load(
        app.write_plan(
            """
            [rest]
            views = ["APP.views:UsersView"]
            registry = "APP.events:registry"

            [[connect]]
            receiver = "APP.audit:on_create"
            events = ["BeforeCreate"]
            model = "APP.views:User"
            field = "name"
            """
        )
    ).apply()
    views = app.load("views")
    views.UsersView({"name": "ada"}).create()  # type: ignore[attr-defined]
    views.UsersView({"email": "x"}).create()  # type: ignore[attr-defined] # no name field
    assert app["audit"].calls == [("BeforeCreate", "name")]  # type: ignore[attr-defined]


def test_receiver_that_fails_to_import_is_logged_not_raised_into_the_sender(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    signals = app.load("signals")
    load(app.write_plan(CONNECT_PAY.replace("on_pay", "on_pya"))).apply()
    with caplog.at_level(logging.ERROR, logger="eventweave"):
        signals.post_pay.send(sender=str, amount=1)  # type: ignore[attr-defined]
        signals.post_pay.send(sender=str, amount=2)  # type: ignore[attr-defined]
    assert caplog.text.count("has no attribute 'on_pya'; did you mean 'on_pay'?") == 1


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ('receiver = "a.b:f"\n', "give one of them"),
        ('receiver = "a.b:f"\nsignals = ["a:s"]\nevents = ["AfterCreate"]\n', "give one of them"),
        ('receiver = "a.b:f"\nevents = ["AfterCreat"]\n', "did you mean 'AfterCreate'?"),
        ('receiver = "a.b:f"\nevents = ["AfterCreate"]\nsender = "a:B"\n', "sender goes with"),
        ('receiver = "a.b:f"\nsignals = ["a.s"]\n', "not an import path"),
        ('signals = ["a:s"]\n', "needs receiver"),
    ],
)
def test_connect_table_is_checked_on_loading(tmp_path: Path, table: str, reason: str) -> None:
    error = load_error(tmp_path, "[[connect]]\n" + table)
    assert reason in str(error)
    assert error.key is not None and error.key.startswith("connect[1]")


def test_connect_sections_name_their_receiver_and_signals(tmp_path: Path) -> None:
    plan = load(write(tmp_path, '[[connect]]\nreceiver = "a.b:f"\nsignals = ["c.d:s", "c.d:t"]\n'))
    (connect,) = plan.sections("connect")
    assert connect.receiver.text == "a.b:f"  # type: ignore[attr-defined]
    assert [s.text for s in connect.signals] == ["c.d:s", "c.d:t"]  # type: ignore[attr-defined]


# -- [vidispine] helpers, one module per class -----------------------------------


def test_vidispine_helpers_may_live_in_one_module_per_class(app: App) -> None:
    from eventweave.vidispine import client

    source = Path(client.__file__ or "").read_text()
    app.module("iuser", source)
    app.module("iitem", source)
    plan = load(
        app.write_plan(
            '[vidispine]\nhelpers = { UserHelper = "APP.iuser", ItemHelper = "APP.iitem" }\n'
        )
    )
    plan.apply()
    targets = [w.target for w in eventweave.woven()]
    assert f"{app.name}.iuser:UserHelper.createUser" in targets
    assert f"{app.name}.iitem:ItemHelper.setItemMetadata" in targets
    assert not [t for t in targets if "GroupHelper" in t or "iuser:Item" in t or "iitem:User" in t]
    iuser = app.load("iuser")
    with (
        FakeVidispine() as fake,
        iuser.VidispineAPI(fake.url, *fake.auth) as api,  # type: ignore[attr-defined]
        capture(vs.vidispine_post_create) as events,
    ):
        iuser.UserHelper(api).createUser("ada", "Ada", "secret-password")  # type: ignore[attr-defined]
    assert [e.kwargs["instance"] for e in events] == ["ada"]


@pytest.mark.parametrize(
    ("helpers", "reason"),
    [
        ('{ ItemHelpr = "a.b" }', "did you mean 'ItemHelper'?"),
        ('{ ItemHelper = "a.b:C" }', "is a module name"),
        ("{ ItemHelper = 3 }", "must be a module name"),
        ("{}", "names no helper class"),
    ],
)
def test_helpers_mapping_is_checked_on_loading(tmp_path: Path, helpers: str, reason: str) -> None:
    error = load_error(tmp_path, f"[vidispine]\nhelpers = {helpers}\n")
    assert reason in str(error)
    assert error.key == "vidispine.helpers"


def test_helpers_mapping_must_place_each_class_methods_names(tmp_path: Path) -> None:
    error = load_error(
        tmp_path,
        '[vidispine]\nhelpers = { ItemHelper = "portal.vidispine.iitem" }\n'
        'methods = { UserHelper = { getUser = "get" } }\n',
    )
    assert (error.line, error.key) == (3, "vidispine.methods")
    assert "methods names UserHelper.getUser, but helpers does not say where UserHelper lives" in (
        error.reason
    )


def test_helpers_mapping_takes_a_class_named_in_methods(tmp_path: Path) -> None:
    plan = load(
        write(
            tmp_path,
            '[vidispine]\nhelpers = { CollectionHelper = "portal.vidispine.icollection" }\n'
            'methods = { CollectionHelper = { createCollection = "create" } }\n',
        )
    )
    (entry,) = plan.entries()
    assert entry.target == "portal.vidispine.icollection:CollectionHelper.createCollection"


# -- what applying says on the eventweave logger --------------------------------


APPLY_LOGS = {
    "a weaving pending until its module is imported": (
        PAY_PLAN,
        "billing",
        [
            "plan PLAN applied: 1 weaving, 1 pending until their module is imported",
            "plan PLAN: on import of APP.billing, 1 weaving applied",
        ],
    ),
    "a receiver connected once its signals module is imported": (
        CONNECT_PAY,
        "signals",
        [
            "plan PLAN applied: 0 weavings, 0 pending until their module is imported; "
            "1 part waiting for a module",
            "plan PLAN: on import of APP.signals, 1 part applied",
        ],
    ),
}


@pytest.mark.parametrize("case", list(APPLY_LOGS))
def test_apply_logs_one_line_and_one_per_module_awaited(
    app: App, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    text, module, expected = APPLY_LOGS[case]
    with caplog.at_level(logging.INFO, logger="eventweave"):
        path = app.write_plan(text)
        load(path).apply()
        app.load(module)
    messages = [r.getMessage() for r in caplog.records if r.name == "eventweave"]
    assert messages == [
        line.replace("PLAN", str(path)).replace("APP", app.name) for line in expected
    ]


def test_debug_lists_each_weaving(app: App, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="eventweave"):
        load(app.write_plan(PAY_PLAN)).apply()
    assert f"pending {app.name}.billing:Invoice.pay" in caplog.text
