"""Loading a questionnaire from its data file (``definitions/<id>.v<version>.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from typing import Any

STEP_KINDS = ("language", "choice", "number", "text", "location", "photo", "consent", "summary")


class FlowError(ValueError):
    """A flow file is malformed."""


@dataclass(frozen=True)
class OptionDef:
    value: str
    label: str


@dataclass(frozen=True)
class Condition:
    step: str
    equals: str


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    title: str
    prompt: str
    options: tuple[OptionDef, ...] = ()
    optional: bool = False
    max_length: int = 500
    min: int = 0
    max: int = 1000
    when: Condition | None = None
    require: str | None = None
    refusal: str | None = None


@dataclass(frozen=True)
class Flow:
    id: str
    version: int
    steps: tuple[Step, ...]

    def step(self, step_id: str) -> Step:
        return self.steps[self.position(step_id)]

    def position(self, step_id: str) -> int:
        """Where a step is in the flow (``KeyError`` for an unknown id)."""
        return self._positions[step_id]

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {step.id: index for index, step in enumerate(self.steps)}

    def messages(self) -> list[str]:
        """Every message id the flow file holds (for extraction and catalog checks)."""
        out: list[str] = []
        for step in self.steps:
            out += [step.title, step.prompt]
            out += [o.label for o in step.options]
            if step.refusal:
                out.append(step.refusal)
        return out


def parse(data: dict[str, Any]) -> Flow:
    try:
        steps = []
        for raw in data["steps"]:
            if raw["kind"] not in STEP_KINDS:
                raise FlowError(f"unknown step kind {raw['kind']!r}")
            when = raw.get("when")
            steps.append(
                Step(
                    id=raw["id"],
                    kind=raw["kind"],
                    title=raw["title"],
                    prompt=raw["prompt"],
                    options=tuple(
                        OptionDef(o["value"], o["label"]) for o in raw.get("options", ())
                    ),
                    optional=bool(raw.get("optional", False)),
                    max_length=int(raw.get("max_length", 500)),
                    min=int(raw.get("min", 0)),
                    max=int(raw.get("max", 1000)),
                    when=Condition(when["step"], when["equals"]) if when else None,
                    require=raw.get("require"),
                    refusal=raw.get("refusal"),
                )
            )
        flow = Flow(id=data["id"], version=int(data["version"]), steps=tuple(steps))
    except (KeyError, TypeError, ValueError) as exc:
        raise FlowError(f"malformed flow: {exc}") from exc
    ids = [s.id for s in flow.steps]
    if len(set(ids)) != len(ids):
        raise FlowError("step ids must be unique")
    if not flow.steps or flow.steps[-1].kind != "summary":
        raise FlowError("a flow ends with a summary step")
    if flow.steps[0].kind != "language":
        raise FlowError("a flow starts with the language step")
    for step in flow.steps:
        if step.when and step.when.step not in ids[: ids.index(step.id)]:
            raise FlowError(f"step {step.id} depends on a later or unknown step")
    return flow


@cache
def load(flow_id: str = "surrender", version: int = 1) -> Flow:
    path = resources.files(__package__) / "definitions" / f"{flow_id}.v{version}.toml"
    return parse(tomllib.loads(path.read_text("utf-8")))


def load_all() -> dict[str, Flow]:
    """Every shipped flow file, by file name."""
    out: dict[str, Flow] = {}
    for entry in (resources.files(__package__) / "definitions").iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name] = parse(tomllib.loads(entry.read_text("utf-8")))
    return out
