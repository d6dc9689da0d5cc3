"""Tests for the plan section ``[otel]`` (``eventweave.contrib.otel.PlanSection``).

Real OpenTelemetry SDK spans, exported to its in-memory exporter: in this
process for span events (they go to the current span, whatever provider made
it), and through ``eventweave run`` in a subprocess for child spans, whose
tracer comes from the global provider the program sets up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

import eventweave
from eventweave import MASK, Signal
from eventweave.plan import PlanError, loads
from eventweave.plan import _section as plan_section
from eventweave.rest import AfterCreate
from eventweave.rest import registry as rest_registry

REPO = Path(eventweave.__file__).resolve().parent.parent

audit = Signal()
pre_pay = Signal()
post_pay = Signal()
not_a_signal = 42
HERE = __name__  # how the plans below name this module's signals


class Invoice:
    """A sender."""


@pytest.fixture(autouse=True)
def _plan_effects_taken_back() -> Iterator[None]:
    """Disconnect what the test's plans traced (applying a plan is for the process's life)."""
    before = set(plan_section._done)
    yield
    for key in [key for key in plan_section._done if key not in before]:
        plan_section._done.pop(key)()


def otel(*signals: str, spans: bool = False) -> str:
    return f"[otel]\nsignals = {json.dumps(signals)}\nspans = {str(spans).lower()}\n"


def span_events(exporter: InMemorySpanExporter) -> list[tuple[str, dict[str, Any]]]:
    (request,) = exporter.get_finished_spans()
    return [(event.name, dict(event.attributes or {})) for event in request.events]


# -- reading ---------------------------------------------------------------------------------


def test_otel_section_is_read_with_its_signals_and_spans() -> None:
    (section,) = loads(otel(f"{HERE}:audit", "AfterCreate", spans=True)).sections("otel")
    assert [path.text for path in section.signals] == [  # type: ignore[attr-defined]
        f"{HERE}:audit",
        "eventweave.rest:AfterCreate",
    ]
    assert section.spans is True  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("[otel]\nspans = true\n", 1, "otel", "needs signals = [...]"),
        ('[otel]\nsignals = ["AfterCreat"]\n', 2, "otel.signals", "did you mean 'AfterCreate'?"),
        ('[otel]\nsignals = ["a:b"]\nspans = "yes"\n', 3, "otel.spans", "must be true or false"),
        ('[otel]\nsignals = ["a:b"]\nspan = true\n', 3, "otel.span", "did you mean 'spans'?"),
    ],
)
def test_otel_table_is_checked_on_loading(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(PlanError) as info:
        loads(text, "weave.toml")
    assert (info.value.line, info.value.key) == (line, key)
    assert reason in info.value.reason


def test_without_opentelemetry_the_section_says_what_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if not installed
        from eventweave.plan import PlanError, loads
        try:
            loads('[rest]\\nviews = ["a:B"]\\n\\n[otel]\\nsignals = ["a:b"]\\n', "weave.toml")
        except PlanError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == (
        "weave.toml:4: [otel]: eventweave.contrib.otel needs the OpenTelemetry API; install "
        "it with 'pip install eventweave-aop[otel]'\n"
    )


# -- applying --------------------------------------------------------------------------------


def test_the_plans_signals_and_rest_events_become_span_events_of_the_current_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    assert loads(otel(f"{HERE}:audit", "AfterCreate")).apply() == []
    with tracer.start_as_current_span("POST /invoices"):
        audit.send(Invoice, amount=3, token="tok-1")
        rest_registry.notify(AfterCreate(Invoice, None))
    assert span_events(exporter) == [
        ("audit", {"sender": f"{HERE}:Invoice", "amount": 3, "token": MASK}),
        ("AfterCreate", {"model": f"{HERE}:Invoice"}),
    ]


def test_applying_a_plan_twice_traces_each_event_once(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    loads(otel(f"{HERE}:audit")).apply()
    loads(otel(f"{HERE}:audit")).apply()
    with tracer.start_as_current_span("request"):
        audit.send(Invoice)
    assert [name for name, _ in span_events(exporter)] == ["audit"]


def test_signals_are_traced_once_their_module_is_imported(
    tracer: Tracer,
    exporter: InMemorySpanExporter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "otel_late_signals.py").write_text(
        "from eventweave import Signal\nsaved = Signal()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loads(otel("otel_late_signals:saved")).apply()
    assert "otel_late_signals" not in sys.modules  # applying imported nothing
    import otel_late_signals

    monkeypatch.delitem(sys.modules, "otel_late_signals")
    with tracer.start_as_current_span("request"):
        otel_late_signals.saved.send(Invoice)
    assert [name for name, _ in span_events(exporter)] == ["saved"]


def test_check_traces_nothing_and_leaves_nothing_connected() -> None:
    report = loads(
        otel(f"{HERE}:audit", f"{HERE}:pre_pay", f"{HERE}:post_pay", "AfterCreate")
    ).check()
    assert report.ok, report.errors
    assert [entry.target for entry in report.entries] == [
        f"{HERE}:audit",
        f"{HERE}:pre_pay",
        f"{HERE}:post_pay",
        "eventweave.rest:AfterCreate",
    ]
    assert not audit.receivers and not pre_pay.receivers
    assert not rest_registry.receivers


REFUSED = {
    "a pre signal whose post is not traced, with spans": (
        otel(f"{HERE}:pre_pay", spans=True),
        "trace(spans=True): pre_pay opens a span that nothing would end; trace its post "
        "signal (post_pay) too",
    ),
    "an object that is no signal": (
        otel(f"{HERE}:not_a_signal"),
        f"{HERE}:not_a_signal is int, not a signal (an object with connect()) or a REST event",
    ),
    "a misspelled signal": (otel(f"{HERE}:adit"), "has no attribute 'adit'; did you mean 'audit'?"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_check_refuses_what_apply_refuses_with_the_same_message(case: str) -> None:
    text, fragment = REFUSED[case]
    (error,) = loads(text, "weave.toml").check().errors
    assert fragment in error.message
    assert (error.line, error.key) == (2, "otel.signals")
    with pytest.raises(PlanError) as info:
        loads(text, "weave.toml").apply()
    assert (info.value.reason, info.value.line, info.value.key) == (error.message, 2, error.key)


def test_rest_events_of_a_registry_of_the_plans_own_are_refused() -> None:
    text = otel("AfterCreate") + '\n[rest]\nviews = ["a.b:V"]\nregistry = "a.b:registry"\n'
    with pytest.raises(PlanError) as info:
        loads(text, "weave.toml").apply()
    assert "[rest] notifies a.b:registry: OpenTelemetry would never see them" in str(info.value)


def test_show_says_how_each_signal_is_traced() -> None:
    entries = loads(otel(f"{HERE}:pre_pay", f"{HERE}:post_pay", spans=True)).entries()
    assert {(entry.section, entry.events) for entry in entries} == {
        ("otel", "traced in OpenTelemetry: child spans of pre/post pairs")
    }


# -- under eventweave run: the program sets up OpenTelemetry after the plan is applied ---------

APP = {
    "billing/__init__.py": "",
    "billing/invoices.py": """
        class Invoice:
            def pay(self, amount, card_token=""):
                return f"paid {amount}"
    """,
    "billing/signals.py": """
        from eventweave import Signal

        pre_pay = Signal()
        post_pay = Signal()
    """,
    "weave.toml": """
        [[weave]]
        target = "billing.invoices:Invoice.pay"
        pre = "billing.signals:pre_pay"
        post = "billing.signals:post_pay"

        [otel]
        signals = ["billing.signals:pre_pay", "billing.signals:post_pay"]
        spans = true
    """,
    "main.py": """
        import json

        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        # The program's own set-up, as it would be without eventweave; the plan was
        # applied before this line ran.
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        from billing.invoices import Invoice

        with trace.get_tracer("portal").start_as_current_span("POST /pay"):
            Invoice().pay(5, card_token="4111")
        spans = {span.context.span_id: span for span in exporter.get_finished_spans()}
        print(json.dumps([
            {
                "name": span.name,
                "parent": spans[span.parent.span_id].name if span.parent else None,
                "attributes": dict(span.attributes),
            }
            for span in spans.values()
        ]))
    """,
}


def test_under_eventweave_run_pairs_become_spans_of_the_provider_the_program_sets_up(
    tmp_path: Path,
) -> None:
    for name, text in APP.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTWEAVE_", "OTEL_"))}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "eventweave", "run", "--", sys.executable, "main.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pay, request = json.loads(done.stdout)
    assert (pay["name"], pay["parent"], request["name"]) == ("pay", "POST /pay", "POST /pay")
    assert pay["attributes"]["amount"] == 5
    assert pay["attributes"]["result"] == "paid 5"
    assert pay["attributes"]["card_token"] == MASK
