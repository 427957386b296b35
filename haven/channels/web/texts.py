"""The web pages' own words (message ids; the catalogs translate them)."""

from __future__ import annotations

import functools

from haven.content import N_, Nn_, direction, gettext_for, ngettext_for
from haven.content.texts import PHONE_ADVICE

__all__ = ["PHONE_ADVICE", "Texts", "for_lang"]

#: The heading on the page (the browser's title and history show the neutral ``web_title``).
TITLE = N_("Confidential hotline")
ERASE_VISIT = N_(
    "To leave no trace of this visit, use Tor Browser or a private window. Otherwise, when "
    "you are done, delete this site from your browser's history."
)
INTRO = N_(
    "This is a confidential hotline for soldiers who want to stop fighting and stay alive. "
    "Answer a few questions, one at a time; an operator will contact you. Only our "
    "operators can read what you write."
)
CHOOSE_LANG = N_("Choose your language.")  # the flow's own language prompt
CONTINUE = N_("Continue")
SEND = N_("Send")
SEND_AGAIN = N_("Send again")
ANSWER = N_("Your answer")
CHOOSE_PHOTO = N_("Choose a photo")
CHANGE_LANG = N_("Change language")
RESTART = N_("Start over")
FORGET = N_("Erase everything")
RETURN_LINK = N_("Already sent an application? Read our replies")
PASS_LABEL = N_("Your passphrase for this web page")
PASS_EXPLAIN = N_(
    "With your case reference and this passphrase you can come back to this page, read our "
    "replies and write to us. We cannot show it again and cannot restore it. It is not your "
    "code phrase: never say it at the front."
)
READ_REPLIES = N_("Read our replies")
RETURN_TITLE = N_("Enter your case reference and your passphrase.")
REFERENCE = N_("Case reference")
PASSPHRASE = N_("Passphrase")
OPEN = N_("Open")
WRONG = N_("The case reference or the passphrase is wrong. Please check them and try again.")
NO_REPLIES = N_("No replies yet. Please come back later.")
YOU = N_("You")
OPERATOR = N_("Operator")
WRITE = N_("Write to us")
REFRESH = N_("Check for new replies")
LIMITED = Nn_(
    "Too many requests right now. Please come back in {minutes} minute. "
    "What you wrote is kept below.",
    "Too many requests right now. Please come back in {minutes} minutes. "
    "What you wrote is kept below.",
)
EXPIRED = N_("This page has expired. Please send it again.")
NO_COOKIE = N_(
    "This page must keep a small note in your browser to remember your answers. Please "
    "allow it for this site, then send again."
)
MIRRORS = N_("If this address is blocked, use one of these:")
ONION = N_("Address for Tor Browser:")
BACK = N_("Back to the start")
PHOTO_TOO_BIG = N_("The photo is too large: at most {max} MB.")
NOT_FOUND = N_("This page does not exist.")
BAD_FORM = N_("The form could not be read. Please try again.")
TOO_LARGE = N_("What you sent is too large.")


class Texts:
    """``t.SEND`` etc. in one language, for the templates (see :func:`for_lang`)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        #: ``rtl`` or ``ltr``: the page's ``dir``.
        self.dir = direction(lang)
        self._ = gettext_for(lang)
        self._n = ngettext_for(lang)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or not name.isupper() or not isinstance(globals()[name], str):
            raise AttributeError(name)
        text = self._(globals()[name])
        setattr(self, name, text)  # looked up once: the next read is a plain attribute
        return text

    def __call__(self, message: str) -> str:
        return self._(message)

    def limited(self, minutes: int) -> str:
        """:data:`LIMITED` in the form that fits the number of minutes."""
        return self._n(*LIMITED, minutes).format(minutes=minutes)


@functools.cache
def for_lang(lang: str) -> Texts:
    """The one :class:`Texts` of a language (the catalogs do not change while running)."""
    return Texts(lang)
