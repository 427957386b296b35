"""Reading aids in every language: the rules against pairs worked out by hand from each
rule as stated in ``haven/domain/translit.py``, and the code-phrase word lists."""

from __future__ import annotations

import itertools
import re

import pytest

from haven.content import LANGS, word_readings, words
from haven.content.readings import code_phrase_reading
from haven.domain.translit import TYPED, NoReading, reading

# (language, text, Russian reading, Ukrainian reading)
PAIRS: list[tuple[str, str, str, str]] = [
    # Chinese: pinyin without tones, then Palladius.
    ("zh", "北京", "бэйцзин", "бейцзін"),
    ("zh", "上海", "шанхай", "шанхай"),
    ("zh", "中国", "чжунго", "чжунго"),
    ("zh", "学校", "сюэсяо", "сюесяо"),  # xue = xüe
    ("zh", "女孩", "нюйхай", "нюйхай"),
    ("zh", "熊猫", "сюнмао", "сюнмао"),
    ("zh", "苹果", "пинго", "пінго"),
    # Spanish spelling, Latin-American sounds.
    ("es", "gracias", "грасьяс", "грасьяс"),
    ("es", "queso", "кесо", "кесо"),
    ("es", "guitarra", "гитарра", "гітарра"),
    ("es", "gente", "хенте", "хенте"),
    ("es", "niño", "ниньо", "ніньо"),
    ("es", "caballo", "кабайо", "кабайо"),
    ("es", "cerveza", "сербеса", "сербеса"),
    ("es", "agua", "агуа", "агуа"),
    ("es", "aire", "айре", "айре"),
    ("es", "pingüino", "пингуино", "пінгуіно"),
    ("es", "huevo", "уэбо", "уебо"),
    # Uzbek: the official Latin -> Cyrillic correspondence, then к г х о for қ ғ ҳ ў.
    ("uz", "choy", "чой", "чой"),
    ("uz", "shaftoli", "шафтоли", "шафтолі"),
    ("uz", "yer", "ер", "єр"),
    ("uz", "qoʻl", "кол", "кол"),
    ("uz", "gʻisht", "гишт", "гішт"),
    ("uz", "eshik", "эшик", "ешік"),
    ("uz", "hovli", "ховли", "ховлі"),
    # Hindi: ISO 15919, the inherent a dropped where it is not said.
    ("hi", "घर", "гхар", "гхар"),
    ("hi", "कमरा", "камра", "камра"),
    ("hi", "दोस्त", "дост", "дост"),
    ("hi", "मित्र", "митра", "мітра"),
    ("hi", "पानी", "пани", "пані"),
    ("hi", "नमस्ते", "намасте", "намасте"),
    ("hi", "क्या", "кья", "кья"),
    ("hi", "हथियार", "хатхияр", "хатхіяр"),
    ("hi", "संतरा", "сантра", "сантра"),
    # Nepali: only the final a is dropped.
    ("ne", "घर", "гхар", "гхар"),
    ("ne", "नजिक", "наджик", "наджік"),
    ("ne", "छ", "чха", "чха"),
    ("ne", "हतियार", "хатияр", "хатіяр"),
    # Korean: Kontsevich.
    ("ko", "평양", "пхёнъян", "пхьон’ян"),
    # Cyrillic languages are read as written.
    ("tg", "Дастҳоро боло кунед!", "Дастҳоро боло кунед!", "Дастҳоро боло кунед!"),
    ("ru", "Стой!", "Стой!", "Стой!"),
]


@pytest.mark.parametrize(("lang", "text", "ru", "uk"), PAIRS)
def test_rules(lang: str, text: str, ru: str, uk: str) -> None:
    assert reading(lang, text, target="ru") == ru
    assert reading(lang, text) == uk


def test_typed_readings_and_their_russian_spelling() -> None:
    typed = {"pomme": "пом", "poire": "пуар", "قف!": "Кіф!", "x": "Є ірїс’е"}
    assert reading("fr", "pomme poire", typed=typed) == "пом пуар"
    assert reading("ar", "قف!", typed=typed) == "Кіф!"
    assert reading("ar", "قف!", target="ru", typed=typed) == "Киф!"
    assert reading("en", "x", target="ru", typed=typed) == "Е ирйисъэ"
    with pytest.raises(NoReading):
        reading("fr", "pomme cerise", typed=typed)
    with pytest.raises(NoReading):
        reading("en", "apple")


def test_sentences_start_with_a_capital() -> None:
    assert reading("es", "¡Manos arriba! ¿Tiene granadas?", capitalize=True) == (
        "¡Манос арріба! ¿Тьєне гранадас?"
    )
    assert reading("zh", "站住！", target="ru", capitalize=True) == "Чжань чжу!"


def test_unknown_language_or_target() -> None:
    with pytest.raises(ValueError, match="no reading rule"):
        reading("de", "Halt")
    with pytest.raises(ValueError, match="unsupported target"):
        reading("es", "alto", target="de")  # type: ignore[arg-type]


def test_code_phrase_reading_word_by_word() -> None:
    first, second = words("fr")[:2]
    typed = word_readings("fr")
    assert code_phrase_reading("fr", f"{first} {second}") == f"{typed[first]} {typed[second]}"
    assert code_phrase_reading("fr", f"{first} inconnu") == f"{typed[first]} inconnu"
    assert code_phrase_reading("ko", "참새 숟가락") == "чхамсе суткарак"
    assert code_phrase_reading("ru", "арбуз гусь") == "арбуз гусь"


def normalised(aid: str) -> str:
    """A reading as an ear compares it: lower case, ё е, й и, no soft or hard sign, no
    apostrophe, no space or hyphen, doubled letters once."""
    out = aid.lower().replace("ё", "е").replace("й", "и")
    out = re.sub("[ьъ’'\\s-]", "", out)
    return re.sub(r"(.)\1+", r"\1", out)


_READING_LETTERS = re.compile("[\u0400-\u04ff’ -]+")


@pytest.mark.parametrize("lang", LANGS)
def test_every_code_word_has_a_reading_aid(lang: str) -> None:
    typed = word_readings(lang)
    assert len(words(lang)) == 128
    for word in words(lang):
        aid = reading(lang, word, typed=typed)
        assert _READING_LETTERS.fullmatch(aid), (word, aid)
    if lang in TYPED:
        assert set(typed) == set(words(lang))


@pytest.mark.parametrize("lang", LANGS)
def test_no_two_code_words_read_alike(lang: str) -> None:
    typed = word_readings(lang)
    aids = {word: normalised(reading(lang, word, typed=typed)) for word in words(lang)}
    by_aid: dict[str, list[str]] = {}
    for word, aid in aids.items():
        by_aid.setdefault(aid, []).append(word)
    assert {aid: same for aid, same in by_aid.items() if len(same) > 1} == {}
    # Nor is one inside another, as written or as read: "мед" would be heard in "медуза".
    inside = [
        (a, b)
        for a, b in itertools.permutations(aids, 2)
        if a.casefold() in b.casefold() or aids[a] in aids[b]
    ]
    assert inside == []
