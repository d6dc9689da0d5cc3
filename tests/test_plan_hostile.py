"""Hostile plans: deep, long, malformed or generated text gives a PlanError, in linear time.

Generated cases use hypothesis with fixed seeds and bounded example counts;
time bounds are checked in subprocesses with timeouts, never with timers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventweave
from eventweave.plan import PlanError, load, loads
from eventweave.plan._text import MAX_DEPTH, expand, parse

REPO = Path(eventweave.__file__).resolve().parent.parent
FIXED = settings(
    derandomize=True,
    database=None,  # fixed seeds: nothing to remember between runs, nothing written
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def plan_error(text: str, **environ: str) -> PlanError:
    with pytest.raises(PlanError) as info:
        loads(text, "weave.toml", environ=environ)
    return info.value


# -- nesting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("x = " + "[" * 1000 + "]" * 1000 + "\n", 1, "x"),
        ("[rest]\nviews = " + "[" * 1000 + "]" * 1000 + "\n", 2, "rest.views"),
        ("[portal]\nx = " + "{a = " * 1000 + "1" + "}" * 1000 + "\n", 2, "portal.x"),
        ('[[weave]]\ntarget = "a:f"\nredact = ' + "[" * 60 + "]" * 60 + "\n", 3, "weave[1].redact"),
        ("[" + ".".join(["a"] * 1000) + "]\n", 1, "a.a"),
        (".".join(["k"] * 1000) + " = 1\n", 1, "k.k"),
    ],
    ids=["array", "array-in-section", "inline-tables", "just-past-the-bound", "header", "key"],
)
def test_deep_nesting_is_a_plan_error_with_line_and_key(text: str, line: int, key: str) -> None:
    error = plan_error(text)
    assert (error.line, error.key) == (line, key)
    assert f"nest more than {MAX_DEPTH} levels deep" in error.reason


def test_nesting_within_the_bound_is_read() -> None:
    depth = MAX_DEPTH - 4
    text = '[[weave]]\ntarget = "a:f"\npre = "a:s"\nredact = ' + "[" * depth + "]" * depth
    error = plan_error(text)  # the value is refused for its type, not for its depth
    assert "must be a parameter name or an array of them" in error.reason


# -- linear time, checked in a subprocess --------------------------------------

# Each of these took seconds to hours with a backtracking expression or a
# search restarted per key; loading them all takes well under a second.
PATHOLOGICAL = {
    "spaces after a bracket in a multi-line string": '[rest]\nviews = """\n['
    + " " * 20000
    + 'a\n"""\n',
    "a long line of escapes": '[rest]\nviews = ["' + "\\\\" * 20000 + '"]\n',
    "escaped quotes in a multi-line string": '[rest]\nviews = """' + '\\"' * 20000 + '"""\n',
    "unclosed variables": 'x = "' + "${" * 20000 + '"\n',
    "brackets": "[" * 40000,
    "headers": "[[weave]]\n" * 20000,
}


def test_pathological_text_loads_in_linear_time() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        from eventweave.plan import PlanError, loads
        cases = json.loads(sys.stdin.read())
        for name, text in cases.items():
            try:
                loads(text, "weave.toml", environ={})
            except PlanError:
                pass
            else:
                raise SystemExit(f"{name}: loaded without error")
        print("done", len(cases))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "EVENTWEAVE_PLAN"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(PATHOLOGICAL),
        capture_output=True,
        text=True,
        timeout=60,  # the backtracking expression took about 20 minutes on the first case
        env=env,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, f"done {len(PATHOLOGICAL)}\n"), done.stderr


def test_error_messages_do_not_echo_a_whole_long_value() -> None:
    error = plan_error("[portal]\nviews = '" + "x" * 100_000 + ".:a'\n")
    assert len(str(error)) < 300


# -- files ----------------------------------------------------------------------


def test_file_that_is_not_utf8_is_a_plan_error(tmp_path: Path) -> None:
    path = tmp_path / "weave.toml"
    path.write_bytes(b'[portal]\nviews = "\xff\xfe"\n')
    with pytest.raises(PlanError, match="not UTF-8"):
        load(path)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "weave.toml"
    path.write_bytes(b'\xef\xbb\xbf[portal]\nviews = "a.b"\n')
    assert repr(load(path)).endswith(": portal>")


def test_nul_byte_is_a_plan_error_with_its_line() -> None:
    error = plan_error('[portal]\nviews = "a.b"\n\x00\n')
    assert error.line == 3 and "invalid TOML" in error.reason


def test_error_in_the_last_of_many_entries_is_located() -> None:
    entries = "".join(f'[[weave]]\ntarget = "m:f{i}"\npre = "m:s"\n\n' for i in range(3000))
    error = plan_error(entries + '[[weave]]\ntarget = "m:g"\nprre = "m:s"\n')
    assert (error.line, error.key) == (4 * 3000 + 3, "weave[3001].prre")


# -- generated text -------------------------------------------------------------

TOMLISH = st.text(alphabet="[]{}\"'=,.#\n \\\t:$-_atrgvwpsoe0123", max_size=300)


@FIXED
@given(TOMLISH)
def test_any_text_gives_a_plan_or_a_plan_error(text: str) -> None:
    try:
        loads(text, "weave.toml", environ={"X": "x"})
    except PlanError as exc:
        assert str(exc).startswith("weave.toml")


