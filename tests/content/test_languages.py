"""The languages: one list, and one way of saying a text in all of them."""

from __future__ import annotations

from haven.content import LANGS, in_every_language
from haven.flows import default_engine
from haven.flows.engine import M_CHOOSE
from haven.flows.inputs import Command


def test_every_language_once_in_order_a_blank_line_apart() -> None:
    fake = {"ko": "안녕", "ru": "Привет", "uk": "Привіт", "en": "Hello"}
    assert LANGS == ("ko", "ru", "uk", "en")
    assert in_every_language("Hello", lambda lang, _m: fake[lang]) == (
        "안녕\n\nПривет\n\nПривіт\n\nHello"
    )
    same = in_every_language("x", lambda lang, _m: "ok" if lang != "ko" else "좋소")
    assert same == "좋소\n\nok"


def test_the_flow_and_the_catalogs_say_it_the_same_way() -> None:
    engine = default_engine()
    first = engine.step(None, Command("start")).replies[0]
    prompt = engine.flow.steps[0].prompt
    assert first.text == in_every_language(prompt, engine.translate)
    assert in_every_language(M_CHOOSE).count("\n\n") == len(LANGS) - 1
    assert in_every_language(M_CHOOSE).endswith(M_CHOOSE)  # English, the source, last
