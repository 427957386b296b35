"""The fixed texts as each surface shows them: time zones, plural forms, the way to erase."""

from __future__ import annotations

from datetime import datetime

import pytest

from haven.channels.web.texts import LIMITED, for_lang
from haven.content import catalog, ngettext_for, texts
from haven.flows import default_engine, load, translate
from haven.flows.engine import M_TOO_LONG, Engine
from haven.services.handoff import applicant_text
from haven.services.verify import Check

CHECK = Check("@haven_test_bot", "https://t.me/haven_test_bot", "1234 5678 9012 3456")


def test_handoff_names_the_zone_and_ties_the_signal_to_a_step() -> None:
    start, end = datetime(2026, 5, 1, 5, 30), datetime(2026, 5, 1, 7, 0)
    en = applicant_text("en", "the birch by the road", start, end, "a red scarf", CHECK)
    assert "from 2026-05-01 05:30 to 07:00, Moscow time, UTC+3." in en
    assert "a red scarf. Show it when you reach our soldiers (step 6)" in en
    assert texts.NO_DRONE in en and en.index(texts.NO_DRONE) < en.index("@haven_test_bot")
    ko = applicant_text(
        "ko", "길옆 봇나무", start, end, "붉은 목도리", CHECK, zone="Asia/Pyongyang"
    )
    assert "(평양시간, UTC+9)" in ko and "(순서 6)" in ko
    winter = datetime(2026, 1, 10, 5)
    kyiv = applicant_text("uk", "береза", winter, end, "шарф", CHECK, zone="Europe/Kyiv")
    assert "(київський час, UTC+2)" in kyiv  # winter time: the offset is the day's own
    assert "UTC-3" in applicant_text("en", "x", start, end, "y", CHECK, zone="America/Sao_Paulo")


@pytest.mark.parametrize(
    ("lang", "forms"),
    [
        ("ru", {1: "1 минуту", 3: "3 минуты", 5: "5 минут", 11: "11 минут", 21: "21 минуту"}),
        ("uk", {1: "1 хвилину", 4: "4 хвилини", 12: "12 хвилин", 22: "22 хвилини"}),
        ("en", {1: "1 minute.", 2: "2 minutes."}),
        ("ko", {1: "1분", 7: "7분"}),
    ],
)
def test_numbers_take_their_plural_form(lang: str, forms: dict[int, str]) -> None:
    for n, expected in forms.items():
        assert expected in for_lang(lang).limited(n)


def test_the_engine_uses_plural_forms() -> None:
    engine = default_engine()
    state = engine.new_state("ru")
    assert "максимум 2 символа" in engine._n(state, M_TOO_LONG, 2).format(max=2)
    assert "максимум 500 символов" in engine._n(state, M_TOO_LONG, 500).format(max=500)
    # Without a plural translator, English rules pick the message id to translate.
    plain = Engine(load(), translate)
    assert "1 character." in plain._n(plain.new_state("en"), M_TOO_LONG, 1).format(max=1)
    assert ngettext_for("uk")(*M_TOO_LONG, 3).count("символи") == 1


def test_a_plural_message_needs_every_form(tmp_path, monkeypatch) -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    broken = Catalog(locale="ru", domain="haven")
    broken.add(M_TOO_LONG[0], "{max} символов")  # one form for a message of three
    broken.add(LIMITED, ("{minutes} минуту", "{minutes} минуты"))  # the third form missing
    po = tmp_path / "ru" / "LC_MESSAGES" / "haven.po"
    po.parent.mkdir(parents=True)
    with po.open("wb") as fh:
        write_po(fh, broken)
    monkeypatch.setattr(catalog, "locale_dir", lambda: tmp_path)
    kinds = {(p.kind, p.msgid) for p in catalog.check(("ru",))}
    assert ("plural-forms", M_TOO_LONG[0]) in kinds
    assert ("empty", LIMITED[0]) in kinds


@pytest.mark.parametrize(
    ("channel", "erase", "not_erase"),
    [
        ("telegram", "/forget", "Erase everything"),
        ("web", "“Erase everything” button", "/forget"),
    ],
)
def test_each_surface_names_its_own_way_to_erase(channel: str, erase: str, not_erase: str) -> None:
    engine = default_engine()
    replies = engine.completion(engine.new_state("en"), "ABCD-EFGH-J", "apple bread", channel)
    text = "\n".join(r.text for r in replies)
    assert erase in text and not_erase not in text
    assert texts.GENEVA_TITLE in text and all(g in text for g in texts.GENEVA_PROMISES)
    assert texts.NO_DRONE in text
