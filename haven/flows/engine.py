"""The questionnaire engine: ``step(flow, state, input) -> Outcome(state, replies, effect)``.

Pure and channel-agnostic: no I/O, no clock, no randomness. Channels translate their input into
the :mod:`haven.flows.inputs` kinds and render :class:`Reply` objects; services carry out the
:class:`Effect` an outcome asks for (store a case, erase everything, pass a message on).

Any input at any step leaves a valid state: invalid answers are re-asked politely, in the
applicant's language, saying what is expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from haven.content import LANGS, LANGUAGE_NAMES, N_, Nn_, in_every_language, texts
from haven.domain.cases import medium
from haven.domain.text import clean

from .definition import Flow, Step
from .inputs import Choice, Command, Input, Location, Photo, Text, Unsupported

Translate = Callable[[str, str], str]
#: (lang, singular, plural, n) -> the form that fits ``n``, translated.
TranslatePlural = Callable[[str, str, str, int], str]
"""``translate(lang, message_id) -> text``."""

#: Commands every step understands, typed as ``/name`` or sent by a channel's buttons.
COMMANDS = ("start", "help", "lang", "restart", "forget", "skip", "verify")

#: Longest text an applicant can send after submission, in one message.
MESSAGE_MAX = 4000


class Mode(StrEnum):
    ask = "ask"  # a questionnaire step is asked
    choose_lang = "choose_lang"  # the applicant asked to change language
    choose_edit = "choose_edit"  # from the summary: which answer to correct
    confirm_forget = "confirm_forget"
    submitted = "submitted"  # the case exists; messages go to the operators
    erased = "erased"


class Effect(StrEnum):
    submit = "submit"  # store the answers as a submitted case
    erase = "erase"  # erase everything of this applicant
    message = "message"  # pass the input on to the operators as a message of the case


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Reply:
    text: str
    choices: tuple[Option, ...] = ()
    #: What the step expects, so a channel can offer e.g. a location button.
    expects: str | None = None


@dataclass(frozen=True)
class State:
    flow: str
    version: int
    lang: str | None = None
    step: str = ""
    mode: Mode = Mode.ask
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: When correcting an answer from the summary, go back to the summary afterwards.
    editing: bool = False
    #: Mode to go back to after a language change or a cancelled erase.
    resume: Mode = Mode.ask

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "version": self.version,
            "lang": self.lang,
            "step": self.step,
            "mode": self.mode.value,
            "answers": self.answers,
            "editing": self.editing,
            "resume": self.resume.value,
        }

    def replace(self, **changes: Any) -> State:
        """A copy with some fields changed: ``dataclasses.replace`` without its per-call
        introspection of the fields (three times as fast, and every step makes a few)."""
        return State(**{**self.__dict__, **changes})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        return cls(
            flow=str(data["flow"]),
            version=int(data["version"]),
            lang=data.get("lang"),
            step=str(data.get("step", "")),
            mode=Mode(data.get("mode", "ask")),
            answers=dict(data.get("answers", {})),
            editing=bool(data.get("editing", False)),
            resume=Mode(data.get("resume", "ask")),
        )


@dataclass(frozen=True)
class Outcome:
    state: State
    replies: tuple[Reply, ...]
    effect: Effect | None = None
    #: With ``Effect.message``: the input to pass on.
    message: Input | None = None


# --- message ids the engine itself uses -------------------------------------------------

M_HELP = N_(
    "This is a confidential hotline for soldiers who want to stop fighting and stay alive. "
    "Answer the questions; an operator will contact you. Commands: /help this help, "
    "/lang change language, /restart start over, /forget erase everything, /verify check "
    "that this is the real hotline."
)
M_CHOOSE = N_("Please choose one of the answers below.")
M_NUMBER = N_("Please send a number from {min} to {max}.")
M_TOO_LONG = Nn_(
    "Your answer is too long: at most {max} character. Please write it shorter.",
    "Your answer is too long: at most {max} characters. Please write it shorter.",
)
M_EMPTY = N_("Please write your answer as text.")
M_TEXT_OR_LOCATION = N_("Please write your answer as text, or share your location.")
M_PHOTO = N_("Please send a photo, or /skip this question.")
M_CANNOT_SKIP = N_("This question cannot be skipped.")
M_SKIP = N_("Skip")
M_CAN_READ = N_("I can read only text, the buttons, a shared location and photos.")
M_RESTART = N_("We start again from the beginning.")
M_FORGET_ASK = N_("This erases everything you have told us, and your application. Are you sure?")
M_FORGET_YES = N_("Yes, erase everything")
M_FORGET_NO = N_("No, keep it")
M_FORGOTTEN = N_("Everything you told us has been erased. You can write again at any time.")
M_KEPT = N_("Nothing was erased.")
M_CONFIRM = N_("Yes, send it")
M_CORRECT = N_("Correct an answer")
M_WHICH = N_("Which answer do you want to correct?")
M_SKIPPED = N_("(skipped)")
M_SHARED_LOCATION = N_("shared location")
M_PHOTO_ATTACHED = N_("photo attached")
M_RECEIVED = N_("Your message has been passed on to an operator. We will answer here.")
M_ALREADY_SENT = N_(
    "Your application has already been sent. Write here if you want to add anything; "
    "an operator will answer."
)
M_LANG_SET = N_("The language is now English.")
#: The first words of the message with the reference and the code phrase: what a lock-screen
#: notification shows of it.
M_READ_ALONE = N_("Please read this when you are alone.")
M_SENT = N_("Thank you. Your application has been received.")
M_REFERENCE = N_("Your case reference: {reference}")
M_CODE_PHRASE = N_("Your code phrase: {phrase}")
#: Keep the reference and code phrase in mind: per channel, what becomes of where they are shown.
M_KEEP: dict[str, str] = {
    "telegram": N_(
        "Learn both by heart: this chat will be deleted. Tell them to no one except our "
        "operators and our soldiers."
    ),
    "web": N_(
        "Learn both by heart: this page will not show them again. Tell them to no one except "
        "our operators and our soldiers."
    ),
}
M_KEEP_ANY = N_(
    "Learn both by heart, and do not write them down. Tell them to no one except our "
    "operators and our soldiers."
)

M_NEXT = N_(
    "What happens next: an operator will contact you. Checking can take some time, even "
    "weeks. When everything is ready we send you the place and the time."
)


#: The language buttons, each labelled in its own language.
_LANGUAGE_OPTIONS = tuple(Option(lang, LANGUAGE_NAMES[lang]) for lang in LANGS)


class Engine:
    """Runs one :class:`Flow` with a translation function."""

    def __init__(
        self, flow: Flow, translate: Translate, translate_plural: TranslatePlural | None = None
    ) -> None:
        self.flow = flow
        self.translate = translate
        self.translate_plural = translate_plural or (
            lambda lang, one, many, n: translate(lang, one if n == 1 else many)
        )
        # Worked out once: texts in every language, and each step's buttons per language.
        self._in_every_language: dict[str, str] = {}
        self._options: dict[tuple[str | None, str], tuple[Option, ...]] = {}

    # -- helpers ----------------------------------------------------------------------

    def _(self, state: State, message: str) -> str:
        return self.translate(state.lang or "en", message)

    def _n(self, state: State, message: tuple[str, str], n: int) -> str:
        """The form of a plural message that fits ``n``, in the state's language."""
        return self.translate_plural(state.lang or "en", message[0], message[1], n)

    def _multilingual(self, message: str) -> str:
        """:func:`multilingual`, worked out once per message id."""
        text = self._in_every_language.get(message)
        if text is None:
            text = self._in_every_language[message] = multilingual(self.translate, message)
        return text

    def new_state(self, lang: str | None = None) -> State:
        state = State(flow=self.flow.id, version=self.flow.version, lang=lang)
        return state.replace(step=self._next_step(state, None))

    def _applies(self, state: State, step: Step) -> bool:
        if step.kind == "language" and state.lang is not None:
            return False
        if step.when is None:
            return True
        answer = state.answers.get(step.when.step)
        return answer is not None and answer.get("value") == step.when.equals

    def _next_step(self, state: State, after: str | None) -> str:
        start = 0 if after is None else self.flow.position(after) + 1
        for step in self.flow.steps[start:]:
            if self._applies(state, step):
                return step.id
        return self.flow.steps[-1].id

    def _language_reply(self, state: State, prompt: str) -> Reply:
        text = self.translate(state.lang, prompt) if state.lang else self._multilingual(prompt)
        return Reply(text, self._language_options(), expects="choice")

    @staticmethod
    def _language_options() -> tuple[Option, ...]:
        return _LANGUAGE_OPTIONS

    def _step_options(self, state: State, step: Step) -> tuple[Option, ...]:
        """The buttons of a choice step, in the applicant's language (skip last, if allowed)."""
        key = (state.lang, step.id)
        options = self._options.get(key)
        if options is None:
            options = tuple(Option(o.value, self._(state, o.label)) for o in step.options)
            if step.optional:
                options += (Option("skip", self._(state, M_SKIP)),)
            self._options[key] = options
        return options

    def ask(self, state: State) -> Reply:
        """The question of the current step (or mode), in the applicant's language."""
        if state.mode is Mode.choose_lang:
            return self._language_reply(state, self.flow.step("lang").prompt)
        if state.mode is Mode.confirm_forget:
            return Reply(
                self._(state, M_FORGET_ASK),
                (
                    Option("forget_yes", self._(state, M_FORGET_YES)),
                    Option("forget_no", self._(state, M_FORGET_NO)),
                ),
                expects="choice",
            )
        if state.mode is Mode.choose_edit:
            options = tuple(
                Option(s.id, self._(state, s.title))
                for s in self.flow.steps
                if s.kind not in ("summary", "language") and self._applies(state, s)
            )
            return Reply(self._(state, M_WHICH), options, expects="choice")
        if state.mode is Mode.submitted:
            return Reply(self._(state, M_ALREADY_SENT))
        if state.mode is Mode.erased:
            return Reply(self._(state, M_FORGOTTEN))
        step = self.flow.step(state.step)
        if step.kind == "language":
            return self._language_reply(state, step.prompt)
        if step.kind == "summary":
            return Reply(
                # The question first: a notification preview shows it, not the answers.
                self._(state, step.prompt) + "\n\n" + self.summary_text(state),
                (
                    Option("confirm", self._(state, M_CONFIRM)),
                    Option("correct", self._(state, M_CORRECT)),
                ),
                expects="choice",
            )
        expects = "choice" if step.kind in ("choice", "consent") else step.kind
        return Reply(self._(state, step.prompt), self._step_options(state, step), expects=expects)

    def summary_text(self, state: State) -> str:
        lines = []
        for step in self.flow.steps:
            if step.kind in ("summary", "language") or not self._applies(state, step):
                continue
            answer = state.answers.get(step.id)
            if answer is None:
                continue
            lines.append(f"{self._(state, step.title)}: {self.display(state, step, answer)}")
        return "\n".join(lines)

    def display(self, state: State, step: Step, answer: dict[str, Any]) -> str:
        kind = answer.get("kind")
        if kind == "skipped":
            return self._(state, M_SKIPPED)
        if kind == "choice":
            for option in step.options:
                if option.value == answer.get("value"):
                    return self._(state, option.label)
        if kind == "location":
            return self._(state, M_SHARED_LOCATION)
        if kind == "photo":
            return self._(state, M_PHOTO_ATTACHED)
        return str(answer.get("value", ""))

    # -- the step function ----------------------------------------------------------------

    def step(self, state: State | None, inp: Input) -> Outcome:
        if state is None or state.mode is Mode.erased:
            state = self.new_state(state.lang if state is not None else None)
            if (isinstance(inp, Command) and inp.name == "start") or isinstance(inp, Text):
                return Outcome(state, (self.ask(state),))
        inp = _as_command(inp)
        if isinstance(inp, Command):
            return self._command(state, inp.name)
        if isinstance(inp, Unsupported):
            return Outcome(state, (Reply(self._(state, M_CAN_READ)), self.ask(state)))
        if state.mode is Mode.submitted:
            return self._message(state, inp)
        if state.mode is Mode.confirm_forget:
            return self._confirm_forget(state, inp)
        if state.mode is Mode.choose_lang:
            return self._choose_lang(state, inp)
        if state.mode is Mode.choose_edit:
            return self._choose_edit(state, inp)
        return self._answer(state, inp)

    def _command(self, state: State, name: str) -> Outcome:
        if name == "help":
            return Outcome(state, (Reply(self._(state, M_HELP)), self.ask(state)))
        if name == "start":
            return Outcome(state, (self.ask(state),))
        if name == "lang":
            resume = state.mode if state.mode is not Mode.choose_lang else state.resume
            new = state.replace(mode=Mode.choose_lang, resume=resume)
            return Outcome(new, (self.ask(new),))
        if name == "forget":
            resume = state.mode if state.mode is not Mode.confirm_forget else state.resume
            new = state.replace(mode=Mode.confirm_forget, resume=resume)
            return Outcome(new, (self.ask(new),))
        if name == "restart":
            if state.mode is Mode.submitted:
                return Outcome(state, (Reply(self._(state, M_ALREADY_SENT)),))
            new = self.new_state(state.lang)
            return Outcome(new, (Reply(self._(new, M_RESTART)), self.ask(new)))
        if name == "skip":
            return self._skip(state)
        # verify: the channel adds its own check; the engine just re-asks.
        return Outcome(state, (self.ask(state),))

    def _skip(self, state: State) -> Outcome:
        if state.mode is not Mode.ask:
            return Outcome(state, (self.ask(state),))
        step = self.flow.step(state.step)
        if not step.optional:
            return Outcome(state, (Reply(self._(state, M_CANNOT_SKIP)), self.ask(state)))
        return self._advance(state, step, {"kind": "skipped"})

    def _message(self, state: State, inp: Input) -> Outcome:
        if isinstance(inp, Text):
            text = clean(inp.text)
            if not text:
                return Outcome(state, (Reply(self._(state, M_EMPTY)),))
            if len(text) > MESSAGE_MAX:
                return Outcome(
                    state, (Reply(self._n(state, M_TOO_LONG, MESSAGE_MAX).format(max=MESSAGE_MAX)),)
                )
            inp = Text(text)
        elif isinstance(inp, Location) and not _valid_location(inp):
            return Outcome(state, (Reply(self._(state, M_TEXT_OR_LOCATION)),))
        elif isinstance(inp, Choice):
            return Outcome(state, (self.ask(state),))
        return Outcome(state, (Reply(self._(state, M_RECEIVED)),), Effect.message, inp)

    def _confirm_forget(self, state: State, inp: Input) -> Outcome:
        value = self._choice_value(state, self.ask(state).choices, inp)
        if value == "forget_yes":
            new = self.new_state(state.lang).replace(mode=Mode.erased)
            return Outcome(new, (Reply(self._(new, M_FORGOTTEN)),), Effect.erase)
        if value == "forget_no":
            new = state.replace(mode=state.resume, resume=Mode.ask)
            return Outcome(new, (Reply(self._(new, M_KEPT)), self.ask(new)))
        return Outcome(state, (Reply(self._(state, M_CHOOSE)), self.ask(state)))

    def _choose_lang(self, state: State, inp: Input) -> Outcome:
        value = self._choice_value(state, self.ask(state).choices, inp)
        if value is None:
            return Outcome(state, (Reply(self._(state, M_CHOOSE)), self.ask(state)))
        new = state.replace(lang=value, mode=state.resume, resume=Mode.ask)
        return Outcome(new, (Reply(self._(new, M_LANG_SET)), self.ask(new)))

    def _choose_edit(self, state: State, inp: Input) -> Outcome:
        value = self._choice_value(state, self.ask(state).choices, inp)
        if value is None:
            return Outcome(state, (Reply(self._(state, M_CHOOSE)), self.ask(state)))
        new = state.replace(mode=Mode.ask, step=value, editing=True)
        return Outcome(new, (self.ask(new),))

    def _choice_value(self, state: State, options: tuple[Option, ...], inp: Input) -> str | None:
        """A button press, or the option's number, value or label typed as text."""
        if isinstance(inp, Choice):
            return inp.value if any(o.value == inp.value for o in options) else None
        if isinstance(inp, Text):
            typed = clean(inp.text).casefold()
            if not typed:
                return None
            if typed.isdecimal() and len(typed) < 4 and 1 <= int(typed) <= len(options):
                return options[int(typed) - 1].value
            for option in options:
                if typed in (option.value.casefold(), option.label.casefold()):
                    return option.value
        return None

    def _answer(self, state: State, inp: Input) -> Outcome:
        step = self.flow.step(state.step)

        def invalid(message: str) -> Outcome:
            return Outcome(state, (Reply(message), self.ask(state)))

        if step.kind == "language":
            value = self._choice_value(state, self._language_options(), inp)
            if value is None:
                return invalid(self._multilingual(M_CHOOSE))
            new = state.replace(lang=value)
            new = new.replace(step=self._next_step(new, step.id))
            return Outcome(new, (self.ask(new),))
        if step.kind == "summary":
            value = self._choice_value(state, self.ask(state).choices, inp)
            if value == "confirm":
                new = state.replace(mode=Mode.submitted, editing=False)
                return Outcome(new, (), Effect.submit)
            if value == "correct":
                new = state.replace(mode=Mode.choose_edit)
                return Outcome(new, (self.ask(new),))
            return invalid(self._(state, M_CHOOSE))
        if step.optional and isinstance(inp, Choice) and inp.value == "skip":
            return self._skip(state)
        if step.kind in ("choice", "consent"):
            value = self._choice_value(state, self._step_options(state, step), inp)
            if value is None or value == "skip":
                return invalid(self._(state, M_CHOOSE))
            if step.require is not None and value != step.require:
                return invalid(self._(state, step.refusal or M_CHOOSE))
            return self._advance(state, step, {"kind": "choice", "value": value})
        if step.kind == "number":
            number = _parse_int(inp.text) if isinstance(inp, Text) else None
            if number is None or not step.min <= number <= step.max:
                return invalid(self._(state, M_NUMBER).format(min=step.min, max=step.max))
            return self._advance(state, step, {"kind": "number", "value": number})
        if step.kind == "photo":
            if isinstance(inp, Photo):
                answer = {"kind": "photo", "value": inp.ref, "size": inp.size}
                return self._advance(state, step, answer)
            return invalid(self._(state, M_PHOTO))
        if step.kind == "location" and isinstance(inp, Location):
            if not _valid_location(inp):
                return invalid(self._(state, M_TEXT_OR_LOCATION))
            answer = {"kind": "location", "value": [inp.latitude, inp.longitude]}
            return self._advance(state, step, answer)
        # text, or location given as text
        if not isinstance(inp, Text):
            expected = M_TEXT_OR_LOCATION if step.kind == "location" else M_EMPTY
            return invalid(self._(state, expected))
        text = clean(inp.text)
        if not text:
            return invalid(self._(state, M_EMPTY))
        if len(text) > step.max_length:
            return invalid(self._n(state, M_TOO_LONG, step.max_length).format(max=step.max_length))
        return self._advance(state, step, {"kind": "text", "value": text})

    def _advance(self, state: State, step: Step, answer: dict[str, Any]) -> Outcome:
        answers = {**state.answers, step.id: answer}
        new = state.replace(answers=answers)
        # Drop answers of steps that no longer apply (e.g. group size after "alone").
        answers = {
            k: v
            for k, v in answers.items()
            if self._applies(new, self.flow.step(k)) or self.flow.step(k).kind == "language"
        }
        new = new.replace(answers=answers)
        nxt = self._next_step(new, step.id)
        if new.editing:
            # Go on to a newly applicable step (group size after "group"), else the summary.
            pending = self.flow.step(nxt)
            if pending.kind != "summary" and pending.id not in answers:
                new = new.replace(step=nxt)
            else:
                new = new.replace(step=self.flow.steps[-1].id, editing=False)
        else:
            new = new.replace(step=nxt)
        return Outcome(new, (self.ask(new),))

    # -- what the applicant reads at the end ----------------------------------------------

    def completion(
        self, state: State, reference: str, phrase: str, channel: str = "telegram"
    ) -> tuple[Reply, ...]:
        """The last replies: reference, code phrase, what happens next, the crossing steps,
        the Geneva guarantees and the privacy promises (with the channel's way to erase)."""
        _ = self._
        steps = "\n".join(
            f"{n}. {_(state, s)}" for n, s in enumerate(texts.CROSSING_STEPS, start=1)
        )
        geneva = "\n".join(f"• {_(state, g)}" for g in texts.GENEVA_PROMISES)
        privacy = "\n".join(f"• {_(state, p)}" for p in texts.privacy_promises(channel))
        return (
            Reply(
                "\n".join(
                    (
                        _(state, M_READ_ALONE),
                        _(state, M_SENT),
                        _(state, M_REFERENCE).format(reference=reference),
                        _(state, M_CODE_PHRASE).format(phrase=phrase),
                        _(state, M_KEEP.get(medium(channel), M_KEEP_ANY)),
                    )
                )
            ),
            Reply(f"{_(state, M_NEXT)}\n{_(state, texts.NO_DRONE)}"),
            Reply(f"{_(state, texts.CROSSING_TITLE)}\n{steps}"),
            Reply(f"{_(state, texts.GENEVA_TITLE)}\n{geneva}"),
            Reply(f"{_(state, texts.PRIVACY_TITLE)}\n{privacy}"),
        )

    def answers_for_case(self, state: State) -> dict[str, Any]:
        """The answers to seal into the case, in flow order, with the flow's version."""
        return {
            "flow": self.flow.id,
            "version": self.flow.version,
            "lang": state.lang,
            "answers": {
                s.id: state.answers[s.id] for s in self.flow.steps if s.id in state.answers
            },
        }


def multilingual(translate: Translate, message: str) -> str:
    """A message in every language, for before the applicant has chosen one."""
    return in_every_language(message, translate)


def _as_command(inp: Input) -> Input:
    if isinstance(inp, Text):
        text = inp.text.strip()
        if text.startswith("/"):
            name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if text[1:] else ""
            if name in COMMANDS:
                return Command(name)
    if isinstance(inp, Command) and inp.name not in COMMANDS:
        return Unsupported("command")
    return inp


def _parse_int(text: str) -> int | None:
    text = clean(text)
    if not text or len(text) > 6:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _valid_location(loc: Location) -> bool:
    return (
        math.isfinite(loc.latitude)
        and math.isfinite(loc.longitude)
        and -90 <= loc.latitude <= 90
        and -180 <= loc.longitude <= 180
    )
