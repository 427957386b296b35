"""Code phrases: two different words, and their Cyrillic reading for the receiving unit."""

from __future__ import annotations

import pytest

from haven.domain import codephrase


def test_code_phrase_is_two_different_words() -> None:
    words = ["사과", "바다", "구름"]
    for _ in range(100):
        first, second = codephrase.new_code_phrase(words).split(" ")
        assert first != second and {first, second} <= set(words)
    with pytest.raises(ValueError):
        codephrase.new_code_phrase(["하나"])


def test_code_phrase_cyrillic_for_the_receiving_unit() -> None:
    assert codephrase.cyrillic("소나무 제비", "ko", target="ru") == "сонаму чеби"
    assert codephrase.cyrillic("сосна ласточка", "ru") == "сосна ласточка"
