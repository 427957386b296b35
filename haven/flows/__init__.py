"""The questionnaire engine: pure, channel-agnostic flows defined as data files."""

from .definition import Flow, FlowError, load
from .engine import Effect, Engine, Mode, Option, Outcome, Reply, State

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
    "load",
]
