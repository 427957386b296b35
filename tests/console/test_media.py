"""Photos and voice in the console over HTTP: served decrypted to whoever may read the case,
as what their bytes are and without their metadata, which the case page shows apart (an
EXIF position as a location); never to another operator, never as a page."""

from __future__ import annotations

import io
import json
import re

from PIL import Image
from sqlalchemy import select

from haven.services.intake import Intake, PhotoData
from haven.services.media import photo_info
from haven.store.models import Attachment, AuditEvent
from tests.console.conftest import submit_case

IMG = re.compile(r'<img src="(/console/cases/[^"]+/attachments/([0-9a-f]{32}))"')


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (80, 60), (30, 120, 30))
    exif = Image.Exif()
    exif[271] = "Samsung"
    exif[272] = "SM-A515F"
    exif[34853] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "E", 4: (35.0, 15.0, 36.0)}
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


async def test_photo_shown_with_its_metadata_apart(sqlite_env, make_console) -> None:
    env = sqlite_env
    console = await make_console(env)
    reference = await submit_case(env, address="8001")
    await Intake(env.store, env.keys).handle("telegram", "8001", PhotoData(jpeg_with_gps()))
    op = await console.user("olena", "operator")
    page = (await op.client.get(f"/console/cases/{reference}")).text
    found = IMG.search(page)
    assert found, page
    url, ref = found.groups()
    assert "Location recorded by the camera" in page and "51.50000, 35.26000" in page
    assert "SM-A515F" in page
    r = await op.client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    assert "sandbox" in r.headers["content-security-policy"]
    served = photo_info(r.content)
    assert served.gps is None and served.exif == () and (served.width, served.height) == (80, 60)
    assert b"SM-A515F" not in r.content
    async with env.store.transaction() as session:
        row = await session.get(Attachment, ref)
        assert row is not None and b"SM-A515F" not in row.body  # sealed
        details = [
            json.loads(e.detail)
            for e in await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "case.attachment.read")
            )
        ]
        # The page's metadata pass and the photo's own request: both audited.
        assert [d["attachments"] for d in details] == [[ref], [ref]]
        assert "51.5" not in json.dumps(details)  # the audit never holds the position


async def test_photo_that_is_a_page_is_never_served(sqlite_env, make_console) -> None:
    env = sqlite_env
    console = await make_console(env)
    reference = await submit_case(env, address="8101")
    intake = Intake(env.store, env.keys)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    html = b"<!doctype html><html><script>alert(1)</script></html>"
    await intake.handle("telegram", "8101", PhotoData(svg))
    await intake.handle("telegram", "8101", PhotoData(b"\xff\xd8\xff" + html))
    op = await console.user("olena", "operator")
    page = (await op.client.get(f"/console/cases/{reference}")).text
    assert page.count("This attachment is not a photo the console can show.") == 2
    async with env.store.transaction() as session:
        refs = list(await session.scalars(select(Attachment.id)))
    assert len(refs) == 2
    for ref in refs:
        r = await op.client.get(f"/console/cases/{reference}/attachments/{ref}")
        assert r.status_code == 415
        assert r.headers["content-type"].startswith("text/html")  # our own problem page
        assert b"alert(1)" not in r.content


async def test_another_operator_gets_no_photo(sqlite_env, make_console) -> None:
    env = sqlite_env
    console = await make_console(env)
    mine = await submit_case(env, address="8201")
    theirs = await submit_case(env, address="8202")
    await Intake(env.store, env.keys).handle("telegram", "8202", PhotoData(jpeg_with_gps()))
    a = await console.user("a", "operator")
    b = await console.user("b", "operator")
    page = (await a.client.get(f"/console/cases/{theirs}")).text
    url, ref = IMG.search(page).groups()
    assert (await a.post(f"/console/cases/{theirs}/assign", to="me")).status_code == 303
    assert (await a.client.get(url)).status_code == 200
    # b: not by the case's reference, nor through a case of his own by the photo's id.
    assert (await b.client.get(url)).status_code == 404
    assert (await b.client.get(f"/console/cases/{mine}/attachments/{ref}")).status_code == 404
    assert (await b.client.get(f"/console/cases/{mine}/attachments/..%2F{ref}")).status_code == 404
    tr = await console.user("t", "translator", languages="ko")
    assert (await tr.client.get(url)).status_code == 403


async def test_voice_note_caps(sqlite_env, make_console) -> None:
    """An operator's voice note: a sound within the caps, on a case he may work on."""
    env = sqlite_env
    console = await make_console(env)
    phone = await submit_case(env, "phone", "call-9")
    op = await console.user("olena", "operator")
    other = await console.user("b", "operator")
    webm = b"\x1a\x45\xdf\xa3" + b"\x00" * 2000
    limit = env.settings.voice_note_max_bytes

    async def send(user, data: bytes, seconds: str = "5", reference: str = phone):
        return await user.client.post(
            f"/console/cases/{reference}/voice-note",
            data={"csrf": user.csrf, "seconds": seconds},
            files={"audio": ("note.webm", data, "audio/webm")},
        )

    assert (await send(op, b"<html><script>alert(1)</script>")).status_code == 400
    assert (await send(op, webm, seconds="600")).status_code == 400
    assert (await send(op, b"\x1a\x45\xdf\xa3" + b"\x00" * limit)).status_code in (400, 413)
    r = await send(op, webm)
    assert r.status_code == 303
    assert (await op.post(f"/console/cases/{phone}/assign", to="me")).status_code == 303
    assert (await send(other, webm)).status_code == 404
    page = (await op.client.get(f"/console/cases/{phone}")).text
    audio = re.search(r'<audio controls preload="metadata" src="([^"]+)"', page)
    assert audio, page
    r = await op.client.get(audio.group(1))
    assert r.status_code == 200 and r.headers["content-type"] == "audio/webm"
    assert r.content == webm
    assert (await other.client.get(audio.group(1))).status_code == 404
    async with env.store.transaction() as session:
        stored = list(await session.scalars(select(Attachment)))
    assert len(stored) == 1 and webm not in stored[0].body
