from __future__ import annotations

import re

import pytest

from haven.content import LANGS, catalog, gettext_for, texts, words
from haven.flows import load


def test_every_catalog_is_complete_with_matching_placeholders() -> None:
    problems = catalog.check()
    assert problems == [], "\n".join(map(str, problems))


def test_check_finds_missing_empty_and_placeholder_problems(tmp_path, monkeypatch) -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    source = [str(m.id) for m in catalog.extract() if m.id]
    broken = Catalog(locale="ru", domain="haven")
    with_placeholder = next(m for m in source if "{" in m)
    plain = next(m for m in source if "{" not in m)
    broken.add(with_placeholder, "без подстановки")
    broken.add(plain, "")
    po = tmp_path / "ru" / "LC_MESSAGES" / "haven.po"
    po.parent.mkdir(parents=True)
    with po.open("wb") as fh:
        write_po(fh, broken)
    monkeypatch.setattr(catalog, "locale_dir", lambda: tmp_path)
    kinds = {(p.kind, p.msgid) for p in catalog.check(("ru",))}
    assert ("placeholders", with_placeholder) in kinds
    assert ("empty", plain) in kinds
    assert sum(1 for k, _ in kinds if k == "missing") == len(source) - 2


def test_flow_texts_and_fixed_texts_are_extracted() -> None:
    ids = {str(m.id) for m in catalog.extract() if m.id}
    assert set(load().messages()) <= ids
    assert set(texts.CROSSING_STEPS) <= ids and set(texts.GENEVA_PROMISES) <= ids


@pytest.mark.parametrize("lang", [lang for lang in LANGS if lang != "en"])
def test_compiled_catalogs_translate(lang: str) -> None:
    _ = gettext_for(lang)
    for message in texts.CROSSING_STEPS:
        assert _(message) != message


def test_korean_uses_north_korean_forms() -> None:
    _ = gettext_for("ko")
    every = " ".join(_(str(m.id)) for m in catalog.extract() if m.id)
    for south in (
        "한국어",
        "북한",
        "한국군",
        "핸드폰",
        "휴대폰",
        "드론",
        "메시지",
        "연락",
        "동무",
        "동지",
    ):
        assert south not in every, south
    assert "조선말" in _("The language is now English.")
    assert "무인기" in every and "련락" in every


@pytest.mark.parametrize("lang", LANGS)
def test_code_phrase_word_lists(lang: str) -> None:
    listed = words(lang)
    assert len(listed) >= 100 and len(set(listed)) == len(listed)
    assert all(re.fullmatch(r"\S+", w) for w in listed)
