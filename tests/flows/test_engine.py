from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haven.content import LANGS
from haven.flows import Effect, Engine, FlowError, Mode, State, load
from haven.flows.definition import parse
from haven.flows.inputs import Choice, Command, Location, Photo, Text, Unsupported


def tag(lang: str, message: str) -> str:
    """A fake translation that shows which language each text was given in."""
    return f"[{lang}] {message}"


@pytest.fixture
def engine() -> Engine:
    return Engine(load(), tag)


def run(engine: Engine, inputs: list, state: State | None = None):
    outcome = None
    for inp in inputs:
        outcome = engine.step(state, inp)
        state = outcome.state
    return outcome


HAPPY = [
    Command("start"),
    Choice("ko"),
    Choice("kpa"),
    Choice("group"),
    Text("3"),
    Choice("yes"),
    Text("Kursk sector, near Sudzha"),
    Text("94th brigade"),
    Command("skip"),
    Text("this chat, evenings"),
    Choice("yes"),
]


def test_whole_questionnaire(engine: Engine) -> None:
    out = run(engine, HAPPY)
    assert out.state.step == "summary"
    summary = out.replies[0]
    assert "Kursk sector, near Sudzha" in summary.text and "[ko]" in summary.text
    assert [o.value for o in summary.choices] == ["confirm", "correct"]
    done = engine.step(out.state, Choice("confirm"))
    assert done.effect is Effect.submit and done.state.mode is Mode.submitted
    answers = engine.answers_for_case(done.state)["answers"]
    assert answers["group_size"] == {"kind": "number", "value": 3}
    assert answers["proof"] == {"kind": "skipped"}
    final = engine.completion(done.state, "ABCD-EFGH-J", "사과 바다")
    text = "\n".join(r.text for r in final)
    assert "ABCD-EFGH-J" in text and "사과 바다" in text
    assert "leave your weapon behind" in text.lower()


def test_group_size_asked_only_for_groups_and_dropped_when_alone(engine: Engine) -> None:
    out = run(engine, HAPPY)
    assert "group_size" in out.state.answers
    out = run(engine, [Choice("correct"), Choice("group"), Choice("alone")], out.state)
    assert out.state.step == "summary" and "group_size" not in out.state.answers
    out = run(engine, [Choice("correct"), Choice("group"), Choice("group")], out.state)
    assert out.state.step == "group_size"  # newly applicable: asked before the summary
    out = run(engine, [Text("4")], out.state)
    assert out.state.step == "summary" and out.state.answers["group_size"]["value"] == 4


def test_invalid_answers_are_reasked_in_the_applicants_language(engine: Engine) -> None:
    state = run(engine, HAPPY[:4]).state
    assert state.step == "group_size"
    for bad in [Text("many"), Text("1"), Text("100000"), Location(1, 2), Choice("x")]:
        out = engine.step(state, bad)
        assert out.state == state
        assert out.replies[0].text.startswith("[ko] Please send a number from 2 to 100")
        assert out.replies[-1].text == "[ko] How many people are in the group, counting yourself?"


def test_choices_by_number_label_or_value(engine: Engine) -> None:
    state = run(engine, HAPPY[:2]).state
    assert engine.step(state, Text("2")).state.answers["who"]["value"] == "russian_army"
    assert engine.step(state, Text("kpa")).state.answers["who"]["value"] == "kpa"
    label = "[ko] Someone else"
    assert engine.step(state, Text(label)).state.answers["who"]["value"] == "other"
    assert engine.step(state, Text("9")).state == state


def test_language_step_before_a_language_is_chosen_speaks_every_language(engine: Engine) -> None:
    out = engine.step(None, Command("start"))
    assert all(f"[{lang}]" in out.replies[0].text for lang in LANGS)
    assert [o.value for o in out.replies[0].choices] == list(LANGS)
    assert out.replies[0].choices[0].label == "조선말"


def test_help_lang_restart_forget_at_any_step(engine: Engine) -> None:
    state = run(engine, HAPPY[:5]).state
    help_ = engine.step(state, Text("/help"))
    assert help_.state == state and "/forget" in help_.replies[0].text
    lang = run(engine, [Command("lang"), Choice("ru")], state)
    assert lang.state.lang == "ru" and lang.state.step == state.step
    assert lang.replies[-1].text.startswith("[ru] ")
    restart = engine.step(state, Text("/restart"))
    assert restart.state.answers == {} and restart.state.step == "who"
    assert restart.state.lang == "ko"
    ask = engine.step(state, Command("forget"))
    assert ask.state.mode is Mode.confirm_forget
    kept = engine.step(ask.state, Choice("forget_no"))
    assert kept.state.mode is Mode.ask and kept.state.answers == state.answers
    gone = engine.step(ask.state, Choice("forget_yes"))
    assert gone.effect is Effect.erase and gone.state.answers == {}


def test_optional_steps_skip_and_required_ones_do_not(engine: Engine) -> None:
    state = run(engine, HAPPY[:7]).state
    assert state.step == "unit"
    assert engine.step(state, Choice("skip")).state.answers["unit"] == {"kind": "skipped"}
    state = run(engine, HAPPY[:6]).state
    assert state.step == "location"
    out = engine.step(state, Command("skip"))
    assert out.state == state and "cannot be skipped" in out.replies[0].text


