"""Tests for the Kontsevich Hangul → Cyrillic transliteration.

The expected values were worked out by hand from the Kontsevich tables
documented in ``haven/domain/translit.py``, not copied from the program output.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haven.domain.translit import EXCEPTIONS, to_cyrillic

# (hangul, russian, ukrainian), all with capitalize=True.
PAIRS: list[tuple[str, str, str]] = [
    # Known pairs.
    ("조선", "Чосон", "Чосон"),
    ("김일성", "Ким Ирсон", "Кім Ірсон"),
    ("부산", "Пусан", "Пусан"),
    ("한국", "Хангук", "Хангук"),
    ("평양", "Пхёнъян", "Пхьон'ян"),
    ("손 들어", "Сон тыро", "Сон тиро"),
    ("서울", "Сеул", "Сеул"),
    # Phrases a soldier would say or hear.
    ("무기를 버리시오", "Мугирыль порисио", "Мугіриль порісіо"),
    ("엎드리시오", "Оптырисио", "Оптирісіо"),
    ("다쳤습니까", "Тачхёссымникка", "Тачхьоссимнікка"),
    ("물", "Муль", "Муль"),
    ("의사", "Ыйса", "Ийса"),
    ("괜찮습니다", "Квэнчханссымнида", "Квенчханссимніда"),
    ("따라오시오", "Ттараосио", "Ттараосіо"),
    ("몇 명입니까", "Мёт мёнъимникка", "Мьот мьон'імнікка"),
    ("조선인민군", "Чосонинмингун", "Чосонінмінгун"),
    ("로씨야", "Россия", "Россія"),
    ("감사합니다", "Камсахамнида", "Камсахамніда"),
    ("안녕하세요", "Аннёнхасеё", "Анньонхасейо"),
    ("항복하겠습니다", "Ханбокхагессымнида", "Ханбокхагессимніда"),
    ("살려 주세요", "Саллё чусеё", "Салльо чусейо"),
    ("대한민국", "Тэханмингук", "Теханмінгук"),
    ("아니요", "Аниё", "Анійо"),
    ("네", "Не", "Не"),
    ("예", "Йе", "Є"),
    ("좋아요", "Чоаё", "Чоайо"),
    ("병원", "Пёнвон", "Пьонвон"),
    # Junction-table cases.
    ("학교", "Хаккё", "Хаккьо"),  # ㄱ+ㄱ
    ("국민", "Кунмин", "Кунмін"),  # ㄱ+ㅁ → нм
    ("신라", "Силла", "Сілла"),  # ㄴ+ㄹ → лл
    ("종로", "Чонно", "Чонно"),  # ㅇ+ㄹ → нн
    ("십만", "Симман", "Сімман"),  # ㅂ+ㅁ → мм
    ("영변", "Ёнбён", "Йонбьон"),  # ㅇ+ㅂ → нб, ё/йо/ьо
    ("일어나", "Ирона", "Ірона"),  # ㄹ between vowels → р
    ("손들어", "Сондыро", "Сондиро"),  # ㄴ+ㄷ → нд inside one word
    ("같이", "Качхи", "Качхі"),  # palatalisation ㅌ+이
    ("앉아", "Анджа", "Анджа"),  # double final before a vowel
    ("많이", "Мани", "Мані"),  # silent ㅎ in ㄶ
]


@pytest.mark.parametrize(("hangul", "russian", "ukrainian"), PAIRS)
def test_known_pairs_ru(hangul: str, russian: str, ukrainian: str) -> None:
    assert to_cyrillic(hangul, capitalize=True) == russian


@pytest.mark.parametrize(("hangul", "russian", "ukrainian"), PAIRS)
def test_known_pairs_uk(hangul: str, russian: str, ukrainian: str) -> None:
    assert to_cyrillic(hangul, "uk", capitalize=True) == ukrainian


def test_default_is_lower_case_russian() -> None:
    assert to_cyrillic("조선") == "чосон"
    assert to_cyrillic("평양", target="ru") == "пхёнъян"


def test_capitalize_only_first_word_of_text() -> None:
    assert to_cyrillic("손 들어", capitalize=True) == "Сон тыро"
    assert to_cyrillic("손 들어") == "сон тыро"
    assert to_cyrillic("«조선» 한국", capitalize=True) == "«Чосон» хангук"


def test_exceptions_keep_their_own_capitals() -> None:
    assert to_cyrillic("김일성") == "Ким Ирсон"
    assert to_cyrillic("서울") == "Сеул"
    assert to_cyrillic("김정은", "uk") == "Кім Чен Ин"
    assert set(EXCEPTIONS) == {"서울", "김일성", "김정일", "김정은"}


def test_pyongyang_is_never_pkhenyan() -> None:
    assert to_cyrillic("평양", capitalize=True) != "Пхеньян"


def test_mixed_text_passes_non_hangul_through() -> None:
    assert to_cyrillic("Hello, 조선! 123 한국.") == "Hello, чосон! 123 хангук."
    assert to_cyrillic("рус ы и е ё ъ 평양", "uk") == "рус ы и е ё ъ пхьон'ян"


def test_unknown_target_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported target"):
        to_cyrillic("조선", "de")  # type: ignore[arg-type]


def _is_syllable(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3"


non_hangul_text = st.text().filter(lambda t: not any(_is_syllable(c) for c in t))
hangul_word = st.text(
    alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1
)
targets = st.sampled_from(["ru", "uk"])


@given(text=st.text(), target=targets, capitalize=st.booleans())
def test_arbitrary_text_never_raises(text: str, target: str, capitalize: bool) -> None:
    result = to_cyrillic(text, target, capitalize=capitalize)  # type: ignore[arg-type]
    assert isinstance(result, str)


@given(text=non_hangul_text, target=targets, capitalize=st.booleans())
def test_non_hangul_text_is_unchanged(text: str, target: str, capitalize: bool) -> None:
    assert to_cyrillic(text, target, capitalize=capitalize) == text  # type: ignore[arg-type]


@given(
    words=st.lists(hangul_word, max_size=5),
    separators=st.lists(non_hangul_text.filter(bool), min_size=6, max_size=6),
    target=targets,
)
def test_non_hangul_segments_pass_through_in_place(
    words: list[str], separators: list[str], target: str
) -> None:
    text = separators[0]
    expected = separators[0]
    for word, separator in zip(words, separators[1:], strict=False):
        text += word + separator
        expected += to_cyrillic(word, target) + separator  # type: ignore[arg-type]
    assert to_cyrillic(text, target) == expected  # type: ignore[arg-type]


_CYRILLIC_OUTPUT = re.compile(r"[\u0400-\u04ff '’]*")


@given(
    text=st.text(
        alphabet=st.one_of(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), st.just(" "))
    ),
    target=targets,
    capitalize=st.booleans(),
)
def test_hangul_only_input_gives_only_cyrillic(text: str, target: str, capitalize: bool) -> None:
    result = to_cyrillic(text, target, capitalize=capitalize)  # type: ignore[arg-type]
    assert _CYRILLIC_OUTPUT.fullmatch(result), result
    assert result.count(" ") >= text.count(" ")
    if text.strip():
        assert result.strip()
