"""Channel posts: compose a post in several languages, preview it, queue it through the outbox.

Each language's message carries its campaign's deep link, so that whoever starts the bot from
a post is counted under that campaign. Publishing goes through ``haven.outbox.queue.enqueue``
to ``("telegram", "@channel")`` where the bot is an admin; the outbox worker sends it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from haven.content import LANGUAGE_NAMES
from haven.crypto import IntakeKeys
from haven.outbox.payload import TEXT_MAX, Payload
from haven.outbox.queue import enqueue
from haven.services.campaigns import CampaignError, Campaigns, PostRecord, publish_due
from haven.settings import Settings
from haven.store.db import Store

from .links import Links, links

#: Telegram's limit for a media caption.
CAPTION_MAX = 1024
MEDIA_KINDS = {".jpg": "photo", ".jpeg": "photo", ".png": "photo", ".mp4": "video"}


def media_kind(path: Path) -> str:
    kind = MEDIA_KINDS.get(path.suffix.lower())
    if kind is None:
        raise CampaignError(f"{path.name}: a photo (.jpg, .png) or a video (.mp4)")
    if not path.is_file():
        raise CampaignError(f"{path}: no such file")
    return kind


def compose(text: str, links: Links | None) -> str:
    """The message of one language: its text, then the campaign's deep link on its own line."""
    body = text.strip()
    if links is not None and links.all:
        body = f"{body}\n\n{links.primary}"
    return body


def check_length(text: str, with_media: bool) -> None:
    limit = CAPTION_MAX if with_media else TEXT_MAX
    if len(text) > limit:
        raise CampaignError(f"a post of {len(text)} characters is over Telegram's {limit}")


def preview(post: PostRecord, links: Links | None) -> str:
    """What each language's message will say, as plain text."""
    out = [
        f"post {post.id} to {post.channel} at {post.scheduled_at:%Y-%m-%d %H:%M} UTC "
        f"({post.status})" + (f", campaign {post.campaign}" if post.campaign else ""),
    ]
    if post.media_path:
        out.append(f"{post.media_kind}: {post.media_path}")
    for lang in sorted(post.texts):
        out += ["", f"--- {LANGUAGE_NAMES.get(lang, lang)} ({lang}) ---"]
        out.append(compose(post.texts[lang], links))
    return "\n".join(out)


class OutboxSink:
    """:class:`haven.services.campaigns.PostSink` that queues each message in the outbox."""

    def __init__(self, keys: IntakeKeys, links_for: dict[str, Links]) -> None:
        self.keys = keys
        self.links_for = links_for

    async def __call__(self, session: AsyncSession, post: PostRecord, lang: str) -> None:
        links = self.links_for.get(post.campaign or "")
        payload = Payload(
            text=compose(post.texts[lang], links),
            media_kind=post.media_kind,
            media_path=post.media_path,
        )
        enqueue(session, self.keys, ("telegram", post.channel), payload, kind="post")


async def publish(settings: Settings, store: Store, keys: IntakeKeys) -> list[int]:
    """Queue every due post in the outbox, with its campaign's links: the ids queued."""
    codes = [record.code for record in await Campaigns(store).list()]
    return await publish_due(
        store, OutboxSink(keys, {code: links(settings, code) for code in codes})
    )
