"""Korean (Hangul) → Cyrillic practical transcription by the Kontsevich system
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
from typing import Final

from .cyrillic import Target, ru_to_uk

__all__ = ["EXCEPTIONS", "SPOKEN", "to_cyrillic"]

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
    return ru_to_uk(russian) if target == "uk" else russian


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
