"""The check that tells the real service from a look-alike (CONTENT.md, "Checking the bot is
real").

A look-alike can copy any picture, word or number it is shown, so what proves the service is
what it cannot copy: the bot's exact ``@username`` (Telegram gives each name to one bot only)
and the deep link ``https://t.me/<username>``. The *check code* only confirms: the web pages,
the bot's ``/verify``, every leaflet and the hand-off message print the same one, so an
applicant who compares them sees one service. It is computed here, once (:func:`verify_for`),
and every surface says it with the same words (:func:`check_text`). Without a bot it is the
same everywhere too.

The code is a keyed hash of the bot's username under the routing key (which every process that
prints it holds), so it stays the same across a rotation of the case key: leaflets printed
before a rotation still match the web page after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from haven.content import N_, gettext_for
from haven.crypto import IntakeKeys
from haven.settings import Settings

TITLE = N_("Is it really us?")
BOT_LABEL = N_("Our bot has exactly this name:")
BOT_WARN = N_(
    "Fakes of our bot exist. They can copy our picture, our words and any number, but not "
    "this name: check it letter by letter. Open the bot only with this link: {link}"
)
#: The same, where mirror bots run beside the primary: every name, every link.
BOTS_LABEL = N_("Our bots have exactly these names:")
BOTS_WARN = N_(
    "Fakes of our bots exist. They can copy our picture, our words and any number, but not "
    "these names: check them letter by letter. Open our bots only with these links: {links}"
)
CHECK_LINE = N_("Check code: {check}")
CHECK_NOTE = N_(
    "Our bot (/verify), web page, leaflets and messages all show the same check code. It only "
    "confirms: a fake can copy a number, not the bot's name."
)
CHECK_NOTE_NO_BOT = N_(
    "Our web page, our leaflets and our messages all show the same check code. If it differs, "
    "it is not us."
)

#: Every message id a check may print (the leaflet's glyph test renders them all).
TEXTS: tuple[str, ...] = (
    TITLE, BOT_LABEL, BOT_WARN, BOTS_LABEL, BOTS_WARN, CHECK_LINE, CHECK_NOTE, CHECK_NOTE_NO_BOT
)  # fmt: skip

CODE_DIGITS = 16


@dataclass(frozen=True)
class Check:
    """What every surface shows: the bot's name and link (empty without a bot), the code."""

    username: str
    link: str
    code: str
    #: The mirror bots' ``@username``s and their links, in the same order; the code is the
    #: primary's alone.
    mirrors: tuple[str, ...] = ()
    mirror_links: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckText:
    """A check in one language, in the order a surface shows it (the name first)."""

    title: str
    bot_label: str
    #: The primary bot's name ("" without a bot), and every bot's, the primary first.
    username: str
    warn: str
    code_line: str
    note: str
    usernames: tuple[str, ...] = ()

    @property
    def lines(self) -> list[str]:
        """The check as lines of plain text (a bot message, the hand-off)."""
        head = [self.bot_label, *self.usernames, self.warn, ""] if self.username else []
        return [*head, self.code_line, self.note]

    @property
    def message(self) -> str:
        return "\n".join(self.lines)


def bot_username(setting: str) -> str:
    """The bot's ``@username`` as configured (``HAVEN_TELEGRAM_BOT_USERNAME``), or ""."""
    name = setting.strip().lstrip("@")
    return f"@{name}" if name else ""


def check_code(keys: IntakeKeys, username: str) -> str:
    """The check code (``1234-5678-9012-3456``: digits, readable in every script)."""
    digest = keys.lookup("verify-check", username.lower())
    number = str(int(digest[:16], 16) % 10**CODE_DIGITS).zfill(CODE_DIGITS)
    return "-".join(number[i : i + 4] for i in range(0, CODE_DIGITS, 4))


def verify_for(
    bot_username_setting: str, keys: IntakeKeys, *, mirrors: Sequence[str] = ()
) -> Check:
    """The one check of this deployment (every surface calls this); ``mirrors``: the mirror
    bots' names as configured."""
    username = bot_username(bot_username_setting)
    link = f"https://t.me/{username[1:]}" if username else ""
    names = tuple(name for name in (bot_username(m) for m in mirrors) if name)
    links = tuple(f"https://t.me/{name[1:]}" for name in names)
    return Check(username, link, check_code(keys, username), names, links)


def deployment_check(settings: Settings, keys: IntakeKeys) -> Check:
    """The check of the bots this deployment names (the primary, then its mirrors)."""
    return verify_for(settings.telegram_bot_username, keys, mirrors=settings.telegram_mirror_names)


def check_text(lang: str, check: Check) -> CheckText:
    """The check in a language, from the same message ids on every surface."""
    _ = gettext_for(lang)
    several = bool(check.username and check.mirrors)
    if several:
        label = _(BOTS_LABEL)
        warn = _(BOTS_WARN).format(links=", ".join((check.link, *check.mirror_links)))
    elif check.username:
        label, warn = _(BOT_LABEL), _(BOT_WARN).format(link=check.link)
    else:
        label = warn = ""
    return CheckText(
        title=_(TITLE),
        bot_label=label,
        username=check.username,
        warn=warn,
        code_line=_(CHECK_LINE).format(check=check.code),
        note=_(CHECK_NOTE) if check.username else _(CHECK_NOTE_NO_BOT),
        usernames=(check.username, *check.mirrors) if check.username else (),
    )
