"""The operators' console: served by its own process (``haven console``), the only one that
unlocks the case private key."""

from __future__ import annotations

from .app import create_console_app

__all__ = ["create_console_app"]
