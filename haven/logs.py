"""Logging for every haven process: ids and events only, at every level.

haven's own loggers follow ``HAVEN_LOG_LEVEL``; every other library's stays at WARNING, since
their DEBUG and INFO lines carry SQL parameters, request URLs (a bot token), message texts.
Exceptions are written as their types and the frames they passed through, never with their
messages: a database or validation error quotes the values that caused it.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: Loggers allowed below WARNING besides haven's own: uvicorn's start and stop lines.
CHATTY_OK = {"uvicorn.error": logging.INFO}
#: Loggers never written: python-multipart's warnings quote bytes of the body it refuses.
SILENT = ("python_multipart",)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class SafeFormatter(logging.Formatter):
    """A formatter that writes an exception as its types and frames, never its message."""

    def formatException(self, ei: ExcInfo | tuple[None, None, None]) -> str:
        exc = ei[1]
        if exc is None:
            return ""
        lines: list[str] = []
        seen: set[int] = set()
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            frames = traceback.extract_tb(exc.__traceback__)
            lines.append(f"{type(exc).__module__}.{type(exc).__qualname__} (message not logged)")
            lines += [f"  at {f.filename}:{f.lineno} in {f.name}" for f in frames]
            exc = exc.__cause__ or exc.__context__
        return "\n".join(lines)

    def formatStack(self, stack_info: str) -> str:
        return ""


def configure(level: str) -> None:
    """Set up the root handler on standard error and every logger's level."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(FORMAT))
    root.addHandler(handler)
    wanted = logging.getLevelName(level.upper())
    wanted = wanted if isinstance(wanted, int) else logging.INFO
    root.setLevel(max(wanted, logging.WARNING))
    logging.getLogger("haven").setLevel(wanted)
    for name, floor in CHATTY_OK.items():
        logging.getLogger(name).setLevel(max(wanted, floor))
    for name in SILENT:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    for name in logging.root.manager.loggerDict:
        if not name.startswith(("haven", *SILENT)) and name not in CHATTY_OK:
            logger = logging.getLogger(name)
            if logger.level and logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)
