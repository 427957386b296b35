"""Arbitrary input from Telegram never breaks the adapter (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from haven.channels.telegram import callback_data, parse_callback
from haven.channels.telegram.translate import text
from haven.flows import Option, Reply
from haven.flows.inputs import Choice, Command, Text
from haven.outbox import Payload, payloads_for


@given(st.text(max_size=100))
def test_any_callback_data_parses_or_is_refused(data: str) -> None:
    parsed = parse_callback(data)
    if parsed is not None:
        context, value = parsed
        assert callback_data(context, value) == data


@given(st.text(max_size=8), st.text(min_size=1, max_size=20))
def test_callback_data_round_trips(context: str, value: str) -> None:
    data = callback_data(context.replace("|", ""), value)
    if len(data.encode()) <= 64:
        assert parse_callback(data) == (context.replace("|", ""), value)


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=300))
def test_any_text_becomes_text_or_a_command(said: str) -> None:
    item = text("1", said, lambda lang: "verify")
    assert isinstance(item.inp, Text | Command)
    if isinstance(item.inp, Text):
        assert item.inp.text == said
    if item.start is not None:
        assert item.inp == Command("start") and item.start == item.start.strip() != ""


@given(st.lists(st.text(max_size=3000), min_size=1, max_size=6))
def test_replies_become_messages_within_telegrams_limit(texts: list[str]) -> None:
    replies = [Reply(t) for t in texts[:-1]] + [Reply(texts[-1], (Option("a", "A"),), "choice")]
    out = payloads_for(replies, "ctx")
    assert all(len(p.text) <= 4096 for p in out)
    assert out[-1].choices == (("a", "A"),) and out[-1].context == "ctx"
    assert Payload.decode(out[-1].encode()) == out[-1]
    assert all(isinstance(p, Payload) for p in out) and not isinstance(out[0], Choice)
