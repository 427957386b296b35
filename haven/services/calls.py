"""Call mode: the operator runs the questionnaire for a caller on the phone hotline, and the
answers become a phone case, through the same intake as every other channel."""

from __future__ import annotations

from dataclasses import dataclass

from haven.content import LANGS
from haven.crypto import CaseKeyring, IntakeKeys, random_token
from haven.domain.cases import Channel
from haven.flows import Mode, Reply, State
from haven.flows.inputs import Choice, Command, Input, Text
from haven.services.cases import BadText, CaseNotFound, Forbidden
from haven.services.identity import Role, Viewer
from haven.services.intake import CallTaker, Intake
from haven.store.db import Store


@dataclass(frozen=True)
class CallStep:
    """Where a call stands: the question in the caller's language, a gloss in the
    operator's, and, once submitted, the case reference and what to read out."""

    token: str
    caller: tuple[Reply, ...]
    gloss: Reply | None
    reference: str | None = None
    done: bool = False


class Calls:
    """The operator runs the questionnaire for a caller; the answers become a phone case."""

    def __init__(self, store: Store, keys: IntakeKeys) -> None:
        self.intake = Intake(store, keys)
        self.store = store

    def _sealing(self, keyring: CaseKeyring) -> Intake:
        """The intake a call's answers go through: sealing with the unlocked keyring's own
        public key (never a ``case.pub`` written since the unlock)."""
        keys = keyring.sealing_keys
        if self.intake.keys is not keys:
            self.intake = Intake(self.store, keys, engine=self.intake.engine)
        return self.intake

    def _gloss(self, state: State | None, lang: str) -> Reply | None:
        if state is None or state.mode is not Mode.ask:
            return None
        return self.intake.engine.ask(state.replace(lang=lang))

    @staticmethod
    def _taker(viewer: Viewer) -> CallTaker:
        if viewer.role is not Role.operator:
            raise Forbidden("only operators take calls")
        return CallTaker(viewer.actor, viewer.user_id)

    async def start(
        self, viewer: Viewer, caller_lang: str, operator_lang: str, *, keyring: CaseKeyring
    ) -> CallStep:
        taker = self._taker(viewer)
        if caller_lang not in LANGS:
            raise BadText("unknown language")
        token = random_token(24)
        result = await self._sealing(keyring).handle(
            Channel.phone.value, token, Command("start"), lang=caller_lang, operator=taker
        )
        return CallStep(token, result.replies, self._gloss(result.state, operator_lang))

    async def answer(
        self,
        viewer: Viewer,
        token: str,
        operator_lang: str,
        *,
        choice: str | None = None,
        text: str | None = None,
        skip: bool = False,
        keyring: CaseKeyring,
    ) -> CallStep:
        taker = self._taker(viewer)
        state = await self.intake.state(Channel.phone.value, token)
        if state is None:
            raise CaseNotFound("call")
        inp: Input
        if skip:
            inp = Command("skip")
        elif choice is not None:
            inp = Choice(choice)
        else:
            inp = Text(text or "")
        result = await self._sealing(keyring).handle(
            Channel.phone.value, token, inp, operator=taker
        )
        if result.reference is not None:
            return CallStep(token, result.replies, None, result.reference, True)
        return CallStep(token, result.replies, self._gloss(result.state, operator_lang))
