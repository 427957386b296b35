"""The web questionnaire in each of the twelve languages, in one Chromium (JavaScript off, as
an applicant's Tor Browser may be) against one haven server; and Arabic right to left."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from haven import crypto
from haven.content import LANGS, LANGUAGE_NAMES, gettext_for, passphrase_words, words
from haven.flows.engine import M_CODE_PHRASE, M_LANG_SET, M_REFERENCE
from haven.server import create_app
from haven.settings import load_settings
from tests.browser import launch, needs_chromium
from tests.conftest import PASSPHRASE, make_environ
from tests.web.conftest import served

pytestmark = [needs_chromium, pytest.mark.asyncio(loop_scope="module")]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WIDTH = 360
#: The browser's language as a phone set to each language sends it (Accept-Language).
LOCALES = {lang: lang for lang in LANGS} | {
    "ko": "ko-KP",
    "en": "en-GB",
    "ar": "ar-EG",
    "zh": "zh-CN",
    "hi": "hi-IN",
    "uz": "uz-UZ",
}
REFERENCE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """haven itself (``create_app``, as ``haven serve`` runs it) on 127.0.0.1."""
    from haven.services.admin import prepare_database
    from haven.store.db import Store

    environ = make_environ(tmp_path_factory.mktemp("weblangs") / "var")
    settings = load_settings(environ | {"HAVEN_MIRRORS": "https://mirror.example"})
    crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")

    async def prepare() -> None:
        store = Store(settings.db_url)
        await prepare_database(store, settings.keys_dir)
        await store.close()

    asyncio.run(prepare())
    with served(create_app(settings), server_header=False) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser, locale: str, *, javascript: bool = False) -> Page:
    context = await browser.new_context(
        java_script_enabled=javascript, viewport={"width": WIDTH, "height": 740}, locale=locale
    )
    return await context.new_page()


def button(page: Page, name: str):
    return page.get_by_role("button", name=name, exact=True)


@dataclass
class Visit:
    """What one applicant's browser showed on the way through the questionnaire."""

    html_lang: str | None = None
    html_dir: str | None = None
    labels: list[str] = field(default_factory=list)
    label_langs: list[str | None] = field(default_factory=list)
    preselected: bool = False
    language_buttons: list[str] = field(default_factory=list)
    after_change: str = ""
    place: str = ""
    summary: str = ""
    done: str = ""
    passphrase: list[str] = field(default_factory=list)
    bdi: list[tuple[str, str | None]] = field(default_factory=list)


async def visit(server: str, chromium: Browser, lang: str) -> Visit:
    """The whole questionnaire in ``lang``; assertions are left to the test of the language."""
    _ = gettext_for(lang)
    out = Visit(place=f"{LANGUAGE_NAMES[lang]} 42")
    page = await new_page(chromium, LOCALES[lang])
    try:
        await page.goto(server)
        out.html_lang = await page.locator("html").get_attribute("lang")
        out.html_dir = await page.locator("html").get_attribute("dir")
        labels = page.locator("label.opt")
        out.labels = [t.strip() for t in await labels.all_inner_texts()]
        out.label_langs = await labels.evaluate_all("els => els.map(e => e.getAttribute('lang'))")
        out.preselected = await page.get_by_role("radio", name=LANGUAGE_NAMES[lang]).is_checked()
        await button(page, _("Continue")).click()
        await button(page, _("A foreign citizen serving in the Russian forces")).click()
        await button(page, _("Change language")).click()
        names = page.locator("main form").first.get_by_role("button")
        out.language_buttons = await names.all_inner_texts()
        await button(page, LANGUAGE_NAMES[lang]).click()
        out.after_change = await page.inner_text("main")
        await button(page, _("Alone")).click()
        await button(page, _("No")).click()
        await page.get_by_role("textbox").fill(out.place)
        await button(page, _("Send")).click()
        await button(page, _("Skip")).click()  # unit
        if lang == "ar":
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "web-ar-step.png"), full_page=True)
        await button(page, _("Skip")).click()  # photo
        await page.get_by_role("textbox").fill(LANGUAGE_NAMES[lang])
        await button(page, _("Send")).click()
        await button(page, _("Yes, I agree")).click()
        out.summary = await page.inner_text("main")
        await button(page, _("Yes, send it")).click()
        out.done = await page.inner_text("main")
        out.passphrase = await page.locator(".pass li").all_inner_texts()
        marks = await page.locator("main bdi").evaluate_all(
            "els => els.map(e => [e.innerText, e.getAttribute('dir')])"
        )
        out.bdi = [(text, direction) for text, direction in marks]
        if lang == "ar":
            await page.screenshot(path=str(ARTIFACTS / "web-ar-done.png"), full_page=True)
    finally:
        await page.context.close()
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def visits(server: str, chromium: Browser) -> dict[str, Visit | BaseException]:
    """The twelve applicants at once, four pages at a time, in one Chromium."""
    room = asyncio.Semaphore(4)

    async def one(lang: str) -> Visit:
        async with room:
            return await visit(server, chromium, lang)

    done = await asyncio.gather(*(one(lang) for lang in LANGS), return_exceptions=True)
    return dict(zip(LANGS, done, strict=True))


