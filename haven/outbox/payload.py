"""What one outgoing message says: text, optional buttons, optional media."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from haven.flows import Reply

#: Telegram's limit for one text message.
TEXT_MAX = 4096


@dataclass(frozen=True)
class Payload:
    text: str
    #: Buttons as ``(value, label)``; a channel renders them (Telegram: an inline keyboard).
    choices: tuple[tuple[str, str], ...] = ()
    #: What the question expects (``choice``, ``text``, ``location``, ``photo``…).
    expects: str | None = None
    #: A short token of the question the buttons belong to; comes back with a button press so
    #: a stale button (from an earlier question) is recognised.
    context: str | None = None
    #: Media for channel posts: ``photo`` or ``video`` and a local file path.
    media_kind: str = ""
    media_path: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text}
        if self.choices:
            out["choices"] = [list(c) for c in self.choices]
        for name in ("expects", "context", "media_kind", "media_path"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Payload:
        return cls(
            text=str(data.get("text", "")),
            choices=tuple((str(v), str(label)) for v, label in data.get("choices", ())),
            expects=data.get("expects"),
            context=data.get("context"),
            media_kind=str(data.get("media_kind", "")),
            media_path=str(data.get("media_path", "")),
        )

    @classmethod
    def decode(cls, blob: bytes) -> Payload:
        return cls.from_json(json.loads(blob.decode("utf-8")))


def payloads_for(
    replies: Sequence[Reply], context: str | None = None, max_len: int = TEXT_MAX
) -> list[Payload]:
    """Replies of one step as few messages as possible: texts joined until one has buttons.

    Fewer messages means the per-chat limit (about one a second on Telegram) delays less.
    """
    out: list[Payload] = []
    texts: list[str] = []

    def flush(reply: Reply | None) -> None:
        text = "\n\n".join(texts)
        if reply is None:
            if text:
                out.append(Payload(text))
            return
        choices = tuple((o.value, o.label) for o in reply.choices)
        out.append(Payload(text, choices, reply.expects, context if choices else None))

    for reply in replies:
        if not reply.text and not reply.choices:
            continue
        if texts and len("\n\n".join([*texts, reply.text])) > max_len:
            flush(None)
            texts.clear()
        texts.append(reply.text[:max_len])
        if reply.choices or reply.expects:
            flush(reply)
            texts.clear()
    flush(None)
    return out
