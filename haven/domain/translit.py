"""Cyrillic reading aids: how a Ukrainian (or Russian) soldier reads a word or a phrase aloud.

:func:`reading` is the one entry point, for every applicant language; the rule of each
language is stated where it is made (``_READERS`` below). Most of this module is the Korean
rule, the Kontsevich system, which :func:`to_cyrillic` applies on its own. No I/O: Chinese and
Devanagari go through the pure libraries ``pypinyin`` and ``indic-transliteration``, imported
on first use, and typed readings are passed in by the caller
(``haven.content.readings``, ``haven.content.phrasebook``).

Korean (Hangul) → Cyrillic practical transcription by the Kontsevich system
=========================================================================

The Kontsevich system (система Концевича) is the standard Russian practical
transcription of Korean. It is based on pronunciation, so it looks at the
final consonant of one syllable and the initial consonant of the next together.
This module uses its tables to turn Hangul into whole Cyrillic words that a
Russian or Ukrainian speaker can read aloud. It is pure stdlib code.

Rules implemented (Russian target)
----------------------------------
* Precomposed syllables U+AC00..U+D7A3 are split arithmetically into
  initial / medial / final jamo. A *word* is a maximal run of such syllables.
  Any other character (spaces, punctuation, Latin, digits, loose jamo) is
  copied through unchanged and ends the word.
* Initials at the start of a word: ㄱ к, ㄲ кк, ㄴ н, ㄷ т, ㄸ тт, ㄹ р, ㅁ м, ㅂ п,
  ㅃ пп, ㅅ с, ㅆ сс, ㅇ (nothing), ㅈ ч, ㅉ чч, ㅊ чх, ㅋ кх, ㅌ тх, ㅍ пх, ㅎ х.
  Inside a word after a vowel, ㄱ ㄷ ㅂ ㅈ become voiced г д б дж, and ㄹ is р.
  The table says дж, not чж: 광주 → Кванджу.
* Vowels: ㅏ а, ㅐ э, ㅑ я, ㅒ йя, ㅓ о, ㅔ е, ㅕ ё, ㅖ йе, ㅗ о, ㅘ ва, ㅙ вэ,
  ㅚ ве, ㅛ ё, ㅜ у, ㅝ во, ㅞ ве, ㅟ ви, ㅠ ю, ㅡ ы, ㅢ ый, ㅣ и.
  ㅖ, ㅒ and ㅢ keep the forms йе / йя / ый only at the very start of a word.
  Everywhere else they are е / я / и (의사 → ыйса, 주의 → чуи).
* Finals at the end of a word: ㄱ ㄲ ㅋ к, ㄴ н, ㄷ ㅅ ㅆ ㅈ ㅊ ㅌ ㅎ т, ㄹ ль, ㅁ м,
  ㅂ ㅍ п, ㅇ н. Double finals reduce to one consonant (ㄳ ㄺ к, ㄵ ㄶ н, ㄻ м,
  ㄼ ㄽ ㄾ ㅀ ль, ㄿ ㅄ п).
* Where a final meets the next initial inside a word, the system's
  junction table applies (``_JUNCTION_ROWS`` below). This includes assimilations
  such as ㄱ+ㄴ нн, ㄱ+ㅁ нм, ㄱ+ㄹ нн, ㄴ+ㄹ лл, ㄹ+ㄴ лл, ㄹ+ㄹ лл, ㅂ+ㄴ мн,
  ㅂ+ㅁ мм, ㅁ+ㄹ мн, ㅇ+ㄹ нн and ㅅ/ㅆ+ㅅ сс, plus voicing after ㄴ ㅁ ㅇ
  (ㄴ+ㄱ нг, ㄴ+ㅈ ндж). After ㄹ the table gives льг льб, and also the tensed
  льт льс льч (일성 → ильсон). Before a vowel the final moves to the next
  syllable: ㄱ г, ㄷ д, ㅂ б, ㅈ дж, ㅊ чх, ㅌ тх, ㅍ пх, ㅅ с, ㅆ сс, ㄹ р.
  Palatalisation follows the table's starred cells: ㄷ+이 дж, ㅌ+이 чх,
  ㄷ+히 чх.
* Separator ъ: a final ㅇ before a vowel-initial syllable is written нъ
  (평양 → пхёнъян, 명입니까 → мёнъимникка). The separator is left out
  before the w-vowels ㅘ ㅙ ㅚ ㅝ ㅞ ㅟ, because в already separates
  (병원 → пёнвон, 영월 → Ёнволь). Before consonants, final ㅇ is a plain н.
  The academic variant that writes нъ before consonants is *not* used.
* ㅎ is pronounced, as the system requires: final ㅎ / ㄶ / ㅀ aspirates a
  following ㄱ ㄷ ㅈ (кх тх чх), doubles ㅅ (сс), and is silent before a vowel
  (좋아요 → чоаё, 많이 → мани). A double final before a vowel splits across
  the two syllables (앉아 → анджа, 읽어 → ильго).
* Sound changes the spelling does not show: ``SPOKEN`` respells a few words the way they
  are said before the table is applied, so that the Cyrillic is what a listener hears.
  Two kinds matter for the code phrases and the phrasebook: ㄴ-insertion at the seam of a
  compound whose second part starts with 이/야/여/요/유 (꽃잎 [꼰닙] → кконнип, not the
  table's ккочхип; after ㄹ the inserted ㄴ is said ㄹ: 솔잎 [솔립]), and the tensing at
  the seam of a compound (봄비 [봄삐] → помппи, 나루배 [나루빼] → наруппэ), which the
  South marks with 사이시옷 and North Korean spelling does not. Both depend on where a
  compound's parts meet, which the letters do not tell, so they are listed word by word,
  never guessed. A listed word also matches at the start of a longer run, so that particles
  may follow (꽃잎을 [꼰니플] → кконнипхыль).
* Exceptions: ``EXCEPTIONS`` maps a few *whole words* to their established
  dictionary spelling. This covers 서울 → Сеул and the traditional spellings of
  the Kim family names: 김일성 → Ким Ирсон (the strict table gives
  Кимильсон), 김정일 → Ким Чен Ир and 김정은 → Ким Чен Ын. The entries are
  proper names, so they are stored and always returned with their own
  capitals and spaces, even when ``capitalize`` is false. 평양 is deliberately
  *not* an exception: it gives the Kontsevich form Пхёнъян, never Пхеньян.

Ukrainian target (``target="uk"``)
----------------------------------
Each transliterated word is built in Russian first and then re-spelled letter
by letter, so that a Ukrainian reader says the same sounds. This matches the
Ukrainian form of the Kontsevich system (ㅡ и, ㅣ і, ㅐ е, ㅕ/ㅛ ьо after a
consonant, ㅖ є, ㅢ ий):

* ы → и; и → і; э → е;
* е → є at the start of a word or after a vowel, ъ or ь (where Russian е is
  read [je]); after a consonant it stays е. The word-start pair йе (ㅖ) becomes є;
* ё → йо at the start of a word or after a vowel or ъ; after a consonant ьо;
* the separator ъ → the Ukrainian apostrophe ``’`` (U+2019), always;
* й, ю, я, ь and all consonants are unchanged.

So 평양 → Пхьон’ян, 김일성 → Кім Ірсон and 손 들어 → Сон тиро.
Text that passes through unchanged is never re-spelled.

Capitalisation
--------------
With ``capitalize=True``, only the first letter of the *first transliterated
word* in the whole text becomes upper case (손 들어 → Сон тыро). This suits
a phrase read as one sentence. Pass-through text is never changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Final, Literal

__all__ = ["EXCEPTIONS", "SPOKEN", "TYPED", "NoReading", "reading", "to_cyrillic"]

Target = Literal["ru", "uk"]

_S_BASE: Final = 0xAC00
_V_COUNT: Final = 21
_T_COUNT: Final = 28
_HANGUL_RUN: Final = re.compile("[\uac00-\ud7a3]+")

# Jamo in Unicode index order (initials 19, medials 21, finals 27 + none).
_INITIALS: Final = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_MEDIALS: Final = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_FINALS: Final = ("", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ")

# Whole-word dictionary spellings (proper names; see module docstring).
EXCEPTIONS: Final[dict[str, str]] = {
    "서울": "Сеул",
    "김일성": "Ким Ирсон",
    "김정일": "Ким Чен Ир",
    "김정은": "Ким Чен Ын",
}

# Written form -> the same word respelled as said (see module docstring). The respelling keeps
# the last final consonant, so that a particle after it links as it would after the original.
SPOKEN: Final[dict[str, str]] = {
    # ㄴ-insertion
    "꽃잎": "꼰닢", "솔잎": "솔맆", "나뭇잎": "나문닢", "나무잎": "나문닢", "한여름": "한녀름",
    "밤이슬": "밤니슬", "솜이불": "솜니불", "물약": "물략", "색연필": "생년필",
    "식용유": "시굥뉴", "막일": "망닐", "눈약": "눈냑", "앞일": "암닐",
    # tensing at a compound's seam (no 사이시옷 in North Korean spelling)
    "봄비": "봄삐", "나루배": "나루빼", "반디불": "반디뿔", "달빛": "달삧",
    "밤송이": "밤쏭이", "눈사람": "눈싸람", "솔방울": "솔빵울", "오솔길": "오솔낄",
    "걸상": "걸쌍", "등대": "등때", "물동이": "물똥이", "종달새": "종달쌔",
    "강가": "강까", "산길": "산낄", "손등": "손뜽", "물고기": "물꼬기", "촛불": "초뿔",
    "초불": "초뿔", "발등": "발뜽", "눈길": "눈낄",
}  # fmt: skip

_WORD_INITIAL: Final[dict[str, str]] = {
    "ㄱ": "к", "ㄲ": "кк", "ㄴ": "н", "ㄷ": "т", "ㄸ": "тт", "ㄹ": "р", "ㅁ": "м",
    "ㅂ": "п", "ㅃ": "пп", "ㅅ": "с", "ㅆ": "сс", "ㅇ": "", "ㅈ": "ч", "ㅉ": "чч",
    "ㅊ": "чх", "ㅋ": "кх", "ㅌ": "тх", "ㅍ": "пх", "ㅎ": "х",
}  # fmt: skip

# Initial after an open syllable (between vowels): lenis stops are voiced.
_AFTER_VOWEL: Final[dict[str, str]] = {
    **_WORD_INITIAL, "ㄱ": "г", "ㄷ": "д", "ㅂ": "б", "ㅈ": "дж",
}  # fmt: skip

_VOWELS: Final[dict[str, str]] = {
    "ㅏ": "а", "ㅐ": "э", "ㅑ": "я", "ㅒ": "йя", "ㅓ": "о", "ㅔ": "е", "ㅕ": "ё",
    "ㅖ": "йе", "ㅗ": "о", "ㅘ": "ва", "ㅙ": "вэ", "ㅚ": "ве", "ㅛ": "ё", "ㅜ": "у",
    "ㅝ": "во", "ㅞ": "ве", "ㅟ": "ви", "ㅠ": "ю", "ㅡ": "ы", "ㅢ": "ый", "ㅣ": "и",
}  # fmt: skip

# Forms of ㅒ ㅖ ㅢ anywhere except the very start of a word.
_VOWELS_NON_INITIAL: Final[dict[str, str]] = {"ㅒ": "я", "ㅖ": "е", "ㅢ": "и"}

# Vowels written with a leading в: no ъ needed after final ㅇ.
_W_VOWELS: Final = frozenset("ㅘㅙㅚㅝㅞㅟ")

_WORD_FINAL: Final[dict[str, str]] = {
    "ㄱ": "к", "ㄲ": "к", "ㅋ": "к", "ㄳ": "к", "ㄺ": "к",
    "ㄴ": "н", "ㄵ": "н", "ㄶ": "н",
    "ㄷ": "т", "ㅅ": "т", "ㅆ": "т", "ㅈ": "т", "ㅊ": "т", "ㅌ": "т", "ㅎ": "т",
    "ㄹ": "ль", "ㄼ": "ль", "ㄽ": "ль", "ㄾ": "ль", "ㅀ": "ль",
    "ㅁ": "м", "ㄻ": "м",
    "ㅂ": "п", "ㅍ": "п", "ㄿ": "п", "ㅄ": "п",
    "ㅇ": "н",
}  # fmt: skip

# Final before a vowel-initial (ㅇ) syllable: the final moves into the next syllable.
# Final ㅇ is handled separately (нъ / н).
_LIAISON: Final[dict[str, str]] = {
    "ㄱ": "г", "ㄲ": "кк", "ㅋ": "кх", "ㄴ": "н", "ㄷ": "д", "ㅅ": "с", "ㅆ": "сс",
    "ㅈ": "дж", "ㅊ": "чх", "ㅌ": "тх", "ㅎ": "", "ㄹ": "р", "ㅁ": "м", "ㅂ": "б",
    "ㅍ": "пх",
    "ㄳ": "кс", "ㄵ": "ндж", "ㄶ": "н", "ㄺ": "льг", "ㄻ": "льм", "ㄼ": "льб",
    "ㄽ": "льс", "ㄾ": "льтх", "ㄿ": "льпх", "ㅀ": "р", "ㅄ": "пс",
}  # fmt: skip

# Kontsevich junction table: final class (row) + next initial (column).
_COLUMNS: Final = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅈㅉㅊㅋㅌㅍㅎ"
_JUNCTION_ROWS: Final[dict[str, tuple[str, ...]]] = {
    #      ㄱ     ㄲ      ㄴ    ㄷ     ㄸ      ㄹ    ㅁ     ㅂ     ㅃ      ㅅ
    #      ㅆ     ㅈ      ㅉ    ㅊ     ㅋ      ㅌ    ㅍ     ㅎ
    "к": ("кк", "кк", "нн", "кт", "ктт", "нн", "нм", "кп", "кпп", "кс",
           "ксс", "кч", "кчч", "кчх", "ккх", "ктх", "кпх", "кх"),
    "н": ("нг", "нкк", "нн", "нд", "нтт", "лл", "нм", "нб", "нпп", "нс",
           "нсс", "ндж", "нчч", "нчх", "нкх", "нтх", "нпх", "нх"),
    "т": ("тк", "ткк", "нн", "тт", "тт", "нн", "нм", "тп", "тпп", "сс",
           "сс", "тч", "чч", "тчх", "ткх", "ттх", "тпх", "тх"),
    "ль": ("льг", "лькк", "лл", "льт", "льтт", "лл", "льм", "льб", "льпп", "льс",
            "льсс", "льч", "льчч", "льчх", "лькх", "льтх", "льпх", "рх"),
    "м": ("мг", "мкк", "мн", "мд", "мтт", "мн", "мм", "мб", "мпп", "мс",
           "мсс", "мдж", "мчч", "мчх", "мкх", "мтх", "мпх", "мх"),
    "п": ("пк", "пкк", "мн", "пт", "птт", "мн", "мм", "пп", "пп", "пс",
           "псс", "пч", "пчч", "пчх", "пкх", "птх", "ппх", "пх"),
    "нъ": ("нг", "нкк", "нн", "нд", "нтт", "нн", "нм", "нб", "нпп", "нс",
            "нсс", "ндж", "нчч", "нчх", "нкх", "нтх", "нпх", "нх"),
}  # fmt: skip

# Which junction row a (possibly double) final uses before a consonant.
_ROW_OF_FINAL: Final[dict[str, str]] = {
    "ㄱ": "к", "ㄲ": "к", "ㅋ": "к", "ㄳ": "к", "ㄺ": "к",
    "ㄴ": "н", "ㄵ": "н", "ㄶ": "н",
    "ㄷ": "т", "ㅅ": "т", "ㅆ": "т", "ㅈ": "т", "ㅊ": "т", "ㅌ": "т", "ㅎ": "т",
    "ㄹ": "ль", "ㄼ": "ль", "ㄽ": "ль", "ㄾ": "ль", "ㅀ": "ль",
    "ㅁ": "м", "ㄻ": "м",
    "ㅂ": "п", "ㅍ": "п", "ㄿ": "п", "ㅄ": "п",
    "ㅇ": "нъ",
}  # fmt: skip

# Cells that override the row table: pronounced ㅎ (aspiration) and ㄺ+ㄱ.
_JUNCTION_SPECIAL: Final[dict[tuple[str, str], str]] = {
    ("ㅎ", "ㄱ"): "кх", ("ㅎ", "ㄷ"): "тх", ("ㅎ", "ㅈ"): "чх", ("ㅎ", "ㅅ"): "сс",
    ("ㅎ", "ㄴ"): "нн",
    ("ㄶ", "ㄱ"): "нкх", ("ㄶ", "ㄷ"): "нтх", ("ㄶ", "ㅈ"): "нчх", ("ㄶ", "ㅅ"): "нсс",
    ("ㅀ", "ㄱ"): "лькх", ("ㅀ", "ㄷ"): "льтх", ("ㅀ", "ㅈ"): "льчх", ("ㅀ", "ㅅ"): "льсс",
    ("ㄺ", "ㄱ"): "льк",
}  # fmt: skip

_RU_VOWEL_LETTERS: Final = frozenset("аеёиоуыэюя")
_UK_SIMPLE: Final[dict[str, str]] = {"ы": "и", "и": "і", "э": "е", "ъ": "’"}


def _decompose(syllable: str) -> tuple[str, str, str]:
    """Split one precomposed Hangul syllable into (initial, medial, final) jamo."""
    index = ord(syllable) - _S_BASE
    initial, rest = divmod(index, _V_COUNT * _T_COUNT)
    medial, final = divmod(rest, _T_COUNT)
    return _INITIALS[initial], _MEDIALS[medial], _FINALS[final]


def _vowel(medial: str, initial: str, word_start: bool) -> str:
    if not (word_start and initial == "ㅇ") and medial in _VOWELS_NON_INITIAL:
        return _VOWELS_NON_INITIAL[medial]
    return _VOWELS[medial]


def _junction(final: str, initial: str, medial: str) -> str:
    """Cyrillic for a syllable-final consonant followed by the next initial."""
    if initial == "ㅇ":
        if final == "ㅇ":
            return "н" if medial in _W_VOWELS else "нъ"
        if medial == "ㅣ" and final == "ㄷ":
            return "дж"
        if medial == "ㅣ" and final == "ㅌ":
            return "чх"
        return _LIAISON[final]
    if final == "ㄷ" and initial == "ㅎ" and medial == "ㅣ":
        return "чх"
    special = _JUNCTION_SPECIAL.get((final, initial))
    if special is not None:
        return special
    return _JUNCTION_ROWS[_ROW_OF_FINAL[final]][_COLUMNS.index(initial)]


def _word_ru(word: str) -> str:
    """Transliterate one run of Hangul syllables into lower-case Russian Cyrillic."""
    out: list[str] = []
    previous_final: str | None = None
    for position, syllable in enumerate(word):
        initial, medial, final = _decompose(syllable)
        if previous_final is None:
            out.append(_WORD_INITIAL[initial])
        elif previous_final == "":
            out.append(_AFTER_VOWEL[initial])
        else:
            out.append(_junction(previous_final, initial, medial))
        out.append(_vowel(medial, initial, word_start=position == 0))
        previous_final = final
    if previous_final:
        out.append(_WORD_FINAL[previous_final])
    return "".join(out)


def _ru_to_uk(word: str) -> str:
    """Re-spell a Russian-Kontsevich word for Ukrainian readers (see docstring)."""
    out: list[str] = []
    previous = ""
    skip_next = False
    for index, char in enumerate(word):
        low = char.lower()
        if skip_next:
            skip_next = False
            previous = low
            continue
        iotating = previous == "" or previous in _RU_VOWEL_LETTERS or previous in "ъь"
        iotating = iotating or not previous.isalpha()
        if low == "й" and word[index + 1 : index + 2].lower() == "е" and iotating:
            replacement = "є"
            skip_next = True
        elif low == "е":
            replacement = "є" if iotating else "е"
        elif low == "ё":
            replacement = "йо" if iotating else "ьо"
        else:
            replacement = _UK_SIMPLE.get(low, low)
        if char != low:
            replacement = replacement[:1].upper() + replacement[1:]
        out.append(replacement)
        previous = low
    return "".join(out)


_SPOKEN_LONGEST_FIRST: Final = tuple(sorted(SPOKEN, key=len, reverse=True))


def _as_said(word: str) -> str:
    """The run with a listed word at its start respelled as said (``SPOKEN``)."""
    for written in _SPOKEN_LONGEST_FIRST:
        if word.startswith(written):
            return SPOKEN[written] + word[len(written) :]
    return word


def _transliterate_word(word: str, target: Target) -> str:
    russian = EXCEPTIONS.get(word)
    if russian is None:
        russian = _word_ru(_as_said(word))
    return _ru_to_uk(russian) if target == "uk" else russian


def to_cyrillic(text: str, target: Target = "ru", *, capitalize: bool = False) -> str:
    """Transliterate the Hangul in ``text`` to Cyrillic by the Kontsevich system.

    Args:
        text: any string. Runs of precomposed Hangul syllables are transliterated
            word by word. Every other character is copied through unchanged.
        target: ``"ru"`` for Russian spelling, ``"uk"`` for Ukrainian spelling.
        capitalize: upper-case the first letter of the first transliterated word
            in the text, and nothing else. Entries in ``EXCEPTIONS`` always keep
            their own capitals.

    Returns:
        The text with its Hangul replaced by Cyrillic.

    Raises:
        ValueError: if ``target`` is not ``"ru"`` or ``"uk"``.
    """
    if target not in ("ru", "uk"):
        raise ValueError(f"unsupported target {target!r}; expected 'ru' or 'uk'")
    first = True

    def replace(match: re.Match[str]) -> str:
        nonlocal first
        result = _transliterate_word(match.group(0), target)
        if capitalize and first:
            result = result[:1].upper() + result[1:]
        first = False
        return result

    return _HANGUL_RUN.sub(replace, text)


# --- Every applicant language -------------------------------------------------------------
#
# Each rule below writes Russian Cyrillic in lower case; the Ukrainian reading is then the same
# sounds in Ukrainian spelling (``_ru_to_uk``, the rule stated for Korean above: ы и, и і, э е,
# word-initial е є, ё йо/ьо, ъ ’). Readings typed by the content writers are Ukrainian; a Russian
# reader gets them re-spelled the other way (``_uk_to_ru``).

#: Languages whose reading is typed by the content writers, not made by a rule: French and
#: English spelling says too little about sound, and Arabic script leaves out short vowels.
#: The typed reading comes from the word list (``word<TAB>reading``) and from the phrasebook's
#: ``[reading]`` table.
TYPED: Final = frozenset({"fr", "ar", "en"})

#: Languages already written in Cyrillic: read as written.
_CYRILLIC_LANGS: Final = frozenset({"ru", "uk", "tg"})


class NoReading(ValueError):
    """A text of a language with typed readings has none."""


def _lower_word(text: str, rule: Callable[[str], str], pattern: str) -> str:
    """``rule`` applied to each run of ``pattern`` letters in ``text``, lower-cased first;
    everything else (spaces, digits, punctuation) is copied through."""
    return re.sub(pattern, lambda m: rule(m.group(0).lower()), text)


# Spanish: by Spanish spelling, Latin-American pronunciation (the recruits come from Cuba and
# South America): c and z before e/i and z everywhere are с (seseo); c otherwise к, qu к; g
# before e/i х, gu before e/i г, gü гу; j х; h silent; ch ч; ll and y before a vowel are й
# (yeísmo: ya я, ye е, yo йо, yu ю); y at the end of a word after a vowel й, alone и; ñ нь
# (ña нья, ño ньо); rr рр; x кс; v б (Spanish says v as b); i and u between a consonant and
# a vowel glide (tierra тьерра, agua агуа); i after a, e or o before a consonant or at the end
# is й (aire айре; ui stays уи: pingüino пингуино); e is э at the start of a word or after a
# vowel, е after a consonant; accents only mark stress and are dropped.
_ES_VOWELS: Final = "aeiouáéíóúü"
_ES_PLAIN: Final[dict[str, str]] = {
    "á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u", "ü": "u",
}  # fmt: skip
_ES_CONSONANTS: Final[dict[str, str]] = {
    "b": "б", "d": "д", "f": "ф", "k": "к", "l": "л", "m": "м", "n": "н", "p": "п",
    "r": "р", "s": "с", "t": "т", "v": "б", "w": "у", "x": "кс", "z": "с", "j": "х",
}  # fmt: skip
_IOTATED: Final[dict[str, str]] = {"a": "я", "e": "е", "o": "йо", "u": "ю", "i": "йи"}
_SOFT: Final[dict[str, str]] = {"a": "я", "e": "е", "o": "о", "u": "ю", "i": "и"}


def _es_word(word: str) -> str:
    w = word.replace("ll", "y")
    out: list[str] = []
    i = 0

    def vowel_at(k: int) -> str:
        return _ES_PLAIN.get(w[k], w[k]) if k < len(w) and w[k] in _ES_VOWELS else ""

    while i < len(w):
        c = w[i]
        nxt = w[i + 1] if i + 1 < len(w) else ""
        prev_vowel = bool(out) and out[-1][-1:] in "аэеиоуяюй"
        v = vowel_at(i)
        if v:
            after = vowel_at(i + 1)
            if v == "i" and after and out and not prev_vowel:  # tierra, gracias
                out.append("ь" + _SOFT[after] if after != "i" else "и")
                i += 2
                continue
            if v == "i" and out and out[-1][-1:] in "аэео" and not after:  # aire, reino
                out.append("й")
            elif v == "e":
                out.append("э" if not out or prev_vowel else "е")
            else:
                out.append({"a": "а", "i": "и", "o": "о", "u": "у"}[v])
            i += 1
            continue
        if c == "y":
            after = vowel_at(i + 1)
            if after:
                out.append(_IOTATED[after])
                i += 2
                continue
            out.append("й" if prev_vowel else "и")
        elif c == "ñ":
            after = vowel_at(i + 1)
            out.append("нь" + (_SOFT[after] if after else ""))
            i += 2 if after else 1
            continue
        elif c == "c":
            if nxt == "h":
                out.append("ч")
                i += 2
                continue
            out.append("с" if nxt in "eéií" else "к")
        elif c == "q":
            out.append("к")
            i += 2 if nxt == "u" else 1
            continue
        elif c == "g":
            if nxt == "u" and w[i + 2 : i + 3] in ("e", "é", "i", "í") and w[i + 2 : i + 3]:
                out.append("г")
                i += 2
                continue
            out.append("х" if nxt in "eéií" else "г")
        elif c == "h":
            pass
        elif c == "r" and nxt == "r":
            out.append("рр")
            i += 2
            continue
        else:
            out.append(_ES_CONSONANTS.get(c, c))
        i += 1
    return "".join(out)


# Uzbek (Latin): the official correspondence of the Latin alphabet to Uzbek Cyrillic (a а, b б,
# d д, e е — э at the start of a word, f ф, g г, h ҳ, i и, j ж, k к, l л, m м, n н, o о, p п,
# q қ, r р, s с, t т, u у, v в, x х, y й, z з, oʻ ў, gʻ ғ, sh ш, ch ч, yo ё, yu ю, ya я, ye е,
# ʼ ъ), then the four letters Russian and Ukrainian lack as their nearest sound: қ к, ғ г, ҳ х,
# ў о (oʻ is a closed o). The turned comma may come as U+02BB, U+2018, U+2019 or ASCII '.
_UZ_MARKS: Final = "ʻ‘’'`ʼ"
_UZ_PAIRS: Final[dict[str, str]] = {
    "sh": "ш", "ch": "ч", "yo": "ё", "yu": "ю", "ya": "я", "ye": "е",
}  # fmt: skip
_UZ_LETTERS: Final[dict[str, str]] = {
    "a": "а", "b": "б", "d": "д", "e": "е", "f": "ф", "g": "г", "h": "ҳ", "i": "и", "j": "ж",
    "k": "к", "l": "л", "m": "м", "n": "н", "o": "о", "p": "п", "q": "қ", "r": "р", "s": "с",
    "t": "т", "u": "у", "v": "в", "x": "х", "y": "й", "z": "з", "c": "ц",
}  # fmt: skip
_UZ_TO_READER: Final = str.maketrans({"қ": "к", "ғ": "г", "ҳ": "х", "ў": "о"})


def _uz_word(word: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(word):
        c = word[i]
        mark = i + 1 < len(word) and word[i + 1] in _UZ_MARKS
        if c in "og" and mark:
            out.append("ў" if c == "o" else "ғ")
            i += 2
        elif c in _UZ_MARKS:
            out.append("ъ" if out else "")
            i += 1
        elif word[i : i + 2] in _UZ_PAIRS:
            out.append(_UZ_PAIRS[word[i : i + 2]])
            i += 2
        elif c == "e" and (not out or out[-1][-1:] in "аеиоуўэюяё"):
            out.append("э")
            i += 1
        else:
            out.append(_UZ_LETTERS.get(c, c))
            i += 1
    return "".join(out).translate(_UZ_TO_READER)


# Hindi and Nepali (Devanagari): indic-transliteration romanises to ISO 15919, which this table
# maps to Cyrillic. Before that, the inherent vowel a that is not said is dropped (a virama is
# put after its consonant), because Devanagari does not show it. Hindi drops it at the end of
# a word (घर ghar, दोस्त dost; after a cluster ending in र य व it stays: मित्र mitra) and inside
# a word between VC and CV (कमरा kamrā; right to left, so that no three consonants meet);
# Nepali drops only the final one (its spelling writes the virama where a consonant ends a
# syllable inside a word). Long and short
# vowels read alike (ā а, ī и, ū у); aspirates are кх гх чх джх тх дх пх бх; retroflex and
# dental consonants read alike (ṭ т, ḍ д, ṇ н); ś ṣ ш; c ч, j дж; y before a vowel iotates it
# (ya я, after a consonant ья); e is э at the start of a word or after a vowel; ai ай, au ау;
# anusvara is м before p ph b bh m and н elsewhere; candrabindu (nasal vowel) н; r̥ ри.
_DEVA_CONSONANT: Final = re.compile("[\u0915-\u0939\u0958-\u095f\u0978-\u097f]\u093c?")
_DEVA_VOWEL_SIGN: Final = frozenset(chr(c) for c in (*range(0x093E, 0x094D), 0x0962, 0x0963))
_DEVA_INDEPENDENT: Final = frozenset(chr(c) for c in (*range(0x0904, 0x0915), 0x0960, 0x0961))
_VIRAMA: Final = "\u094d"
_DEVA_WORD: Final = "[\u0900-\u0963\u0966-\u097f]+"
# A final cluster keeps its a when it ends in र य व (मित्र mitra, वाक्य vākya).
_KEEP_FINAL_A_AFTER: Final = frozenset("रयव")


def _drop_schwas(word: str, medial: bool) -> str:
    """``word`` with a virama after each consonant whose inherent vowel is not said."""
    # Phones: ["c", text] a consonant, ["a", ""] its inherent vowel, ["v", sign] a written
    # vowel, ["n", sign] a nasal sign or visarga (counts with the vowel before it).
    phones: list[list[str]] = []
    i = 0
    while i < len(word):
        m = _DEVA_CONSONANT.match(word, i)
        if m:
            phones.append(["c", m.group(0)])
            i = m.end()
            if i < len(word) and word[i] == _VIRAMA:
                phones[-1][1] += _VIRAMA
                i += 1
            elif i < len(word) and word[i] in _DEVA_VOWEL_SIGN:
                phones.append(["v", word[i]])
                i += 1
            else:
                phones.append(["a", ""])
            continue
        phones.append(["v" if word[i] in _DEVA_INDEPENDENT else "n", word[i]])
        i += 1

    def kind(k: int) -> str:
        return phones[k][0] if 0 <= k < len(phones) else ""

    def after_vowel(k: int) -> bool:  # phone k is a consonant that a said vowel precedes
        return kind(k) == "c" and kind(k - 1) in ("a", "v", "n")

    for k in range(len(phones) - 1, 1, -1):
        if kind(k) != "a":
            continue
        last = k == len(phones) - 1
        if last and kind(k - 2) == "c" and phones[k - 1][1][:1] not in _KEEP_FINAL_A_AFTER:
            phones[k - 1][1] += _VIRAMA  # a cluster at the end: दोस्त dost
            phones[k] = ["x", ""]
            continue
        if not after_vowel(k - 1):
            continue
        between = kind(k + 1) == "c" and kind(k + 2) in ("a", "v")
        if last or (medial and between):
            phones[k - 1][1] += _VIRAMA
            phones[k] = ["x", ""]
    return "".join(text for _, text in phones)


# ISO 15919 (as indic-transliteration writes it) to Russian Cyrillic, longest first.
_ISO_CONSONANTS: Final[dict[str, str]] = {
    "k͟h": "х", "kh": "кх", "gh": "гх", "ch": "чх", "jh": "джх", "ṭh": "тх", "ḍh": "дх",
    "th": "тх", "dh": "дх", "ph": "пх", "bh": "бх", "ṛh": "рх",
    "k": "к", "g": "г", "ṅ": "н", "c": "ч", "j": "дж", "ñ": "нь", "ṭ": "т", "ḍ": "д",
    "ṇ": "н", "t": "т", "d": "д", "n": "н", "p": "п", "b": "б", "m": "м", "r": "р",
    "l": "л", "v": "в", "w": "в", "ś": "ш", "ṣ": "ш", "s": "с", "h": "х", "q": "к",
    "ġ": "г", "z": "з", "ṛ": "р", "f": "ф", "ḥ": "х", "m̐": "н",
}  # fmt: skip
_ISO_VOWELS: Final[dict[str, str]] = {
    "ai": "ай", "au": "ау", "r̥": "ри", "ā": "а", "a": "а", "ī": "и", "i": "и", "ū": "у",
    "u": "у", "ē": "е", "e": "е", "ō": "о", "o": "о",
}  # fmt: skip
_ISO_IOTATED: Final[dict[str, str]] = {"а": "я", "у": "ю", "е": "е", "о": "ё", "и": "и"}
_ISO_TOKEN: Final = re.compile(
    "|".join(
        re.escape(t)
        for t in sorted({*_ISO_CONSONANTS, *_ISO_VOWELS, "ṁ", "ẏ", "y"}, key=len, reverse=True)
    )
)


def _iso_word(iso: str) -> str:
    out: list[str] = []
    tokens = _ISO_TOKEN.findall(iso)
    for n, token in enumerate(tokens):
        previous = out[-1][-1:] if out else ""
        after_vowel = not out or previous in "аеиоуэяюёй"
        if token in ("y", "ẏ"):
            nxt = tokens[n + 1] if n + 1 < len(tokens) else ""
            if nxt in _ISO_VOWELS and _ISO_VOWELS[nxt] in _ISO_IOTATED:
                out.append("" if after_vowel else "ь")
                out.append("й")  # joined with the vowel below
            else:
                out.append("й")
        elif token == "ṁ":  # noqa: S105 - a letter, not a password
            nxt = tokens[n + 1] if n + 1 < len(tokens) else ""
            out.append("м" if nxt in ("p", "ph", "b", "bh", "m") else "н")
        elif token in _ISO_VOWELS:
            vowel = _ISO_VOWELS[token]
            if out and out[-1] == "й" and vowel in _ISO_IOTATED:
                out[-1] = _ISO_IOTATED[vowel]
            elif vowel == "е" and after_vowel:
                out.append("э")
            else:
                out.append(vowel)
        else:
            out.append(_ISO_CONSONANTS[token])
    return "".join(out)


def _devanagari(text: str, medial: bool) -> str:
    from indic_transliteration import sanscript  # imported on first use (large tables)

    def word(match: re.Match[str]) -> str:
        iso = sanscript.transliterate(_drop_schwas(match.group(0), medial), "devanagari", "iso")
        return _iso_word(iso.lower())

    return re.sub(_DEVA_WORD, word, text).replace("।", ".").replace("॥", ".")


# Chinese: pypinyin gives each character's pinyin without tones (its phrase dictionary picks
# the reading of a character that has several), then the Palladius system, the standard
# Russian transcription of Chinese, turns each syllable into Cyrillic (the table below, by
# initial and final). The syllables of one word (as pypinyin's segmenter cuts the text) are
# written together, words apart; full-width punctuation becomes the ASCII one.
_PALLADIUS_INITIALS: Final[dict[str, str]] = {
    "b": "б", "p": "п", "m": "м", "f": "ф", "d": "д", "t": "т", "n": "н", "l": "л",
    "g": "г", "k": "к", "h": "х", "j": "цз", "q": "ц", "x": "с", "zh": "чж", "ch": "ч",
    "sh": "ш", "r": "ж", "z": "цз", "c": "ц", "s": "с",
}  # fmt: skip
_PALLADIUS_FINALS: Final[dict[str, str]] = {
    "a": "а", "o": "о", "e": "э", "ai": "ай", "ei": "эй", "ao": "ао", "ou": "оу", "an": "ань",
    "en": "энь", "ang": "ан", "eng": "эн", "ong": "ун", "er": "эр", "i": "и", "ia": "я",
    "ie": "е", "iao": "яо", "iu": "ю", "ian": "янь", "in": "инь", "iang": "ян", "ing": "ин",
    "iong": "юн", "u": "у", "ua": "уа", "uo": "о", "uai": "уай", "ui": "уй", "uan": "уань",
    "un": "унь", "uang": "уан", "v": "юй", "ve": "юэ", "van": "юань", "vn": "юнь",
}  # fmt: skip
# Syllables with no initial (y- and w- spell the glide) and the few the table does not give.
_PALLADIUS_WHOLE: Final[dict[str, str]] = {
    "yi": "и", "ya": "я", "ye": "е", "yao": "яо", "you": "ю", "yan": "янь", "yin": "инь",
    "yang": "ян", "ying": "ин", "yong": "юн", "yo": "йо", "wu": "у", "wa": "ва", "wo": "во",
    "wai": "вай", "wei": "вэй", "wan": "вань", "wen": "вэнь", "wang": "ван", "weng": "вэн",
    "yu": "юй", "yue": "юэ", "yuan": "юань", "yun": "юнь", "zi": "цзы", "ci": "цы",
    "si": "сы", "hui": "хуэй", "lv": "люй", "nv": "нюй", "lve": "люэ", "nve": "нюэ",
}  # fmt: skip
_ZH_PUNCTUATION: Final = str.maketrans(
    {"。": ".", "，": ",", "！": "!", "？": "?", "：": ":", "；": ";", "、": ",", "（": "(",
     "）": ")", "“": "«", "”": "»", "　": " "}
)  # fmt: skip


def _palladius(syllable: str) -> str:
    if syllable in _PALLADIUS_WHOLE:
        return _PALLADIUS_WHOLE[syllable]
    for size in (2, 1):
        initial, final = syllable[:size], syllable[size:]
        if initial in ("j", "q", "x") and final.startswith("u"):
            final = "v" + final[1:]  # ju = jü
        if initial in _PALLADIUS_INITIALS and final in _PALLADIUS_FINALS:
            return _PALLADIUS_INITIALS[initial] + _PALLADIUS_FINALS[final]
    if syllable in _PALLADIUS_FINALS:
        return _PALLADIUS_FINALS[syllable]
    return syllable


def _chinese(text: str) -> str:
    from pypinyin import Style, lazy_pinyin  # imported on first use (large dictionaries)
    from pypinyin.seg.mmseg import seg

    out: list[str] = []
    for word in seg.cut(text):
        syllables = lazy_pinyin(word, style=Style.NORMAL, errors="default")
        if all(re.fullmatch("[a-zü]+", s) for s in syllables) and syllables:
            if out and out[-1] and re.search("[а-я]$", out[-1]):
                out.append(" ")
            out.append("".join(_palladius(s.replace("ü", "v")) for s in syllables))
        else:
            out.append(word.translate(_ZH_PUNCTUATION))
    return re.sub(r" *([.,!?:;)»]) *", r"\1 ", "".join(out)).strip()


def _uk_to_ru(text: str) -> str:
    """A Ukrainian reading re-spelled for Russian readers: і и, и ы, ї йи, є е, ґ г, ’ ъ, ьо ё,
    е э at the start of a word or after a vowel."""
    out: list[str] = []
    for n, char in enumerate(text):
        low = char.lower()
        previous = text[n - 1].lower() if n else ""
        if low == "е" and (not previous.isalpha() or previous in "аеиіоуяюєї"):
            rep = "э"
        elif low == "о" and previous == "ь" and out:
            out[-1] = out[-1][:-1]
            rep = "ё"
        else:
            rep = {"і": "и", "и": "ы", "ї": "йи", "є": "е", "ґ": "г", "’": "ъ", "'": "ъ"}.get(
                low, low
            )
        out.append(rep[:1].upper() + rep[1:] if char != low else rep)
    return "".join(out)


_LATIN_WORD: Final = "[a-zA-ZáéíóúüñÁÉÍÓÚÜÑ]+"
_UZ_WORD: Final = "[a-zA-Z" + _UZ_MARKS + "]+"

#: The rule of each language that has one: text -> lower-case Russian Cyrillic.
_READERS: Final[dict[str, Callable[[str], str]]] = {
    "ko": lambda text: to_cyrillic(text, "ru"),
    "es": lambda text: _lower_word(text, _es_word, _LATIN_WORD),
    "uz": lambda text: _lower_word(text, _uz_word, _UZ_WORD),
    "hi": lambda text: _devanagari(text, medial=True),
    "ne": lambda text: _devanagari(text, medial=False),
    "zh": _chinese,
}

_SENTENCE_START: Final = re.compile(r"(^[\W]*|[.!?]\s+[\W]*)([^\W\d_])")


@lru_cache(maxsize=4096)  # the phrasebooks' and word lists' texts, and a few more
def _ruled(lang: str, text: str, target: Target) -> str:
    if lang == "ko":
        return to_cyrillic(text, target)
    russian = _READERS[lang](text)
    return _ru_to_uk(russian) if target == "uk" else russian


def reading(
    lang: str,
    text: str,
    *,
    target: Target = "uk",
    typed: Mapping[str, str] | None = None,
    capitalize: bool = False,
) -> str:
    """How a ``target`` (Ukrainian or Russian) reader says ``text`` of language ``lang`` aloud.

    Cyrillic languages (ru, uk, tg) are read as written. Languages in :data:`TYPED` take the
    reading typed for the whole text in ``typed`` (text -> Ukrainian reading), or else the
    typed reading of each of its words; :class:`NoReading` when one is missing. The others
    follow their rule (``_READERS``). ``capitalize`` upper-cases the first letter of each
    sentence, for a phrase read as sentences.
    """
    if target not in ("ru", "uk"):
        raise ValueError(f"unsupported target {target!r}; expected 'ru' or 'uk'")
    if lang in _CYRILLIC_LANGS:
        out = text
    elif lang in TYPED:
        known = typed or {}
        found = known.get(text.strip())
        if found is None:
            parts = text.split()
            missing = [p for p in parts if p not in known]
            if missing or not parts:
                raise NoReading(f"{lang}: no typed reading for {text!r}")
            found = " ".join(known[p] for p in parts)
        out = found if target == "uk" else _uk_to_ru(found)
    elif lang in _READERS:
        out = _ruled(lang, text, target)
    else:
        raise ValueError(f"no reading rule for language {lang!r}")
    if capitalize:
        out = _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), out)
    return out
