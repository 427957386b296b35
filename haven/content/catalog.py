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

from . import DOMAIN, LANGS, locale_dir

PACKAGE_DIR = Path(__file__).resolve().parent.parent
_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


@dataclass(frozen=True)
class Problem:
    lang: str
    kind: str  # missing | empty | placeholders | fuzzy | plural-forms
    msgid: str

    def __str__(self) -> str:
        return f"{self.lang}: {self.kind}: {self.msgid[:70]!r}"


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


def check(langs: tuple[str, ...] = LANGS) -> list[Problem]:
    """Missing, empty, fuzzy or placeholder-mismatched translations in the shipped catalogs."""
    source = extract()
    problems: list[Problem] = []
    for lang in langs:
        if lang == "en":
            continue  # the source language: message ids are the English texts
        if not po_path(lang).exists():
            problems.append(Problem(lang, "missing", "(the whole catalog)"))
            continue
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
    return problems


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
