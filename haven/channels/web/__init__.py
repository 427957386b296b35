"""The web intake: no-JavaScript pages for mirrors and Tor onion services."""

from .app import create_web_app

__all__ = ["create_web_app"]
