"""Posted forms read into memory under hard caps, before anything else looks at them.

A multipart body (a photo) is parsed as it streams in with python-multipart's parser, into
memory only: Starlette's form parser spools a file part over 1 MiB to a temporary file, and an
applicant's photo must never touch the disk unsealed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request


@dataclass(frozen=True)
class Upload:
    """A file part, held in memory."""

    filename: str
    data: bytes


#: A posted form: field name -> the last value sent (an upload for a file part).
Form = Mapping[str, "str | Upload"]


def field(form: Form, name: str, limit: int = 20_000) -> str:
    """A text field of a form, cut to ``limit`` characters ("" if absent or a file)."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


class FormTooLarge(Exception):
    """The body, a field or the number of fields is over its limit."""


class BadForm(Exception):
    """The body cannot be read as a form."""


async def read_plain(request: Request, *, max_bytes: int, max_fields: int) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (every step but a photo)."""
    body = await _read_capped(request, max_bytes)
    try:
        text = body.decode("utf-8", errors="replace")
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields))
    except ValueError as exc:  # too many fields
        raise FormTooLarge(str(exc)) from None


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise FormTooLarge("body")
    return bytes(body)


async def read_multipart(
    request: Request, *, max_bytes: int, max_fields: int, max_field_bytes: int, max_files: int
) -> dict[str, str | Upload]:
    """A ``multipart/form-data`` body, parsed as it arrives, all of it in memory: at most
    ``max_bytes`` in all, ``max_field_bytes`` a text field, ``max_fields`` parts of which
    ``max_files`` files."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadForm("no boundary")
    fields: dict[str, str | Upload] = {}
    headers: dict[bytes, bytes] = {}
    name, value, data = bytearray(), bytearray(), bytearray()
    counts = {"parts": 0, "files": 0, "in_file": 0}
    problem: list[Exception] = []

    def on_part_begin() -> None:
        headers.clear()
        data.clear()
        counts["parts"] += 1
        if counts["parts"] > max_fields:
            problem.append(FormTooLarge("fields"))

    def on_header_field(buf: bytes, start: int, end: int) -> None:
        name.extend(buf[start:end])

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        value.extend(buf[start:end])

    def on_header_end() -> None:
        headers[bytes(name).lower()] = bytes(value)
        name.clear()
        value.clear()

    def on_headers_finished() -> None:
        disposition = parse_options_header(headers.get(b"content-disposition", b""))[1]
        counts["in_file"] = int(b"filename" in disposition)

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        data.extend(buf[start:end])
        if not counts["in_file"] and len(data) > max_field_bytes:
            problem.append(FormTooLarge("field"))

    def on_part_end() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        field = disposition.get(b"name", b"").decode("utf-8", errors="replace")
        if b"filename" in disposition:
            counts["files"] += 1
            if counts["files"] > max_files:
                problem.append(FormTooLarge("files"))
                return
            filename = disposition[b"filename"].decode("utf-8", errors="replace")
            fields[field] = Upload(filename, bytes(data))
        else:
            fields[field] = data.decode("utf-8", errors="replace")
        data.clear()

    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )
    except Exception as exc:  # a boundary the parser refuses
        raise BadForm(type(exc).__name__) from None
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_bytes:
                raise FormTooLarge("body")
            parser.write(chunk)
            if problem:
                raise problem[0]
        parser.finalize()
    except (FormTooLarge, BadForm):
        raise
    except Exception as exc:  # the parser's own errors on a malformed body
        raise BadForm(type(exc).__name__) from None
    if problem:
        raise problem[0]
    return fields