def test_location_photo_and_unsupported(engine: Engine) -> None:
    state = run(engine, HAPPY[:6]).state
    out = engine.step(state, Location(51.2, 35.3))
    assert out.state.answers["location"] == {"kind": "location", "value": [51.2, 35.3]}
    assert engine.step(state, Location(float("nan"), 1)).state == state
    assert engine.step(state, Location(91, 1)).state == state
    photo_step = run(engine, HAPPY[:8]).state
    assert photo_step.step == "proof"
    assert engine.step(photo_step, Photo("att1", 1000)).state.answers["proof"]["value"] == "att1"
    out = engine.step(photo_step, Unsupported("sticker"))
    assert out.state == photo_step and "only text" in out.replies[0].text


def test_text_is_length_capped_and_cleaned(engine: Engine) -> None:
    state = run(engine, HAPPY[:6]).state
    out = engine.step(state, Text("x" * 301))
    assert out.state == state and "at most 300 characters" in out.replies[0].text
    out = engine.step(state, Text("  Sudzha\x00\u202e  "))
    assert out.state.answers["location"]["value"] == "Sudzha"


def test_consent_is_required(engine: Engine) -> None:
    state = run(engine, HAPPY[:10]).state
    assert state.step == "consent"
    out = engine.step(state, Choice("no"))
    assert out.state == state and "Without your consent" in out.replies[0].text


def test_after_submission_messages_go_to_the_operators(engine: Engine) -> None:
    state = run(engine, [*HAPPY, Choice("confirm")]).state
    out = engine.step(state, Text("I am at the meeting point"))
    assert out.effect is Effect.message and out.message == Text("I am at the meeting point")
    assert engine.step(state, Command("restart")).state == state


def test_state_round_trips_through_json(engine: Engine) -> None:
    state = run(engine, HAPPY).state
    assert State.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_flow_file_validation() -> None:
    with pytest.raises(FlowError):
        parse({"id": "x", "version": 1, "steps": [{"id": "a"}]})
    base = {"id": "lang", "kind": "language", "title": "t", "prompt": "p"}
    with pytest.raises(FlowError, match="summary"):
        parse({"id": "x", "version": 1, "steps": [base]})
    summary = {"id": "s", "kind": "summary", "title": "t", "prompt": "p"}
    bad_when = {
        "id": "n",
        "kind": "number",
        "title": "t",
        "prompt": "p",
        "when": {"step": "s", "equals": "x"},
    }
    with pytest.raises(FlowError, match="later or unknown"):
        parse({"id": "x", "version": 1, "steps": [base, bad_when, summary]})


# --- property-based: anything at any step ---------------------------------------------------

texts = st.one_of(
    st.text(max_size=50),
    st.text(min_size=5000, max_size=20000),
    st.sampled_from(
        [
            "/help",
            "/lang",
            "/restart",
            "/forget",
            "/skip",
            "/start",
            "/verify",
            "/nope",
            "/",
            "1",
            "2",
            "3",
            "0",
            "-1",
            "99999999999",
            "ko",
            "yes",
            "confirm",
            "correct",
            "forget_yes",
            "skip",
            "\x00",
            "٣",
            "𝟚",
        ]
    ),
)
inputs = st.one_of(
    texts.map(Text),
    st.sampled_from(
        [
            "ko",
            "ru",
            "ar",
            "zh",
            "kpa",
            "group",
            "alone",
            "yes",
            "no",
            "confirm",
            "correct",
            "forget_yes",
            "forget_no",
            "skip",
            "who",
            "unit",
            "nope",
        ]
    ).map(Choice),
    st.text(max_size=10).map(Choice),
    st.sampled_from(["start", "help", "lang", "restart", "forget", "skip", "bogus"]).map(Command),
    st.builds(
        Location,
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    st.builds(Photo, st.text(max_size=8), st.integers(0, 10**7)),
    st.text(max_size=10).map(Unsupported),
)


def assert_valid(engine: Engine, state: State) -> None:
    assert state.flow == engine.flow.id
    engine.flow.step(state.step)  # a real step
    assert state.lang is None or state.lang in LANGS
    for step_id, answer in state.answers.items():
        step = engine.flow.step(step_id)
        assert answer["kind"] in ("choice", "number", "text", "location", "photo", "skipped")
        if answer["kind"] == "text":
            assert 0 < len(answer["value"]) <= step.max_length
        if answer["kind"] == "number":
            assert step.min <= answer["value"] <= step.max
        if answer["kind"] == "choice":
            assert answer["value"] in [o.value for o in step.options]
    json.dumps(state.to_json())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(inputs, max_size=40), st.sampled_from([None, "ko", "ru", "uk", "en"]))
def test_any_input_at_any_step_leaves_a_valid_state(seq: list, lang: str | None) -> None:
    engine = Engine(load(), tag)
    state = engine.new_state(lang)
    for inp in seq:
        out = engine.step(state, inp)
        assert out.replies or out.effect is Effect.submit
        for reply in out.replies:
            assert reply.text
        state = out.state
        assert_valid(engine, state)


@settings(max_examples=100, deadline=None)
@given(st.lists(inputs, max_size=15))
def test_the_happy_path_still_works_after_any_detour(seq: list) -> None:
    engine = Engine(load(), tag)
    state = run(engine, [*seq, Command("restart")], engine.new_state("ko")).state
    if state.mode is Mode.submitted:
        return
    if state.mode is not Mode.ask:
        state = engine.step(state, Command("restart")).state
    out = run(engine, [*HAPPY[2:], Choice("confirm")], state)
    assert out.effect is Effect.submit
