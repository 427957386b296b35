"""Fixed texts every channel, leaflet and hand-off repeats (CONTENT.md), as message ids.

They are marked with ``N_`` so the extractor finds them; callers translate with the
applicant's ``_``.
"""

from __future__ import annotations

from . import N_

#: The crossing, step by step (CONTENT.md). The same steps on the bot, leaflet and hand-off.
CROSSING_STEPS: tuple[str, ...] = (
    N_(
        "Contact us (bot, web, phone). Answer a few questions. You get a case reference and "
        "a code phrase. Keep them in your head, not on paper."
    ),
    N_(
        "Wait for our message with the place and the time. Be on time: the drone that guides "
        "you has little battery."
    ),
    N_("Leave your weapon behind. Carry a white cloth, or this leaflet, in your hand."),
    N_(
        "When the drone comes, look at it and raise both arms: first up, then out to the "
        "sides. It rocks to show it has seen you."
    ),
    N_(
        "Follow the drone at a walking pace. If it flies away, stay where you are and wait "
        "for the next one."
    ),
    N_(
        "When you reach the soldiers, lie face down with your arms spread, and say your "
        "code phrase."
    ),
    N_("You will be searched, then taken away from the front, given water, food and medical help."),
)

#: What the Third Geneva Convention guarantees a prisoner of war (the default promises).
GENEVA_PROMISES: tuple[str, ...] = (
    N_("Humane treatment at all times, and protection from violence, threats and insults."),
    N_("You only have to give your surname, first names, rank, date of birth and service number."),
    N_("You keep your personal belongings, except weapons and military documents."),
    N_(
        "You are moved away from the fighting as soon as possible, with food, water and "
        "medical care on the way."
    ),
    N_("Enough food and drinking water, and medical care."),
    N_(
        "Your family is told within a week that you are alive, and you can write to them. "
        "The International Committee of the Red Cross keeps the record."
    ),
    N_("No one may force you to fight against your own country."),
    N_("You are released and go home after the end of active hostilities."),
)

#: Privacy promises haven keeps (CONTENT.md).
PRIVACY_PROMISES: tuple[str, ...] = (
    N_("What you write is encrypted; only the hotline's operators can read it."),
    N_("You can erase everything at any time with /forget."),
    N_(
        "You will be recorded as captured in combat. Nothing we give anyone says you came "
        "of your own will."
    ),
)

CROSSING_TITLE = N_("How to cross safely, step by step:")
GENEVA_TITLE = N_("As a prisoner of war, the Geneva Conventions guarantee you:")
PRIVACY_TITLE = N_("Your safety with us:")

#: How to leave nothing on the phone: the bot's /help and the end of its questionnaire, and
#: the web pages. Each line opens with what it is about, never with anything of a case.
PHONE_ADVICE = N_(
    "To leave nothing on your phone:\n"
    "• Delete the chat with our bot yourself: press and hold it in the list of chats, "
    "choose Delete.\n"
    "• Telegram can delete messages by itself: in the chat open the menu, choose "
    "Auto-Delete and set 1 day.\n"
    "• A notification on the locked screen shows the bot's name and the first words of a "
    "message. To hide them: in Telegram's Settings, Notifications, turn off Message Preview."
)
