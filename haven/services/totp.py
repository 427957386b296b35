"""TOTP codes for the console's second factor (RFC 6238, by pyotp): six digits, one step of
clock drift either way, and no step accepted twice."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import pyotp

ISSUER = "haven"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, name: str) -> str:
    """The ``otpauth://`` URI of ``secret``, for the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)


def matching_step(secret: str, code: str, last_step: int | None, now: datetime) -> int | None:
    """The time step ``code`` is valid for at ``now`` (naive UTC), if later than
    ``last_step``; otherwise None."""
    code = "".join(code.split())
    if not (code.isascii() and code.isdecimal() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = now.replace(tzinfo=UTC)
    for offset in (-1, 0, 1):
        moment = now + timedelta(seconds=30 * offset)
        step = int(totp.timecode(moment))
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(moment), code):
            return step
    return None
