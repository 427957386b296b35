"""`haven content check`'s per-language findings, on catalogs made to break each rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from haven.content import LANGS, catalog
from haven.content.scripts import english_run, foreign_letters


def write(tmp_path: Path, lang: str, strings: dict[str, str], review: str | None) -> None:
    po = Catalog(locale=lang, domain="haven")
    for msgid, msgstr in strings.items():
        po.add(msgid, msgstr)
    path = tmp_path / lang / "LC_MESSAGES" / "haven.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as fh:
        write_po(fh, po)
    if review is not None:
        text = path.read_text("utf-8")
        header = '"MIME-Version: 1.0\\n"'
        path.write_text(text.replace(header, f'"X-Native-Review: {review}\\n"\n{header}'), "utf-8")


def test_each_rule_is_found(tmp_path, monkeypatch) -> None:
    source = [str(m.id) for m in catalog.extract() if m.id and isinstance(m.id, str)]
    plain = [m for m in source if "{" not in m]
    cyrillic, same, english, good = plain[:4]
    write(
        tmp_path,
        "es",
        {
            cyrillic: "Пожалуйста, ответьте",
            same: same,
            english: "Por favor: please send your answer",
            good: "Gracias.",
            "Photo": "Photo",
        },
        review=None,
    )
    write(tmp_path, "fr", {"Photo": "Photo"}, review="yes")
    monkeypatch.setattr(catalog, "locale_dir", lambda: tmp_path)
    found = {(p.kind, p.msgid) for p in catalog.check(("es", "fr"))}
    assert ("script", cyrillic) in found
    assert ("untranslated", same) in found
    assert ("english", english) in found
    assert ("review-header", "X-Native-Review: yes or no") in found
    assert not {(k, m) for k, m in found if m == good and k != "missing"}
    assert catalog.native_review("fr") == "yes" and catalog.native_review("es") is None
    assert ("untranslated", "Photo") not in {(p.kind, p.msgid) for p in catalog.check(("fr",))}


@pytest.mark.parametrize(
    ("lang", "text", "foreign"),
    [
        ("ar", "أرسل /forget إلى Telegram أو افتح {url} عبر VPN أو Tor", ""),
        ("ar", "اكتب hello هنا", "helo"),
        ("hi", "कृपया जवाब दीजिए।", ""),
        ("hi", "कृपया answer दीजिए", "answer"),
        ("zh", "请通过 VPN 或 Tor 打开：https://example.org/x", ""),
        ("zh", "请回答 안녕", "안녕"),
        ("uz", "Iltimos, javobni yozing: oʻzbekcha.", ""),
        ("tg", "Лутфан ҷавоб диҳед", ""),
        ("tg", "Лутфан javob", "javob"),
        ("ko", "{max}MB까지 보낼수 있습니다", ""),
        ("fr", "Écrivez à l’opérateur, s’il vous plaît", ""),
    ],
)
def test_letters_of_another_script(lang: str, text: str, foreign: str) -> None:
    assert foreign_letters(lang, text) == foreign


def test_runs_of_english_words() -> None:
    assert english_run("Please send your answer") == "Please send your"
    assert english_run("Envoyez votre réponse à l’opérateur") == ""
    assert english_run("No, gracias: he has a code, or a phrase") == ""  # es and fr words


def test_every_shipped_catalog_says_whether_a_native_speaker_reviewed_it() -> None:
    for lang in LANGS:
        if lang != "en":
            assert catalog.native_review(lang) in ("yes", "no"), lang


def test_the_readme_lists_every_language_and_its_review() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    table = catalog.language_table()
    assert table in readme, "README's language table is stale: paste `haven content languages`"
    assert table.count("\n| `") == len(LANGS)


def test_latin_runs_and_codes_are_isolated_in_right_to_left_lines_only() -> None:
    from haven.content.scripts import LRI, PDI, isolate

    ar = "أرسل /forget إلى @haven_bot عبر Tor Browser. رقمك: AB12-CD34-5، الرمز 5092-8303"
    once = isolate(ar)
    for run in ("/forget", "@haven_bot", "Tor Browser", "AB12-CD34-5", "5092-8303"):
        assert f"{LRI}{run}{PDI}" in once, run
    assert isolate(once) == once  # already isolated: unchanged
    assert isolate("الساعة 20:00، 3 أشخاص") == "الساعة 20:00، 3 أشخاص"  # plain numbers
    mixed = "Send /forget to @haven_bot\n" + ar + "\n/forget 으로 지우십시오"
    lines = isolate(mixed).split("\n")
    assert lines[0] == "Send /forget to @haven_bot" and lines[2] == "/forget 으로 지우십시오"
    assert lines[1] == once
