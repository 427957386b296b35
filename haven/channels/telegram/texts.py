"""What the Telegram adapter itself says (the flow says everything else)."""

from __future__ import annotations

from haven.content import N_

M_FLOOD = N_(
    "You are sending too many messages. Please wait a few minutes: what you send until then "
    "is not read."
)
M_PHOTO_TOO_LARGE = N_("This photo is too large: at most {max} MB. Please send a smaller photo.")
M_PHOTO_FAILED = N_("The photo could not be received. Please send it again.")
M_VOICE_TOO_LARGE = N_("What you sent is too large.")
M_VOICE_FAILED = N_("The voice message could not be received. Please send it again.")

#: How long the chat keeps what was said, in /help.
M_WIPE_RULE = N_(
    "This chat deletes itself {minutes} min after the last message, and at once after /forget."
)
#: The last message before the chat empties itself, at the end of the questionnaire.
M_VANISH = N_(
    "This chat deletes itself {minutes} min after the last message: the questions, your "
    "answers, the case reference and the code phrase. Learn the case reference and the code "
    "phrase by heart now."
)
