"""The Korean content lint: glossary, initial-sound rule, and the shipped texts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from haven.cli import app
from haven.content import lint as lint_module
from haven.content.lint import check_korean, lint, load_glossary


def test_glossary_has_forty_sourced_pairs() -> None:
    glossary = load_glossary()
    assert len(glossary.pairs) >= 40
    for entry in glossary.entries:
        assert entry.sources, entry
        assert all(name in glossary.sources for name in entry.sources)
        assert entry.south != entry.north
    for url in glossary.sources.values():
        assert url.startswith(("http", "haven CONTENT.md"))


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
    findings = [f for f in lint() if f.kind in ("glossary", "initial-sound")]
    assert findings == [], "\n".join(map(str, findings))


def test_cli_fails_on_a_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    original = lint_module.korean_texts

    def with_hit():  # type: ignore[no-untyped-def]
        yield from original()
        yield "injected", "휴대폰을 켜십시오."

    monkeypatch.setattr(lint_module, "korean_texts", with_hit)
    result = CliRunner().invoke(app, ["content", "lint"])
    assert result.exit_code == 1
    assert "휴대폰" in result.output and "손전화" in result.output
