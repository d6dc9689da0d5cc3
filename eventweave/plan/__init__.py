"""Plans: a TOML file naming what to weave, so code is instrumented without being edited.

A plan has these sections, each optional::

    [portal]                      # Cantemo's portal authentication signals
    views = "portal.authentication.views"

    [vidispine]                   # Vidispine signals around helpers and HTTP calls
    helpers = "portal.vidispine.interface"
    http = { base_url = "${VIDISPINE_URL:-http://localhost:8080/API}" }

    [rest]                        # REST view events (Nefertari, DRF)
    views = ["myapi.views:UsersView", "myapi.views:ItemsView"]
    silent = ["myapi.views:HealthView"]
    trigger_instead = { "myapi.views:UsersView.index" = "update" }

    [[weave]]                     # any method, your own signals
    target = "billing.invoices:Invoice.pay"
    pre = "billing.signals:pre_pay"
    post = "billing.signals:post_pay"

    [[connect]]                   # receivers, connected without code
    receiver = "myapp.audit:log_payment"
    signals = ["billing.signals:post_pay"]

    [relay]                       # events to a Redis Stream, for other processes
    url = "${REDIS_URL}"
    forward = ["billing.signals:post_pay", "AfterCreate"]

    [otel]                        # events in OpenTelemetry traces
    signals = ["billing.signals:pre_pay", "billing.signals:post_pay"]
    spans = true

String values may read the environment: ``${NAME}``, ``${NAME:-default}``.

:func:`load` reads and validates a plan (every section, key, type, target
string and action name) and raises :class:`PlanError`, naming the file, line
and key, for the first thing wrong. :meth:`Plan.apply` weaves it;
:meth:`Plan.check` finds what applying it would refuse; :meth:`Plan.entries`
lists what it weaves.

Nothing named by a plan is imported when it is applied: targets are woven when
the application imports their module (at once if it already has), and the
signals, registries and receivers a plan names in the application's own code
are imported then too. That is what lets ``EVENTWEAVE_PLAN`` apply a plan at
interpreter start-up, before the application's directory is even on
``sys.path``.

Adding a section (for contributors)
-----------------------------------

Each section lives in one module of this package (``_portal.py``,
``_connect.py`` ...) as a subclass of :class:`~eventweave.plan._section.Section`,
and is registered by one line in ``SECTIONS`` (``_plan.py``), whose order is
the order sections are applied in. A section:

- sets ``name`` (the table name), ``keys`` (the keys it takes) and, for
  ``[[name]]`` tables, ``array = True``;
- reads its table in ``__init__(self, table)``, through the
  :class:`~eventweave.plan._values.Table` readers (``table.string``,
  ``table.targets``, ``table.path`` ...), which raise ``PlanError`` at the
  right line; nothing is imported there;
- returns from ``items(self, plan)`` what applying it does, as
  :class:`~eventweave.plan._section.Item` s: ``run(context)`` does one thing
  and returns the weavings made; ``modules`` are the application modules it
  is about (``check`` imports them first; with ``wait=True`` applying waits
  for the first one to be imported); ``rows`` are what ``eventweave show``
  lists; ``emits`` the signals a trace listens to. ``check`` applies the plan
  and takes it back, leaving nothing behind: weavings and markers are undone
  by themselves, a receiver or tracer is made through ``once()``, and any
  other effect registers its undo with ``context.on_undo()``.

``apply``, ``check``, ``show`` and ``eventweave run --trace`` all go through
the items, so they cannot disagree about a section. A section that belongs to
a lower layer (``eventweave.contrib``) registers its import path,
``"eventweave.contrib.otel:PlanSection"``, instead of the class.
"""

from ._errors import PlanError
from ._plan import Entry, Finding, Plan, Report, load, loads

__all__ = ["Entry", "Finding", "Plan", "PlanError", "Report", "load", "loads"]
