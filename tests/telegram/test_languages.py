"""The bot in each of the twelve languages, end to end through aiogram and one fake Bot API
server shared by every language (one runtime, one chat per language)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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
from tests.telegram.fakebot import TOKEN, FakeBotAPI, Sent

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


@dataclass
class Transcript:
    """What the bot said at each point of one applicant's conversation."""

    said: dict[str, Sent] = field(default_factory=dict)
    completion: str = ""
    place: str = ""
    reference: str = ""
    state: str = ""
    phrase: str = ""


async def converse(bot: Bot, lang: str) -> Transcript:
    """One whole conversation in ``lang``; assertions are left to the test of the language."""
    out = Transcript(place=f"{LANGUAGE_NAMES[lang]} 42")
    chat = Chat(bot.fake, 9100 + LANGS.index(lang))
    me = {"id": chat.chat_id, "is_bot": False, "first_name": "A", "language_code": TAGS[lang]}
    (out.said["who"],) = await chat.say("/start", **{"from": me})
    (out.said["choose"],) = await chat.say("/lang", **{"from": me})
    (out.said["again"],) = await chat.press(lang)
    await chat.press("other_army")
    (out.said["size"],) = await chat.press("group")
    (out.said["bad"],) = await chat.say("1000")
    await chat.say("3")
    await chat.press("no")
    await chat.say(out.place)
    await chat.say("/skip")
    await chat.say("/skip")
    await chat.say(LANGUAGE_NAMES[lang])
    (out.said["summary"],) = await chat.press("yes")
    before = len(chat.received)
    await chat.press("confirm")
    last = gettext_for(lang)("Your safety with us:")

    def completion() -> str:
        return "\n".join(m.text for m in chat.received[before:])

    await eventually(lambda: last in completion(), limit=30, what="the completion")
    out.completion = completion()
    async with bot.store.transaction() as s:
        case = await s.scalar(select(Case).where(Case.lang == lang, Case.channel == "telegram"))
    assert case is not None
    out.reference, out.state = case.reference, case.state
    out.phrase = crypto.unlock(bot.keys_dir, PASSPHRASE).open(case.code_phrase).decode()
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def transcripts(bot: Bot) -> dict[str, Transcript | BaseException]:
    """The twelve conversations at once, each in its own chat: as fast as one."""
    done = await asyncio.gather(*(converse(bot, lang) for lang in LANGS), return_exceptions=True)
    return dict(zip(LANGS, done, strict=True))


@pytest.mark.parametrize("lang", LANGS)
async def test_a_whole_conversation_in_each_language(
    transcripts: dict[str, Transcript | BaseException], lang: str
) -> None:
    got = transcripts[lang]
    if isinstance(got, BaseException):
        raise got
    _ = gettext_for(lang)
    said = got.said
    # Telegram says which language the phone is set to: no language question.
    assert said["who"].text == _("Who are you?")
    assert _("Someone else") in [label for label, _d in said["who"].buttons]
    # /lang in this language: the twelve, three a row, each under its own name.
    assert said["choose"].text == _("Choose your language.")
    assert rows(said["choose"]) == LANGUAGE_ROWS
    # Said, and the question asked again, in one message.
    assert said["again"].text == f"{_(M_LANG_SET)}\n\n{said['who'].text}"
    assert said["again"].buttons == said["who"].buttons
    # A wrong answer: what is expected, politely, in this language, and the question again.
    assert said["bad"].text == f"{_(M_NUMBER).format(min=2, max=100)}\n\n{said['size'].text}"
    assert got.place in said["summary"].text.replace(LRI, "").replace(PDI, "")
    # The end: a case with the reference and a code phrase of this language's words.
    text, reference = got.completion, got.reference
    assert got.state == "submitted"
    phrase = got.phrase.split()
    assert len(phrase) == 2 and all(word in words(lang) for word in phrase)
    assert _("Your code phrase: {phrase}").format(phrase=got.phrase) in text
    reference_line = _("Your case reference: {reference}").format(reference=reference)
    if lang == "ar":
        # A Latin reference in an Arabic line is isolated, and so is every command.
        assert f"{LRI}{reference}{PDI}" in text and f"{LRI}/forget{PDI}" in text
        assert reference_line.replace(reference, f"{LRI}{reference}{PDI}") in text
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


async def test_an_erasure_forgets_the_language_chosen_too(bot: Bot) -> None:
    chat = Chat(bot.fake, 9201)
    me = {"id": chat.chat_id, "is_bot": False, "first_name": "A", "language_code": "ru"}
    (who,) = await chat.say("/start", **{"from": me})
    assert who.text == gettext_for("ru")("Who are you?")
    await chat.say("/lang", **{"from": me})
    await chat.press("ko")
    await chat.say("/forget", **{"from": me})
    (erased,) = await chat.press("forget_yes")
    assert erased.text == gettext_for("ko")(
        "Everything you told us has been erased. You can write again at any time."
    )
    # Nothing of the conversation is kept, not even its language: the phone's again.
    (again,) = await chat.say("/start", **{"from": me})
    assert again.text == who.text
