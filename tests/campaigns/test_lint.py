"""The Korean content lint: glossary, initial-sound rule, and the shipped texts."""

from __future__ import annotations

import tomllib
from collections import Counter
from importlib.resources import files

import pytest
from typer.testing import CliRunner

from haven.cli import app
from haven.content import lint as lint_module
from haven.content.lint import (
    check_korean,
    lint,
    lint_files,
    load_glossary,
    south_by_initial_sound,
)


def test_glossary_has_sourced_pairs_where_the_product_lives() -> None:
    glossary = load_glossary()
    assert len(glossary.pairs) >= 150
    north = {e.south: e.north for e in glossary.pairs}
    # The corrected pairs, and words of this product: ranks, phone and web, places, defection.
    assert (north["로션"], north["아파트"], north["에어컨"]) == ("물크림", "아빠트", "랭방기")
    assert "배낭" not in north  # normal in the North too: only false alarms
    for south in ("장교", "부사관", "군의관", "헬멧", "비밀번호", "배터리", "버튼", "페이지"):
        assert south in north, south
    for south in ("브라우저", "프로그램", "인터넷", "폴란드", "독일", "탈북", "귀순"):
        assert south in north, south
    kinds = {e.south: e.kind for e in glossary.pairs}
    assert {kinds["채소"], kinds["도시락"], kinds["화장실"]} == {"advice"}
    for entry in glossary.entries:
        assert entry.sources, entry
        assert all(name in glossary.sources for name in entry.sources)
        assert entry.south != entry.north
    for url in glossary.sources.values():
        assert url.startswith(("http", "haven CONTENT.md", "haven review"))
    assert len([e for e in glossary.entries if e.kind == "initial-sound"]) >= 400


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("핸드폰으로 련락하십시오.", ["핸드폰"]),
        ("북한군 탱크가 옵니다.", ["북한", "탱크"]),
        ("드론을 따라오십시오.", ["드론"]),
        ("노동자와 여자들", ["노동", "여자"]),
        ("역사를 리용합니다.", ["역사"]),
        ("한국어로 씁니다.", ["한국어"]),
    ],
)
def test_hits(text: str, found: list[str]) -> None:
    assert [f.found for f in check_korean(text)] == found


@pytest.mark.parametrize(
    "text",
    [
        "로동자와 녀자들의 력사를 리용합니다.",
        "손전화로 무인기를 따라오십시오.",
        "조선말로 씁니다. 로씨야군 땅크가 옵니다.",
        "이것을 종이에 적지 말고 머리속에 외워두십시오.",  # 여자 not at a word start
    ],
)
def test_north_korean_text_passes(text: str) -> None:
    assert check_korean(text) == []


def test_shipped_korean_has_no_hits() -> None:
    findings = lint()
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize(
    ("north", "south"),
    [
        ("로동", "노동"),  # ㄹ before ㅗ -> ㄴ
        ("락원", "낙원"),  # ㄹ before ㅏ -> ㄴ
        ("뢰물", "뇌물"),
        ("력사", "역사"),  # ㄹ before ㅕ -> ㅇ
        ("리용", "이용"),  # ㄹ before ㅣ -> ㅇ
        ("량심", "양심"),  # ㄹ before ㅑ -> ㅇ
        ("례의", "예의"),  # ㄹ before ㅖ -> ㅇ
        ("료리", "요리"),
        ("류행", "유행"),
        ("녀자", "여자"),  # ㄴ before ㅕ -> ㅇ
        ("년령", "연령"),
        ("닉명", "익명"),  # ㄴ before ㅣ -> ㅇ
    ],
)
def test_initial_sound_rule(north: str, south: str) -> None:
    assert south_by_initial_sound(north) == south
    assert [(f.kind, f.suggest) for f in check_korean(f"{south}를 봅니다.")][:1] == [
        ("initial-sound", north)
    ]


#: A soldier's account in North Korean spelling, built on words of the initial-sound list.
_NORTH_PARAGRAPH = (
    "래일 아침 우리 련대는 릉선 너머로 이동한다. 로병들은 랭정하게 무기를 손질하고 녀성 군의는 "
    "부상자들을 림시로 치료한다. 나는 량심을 속일수 없어 련락할 방도를 찾았다. 손전화로 록음을 "
    "남긴 다음 부대를 리탈하여 로숙하며 여기까지 왔다. 력사는 이 란리를 기억할것이다."
)
_PARAGRAPH_WORDS = (
    "래일", "련대", "릉선", "로병", "랭정", "녀성", "림시", "량심", "련락", "록음", "리탈", "로숙",
    "력사", "란리",
)  # fmt: skip


def test_initial_sound_list_is_large_and_never_ambiguous() -> None:
    raw = tomllib.loads((files("haven.content") / "glossary.toml").read_text("utf-8"))
    listed = [word for group in raw["initial_sound"] for word in group["north"]]
    assert len(listed) == len(set(listed)) >= 400
    glossary = load_glossary()
    initial = [e for e in glossary.entries if e.kind == "initial-sound"]
    assert {e.north for e in initial} == set(listed)
    souths = Counter(e.south for e in glossary.entries)
    norths = {e.north for e in glossary.entries}
    for entry in initial:
        assert south_by_initial_sound(entry.north) == entry.south != entry.north, entry
        assert souths[entry.south] == 1, entry  # no other entry, pair or word, has that form
        # A North Korean word the lint suggests must never itself start with a flagged form.
        assert not [n for n in norths if n.startswith(entry.south)], entry


