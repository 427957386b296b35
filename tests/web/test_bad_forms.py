"""Malformed bodies on the web intake get a clear answer (400), never a 500."""

from __future__ import annotations

from tests.web.conftest import Browser


async def test_a_multipart_boundary_too_long_is_a_bad_form(browser: Browser) -> None:
    """python-multipart refuses a boundary over its limit when the parser is made, before
    the first byte is read: that must be a bad form like any other parser error."""
    await browser.get("/")
    response = await browser.client.post(
        "/",
        content=b"--x\r\n",
        headers={"content-type": "multipart/form-data; boundary=" + "a" * 5000},
    )
    assert response.status_code == 400, response.status_code
