"""The script each language is written in, and text direction: which letters belong in a
language's texts, and how left-to-right runs are kept whole inside right-to-left text."""

from __future__ import annotations

import re
import unicodedata

#: Unicode blocks of each script (letters and the marks that combine with them).
_BLOCKS: dict[str, tuple[tuple[int, int], ...]] = {
    "Latin": ((0x0041, 0x005A), (0x0061, 0x007A), (0x00C0, 0x024F), (0x1E00, 0x1EFF)),
    "Cyrillic": ((0x0400, 0x052F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)),
    "Arabic": (
        (0x0600, 0x06FF),
        (0x0750, 0x077F),
        (0x08A0, 0x08FF),
        (0xFB50, 0xFDFF),
        (0xFE70, 0xFEFF),
    ),
    "Devanagari": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
    "Hangul": ((0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F)),
    "Han": ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x3005, 0x3007)),
}

#: The script of each language's letters.
SCRIPT: dict[str, str] = {
    "ko": "Hangul",
    "ru": "Cyrillic",
    "uk": "Cyrillic",
    "en": "Latin",
    "es": "Latin",
    "fr": "Latin",
    "ar": "Arabic",
    "hi": "Devanagari",
    "ne": "Devanagari",
    "uz": "Latin",
    "tg": "Cyrillic",
    "zh": "Han",
}

#: Names written in Latin letters whatever the language (products, organisations, commands).
BRANDS: tuple[str, ...] = ("Tor Browser", "Telegram", "Tor", "VPN", "ICRC", "MB", "min", "UTC")

#: What is not prose: placeholders, commands, web addresses, @names and the brands.
_NOT_PROSE = re.compile(
    r"\{[a-zA-Z_][a-zA-Z0-9_]*\}"
    r"|https?://\S+"
    r"|(?<![\w/])/[a-z_]+"
    r"|@\w+"
    r"|(?<![A-Za-z])(?:" + "|".join(re.escape(b) for b in BRANDS) + r")(?![A-Za-z])"
)


def script_of(char: str) -> str | None:
    """The script of a letter or mark (``None``: not one of ours, or not a letter at all:
    digits, punctuation, spaces, modifier letters such as Uzbek's ʻ and inherited marks)."""
    if unicodedata.category(char)[0] not in "LM" or unicodedata.category(char) == "Lm":
        return None
    if 0x0300 <= ord(char) <= 0x036F:
        return None  # combining diacritics: they take their base letter's script
    point = ord(char)
    for script, blocks in _BLOCKS.items():
        if any(lo <= point <= hi for lo, hi in blocks):
            return script
    return "other"


def foreign_letters(lang: str, text: str) -> str:
    """The letters of ``text`` (outside placeholders, commands, addresses and brand names)
    that are not in the script ``lang`` is written in, each once, in order."""
    own = SCRIPT[lang]
    found: dict[str, None] = {}
    for char in _NOT_PROSE.sub(" ", text):
        script = script_of(char)
        if script is not None and script != own:
            found[char] = None
    return "".join(found)


# -- direction ------------------------------------------------------------------------------

LRI, PDI = "\u2066", "\u2069"

#: A left-to-right token inside right-to-left text: a reference, a command, a @name, an
#: address, a word, with the punctuation inside it.
_LTR_WORD = r"(?:[/@]?[A-Za-z0-9][A-Za-z0-9_@./:?=&%+-]*[A-Za-z0-9/]|[/@]?[A-Za-z0-9])"
#: Tokens a space apart are one run ("Tor Browser"): isolated apart, they would swap places.
_LTR_RUN = re.compile(f"{_LTR_WORD}(?: +{_LTR_WORD})*")
#: What must be isolated: a Latin letter, or digits a hyphen apart (a check code): after
#: Arabic letters digits are Arabic numbers, which a hyphen does not join, so the groups of
#: 5092-8303 would be laid out right to left as 8303-5092.
_LTR_CONTENT = re.compile(r"[A-Za-z]|\d-\d")
#: Letters of the right-to-left scripts (Hebrew and Arabic blocks).
_RTL_LETTER = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


def isolate(text: str) -> str:
    """``text`` with each left-to-right run of a right-to-left line isolated (LRI … PDI).

    Why: in a right-to-left paragraph the Unicode bidi algorithm gives a neutral character
    the direction of the text around it, so the ``/`` of ``/forget`` or the ``@`` of a bot's
    name lands on the wrong side of its word, and two references or a reference and a
    number side by side can swap places. An isolate makes each run one unit laid out left to
    right, wherever it stands; so is a code of digit groups joined by hyphens, whose groups
    would swap. A plain number (or a time, 20:00) is left as it is: the algorithm keeps its
    digits in order, and Arabic readers expect it in the flow of the sentence.
    Lines without right-to-left letters (another language's paragraph of a text in every
    language) are left unchanged, and so is text already isolated."""
    if not _RTL_LETTER.search(text) or not _LTR_CONTENT.search(text):
        return text

    def wrap(match: re.Match[str]) -> str:
        run = match.group(0)
        return f"{LRI}{run}{PDI}" if _LTR_CONTENT.search(run) else run

    lines = text.replace(LRI, "").replace(PDI, "").split("\n")
    return "\n".join(
        _LTR_RUN.sub(wrap, line) if _RTL_LETTER.search(line) else line for line in lines
    )


def isolated_runs(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into (isolated, part): what :func:`isolate` wrapped and what it did not,
    for a page to mark up each isolated part (``<bdi dir="ltr">``)."""
    parts: list[tuple[bool, str]] = []
    for index, chunk in enumerate(re.split(f"{LRI}(.*?){PDI}", isolate(text))):
        if chunk:
            parts.append((index % 2 == 1, chunk))
    return parts


# -- English left behind -------------------------------------------------------------------

#: Common English words that are not words of the other Latin-script languages we write (so
#: not "a", "de", "no", "on", "he", "has", "or", "but", "case", "code", "phrase", "question",
#: "change"): three in a row are English left untranslated.
ENGLISH_WORDS: frozenset[str] = frozenset(
    """the and you your yours we our us they them their his him she her it its this that these
    those is are was were be been being have had does did will would can could should must
    may might shall not with without from into onto about after before when where what which
    who whom why how there here then than if so at by of to for up out over under again all
    any each every some such only own same very just also more most other please thank
    thanks yes answer send write read erase everything anything nothing someone one two three
    reference help start language""".split()
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def english_run(text: str, length: int = 3) -> str:
    """The first run of ``length`` or more common English words in ``text`` ("" if none)."""
    run: list[str] = []
    for match in _WORD.finditer(_NOT_PROSE.sub(" , ", text)):
        word = match.group(0)
        if word.casefold() in ENGLISH_WORDS:
            run.append(word)
            if len(run) >= length:
                return " ".join(run)
        else:
            run = []
    return ""
