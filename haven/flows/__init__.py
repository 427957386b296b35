"""The questionnaire engine: pure, channel-agnostic flows defined as data files."""

from haven.content import gettext_for, ngettext_for

from .definition import Flow, FlowError, load
from .engine import Effect, Engine, Mode, Option, Outcome, Reply, State


def translate(lang: str, message: str) -> str:
    """A message in ``lang``, from the content catalogs."""
    return gettext_for(lang)(message)


def translate_plural(lang: str, singular: str, plural: str, n: int) -> str:
    """The form of a message in ``lang`` that fits ``n``, from the content catalogs."""
    return ngettext_for(lang)(singular, plural, n)


def default_engine() -> Engine:
    """The engine of the surrender questionnaire, speaking the content catalogs."""
    return Engine(load("surrender", 1), translate, translate_plural)


__all__ = [
    "Effect",
    "Engine",
    "Flow",
    "FlowError",
    "Mode",
    "Option",
    "Outcome",
    "Reply",
    "State",
    "default_engine",
    "load",
    "translate",
]
