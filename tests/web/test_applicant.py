"""The applicant service and its crypto: passphrase entropy, hashing, keys, page tokens."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from haven import crypto
from haven.content import LANGS, passphrase_words, words
from haven.domain.codephrase import new_passphrase
from haven.flows.inputs import Choice, Text
from haven.services.applicant import (
    PASSPHRASE_WORDS,
    ApplicantError,
    Applicants,
    RateLimited,
    WrongCredentials,
    normalize_passphrase,
    passphrase_bits,
)
from haven.services.intake import Intake
from haven.store.models import WebAccess, WebThread
from tests.conftest import Env


@pytest.mark.parametrize("lang", LANGS)
def test_passphrase_has_at_least_60_bits_of_entropy(lang: str) -> None:
    # 7 different words of a list of 512: log2(512 * 511 * ... * 506) = 62.94 bits.
    assert len(set(passphrase_words(lang))) == len(passphrase_words(lang)) == 512
    assert PASSPHRASE_WORDS == 7
    assert passphrase_bits(lang) == pytest.approx(62.94, abs=0.01)
    assert passphrase_bits(lang) >= 60


@pytest.mark.parametrize("lang", LANGS)
def test_passphrase_words_never_look_like_a_code_phrase(lang: str) -> None:
    code = [w.replace("ё", "е") for w in words(lang)]
    own = [w.replace("ё", "е") for w in passphrase_words(lang)]
    assert not set(code) & set(own)
    for word in own:
        assert not [c for c in code if c in word or word in c], word
        assert not [o for o in own if o != word and word in o], word
        assert word == word.strip() and " " not in word


def test_a_passphrase_never_repeats_a_word() -> None:
    pool = ["a", "b", "c", "d", "e", "f", "g"]
    for _ in range(200):
        assert sorted(new_passphrase(pool, 7).split()) == pool
    with pytest.raises(ValueError):
        new_passphrase(pool, 8)


def test_passphrase_is_read_forgivingly() -> None:
    assert normalize_passphrase("  Apple,  BAGEL-acorn\u3000 ") == "apple bagel acorn"
    assert normalize_passphrase("소나무  제비") == "소나무 제비"
    # Tajik typed on a Russian keyboard is the same passphrase.
    assert normalize_passphrase("Ҷӯйбор ҚАЛАМ") == normalize_passphrase("чуйбор калам")


def test_applicant_key_seals_and_page_tokens_bind_session_and_time() -> None:
    salt = crypto.applicant_salt()
    key = crypto.derive_applicant_key("one two three", salt)
    assert crypto.derive_applicant_key("one two three", salt).public_key == key.public_key
    assert crypto.derive_applicant_key("one two four", salt).public_key != key.public_key
    blob = crypto.seal_json_to_applicant(key.public_key, {"text": "답장"})
    assert key.open_json(blob) == {"text": "답장"}
    other = crypto.derive_applicant_key("other words", salt)
    with pytest.raises(crypto.BadEnvelope):
        other.open(blob)
    keys = crypto.IntakeKeys(b"\x01" * 32, b"\x02" * 32)
    now = int(time.time())
    token = crypto.wrap_applicant_key(keys, key, "REF|session-a", now + 60)
    assert crypto.unwrap_applicant_key(keys, token, "REF|session-a", now).public_key == (
        key.public_key
    )
    for bad_context, at in (("REF|session-b", now), ("REF|session-a", now + 61)):
        with pytest.raises(crypto.BadEnvelope):
            crypto.unwrap_applicant_key(keys, token, bad_context, at)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    for bad in (tampered, "not base64 !", ""):
        with pytest.raises(crypto.BadEnvelope):
            crypto.unwrap_applicant_key(keys, bad, "REF|session-a", now)


async def submit(env: Env, address: str = "web-session-1") -> int:
    intake = Intake(env.store, env.keys)
    steps = [Choice("ru"), Choice("russian_army"), Choice("alone"), Choice("no")]
    steps += [Text("Курск"), Choice("skip"), Choice("skip"), Text("здесь"), Choice("yes")]
    for inp in [*steps, Choice("confirm")]:
        result = await intake.handle("web", address, inp)
    return result.case_id


async def test_issue_unlock_reply_on_both_databases(env: Env) -> None:
    applicants = Applicants(env.store, env.keys, per_case_limit="3/hour")
    case_id = await submit(env)
    issued = await applicants.issue(case_id, "ru")
    said = issued.passphrase.split()
    assert len(said) == len(set(said)) == 7
    assert all(word in passphrase_words("ru") for word in said)
    assert not set(said) & set(words("ru"))
    with pytest.raises(ApplicantError):
        await applicants.issue(case_id, "ru")  # once only
    async with env.store.transaction() as session:
        access = await session.get(WebAccess, case_id)
    assert access is not None and issued.passphrase not in access.passphrase_hash
    assert access.passphrase_hash.startswith("$argon2id$")

    await applicants.reply(issued.reference, "Ждите нашего сообщения.", author=7)
    unlocked = await applicants.unlock(issued.reference, issued.passphrase.upper(), "owner")
    assert [(i.direction, i.text) for i in await applicants.thread(unlocked)] == [
        ("out", "Ждите нашего сообщения.")
    ]
    # The console cannot open the applicant's copy, and the intake keys cannot either.
    async with env.store.transaction() as session:
        row = await session.scalar(select(WebThread))
    assert row is not None
    with pytest.raises(crypto.BadEnvelope):
        env.keyring().open(row.body)

    posted = await applicants.post(unlocked, "   ")
    assert not posted.stored and posted.replies  # asked politely to write something
    assert (await applicants.post(unlocked, "Понял")).stored

    # Wrong guesses fill the guesser's own session's share, not the owner's.
    for _ in range(3):
        with pytest.raises(WrongCredentials):
            await applicants.unlock(issued.reference, "не та фраза", "stranger")
    with pytest.raises(RateLimited) as limited:
        await applicants.unlock(issued.reference, issued.passphrase, "stranger")
    assert 0 < limited.value.retry_after <= 3600
    assert (await applicants.unlock(issued.reference, issued.passphrase, "owner")).case_id


async def test_draft_or_other_channel_cases_get_no_passphrase(sqlite_env: Env) -> None:
    intake = Intake(sqlite_env.store, sqlite_env.keys)
    draft = await intake.handle("web", "draft-session", Choice("ko"))
    applicants = Applicants(sqlite_env.store, sqlite_env.keys)
    with pytest.raises(ApplicantError):
        await applicants.issue(draft.case_id, "ko")
    telegram = await intake.handle("telegram", "12345", Choice("ko"))
    with pytest.raises(ApplicantError):
        await applicants.issue(telegram.case_id, "ko")
