"""Fixed texts every channel, leaflet and hand-off repeats (CONTENT.md), as message ids.

They are marked with ``N_`` so the extractor finds them; callers translate with the
applicant's ``_``.
"""

from __future__ import annotations

from haven.domain.cases import medium

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
    N_("Leave your weapon behind. Carry a white cloth, or one of our leaflets, in your hand."),
    N_(
        "When the drone comes, look at it and raise both arms: first up, then out to the "
        "sides. It rocks to show it has seen you."
    ),
    N_(
        "Follow the drone at a walking pace. If it flies away, stay where you are and wait "
        "for the next one."
    ),
    N_(
        "When you reach our soldiers, lie face down with your arms spread, and say your "
        "code phrase."
    ),
    N_("You will be searched, then taken away from the front, given water, food and medical help."),
)

#: What to do when the window passes without a drone (the end of the questionnaire, the hand-off).
NO_DRONE = N_("If no drone comes in the time we gave you, take cover and write to us.")

#: What the Third Geneva Convention guarantees a prisoner of war (the default promises).
GENEVA_PROMISES: tuple[str, ...] = (
    N_("Humane treatment at all times, and protection from violence, threats and insults."),
    N_("You only have to give your surname, first names, rank, date of birth and service number."),
    N_(
        "You keep your personal belongings, except weapons, military equipment and military "
        "documents."
    ),
    N_(
        "You are moved away from the fighting as soon as possible, with food, water and "
        "medical care on the way."
    ),
    N_("Enough food and drinking water, and medical care."),
    N_(
        "Within a week of reaching a camp you can send your family a card saying you are a "
        "prisoner and how you are, and then write to them. The International Committee of "
        "the Red Cross keeps a record of you."
    ),
    N_(
        "No one may force you to serve in the army that holds you, "
        "or to fight against your own side."
    ),
    N_("You are released and sent home without delay after the end of active hostilities."),
)

#: Privacy promises haven keeps (CONTENT.md); each surface names its own way to erase.
PRIVACY_ENCRYPTED = N_("What you write is encrypted; only the hotline's operators can read it.")
PRIVACY_CAPTURED = N_(
    "You will be recorded as captured in combat. Nothing we give anyone says you came "
    "of your own will."
)
ERASE_BOT = N_("You can erase everything at any time with /forget.")
ERASE_WEB = N_(
    "You can erase everything at any time with the “Erase everything” button: on each "
    "question, and after sending on the page where you read our replies."
)
ERASE_ANY = N_(
    "You can erase everything at any time: send /forget to the bot, or press “Erase "
    "everything” on the web page."
)
#: The way to erase, per channel (a surface not listed names both).
ERASE: dict[str, str] = {"telegram": ERASE_BOT, "web": ERASE_WEB}


def privacy_promises(channel: str) -> tuple[str, str, str]:
    """The privacy promises as one surface makes them (message ids)."""
    return (PRIVACY_ENCRYPTED, ERASE.get(medium(channel), ERASE_ANY), PRIVACY_CAPTURED)


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
