"""`haven user add`, `haven console`, the console's Ukrainian catalog, and arbitrary queue
parameters (hypothesis)."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from haven.console.app import filters_of
from haven.console.i18n import catalog, plurals, translator
from haven.domain import risk
from haven.domain.cases import CaseState, Channel, CloseReason
from haven.services.accounts import Role
from haven.services.handoff import NO_SHOW_REASONS
from haven.services.queue import Sort
from tests.console.conftest import submit_case
from tests.pg import free_port
from tests.steps import haven

TEMPLATES = Path(__file__).resolve().parents[2] / "haven" / "console" / "templates"
#: The console's routers and helpers, whose problem() and error= messages are shown.
CODE = sorted(TEMPLATES.parent.glob("*.py"))


def test_every_console_string_has_a_ukrainian_translation() -> None:
    wanted: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        source = path.read_text("utf-8")
        wanted |= {
            m.replace('\\"', '"') for m in re.findall(r'_\(\s*"((?:[^"\\]|\\.)*)"\s*\)', source)
        }
    # Messages the app shows through problem()/error=.
    app = "\n".join(path.read_text("utf-8") for path in CODE)
    wanted |= set(
        re.findall(
            r'problem\(\s*request,\s*(?:p|None|getattr\(request\.state, "principal", None\)),'
            r'\s*"([^"]+)"',
            app,
        )
    )
    wanted |= set(re.findall(r'error="([^"]{3,})"', app))
    wanted |= {s.value for s in CaseState} | {r.value for r in CloseReason}
    wanted |= (
        {r.value for r in Role} | {c.value for c in Channel} | {f.value for f in risk.RiskFlag}
    )
    wanted |= {f"sort:{s.value}" for s in Sort} | set(NO_SHOW_REASONS)
    wanted |= {"issued", "no_show", "min", "h", "d"}
    missing = sorted(wanted - set(catalog("uk")))
    assert not missing, missing
    assert len(wanted) > 150


def test_user_add_prints_a_setup_link_that_works(sqlite_env) -> None:
    env = sqlite_env
    out = haven(env.environ, "user", "add", "first-admin", "--role", "admin")
    assert out.returncode == 0, out.stderr
    link = re.search(r"http://\S+/console/setup/(\S+)", out.stdout)
    assert link, out.stdout
    bad = haven(env.environ, "user", "add", "x", "--role", "emperor")
    assert bad.returncode == 2 and "--role" in bad.stderr
    again = haven(env.environ, "user", "add", "first-admin", "--role", "admin")
    assert again.returncode == 2 and "exists" in again.stderr


def test_haven_console_serves_only_the_console(sqlite_env) -> None:
    import subprocess
    import sys

    port = free_port()
    environ = {**sqlite_env.environ, "HAVEN_CONSOLE_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "haven", "console"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/console/login") as r:
                    body = r.read().decode()
                    csp = r.headers["Content-Security-Policy"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert 'name="password"' in body and "frame-ancestors 'none'" in csp
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz")
            raise AssertionError("the console process serves more than the console")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=20)


query_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "1", "-1", "999999999", "ko", "yes", "no", "urgency", "mine", "closed"]),
)
query = st.dictionaries(
    st.sampled_from(
        [
            "state",
            "lang",
            "channel",
            "campaign",
            "flag",
            "wounded",
            "min_group",
            "waiting_hours",
            "assigned",
            "sort",
            "page",
            "x",
        ]
    ),
    query_values,
    max_size=6,
)


@given(query)
def test_any_query_parameters_give_valid_filters(params: dict[str, str]) -> None:
    f = filters_of(params)
    assert f.sort in Sort and f.page >= 1 and f.states
    assert f.min_group is None or 1 <= f.min_group <= 100
    assert all(s in {c.value for c in CaseState} for s in f.states)


NASTY = [
    {"page": "99999"},
    {"page": "-3", "sort": "'; DROP TABLE cases; --"},
    {"min_group": "1e9", "waiting_hours": "NaN"},
    {"state": "closed", "assigned": "everyone"},
    {"flag": "large_group", "wounded": "maybe", "lang": "x" * 500},
    {"campaign": "\x00\u202e", "channel": "телеграм"},
]


async def test_odd_queue_parameters_answer_200(sqlite_env, make_console) -> None:
    console = await make_console(sqlite_env)
    await submit_case(sqlite_env)
    op = await console.user("q", "operator")
    for params in NASTY:
        r = await op.client.get("/console/queue?" + urlencode(params))
        assert r.status_code == 200, (params, r.text[:300])


def test_words_shown_with_a_number_take_their_plural_form() -> None:
    uk, en = translator("uk"), translator("en")
    got = {n: uk("cases", n) for n in (1, 3, 5, 11, 12, 21, 22, 25, 104)}
    assert got == {
        1: "справа", 3: "справи", 5: "справ", 11: "справ", 12: "справ",
        21: "справа", 22: "справи", 25: "справ", 104: "справи",
    }  # fmt: skip
    assert (en("cases", 1), en("cases", 2)) == ("case", "cases")
    # Every word a template shows with a number has its forms in each language.
    counted: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        counted |= set(re.findall(r'_\(\s*"([^"]+)",\s*[\w.]+\s*\)', path.read_text("utf-8")))
    assert counted and counted <= set(plurals("uk")) and counted <= set(plurals("en"))
    words = re.findall(r"\w+", " ".join(catalog("uk").values()))
    assert not [w for w in words if w.startswith("навал")]  # a flood is a наплив, no invasion
    assert catalog("uk")["scheduled"] == "запланована"
