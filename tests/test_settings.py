"""Settings: the language list from haven.content.LANGS, the bot id read from the token."""

from __future__ import annotations

import pytest

from haven.content import LANGS
from haven.settings import SettingsError, load_settings


@pytest.mark.parametrize("lang", LANGS)
def test_every_language_is_a_default(lang: str) -> None:
    assert load_settings({"HAVEN_DEFAULT_LANG": lang}).default_lang == lang


@pytest.mark.parametrize("lang", ["kr", "de", "KO", ""])
def test_other_languages_are_refused_naming_the_list(lang: str) -> None:
    with pytest.raises(SettingsError, match="ko, ru, uk, en"):
        load_settings({"HAVEN_DEFAULT_LANG": lang})


@pytest.mark.parametrize(
    ("token", "bot_id"),
    [("123456:ABC-def_ghi", 123456), ("7:x", 7), ("", None)],
)
def test_the_bot_id_is_read_from_the_token_in_one_place(token: str, bot_id: int | None) -> None:
    assert load_settings({"HAVEN_TELEGRAM_TOKEN": token}).telegram_bot_id == bot_id


@pytest.mark.parametrize(
    "token", ["123456", ":SECRET", "12a:SECRET", "-5:SECRET", "\u00b2:SECRET", "12:SE CRET", "12:"]
)
def test_a_malformed_token_fails_at_start_without_showing_it(token: str) -> None:
    with pytest.raises(SettingsError, match=r"HAVEN_TELEGRAM_TOKEN: .*not a bot token") as err:
        load_settings({"HAVEN_TELEGRAM_TOKEN": token})
    assert "SECRET" not in str(err.value) and "CRET" not in str(err.value)


def test_machine_translation_is_off_unless_a_server_is_named() -> None:
    assert load_settings({}).translate_url == ""
    url = "http://127.0.0.1:5000/"
    assert load_settings({"HAVEN_TRANSLATE_URL": url}).translate_url == url.rstrip("/")
    with pytest.raises(SettingsError, match="HAVEN_TRANSLATE_URL"):
        load_settings({"HAVEN_TRANSLATE_URL": "libretranslate.example"})