@pytest.mark.parametrize("lang", LANGS)
async def test_the_questionnaire_in_each_language(
    visits: dict[str, Visit | BaseException], lang: str
) -> None:
    got = visits[lang]
    if isinstance(got, BaseException):
        raise got
    _ = gettext_for(lang)
    assert got.html_lang == lang and got.html_dir == ("rtl" if lang == "ar" else "ltr")
    # Every language under its own name, this one preselected from Accept-Language.
    assert got.labels == list(LANGUAGE_NAMES.values()) and got.label_langs == list(LANGS)
    assert got.preselected
    # Change language, in this language: the twelve again, each under its own name.
    assert got.language_buttons == list(LANGUAGE_NAMES.values())
    assert _(M_LANG_SET) in got.after_change
    assert got.place in got.summary
    done = got.done
    reference = REFERENCE.search(done)
    assert reference, done
    assert _(M_REFERENCE).format(reference=reference.group(0)) in done
    before, _sep, _after = _(M_CODE_PHRASE).partition("{phrase}")
    line = next(x for x in done.splitlines() if x.startswith(before))
    phrase = line[len(before) :].split()
    assert len(phrase) == 2 and set(phrase) <= set(words(lang)), line
    assert len(got.passphrase) == 7 and set(got.passphrase) <= set(passphrase_words(lang))
    assert _("As a prisoner of war, the Geneva Conventions guarantee you:") in done
    # The reference reads left to right whatever the page's direction.
    marked = [d for text, d in got.bdi if text == reference.group(0)]
    assert marked == (["ltr"] if lang == "ar" else [])


async def test_arabic_is_laid_out_right_to_left(server: str, chromium: Browser) -> None:
    """The same stylesheet mirrored by the page's direction (CSS logical properties)."""
    boxes = {}
    for lang in ("ar", "en"):
        page = await new_page(chromium, LOCALES[lang])
        await page.goto(server)
        radio = await page.get_by_role("radio").first.bounding_box()
        label = await page.locator("label.opt").first.bounding_box()
        title = await page.locator("header a").bounding_box()
        main = await page.locator("main").bounding_box()
        assert radio and label and title and main
        boxes[lang] = (radio, label, title, main)
        if lang == "ar":
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "web-ar-landing.png"), full_page=True)
    radio, label, title, main = boxes["ar"]
    right = main["x"] + main["width"]
    # Arabic: the radio buttons and the title stand at the right edge, English at the left.
    assert radio["x"] > label["x"] + label["width"] / 2
    assert abs(title["x"] + title["width"] - right) < 20 and title["x"] > main["x"] + 20
    radio, label, title, main = boxes["en"]
    assert radio["x"] < label["x"] + label["width"] / 2
    assert abs(title["x"] - main["x"]) < 20


def char_lefts(page: Page, selector: str, text: str):
    """The left edge of each character of ``text`` inside the element, as laid out."""
    return page.evaluate(
        """([selector, text]) => {
            const el = document.querySelector(selector);
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            let node, out = [];
            while ((node = walker.nextNode())) {
                const at = node.data.indexOf(text);
                if (at < 0) continue;
                for (let i = 0; i < text.length; i++) {
                    const r = document.createRange();
                    r.setStart(node, at + i); r.setEnd(node, at + i + 1);
                    out.push(r.getBoundingClientRect().left);
                }
                return out;
            }
            return out;
        }""",
        [selector, text],
    )


async def test_latin_runs_keep_their_order_inside_arabic(server: str, chromium: Browser):
    """Why the isolates: in an Arabic paragraph the ``/`` of a bare ``/forget`` is laid out
    on the wrong side of its word; inside ``<bdi dir="ltr">`` (as haven marks it) it is not,
    and a reference's characters run left to right."""
    from haven.channels.web.pages import bidi

    said = "أرسل /forget إلى البوت. رقم ملفك: AB12-CD34-5 الآن. رمز التحقق: 5092-8303-7841"
    page = await new_page(chromium, "ar-EG", javascript=True)
    await page.set_content(
        f'<html lang="ar" dir="rtl"><body><p id="bare">{said}</p>'
        f'<p id="marked">{bidi(said)}</p></body></html>'
    )
    bare = await char_lefts(page, "#bare", "/forget")
    assert bare[0] > bare[-1]  # the slash landed right of "forget": reordered
    marked = await char_lefts(page, "#marked", "/forget")
    assert marked == sorted(marked) and marked[0] < marked[1]
    reference = await char_lefts(page, "#marked", "AB12-CD34-5")
    assert len(reference) == 11 and reference == sorted(reference)
    # Digit groups a hyphen apart swap places after Arabic letters, unless isolated.
    bare = await char_lefts(page, "#bare", "5092-8303-7841")
    assert len(bare) == 14 and bare[0] > bare[-1]
    marked = await char_lefts(page, "#marked", "5092-8303-7841")
    assert marked == sorted(marked)
    # A time (digits a colon apart) keeps its order as it is: left alone.
    assert bidi("الساعة 20:00") == "الساعة 20:00"
