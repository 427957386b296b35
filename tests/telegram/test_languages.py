"""The bot in each of the twelve languages, end to end through aiogram and one fake Bot API
server shared by every language (one runtime, one chat per language)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from haven import crypto
from haven.bootstrap import telegram_runtime
from haven.channels.telegram import TelegramRuntime
from haven.content import LANGS, LANGUAGE_NAMES, gettext_for, words
from haven.content.scripts import LRI, PDI
from haven.flows.engine import M_LANG_SET, M_NUMBER
from haven.services.admin import prepare_database
from haven.settings import load_settings
from haven.store.db import Store
from haven.store.models import Case
from tests.conftest import PASSPHRASE, make_environ
from tests.telegram.conftest import FAST, Chat, eventually
from tests.telegram.fakebot import TOKEN, FakeBotAPI

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: The language_code a phone set to each language sends (Telegram's own tags).
TAGS = {lang: lang for lang in LANGS} | {"zh": "zh-hans", "en": "en-us", "ko": "ko-KP"}


class Bot:
    def __init__(self, fake: FakeBotAPI, runtime: TelegramRuntime, store: Store, keys_dir: Path):
        self.fake, self.runtime, self.store, self.keys_dir = fake, runtime, store, keys_dir


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bot]:
    environ = make_environ(tmp_path_factory.mktemp("langs") / "var")
    settings = load_settings(environ)
    keys = crypto.init_keys(settings.keys_dir, PASSPHRASE, "interactive")
    store = Store(settings.db_url)
    await prepare_database(store, settings.keys_dir)
    fake = await FakeBotAPI().start()
    environ |= {"HAVEN_TELEGRAM_TOKEN": TOKEN, "HAVEN_TELEGRAM_API": fake.base, **FAST}
    runtime = telegram_runtime(load_settings(environ), store, keys)
    runtime.worker.poll = 0.05
    await runtime.start()
    try:
        yield Bot(fake, runtime, store, settings.keys_dir)
    finally:
        await runtime.stop()
        await fake.stop()
        await store.close()


def rows(sent) -> list[list[str]]:
    return [[b["text"] for b in row] for row in sent.markup["inline_keyboard"]]


LANGUAGE_ROWS = [[LANGUAGE_NAMES[lang] for lang in LANGS[i : i + 3]] for i in range(0, 12, 3)]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_whole_conversation_in_each_language(bot: Bot, lang: str) -> None:
    _ = gettext_for(lang)
    chat = Chat(bot.fake, 9100 + LANGS.index(lang))
    me = {"id": chat.chat_id, "is_bot": False, "first_name": "A", "language_code": TAGS[lang]}
    # Telegram says which language the phone is set to: no language question.
    (who,) = await chat.say("/start", **{"from": me})
    assert who.text == _("Who are you?")
    assert _("Someone else") in [label for label, _d in who.buttons]
    # /lang in this language: the twelve, three a row, each under its own name.
    (choose,) = await chat.say("/lang", **{"from": me})
    assert choose.text == _("Choose your language.") and rows(choose) == LANGUAGE_ROWS
    (again,) = await chat.press(lang)  # said, and the question asked again, in one message
    assert again.text == f"{_(M_LANG_SET)}\n\n{who.text}" and again.buttons == who.buttons
    await chat.press("other_army")
    (size,) = await chat.press("group")
    (bad,) = await chat.say("1000")  # a polite re-ask, in this language
    assert bad.text == f"{_(M_NUMBER).format(min=2, max=100)}\n\n{size.text}"
    await chat.say("3")
    await chat.press("no")
    place = f"{LANGUAGE_NAMES[lang]} 42"
    await chat.say(place)
    await chat.say("/skip")
    await chat.say("/skip")
    await chat.say(LANGUAGE_NAMES[lang])
    (summary,) = await chat.press("yes")
    assert place in summary.text.replace(LRI, "").replace(PDI, "")
    before = len(chat.received)
    await chat.press("confirm")
    last = _("Your safety with us:")

    def said() -> str:
        return "\n".join(m.text for m in chat.received[before:])

    await eventually(lambda: last in said(), what="the completion")
    text = said()

    async with bot.store.transaction() as s:
        case = await s.scalar(select(Case).where(Case.lang == lang, Case.channel == "telegram"))
    assert case is not None and case.state == "submitted"
    phrase = crypto.unlock(bot.keys_dir, PASSPHRASE).open(case.code_phrase).decode()
    assert all(word in words(lang) for word in phrase.split()) and len(phrase.split()) == 2
    assert _("Your code phrase: {phrase}").format(phrase=phrase) in text
    reference_line = _("Your case reference: {reference}").format(reference=case.reference)
    if lang == "ar":
        # A Latin reference in an Arabic line is isolated, and so is every command.
        assert f"{LRI}{case.reference}{PDI}" in text and f"{LRI}/forget{PDI}" in text
        assert reference_line.replace(case.reference, f"{LRI}{case.reference}{PDI}") in text
    else:
        assert LRI not in text and reference_line in text
    assert _("As a prisoner of war, the Geneva Conventions guarantee you:") in text
    assert _("You will be recorded as captured in combat. Nothing we give anyone says you came "
             "of your own will.") in text  # fmt: skip


async def test_a_language_we_do_not_write_is_asked_with_the_twelve_in_rows(bot: Bot) -> None:
    chat = Chat(bot.fake, 9200)
    me = {"id": chat.chat_id, "is_bot": False, "first_name": "A", "language_code": "pt-br"}
    (choose,) = await chat.say("/start", **{"from": me})
    assert rows(choose) == LANGUAGE_ROWS
    assert choose.text.split("\n\n")[LANGS.index("ar")] == gettext_for("ar")(
        "Choose your language."
    )
    (who,) = await chat.press("ar")
    assert who.text == gettext_for("ar")("Who are you?")
    # The other answers stay one a row.
    assert all(len(row) == 1 for row in who.markup["inline_keyboard"])