SECTION_KEYS = {
    "portal": ["views", "login_view", "signals", "robust", "silent", "trigger_instead", "bogus"],
    "vidispine": ["helpers", "methods", "signals", "http", "silent", "trigger_instead", "bogus"],
    "rest": ["views", "silent", "trigger_instead", "registry", "adapter", "robust", "bogus"],
    "weave": ["target", "pre", "post", "error", "sender", "instance", "within", "redact", "bogus"],
    "connect": ["receiver", "signals", "sender", "events", "model", "field", "registry", "bogus"],
    "restt": ["views"],
}
WORDS = st.sampled_from(
    [
        "a.b:C",
        "a.b:C.d",
        "a.b",
        "a.b.C",
        "",
        "update",
        "modify",
        "AfterCreate",
        "${X}",
        "${UNSET}",
        "${X:-a.b:C}",
        "http://u:p@h:80/API",
        "http://h:8x/API",
        "LoginView",
        "1x",
    ]
)
SCALARS = st.one_of(WORDS, st.integers(-5, 5), st.booleans(), st.floats(allow_nan=False))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(WORDS, st.just("ItemHelper")), inner, max_size=3),
    ),
    max_leaves=8,
)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


@st.composite
def plan_shaped(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for name in draw(st.lists(st.sampled_from(sorted(SECTION_KEYS)), max_size=4, unique=True)):
        array = name in ("weave", "connect")
        for _ in range(draw(st.integers(1, 2)) if array else 1):
            lines.append(f"[[{name}]]" if array else f"[{name}]")
            keys = draw(st.lists(st.sampled_from(SECTION_KEYS[name]), max_size=5, unique=True))
            lines += [f"{key} = {toml_value(draw(VALUES))}" for key in keys]
            lines.append("")
    return "\n".join(lines)


@FIXED
@given(plan_shaped())
def test_plan_shaped_text_gives_a_plan_or_a_located_plan_error(text: str) -> None:
    try:
        plan = loads(text, "weave.toml", environ={"X": "x"})
    except PlanError as exc:
        assert exc.line is not None, str(exc)
        assert exc.key is not None or "invalid TOML" in exc.reason, str(exc)
    else:
        plan.entries()  # lists what it weaves without importing anything it cannot


# -- line numbers ---------------------------------------------------------------

BARE = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True)
TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), max_codepoint=0xFFFF)
    | st.sampled_from("[]{}#=\"'\\\n\t"),
    max_size=12,
)


@st.composite
def rendered_value(draw: st.DrawFn) -> str:
    """A TOML value as written: strings of every kind, arrays over lines, numbers."""
    kind = draw(st.sampled_from(["basic", "literal", "multi", "literal-multi", "array", "int"]))
    text = draw(TEXT)
    if kind == "basic":
        return json.dumps(text)
    if kind == "literal":
        return "'" + "".join(c for c in text if c not in "'\n\t") + "'"
    if kind == "multi":
        return '"""\n' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""'
    if kind == "literal-multi":
        return "'''\n" + text.replace("'", "") + "'''"
    if kind == "array":
        items = [json.dumps(t) for t in draw(st.lists(TEXT, max_size=3))]
        if draw(st.booleans()):
            return "[\n  " + ",\n  # [x] = 1\n  ".join(items) + "\n]"
        return "[" + ", ".join(items) + "]"
    return str(draw(st.integers()))


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, dict[tuple[object, ...], int]]:
    """A valid TOML text, and the line each table and key is written on."""
    chunks: list[str] = []
    expected: dict[tuple[object, ...], int] = {}

    def add(chunk: str) -> int:
        line = sum(c.count("\n") + 1 for c in chunks) + 1
        chunks.append(chunk)
        return line

    for name in draw(st.lists(BARE, min_size=1, max_size=4, unique=True)):
        array = draw(st.booleans())
        for position in range(draw(st.integers(1, 3)) if array else 1):
            if draw(st.booleans()):
                add(f"# [{name}] a comment with = and [[brackets]]")
            table: tuple[object, ...] = (name, position) if array else (name,)
            expected[table] = add(f"[[{name}]]" if array else f'["{name}"]')
            for key in draw(st.lists(BARE, max_size=4, unique=True)):
                written = json.dumps(key) if draw(st.booleans()) else key
                expected[(*table, key)] = add(f"{written} = {draw(rendered_value())}")
    return "\n".join(chunks) + "\n", expected


@FIXED
@given(documents())
def test_every_key_is_found_on_its_line(
    document: tuple[str, dict[tuple[object, ...], int]],
) -> None:
    text, expected = document
    parsed = parse(text, "weave.toml", environ={})
    found = {path: parsed.index.keys.get(path) for path in expected}  # type: ignore[arg-type]
    assert found == expected, text


# -- the environment ------------------------------------------------------------


@FIXED
@given(st.text(max_size=50))
def test_text_without_a_dollar_is_left_alone(text: str) -> None:
    text = text.replace("$", "")
    assert expand(text, {}, {}) == text
    assert expand("$${" + text, {}, {}) == "${" + text


@FIXED
@given(st.dictionaries(BARE.filter(str.isidentifier), st.text(max_size=8), max_size=4), st.data())
def test_variables_are_replaced_by_their_values(env: dict[str, str], data: st.DataObject) -> None:
    names = sorted(env)
    if not names:
        return
    picked = data.draw(st.lists(st.sampled_from(names), max_size=5))
    text = "-".join(f"${{{name}}}" for name in picked)
    assert expand(text, env, {}) == "-".join(env[name] for name in picked)
