"""The languages: one list, each named in itself, matched from a tag, said in all of them."""

from __future__ import annotations

import pytest

from haven.content import (
    LANGS,
    LANGUAGE_NAMES,
    MissingWordList,
    direction,
    in_every_language,
    language_for,
    passphrase_words,
    words,
)
from haven.flows import default_engine
from haven.flows.engine import M_CHOOSE
from haven.flows.inputs import Command

TWELVE = ("ko", "ru", "uk", "en", "es", "fr", "ar", "hi", "ne", "uz", "tg", "zh")


def test_twelve_languages_each_named_in_itself() -> None:
    assert LANGS == TWELVE
    assert list(LANGUAGE_NAMES) == list(LANGS)
    assert LANGUAGE_NAMES["ar"] == "العربية" and LANGUAGE_NAMES["zh"] == "中文"
    assert [lang for lang in LANGS if direction(lang) == "rtl"] == ["ar"]


def test_every_language_once_in_order_a_blank_line_apart() -> None:
    fake = {lang: f"hello-{lang}" for lang in LANGS} | {"ko": "안녕", "ru": "Привет"}
    said = in_every_language("Hello", lambda lang, _m: fake[lang])
    assert said.split("\n\n") == [fake[lang] for lang in LANGS]
    same = in_every_language("x", lambda lang, _m: "ok" if lang != "ko" else "좋소")
    assert same == "좋소\n\nok"


def test_the_flow_and_the_catalogs_say_it_the_same_way() -> None:
    engine = default_engine()
    first = engine.step(None, Command("start")).replies[0]
    prompt = engine.flow.steps[0].prompt
    assert first.text == in_every_language(prompt, engine.translate)
    parts = in_every_language(M_CHOOSE).split("\n\n")
    assert len(parts) == len(LANGS) and parts[LANGS.index("en")] == M_CHOOSE
    assert len(in_every_language(M_CHOOSE)) < 4096  # one Telegram message


@pytest.mark.parametrize(
    ("tag", "lang"),
    [
        ("zh-hans", "zh"),
        ("zh-CN", "zh"),
        ("zh", "zh"),
        ("zh-Hant", None),  # traditional characters: not what we write, so asked
        ("zh-TW", None),
        ("ko-KP", "ko"),
        ("ko", "ko"),
        ("en-US", "en"),
        ("ar_EG", "ar"),
        ("uz", "uz"),
        ("uz-Cyrl", None),  # our Uzbek is in Latin letters
        ("tg", "tg"),
        ("ne-NP", "ne"),
        ("pt", None),
        ("pt-br", None),
        ("", None),
        (None, None),
        ("x" * 5000, None),
    ],
)
def test_a_language_tag_names_one_of_ours_or_none(tag: str | None, lang: str | None) -> None:
    assert language_for(tag) == lang


@pytest.mark.parametrize("lang", LANGS)
def test_each_language_has_its_own_word_lists(lang: str) -> None:
    code, own = words(lang), passphrase_words(lang)
    assert len(code) >= 100 and len(own) == 512
    assert not set(code) & set(own)


def test_a_missing_word_list_is_an_error_never_another_language(monkeypatch, tmp_path) -> None:
    """A language without its list must fail loudly: a passphrase or code phrase in another
    language than the applicant's would be one he cannot read or say."""
    import haven.content as content

    for folder in ("words", "passphrase"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "en.txt").write_text("apple\nbread\n", "utf-8")
    (tmp_path / "words" / "fr.txt").write_text("# comment\npomme\tпом\n\npain\tпен\n", "utf-8")
    monkeypatch.setattr(content.resources, "files", lambda _package: tmp_path)
    assert content.words("fr") == ["pomme", "pain"]  # the reading aid column is not a word
    with pytest.raises(MissingWordList):
        content.passphrase_words("fr")
    with pytest.raises(MissingWordList):
        content.words("zh")
    with pytest.raises(KeyError):
        content.words("pt")