def test_a_north_korean_paragraph_passes_and_its_south_rendering_is_flagged() -> None:
    assert check_korean(_NORTH_PARAGRAPH) == []
    south = _NORTH_PARAGRAPH
    for word in _PARAGRAPH_WORDS:
        south = south.replace(word, south_by_initial_sound(word) or word)
    assert south.startswith("내일 아침 우리 연대는 능선 너머로 이동한다. 노병들은 냉정하게")
    found = [(f.kind, f.found, f.suggest) for f in check_korean(south)]
    assert found == [("initial-sound", south_by_initial_sound(w), w) for w in _PARAGRAPH_WORDS]


def test_initial_sound_rule_leaves_other_words() -> None:
    for word in ("나무", "노래", "누나", "여우", "이웃", "", "abc", "ㄹ"):
        assert south_by_initial_sound(word) is None, word
    assert south_by_initial_sound("로") == "노"


@pytest.mark.parametrize(
    ("text", "found", "north"),
    [
        ("사용되었습니다.", "되었", "되였"),
        ("모두 준비가 되어 있습니다.", "되어", "되여"),
        ("꽃이 피었습니다.", "피었", "피였"),
        ("그는 군인이었습니다.", "이었", "이였"),
        ("지도하시었다.", "시었", "시였"),
        ("걸을 수 있습니까?", "을 수 있", "을수 있"),
        ("숨을 쉴 수 없습니다.", "쉴 수 없", "쉴수 없"),
        ("잡힌 것으로 기록됩니다.", "힌 것", "힌것"),
        ("모든 것을 지웁니다.", "든 것", "든것"),
    ],
)
def test_spelling_patterns(text: str, found: str, north: str) -> None:
    hits = [(f.kind, f.found, f.suggest) for f in check_korean(text)]
    assert ("spelling", found, north) in hits


@pytest.mark.parametrize(
    "text",
    [
        # North Korean sentences: every rule must leave them alone.
        "모든 준비가 되였습니다. 장소와 시간을 알려드립니다.",
        "전투중에 포로로 잡힌것으로 기록됩니다.",
        "걸을수 있습니까? 숨을 쉴수 있습니까?",
        "그는 조선인민군 군인이였습니다. 꽃이 피였습니다.",
        "김정은동지께서 훈련을 지도하시였다.",
        "시어머니와 함께 이어서 씁니다.",  # 시어 and 이어 are not the pattern
        "노래를 부르며 노고지리가 납니다. 나무 아래 누나가 있습니다.",  # native words
        "저격수 보총을 내려놓으시오. 배낭을 벗으시오.",  # words the North uses too
        "로동자와 녀자들의 력사를 리용합니다. 래일 련락하겠습니다.",
    ],
)
def test_rules_leave_north_korean_text_alone(text: str) -> None:
    assert [f for f in check_korean(text) if f.error] == []


def test_advice_is_shown_but_not_an_error() -> None:
    (finding,) = check_korean("채소를 먹습니다.")
    assert (finding.kind, finding.suggest, finding.error) == ("advice", "남새", False)


def test_lint_of_a_translators_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    po = tmp_path / "mine.po"
    draft = Catalog(locale="ko", domain="haven")
    draft.add("Turn off your phone.", "휴대폰을 끄십시오.")
    draft.add("It is ready.", "준비가 되었습니다.")
    draft.add("Good.", "좋습니다.")
    with po.open("wb") as fh:
        write_po(fh, draft)
    txt = tmp_path / "leaflet.txt"
    txt.write_text("로동자 여러분\n노동자 여러분, 인터넷으로 련락하십시오.\n", "utf-8")
    found = {(f.where, f.found, f.suggest) for f in lint_files([po, txt])}
    assert (f"{po}: msgid 'Turn off your phone.'", "휴대폰", "손전화") in found
    assert (f"{po}: msgid 'It is ready.'", "되었", "되였") in found
    assert (f"{txt}:2", "노동", "로동") in found and (f"{txt}:2", "인터넷", "인터네트") in found
    assert not [f for f in found if f[0] == f"{txt}:1"]

    result = CliRunner().invoke(app, ["content", "lint", str(po), str(txt)])
    assert result.exit_code == 1
    for part in (str(po), "Turn off your phone.", "휴대폰", "손전화", "mudeung", str(txt)):
        assert part in result.output, part
    clean = tmp_path / "clean.txt"
    clean.write_text("모든 준비가 되였습니다.\n채소를 드리겠습니다.\n", "utf-8")
    ok = CliRunner().invoke(app, ["content", "lint", str(clean)])
    assert ok.exit_code == 0 and "남새" in ok.output  # advice: shown, not fatal


def test_cli_fails_on_a_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    original = lint_module.korean_texts

    def with_hit():  # type: ignore[no-untyped-def]
        yield from original()
        yield "injected", "휴대폰을 켜십시오."

    monkeypatch.setattr(lint_module, "korean_texts", with_hit)
    result = CliRunner().invoke(app, ["content", "lint"])
    assert result.exit_code == 1
    assert "휴대폰" in result.output and "손전화" in result.output
