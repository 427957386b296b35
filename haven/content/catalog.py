"""Catalog tooling on Babel: extract message ids, check catalogs, compile ``.mo`` files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from . import DOMAIN, LANGS, MissingWordList, locale_dir, passphrase_words, words
from .scripts import english_run, foreign_letters

PACKAGE_DIR = Path(__file__).resolve().parent.parent
_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
#: The header that says whether a native speaker has reviewed a catalog: ``yes`` or ``no``.
REVIEW_HEADER = "X-Native-Review"
_REVIEW = re.compile(r'^"X-Native-Review:\s*([^\\"]*?)\s*\\n"\s*$', re.M | re.I)

#: Translations a language may spell exactly as the English message id: the same word.
LANGUAGE_NEUTRAL: dict[str, frozenset[str]] = {
    "es": frozenset({"No"}),
    "fr": frozenset({"Photo"}),
    "uz": frozenset({"Operator"}),
}


@dataclass(frozen=True)
class Problem:
    lang: str
    #: missing | empty | placeholders | fuzzy | plural-forms | script | untranslated |
    #: english | review-header | word-list
    kind: str
    msgid: str
    detail: str = ""

    def __str__(self) -> str:
        said = f" ({self.detail})" if self.detail else ""
        return f"{self.lang}: {self.kind}: {self.msgid[:70]!r}{said}"


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def extract() -> Catalog:
    """Every message id: ``N_("…")`` in the package's Python code and the flow files' texts."""
    from haven.flows.definition import load_all  # flows sit above content; import lazily

    catalog = Catalog(project="haven", domain=DOMAIN)
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE_DIR),
        method_map=[("**.py", "python")],
        keywords={"N_": None, "Nn_": (1, 2)},
    ):
        catalog.add(message, locations=[(f"haven/{filename}", lineno)])
    for name, flow in load_all().items():
        for message in flow.messages():
            catalog.add(message, locations=[(f"haven/flows/definitions/{name}", 0)])
    for entry in catalog:
        if entry.id and placeholders(_joined(entry.id)):
            entry.flags.add("python-brace-format")
    return catalog


def _joined(text: object) -> str:
    """A message id or string as one text: the forms of a plural message joined."""
    return " ".join(text) if isinstance(text, (tuple, list)) else str(text)


def key(msgid: object) -> str:
    """The catalog key of a message id (a plural message is keyed by its singular)."""
    return str(msgid[0]) if isinstance(msgid, (tuple, list)) else str(msgid)


def po_path(lang: str) -> Path:
    return locale_dir() / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(lang: str) -> Catalog:
    with po_path(lang).open("rb") as fh:
        return read_po(fh, locale=lang, domain=DOMAIN)


def write_template(path: Path) -> None:
    with path.open("wb") as fh:
        write_po(fh, extract(), width=100, omit_header=False)


def native_review(lang: str) -> str | None:
    """The catalog's ``X-Native-Review`` header (``yes`` or ``no``), ``None`` if it has none."""
    found = _REVIEW.search(po_path(lang).read_text("utf-8"))
    return found.group(1).strip().lower() if found else None


def language_table() -> str:
    """The README's table of the languages (Markdown): each one's name, script, direction,
    and whether a native speaker has reviewed its catalog (its ``X-Native-Review`` header)."""
    from . import LANGUAGE_NAMES, direction
    from .scripts import SCRIPT

    lines = [
        "| code | language | script | direction | reviewed by a native speaker |",
        "|---|---|---|---|---|",
    ]
    for lang in LANGS:
        review = "source language" if lang == "en" else (native_review(lang) or "?")
        lines.append(
            f"| `{lang}` | {LANGUAGE_NAMES[lang]} | {SCRIPT[lang]} | {direction(lang)} | {review} |"
        )
    return "\n".join(lines)


def check(langs: tuple[str, ...] = LANGS) -> list[Problem]:
    """What keeps a language from being shipped: its word lists missing or not in its script;
    in its catalog a translation missing, empty, fuzzy, with other placeholders than the
    English, in letters of another script, left in English, or no review header."""
    source = extract()
    problems: list[Problem] = []
    for lang in langs:
        problems += _word_list_problems(lang)
        if lang == "en":
            continue  # the source language: message ids are the English texts
        if not po_path(lang).exists():
            problems.append(Problem(lang, "missing", "(the whole catalog)"))
            continue
        if native_review(lang) not in ("yes", "no"):
            problems.append(Problem(lang, "review-header", f"{REVIEW_HEADER}: yes or no"))
        catalog = read(lang)
        forms = catalog.num_plurals
        for message in source:
            if not message.id:
                continue
            msgid = key(message.id)
            found = catalog.get(msgid)
            strings = _forms(found.string) if found is not None else []
            if found is None:
                problems.append(Problem(lang, "missing", msgid))
            elif message.pluralizable and (not found.pluralizable or len(strings) != forms):
                problems.append(Problem(lang, "plural-forms", msgid))
            elif not strings or not all(s.strip() for s in strings):
                problems.append(Problem(lang, "empty", msgid))
            elif found.fuzzy:
                problems.append(Problem(lang, "fuzzy", msgid))
            elif any(placeholders(s) != placeholders(_joined(message.id)) for s in strings):
                problems.append(Problem(lang, "placeholders", msgid))
            else:
                problems += _text_problems(lang, message.id, strings)
    return problems


def _text_problems(lang: str, msgid: object, strings: list[str]) -> list[Problem]:
    """A complete translation in the wrong script, or still (partly) English."""
    out: list[Problem] = []
    ids = [str(i) for i in msgid] if isinstance(msgid, (tuple, list)) else [str(msgid)]
    neutral = LANGUAGE_NEUTRAL.get(lang, frozenset())
    for string in strings:
        letters = foreign_letters(lang, string)
        if letters:
            out.append(Problem(lang, "script", ids[0], f"letters {letters[:20]!r}"))
        if string in ids and string not in neutral:
            out.append(Problem(lang, "untranslated", ids[0]))
        run = "" if lang == "en" else english_run(string)
        if run:
            out.append(Problem(lang, "english", ids[0], repr(run)))
    return out


def _word_list_problems(lang: str) -> list[Problem]:
    """A code-phrase or passphrase word list missing, or with words of another script."""
    out: list[Problem] = []
    for kind, load in (("words", words), ("passphrase", passphrase_words)):
        try:
            listed = load(lang)
        except MissingWordList:
            out.append(Problem(lang, "word-list", f"{kind}/{lang}.txt", "missing"))
            continue
        for word in listed:
            if foreign_letters(lang, word):
                out.append(Problem(lang, "word-list", f"{kind}/{lang}.txt: {word}", "script"))
    return out


def _forms(string: object) -> list[str]:
    if isinstance(string, (tuple, list)):
        return [str(s) for s in string]
    return [str(string)] if string else []


def compile_all(langs: tuple[str, ...] = LANGS, target: Path | None = None) -> list[Path]:
    """Compile each ``.po`` into its ``.mo`` (beside it, or under ``target``)."""
    written = []
    for lang in langs:
        po = po_path(lang)
        if not po.exists():
            continue
        catalog = read(lang)
        buf = BytesIO()
        write_mo(buf, catalog, use_fuzzy=False)
        base = target if target is not None else locale_dir()
        mo = base / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
        mo.parent.mkdir(parents=True, exist_ok=True)
        if not mo.exists() or mo.read_bytes() != buf.getvalue():
            mo.write_bytes(buf.getvalue())
        written.append(mo)
    return written
