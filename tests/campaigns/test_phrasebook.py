"""The phrasebook card: about 60 phrases, transliterations by the Kontsevich table, checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven.campaigns.phrasebook import PhrasebookError, lines, phrasebook_html, write_phrasebook
from haven.content.phrasebook import load

from .conftest import pdf_fonts, pdf_text, squeeze

# (phrase id, Korean, Russian Cyrillic, Ukrainian Cyrillic), worked out by hand from the
# Kontsevich tables (the first four are also in tests/domain/test_translit.py).
TABLE: list[tuple[str, str, str, str]] = [
    ("drop-weapon", "무기를 버리시오!", "Мугирыль порисио!", "Мугіриль порісіо!"),
    ("lie-down", "엎드리시오!", "Оптырисио!", "Оптирісіо!"),
    ("yes", "예.", "Йе.", "Є."),
    ("no", "아니요.", "Аниё.", "Анійо."),
    ("stop", "멈추시오!", "Момчхусио!", "Момчхусіо!"),
    ("hands-up", "손 드시오!", "Сон тысио!", "Сон тисіо!"),
    ("water", "물을 마시겠습니까?", "Мурыль масигессымникка?", "Муриль масігессимнікка?"),
    ("can-walk", "걸을수 있습니까?", "Корыльсу иссымникка?", "Корильсу іссимнікка?"),
    ("doctor", "의사가 옵니다.", "Ыйсага омнида.", "Ийсага омніда."),
    ("thanks", "고맙습니다.", "Комапсымнида.", "Комапсимніда."),
    ("dont-know", "모릅니다.", "Морымнида.", "Моримніда."),
    ("fast", "빨리!", "Ппалли!", "Ппаллі!"),
    ("slow", "천천히!", "Чхончхонхи!", "Чхончхонхі!"),
    ("sit", "앉으시오.", "Анджысио.", "Анджисіо."),
    ("alone", "혼자입니까?", "Хонджаимникка?", "Хонджаімнікка?"),
    ("how-many", "모두 몇명입니까?", "Моду мёнмёнъимникка?", "Моду мьонмьон’імнікка?"),
    ("phone-off", "손전화를 끄시오.", "Сонджонхварыль ккысио.", "Сонджонхвариль ккисіо."),
    ("helmet-off", "철갑모를 벗으시오.", "Чхольгамморыль посысио.", "Чхольгаммориль посисіо."),
    ("pockets", "주머니를 비우시오.", "Чумонирыль пиусио.", "Чумоніриль піусіо."),
    ("no-shoot", "쏘지 않겠습니다.", "Ссоджи анкхессымнида.", "Ссоджі анкхессимніда."),
    ("no-fear", "두려워하지 마십시오.", "Турёвохаджи масипсио.", "Турьовохаджі масіпсіо."),
    ("safe", "우리가 지켜주겠습니다.", "Урига чикхёджугессымнида.", "Уріга чікхьоджугессимніда."),
    ("hungry", "배가 고픕니까?", "Пэга копхымникка?", "Пега копхимнікка?"),
    ("explosives", "몸에 폭약이 있습니까?", "Моме пхогяги иссымникка?", "Моме пхогягі іссимнікка?"),
    ("understand", "알겠습니까?", "Альгессымникка?", "Альгессимнікка?"),
]


def by_id(target: str) -> dict[str, str]:
    korean = {p.id: p.ko for p in load().phrases}
    return {
        next(k for k, v in korean.items() if v == line.text): line.cyrillic
        for _, group in lines(target)
        for line in group
    }


def test_about_seventy_phrases_in_three_languages() -> None:
    book = load()
    assert 60 <= len(book.phrases) <= 80
    walkin = {p.id for p in book.in_section("walkin")}
    assert walkin == {"leaflet-show", "leaflet-where", "came-with", "more-coming"}
    for phrase in book.phrases:
        assert phrase.ko and phrase.meaning["uk"] and phrase.meaning["ru"]
    ids = {p.id for p in book.phrases}
    for needed in ("hands-up", "drop-weapon", "lie-down", "wounded", "how-many", "follow-me"):
        assert needed in ids
    assert {"safe", "food", "medical"} <= ids
    # What a front-line soldier needs when a man comes over.
    assert {
        "followed", "helmet-off", "phone-off", "explosives", "grenade-down", "ammo-belt",
        "pockets", "one-at-a-time", "no-closer", "keep-hands-up", "kpa", "russian",
    } <= ids  # fmt: skip
    # Calming lines in the polite form, promising only what holds.
    korean = {p.id: p.ko for p in book.phrases}
    assert korean["no-fear"].endswith("십시오.") and korean["no-shoot"] == "쏘지 않겠습니다."
    assert "소식을 전합니다" not in korean["family"] and "엽서" in korean["family"]


@pytest.mark.parametrize(("pid", "ko", "ru", "uk"), TABLE)
def test_transliteration_table(pid: str, ko: str, ru: str, uk: str) -> None:
    assert {p.id: p.ko for p in load().phrases}[pid] == ko
    assert by_id("ru")[pid] == ru
    assert by_id("uk")[pid] == uk


@pytest.fixture(scope="module")
def cards(
    phrasebooks: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("phrasebook")
    return {"uk": phrasebooks["ko"], "ru": write_phrasebook(out / "ru.pdf", "ru")}


@pytest.mark.parametrize("target", ["uk", "ru"])
def test_card_text_and_fonts(target: str, cards: dict[str, Path]) -> None:
    text = squeeze(pdf_text(cards[target]))
    for _, group in lines(target):
        for line in group:
            for part in (line.text, line.cyrillic, line.meaning):
                assert squeeze(part) in text, part
    for pid, _ko, ru, uk in TABLE:
        assert squeeze(uk if target == "uk" else ru) in text, pid
    fonts = pdf_fonts(cards[target])
    assert fonts and all(emb == "yes" for _, emb in fonts)
    assert all("NanumGothic" in name or "DejaVu" in name for name, _ in fonts)


def test_refuses_other_languages() -> None:
    with pytest.raises(PhrasebookError):
        phrasebook_html("de")
    with pytest.raises(PhrasebookError):
        phrasebook_html("uk", lang="ja")
    with pytest.raises(PhrasebookError):
        phrasebook_html("uk", size="A4")
