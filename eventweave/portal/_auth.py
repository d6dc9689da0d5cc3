"""Portal authentication signals around the steps a LoginView / LogoutView takes.

A login view authenticates the credentials against the backends, then logs the
user in; a logout view logs the user out. Each step is a function the view
module imported by name (``from django.contrib.auth import authenticate``), so
the step is woven *where the view looks it up*, and only while one of the
view's request-handling methods runs (``Emit(within=...)``): the same function
called from an API view or a management command emits nothing.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eventweave._advice import Call, Emit, _mapping_or_module
from eventweave._weaving import (
    Site,
    WeaveError,
    Weaving,
    code_of,
    parse_target,
    weave,
    woven,
)
from eventweave._weaving._hooks import Hook
from eventweave._weaving._targets import resolve, walk

from . import signals as portal_signals

__all__ = ["SIGNAL_NAMES", "STEP_SIGNALS", "AuthStep", "instrument_auth", "weave_steps"]

STEP_SIGNALS: dict[str, tuple[str, str]] = {
    "authenticate": ("portal_pre_authenticate", "portal_post_authenticate"),
    "login": ("portal_pre_login", "portal_post_login"),
    "logout": ("portal_pre_logout", "portal_post_logout"),
}
"""Each step and the names of its (pre, post) signals."""

SIGNAL_NAMES: tuple[str, ...] = tuple(name for pair in STEP_SIGNALS.values() for name in pair)
"""The six signal names a ``signals=`` object must hold."""

# Methods through which a view without dispatch() receives requests.
_HANDLERS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class AuthStep:
    """One step to weave: which function, for which view.

    :ivar step: ``"authenticate"``, ``"login"`` or ``"logout"``.
    :ivar target: the step function where the calling code looks it up
        (``"portal.authentication.views:login"``).
    :ivar view: the view class handling the requests (``"...views:LoginView"``).
    :ivar handlers: the view's methods a request passes through; None: read them
        from the class once its module is imported (``dispatch`` if it has one,
        else each of get/post/put/patch/delete it has).
    :ivar caller: the class whose methods must call the step, if not the view
        (Django's ``AuthenticationForm`` calls ``authenticate``). It must live in
        the step's module.
    :ivar option: the keyword argument that names the step function, for error
        messages (``"authenticate="``), if there is one.
    """

    step: str
    target: str
    view: str
    handlers: tuple[str, ...] | None = None
    caller: str | None = None
    option: str | None = None


# -- what each signal is sent with ---------------------------------------------


def _view_class(call: Call) -> Any:
    """The sender: the runtime class of the view handling the request."""
    return call.flow.sender if call.flow is not None else None


def _request_of(call: Call) -> Any:
    arguments = call.arguments
    if "request" in arguments:
        return arguments["request"]
    return call.args[0] if call.args else None


def _user_logging_in(call: Call) -> Any:
    """``login(request, user, ...)``: the user being logged in."""
    arguments = call.arguments
    if "user" in arguments:
        return arguments["user"]
    return call.args[1] if len(call.args) > 1 else None


def _resolved(user: Any) -> Any:
    # Django's request.user is a SimpleLazyObject that reads the session when
    # first touched; logout flushes the session, so a lazy user read later
    # would be anonymous. Django is looked up, never imported, from here.
    functional = sys.modules.get("django.utils.functional")
    if functional is not None and isinstance(user, functional.LazyObject):
        if user._wrapped is functional.empty:
            user._setup()
        user = user._wrapped
    if getattr(user, "is_authenticated", True) is False:
        return None  # an anonymous user: nobody was logged in
    return user


def _user_logging_out(call: Call) -> Any:
    """``logout(request)``: the user who was logged in, ``request.user`` before the call.

    After the call ``request.user`` is anonymous, so the post signal sends the
    user the pre signal found.
    """
    if call.phase != "pre":
        return call.instance
    return _resolved(getattr(_request_of(call), "user", None))


_INSTANCE: dict[str, Any] = {
    "authenticate": "result",  # None before, the user (or None) after
    "login": _user_logging_in,
    "logout": _user_logging_out,
}


# -- the advice ----------------------------------------------------------------


class _StepAdvice(Emit):
    """:class:`Emit` for one auth step, emitting only inside its view's requests.

    Which view methods handle requests is known only once the view's module is
    imported, so ``within=`` is decided when the advice is bound to the step
    function (at weave time, or when a pending weaving's module is imported).
    """

    def __init__(
        self,
        step: AuthStep,
        family: dict[str, tuple[Any, Any]],
        *,
        robust: bool,
        within: tuple[str, ...] = (),
    ) -> None:
        pre, post = family[step.step]
        super().__init__(
            pre,
            post,
            sender=_view_class,
            instance=_INSTANCE[step.step],
            action=step.step,
            within=list(within) or None,
            robust=robust,
        )
        self.step = step
        self.family = family

    def _key(self) -> tuple[Any, ...]:
        family = tuple((name, id(pre), id(post)) for name, (pre, post) in self.family.items())
        return (*super()._key(), self.step, family)

    def __repr__(self) -> str:
        pre, post = STEP_SIGNALS[self.step.step]
        return f"PortalAuth({self.step.step}: {pre}/{post} within {self.step.view})"

    def signals_for(self, action: str) -> tuple[Any, Any, Any] | None:
        pair = self.family.get(action)
        return None if pair is None else (pair[0], pair[1], None)

    def bind(self, site: Site) -> Hook:
        if self.within:
            return super().bind(site)
        handlers = self.step.handlers or _request_handlers(self.step.view)
        _check_calls(self.step)
        within = tuple(f"{self.step.view}.{name}" for name in handlers)
        bound = _StepAdvice(self.step, self.family, robust=self.robust, within=within)
        return bound.bind(site)


# -- reading the view ----------------------------------------------------------


def _class_at(target: str) -> type:
    module_name, path = parse_target(target)
    # sys.modules, not imported(): a weaving's import hook runs before the
    # import machinery marks the module as initialised.
    module = sys.modules.get(module_name)
    if module is None:
        msg = f"module {module_name!r} is not imported yet, so the class cannot be read"
        raise WeaveError(target, msg)
    owner, attribute = walk(target, module, path)
    found = resolve(target, owner, attribute).value
    if not isinstance(found, type):
        raise WeaveError(target, f"it is a {type(found).__qualname__}, not a view class")
    return found


def _defines(cls: type, name: str) -> bool:
    return any(name in vars(base) for base in inspect.getmro(cls) if base is not object)


def _request_handlers(view: str) -> tuple[str, ...]:
    cls = _class_at(view)
    if _defines(cls, "dispatch"):
        return ("dispatch",)
    handlers = tuple(name for name in _HANDLERS if _defines(cls, name))
    if not handlers:
        msg = (
            f"{cls.__qualname__} has no dispatch() and no get/post/put/patch/delete method, "
            "so the requests it handles cannot be told apart; name the class that handles "
            "login or logout requests"
        )
        raise WeaveError(view, msg)
    return handlers


def _functions(value: Any) -> Iterator[types.FunctionType]:
    """The functions behind a class attribute, decorators' ``__wrapped__`` included."""
    if isinstance(value, (classmethod, staticmethod)):
        value = value.__func__
    elif isinstance(value, property):
        for accessor in (value.fget, value.fset, value.fdel):
            yield from _functions(accessor)
        return
    seen: set[int] = set()
    while value is not None and id(value) not in seen:
        seen.add(id(value))
        if isinstance(value, types.FunctionType):
            yield value
        value = getattr(value, "__wrapped__", None)


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions, comprehensions
            yield from _names(const)


def _calls(cls: type, namespace: dict[str, Any], name: str) -> bool:
    """Whether a method of ``cls`` (or a base) looks ``name`` up in ``namespace``."""
    for base in inspect.getmro(cls):
        if base is object:
            continue
        for value in vars(base).values():
            for function in _functions(value):
                # Only functions whose globals are the step's module look the
                # woven name up there; a base class from another module that
                # calls its own ``login`` would never emit.
                if function.__globals__ is namespace and name in _names(code_of(function)):
                    return True
    return False


def _check_calls(step: AuthStep) -> None:
    module_name, path = parse_target(step.target)
    module = sys.modules.get(module_name)
    if module is None or len(path) != 1:
        return  # only module globals are checked
    caller = step.caller or step.view
    cls = _class_at(caller)
    name = path[0]
    if _calls(cls, vars(module), name):
        return
    pre, post = STEP_SIGNALS[step.step]
    fix = (
        f"; pass {step.option}= the name its methods call"
        if step.option
        else f"; check that {caller} still calls it"
    )
    msg = (
        f"{cls.__qualname__} never calls {name}() (no method of it or its bases in "
        f"{module_name} refers to {name!r}), so {pre} and {post} would never be sent{fix}"
    )
    raise WeaveError(step.target, msg)


# -- weaving -------------------------------------------------------------------


def _family(signals: Any) -> dict[str, tuple[Any, Any]]:
    source = portal_signals if signals is None else signals
    found = _mapping_or_module(source, SIGNAL_NAMES, "instrument_auth")
    return {step: (found[pre], found[post]) for step, (pre, post) in STEP_SIGNALS.items()}


def weave_steps(
    steps: tuple[AuthStep, ...], *, signals: Any = None, robust: bool = False
) -> list[Weaving]:
    """Weave each step; on an error, unweave what this call wove and raise it.

    :param steps: the steps, in the order their weavings are returned.
    :param signals: see :func:`instrument_auth`.
    :param robust: see :func:`instrument_auth`.
    """
    family = _family(signals)
    before = woven()
    made: list[Weaving] = []
    try:
        for step in steps:
            made.append(weave(step.target, _StepAdvice(step, family, robust=bool(robust))))
    except BaseException:
        for weaving in made:
            if all(weaving is not old for old in before):
                weaving.unweave()
        raise
    return made


def _check_name(option: str, value: Any, example: str) -> str:
    if not isinstance(value, str) or not all(part.isidentifier() for part in value.split(".")):
        msg = f"instrument_auth(): {option}= takes a dotted name such as {example!r}, got {value!r}"
        raise ValueError(msg)
    return value


def instrument_auth(
    views: str = "portal.authentication.views",
    *,
    login_view: str = "LoginView",
    logout_view: str = "LogoutView",
    authenticate: str = "authenticate",
    login: str = "login",
    logout: str = "logout",
    signals: Any = None,
    robust: bool = False,
) -> list[Weaving]:
    """Send the portal authentication signals around a views module shaped like Django's.

    The module imports the step functions by name (``from django.contrib.auth
    import authenticate, login, logout``) and its ``LoginView`` / ``LogoutView``
    call them while handling a request. Those names are woven in the views
    module, so the steps emit only when called there, and only while a view's
    request-handling method runs (``dispatch``, or its get/post/put/patch/delete
    methods when it has no dispatch): calls from anywhere else emit nothing.

    - ``authenticate`` in a LoginView: ``portal_pre_authenticate`` (instance
      None; the credentials by name, secrets masked), then
      ``portal_post_authenticate`` (instance: the user returned, or None).
    - ``login`` in a LoginView: ``portal_pre_login`` / ``portal_post_login``,
      instance: the user being logged in.
    - ``logout`` in a LogoutView: ``portal_pre_logout`` / ``portal_post_logout``,
      instance: the user who was logged in (``request.user`` before the call).

    ``sender`` is the view class handling the request (the subclass, if one is
    used). A pre receiver that raises vetoes its step: the exception reaches
    the view and the step does not run; with ``robust=True`` it is logged
    instead and the step goes on.

    If the views module is imported, everything is checked at once; otherwise
    the weavings are pending (``woven()`` lists them) and are applied when it
    is imported, a problem then being logged and kept on ``Weaving.error``.

    :param views: the views module.
    :param login_view: the login view class in it.
    :param logout_view: the logout view class in it.
    :param authenticate: the name under which the module imported ``authenticate``.
    :param login: the name under which it imported ``login``.
    :param logout: the name under which it imported ``logout``.
    :param signals: a module, object or mapping holding the six signals by name,
        to emit on a portal's own signal objects (Django or blinker signals
        work); by default :mod:`eventweave.portal.signals`.
    :param robust: log receivers' exceptions instead of raising them.
    :returns: the three weavings: authenticate, login, logout.
    :raises WeaveError: a view class or step function does not exist (with the
        nearest name), or a view never calls its step.
    :raises TypeError: ``signals=`` lacks one of the six signals.
    """
    _check_name("views", views, "portal.authentication.views")
    for option, value in (
        ("login_view", login_view),
        ("logout_view", logout_view),
        ("authenticate", authenticate),
        ("login", login),
        ("logout", logout),
    ):
        _check_name(option, value, "LoginView" if option.endswith("view") else option)
    login_target, logout_target = f"{views}:{login_view}", f"{views}:{logout_view}"
    steps = (
        AuthStep("authenticate", f"{views}:{authenticate}", login_target, option="authenticate"),
        AuthStep("login", f"{views}:{login}", login_target, option="login"),
        AuthStep("logout", f"{views}:{logout}", logout_target, option="logout"),
    )
    return weave_steps(steps, signals=signals, robust=robust)
